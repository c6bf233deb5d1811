/**
 * Builds the evidence services from configuration: the S3 store, the signer, the custody log and the
 * sealEvidence activity. The worker uses `store` (as EvidenceStore) and `sealEvidence`; the API uses
 * `store` (as EvidenceReader), `custody` and `signer.publicKeys()`.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { HoldfastConfig } from '../../common/config';
import { ConfigError } from '../../common/config';
import { createSealActivities } from '../seal';
import type { CustodyLog, Signer } from '../ports';
import { s3CustodyLog } from './custody';
import { fileSigner } from './signer';
import { DEFAULT_PART_SIZE, DEFAULT_QUEUE_SIZE, MAX_PRESIGN_SECONDS, S3EvidenceStore } from './store';

export { S3EvidenceStore, EvidenceStoreError, classifyS3Error, MAX_PRESIGN_SECONDS } from './store';
export { heartbeatProgress, throttledProgress } from './progress';
export { fileSigner, keySigner, keyIdOf, loadOrCreateSigningKey, publicKeyInfo } from './signer';
export { s3CustodyLog } from './custody';
export { serializeManifest, parseManifest, verifySignature } from './manifest';

export interface EvidenceSettings {
  /** Legal hold on every object written (HOLDFAST_LEGAL_HOLD=1). */
  legalHold: boolean;
  /** Default lifetime of presigned artifact URLs (HOLDFAST_EVIDENCE_URL_SECONDS, 1–900, default 300). */
  urlExpirySeconds: number;
  /** Multipart part size (HOLDFAST_EVIDENCE_PART_MIB, 5–64, default 6) and parallel parts (HOLDFAST_EVIDENCE_QUEUE, 1–8, default 2). */
  partSize: number;
  queueSize: number;
}

function intEnv(env: Record<string, string | undefined>, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw.slice(0, 40)}"`);
  return value;
}

export function evidenceSettingsFromEnv(env: Record<string, string | undefined> = process.env): EvidenceSettings {
  return {
    legalHold: ['1', 'true', 'on', 'yes'].includes((env.HOLDFAST_LEGAL_HOLD ?? '').toLowerCase()),
    urlExpirySeconds: intEnv(env, 'HOLDFAST_EVIDENCE_URL_SECONDS', 300, 1, MAX_PRESIGN_SECONDS),
    partSize: intEnv(env, 'HOLDFAST_EVIDENCE_PART_MIB', DEFAULT_PART_SIZE / 1024 / 1024, 5, 64) * 1024 * 1024,
    queueSize: intEnv(env, 'HOLDFAST_EVIDENCE_QUEUE', DEFAULT_QUEUE_SIZE, 1, 8),
  };
}

export interface EvidenceServices {
  store: S3EvidenceStore;
  signer: Signer;
  /** Where the signing key lives (embedded default), and whether this start generated it. */
  signingKeyFile?: string;
  signingKeyCreated: boolean;
  custody: CustodyLog;
  settings: EvidenceSettings;
  sealEvidence: ReturnType<typeof createSealActivities>['sealEvidence'];
}

export interface EvidenceServicesOptions {
  env?: Record<string, string | undefined>;
  /** A signer from elsewhere (e.g. KMS); default: the Ed25519 key file. */
  signer?: Signer;
  log?: (message: string, fields: Record<string, unknown>) => void;
}

export function createEvidenceServices(config: HoldfastConfig, s3: S3Client, options: EvidenceServicesOptions = {}): EvidenceServices {
  const env = options.env ?? process.env;
  const settings = evidenceSettingsFromEnv(env);
  const store = new S3EvidenceStore({ s3, bucket: config.s3.bucket, retention: config.retention, legalHold: settings.legalHold, partSize: settings.partSize, queueSize: settings.queueSize });
  const fromFile = options.signer ? undefined : fileSigner(config.dataDir, env);
  const signer = options.signer ?? fromFile!.signer;
  const { sealEvidence } = createSealActivities({ store, signer, retention: config.retention, legalHold: settings.legalHold, log: options.log });
  return { store, signer, signingKeyFile: fromFile?.file, signingKeyCreated: fromFile?.created ?? false, custody: s3CustodyLog(store), settings, sealEvidence };
}

/** Alias matching the wording: the activities the worker registers. */
export function createEvidenceActivities(services: Pick<EvidenceServices, 'sealEvidence'>) {
  return { sealEvidence: services.sealEvidence };
}
