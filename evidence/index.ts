/**
 * Builds the evidence services from configuration: the S3 store, the signer, the custody log and the
 * sealEvidence activity. The worker uses `store` (as EvidenceStore) and `sealEvidence`; the API uses
 * `store` (as EvidenceReader), `custody` and `signer.publicKeys()`.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { HoldfastConfig } from '../common/config';
import { ConfigError } from '../common/config';
import { createSealActivities } from '../activities/seal';
import type { CustodyLog, Signer } from '../common/ports';
import { s3CustodyLog } from './custody';
import { keyDirectory, publishPublicKeys, type KeyDirectory } from './keys';
import { fileSigner, keySigner, loadOrCreateSigningKey, signingKeyFile } from './signer';
import fs from 'node:fs';
import { DEFAULT_PART_SIZE, DEFAULT_QUEUE_SIZE, MAX_PRESIGN_SECONDS, S3EvidenceStore } from '../adapters/s3/evidence-store';

export { S3EvidenceStore, EvidenceStoreError, classifyS3Error, MAX_PRESIGN_SECONDS } from '../adapters/s3/evidence-store';
export { fileSigner, keySigner, keyIdOf, loadOrCreateSigningKey, publicKeyInfo } from './signer';
export { s3CustodyLog } from './custody';
export { keyDirectory, publishPublicKeys, KEYS_PREFIX, type KeyDirectory } from './keys';
export { serializeManifest, parseManifest, verifySignature } from './manifest';

export interface EvidenceSettings {
  /** Legal hold on every object written (HOLDFAST_LEGAL_HOLD=1). */
  legalHold: boolean;
  /** Default lifetime of presigned artifact URLs (HOLDFAST_EVIDENCE_URL_SECONDS, 1–900, default 300). */
  urlExpirySeconds: number;
  /** Multipart part size (HOLDFAST_EVIDENCE_PART_MIB, 5–64, default 5) and parallel parts (HOLDFAST_EVIDENCE_QUEUE, 1–8, default 2). */
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
  /** The public keys /v1/keys serves: this signer's, then those published in the bucket. */
  keys: KeyDirectory;
  /** Publishes the signer's public key to `keys/<keyId>.pem` in the bucket (also done before the first seal). */
  publishSigningKey(): Promise<void>;
  sealEvidence: ReturnType<typeof createSealActivities>['sealEvidence'];
}

/** What the API needs: reading, presigning, legal holds, custody, public keys. No private key is created. */
export interface EvidenceReadServices {
  store: S3EvidenceStore;
  custody: CustodyLog;
  settings: EvidenceSettings;
  keys: KeyDirectory;
}

export interface EvidenceServicesOptions {
  env?: Record<string, string | undefined>;
  /** A signer from elsewhere (e.g. KMS); default: the Ed25519 key file. */
  signer?: Signer;
  log?: (message: string, fields: Record<string, unknown>) => void;
}

/** For the worker: the store, the signer (key file generated on first start) and sealEvidence. */
export function createEvidenceServices(config: HoldfastConfig, s3: S3Client, options: EvidenceServicesOptions = {}): EvidenceServices {
  const env = options.env ?? process.env;
  const settings = evidenceSettingsFromEnv(env);
  const store = new S3EvidenceStore({ s3, bucket: config.s3.bucket, retention: config.retention, legalHold: settings.legalHold, partSize: settings.partSize, queueSize: settings.queueSize });
  const fromFile = options.signer ? undefined : fileSigner(config.dataDir, env);
  const signer = options.signer ?? fromFile!.signer;
  const seal = createSealActivities({ store, signer, retention: config.retention, legalHold: settings.legalHold, log: options.log });
  let published: Promise<void> | undefined;
  const publishSigningKey = () => {
    published ??= publishPublicKeys(store, signer).catch((err: unknown) => {
      published = undefined;
      throw err;
    });
    return published;
  };
  return {
    store, signer, signingKeyFile: fromFile?.file, signingKeyCreated: fromFile?.created ?? false,
    custody: s3CustodyLog(store), settings, keys: keyDirectory(store, signer), publishSigningKey,
    async sealEvidence(input) {
      // The API (maybe on another host) serves keys from the bucket: make sure this one is there.
      await publishSigningKey().catch((err: unknown) => options.log?.('could not publish the signing public key', { err: (err as Error).message }));
      return seal.sealEvidence(input);
    },
  };
}

/**
 * For the API: never generates a key. Serves the local key file's public key when one exists (embedded
 * mode shares the data dir with the worker) plus every key the workers published in the bucket.
 */
export function createEvidenceReadServices(config: HoldfastConfig, s3: S3Client, options: Pick<EvidenceServicesOptions, 'env'> = {}): EvidenceReadServices {
  const env = options.env ?? process.env;
  const settings = evidenceSettingsFromEnv(env);
  const store = new S3EvidenceStore({ s3, bucket: config.s3.bucket, retention: config.retention, legalHold: settings.legalHold, partSize: settings.partSize, queueSize: settings.queueSize });
  const file = signingKeyFile(config.dataDir, env);
  const local = fs.existsSync(file) ? keySigner(loadOrCreateSigningKey(file).privateKey) : undefined;
  return { store, custody: s3CustodyLog(store), settings, keys: keyDirectory(store, local) };
}

/** Alias matching the wording: the activities the worker registers. */
export function createEvidenceActivities(services: Pick<EvidenceServices, 'sealEvidence'>) {
  return { sealEvidence: services.sealEvidence };
}
