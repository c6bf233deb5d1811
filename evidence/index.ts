/**
 * The evidence store as configured, and what the API builds from it: reading, presigning, legal holds,
 * custody and public keys. This is the API's one way to the S3 adapter; the worker adds the signer and
 * sealing on top (worker/evidence.ts).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { S3EvidenceStore } from '../adapters/s3/evidence-store';
import type { EvidenceSettings, HoldfastConfig } from '../common/config';
import type { CustodyLog } from '../common/ports';
import { s3CustodyLog } from './custody';
import type { KeyDirectory } from './keys';
import { trustedKeyDirectory, trustedKeysFile } from './trusted-keys';

export { createS3Client } from '../adapters/s3/client';

/** What the API needs: reading, presigning, legal holds, custody, public keys. No private key is created. */
export interface EvidenceReadServices {
  store: S3EvidenceStore;
  custody: CustodyLog;
  settings: EvidenceSettings;
  keys: KeyDirectory;
}

/** The slices of the configuration the evidence services use. */
export type EvidenceConfig = Pick<HoldfastConfig, 'dataDir' | 's3' | 'retention' | 'evidence'>;

export function evidenceStore(config: EvidenceConfig, s3: S3Client): S3EvidenceStore {
  const { legalHold, partSize, queueSize } = config.evidence;
  return new S3EvidenceStore({
    s3,
    bucket: config.s3.bucket,
    retention: config.retention,
    legalHold,
    partSize,
    queueSize,
  });
}

/**
 * For the API: never reads, let alone generates, a private key, and trusts no key found in the bucket: the
 * public keys are the configured trust file's (HOLDFAST_TRUSTED_KEYS_FILE, default `<dataDir>/trusted-keys.pem`).
 */
export function createEvidenceReadServices(config: EvidenceConfig, s3: S3Client): EvidenceReadServices {
  const settings = config.evidence;
  const store = evidenceStore(config, s3);
  const keys = trustedKeyDirectory(trustedKeysFile(config.dataDir, settings.trustedKeysFile));
  return { store, custody: s3CustodyLog(store), settings, keys };
}
