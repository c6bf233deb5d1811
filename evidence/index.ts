/**
 * The evidence store as configured, and what the API builds from it: reading, presigning, legal holds,
 * custody and public keys. This is the API's one way to the S3 adapter; the worker adds the signer and
 * sealing on top (worker/evidence.ts).
 */
import fs from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { S3EvidenceStore } from '../adapters/s3/evidence-store';
import type { EvidenceSettings, HoldfastConfig } from '../common/config';
import type { CustodyLog } from '../common/ports';
import { s3CustodyLog } from './custody';
import { keyDirectory, type KeyDirectory } from './keys';
import { keySigner, loadOrCreateSigningKey, signingKeyFile } from './signer';

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
 * For the API: never generates a key. Serves the local key file's public key when one exists (embedded
 * mode shares the data dir with the worker) plus every key the workers published in the bucket.
 */
export function createEvidenceReadServices(config: EvidenceConfig, s3: S3Client): EvidenceReadServices {
  const settings = config.evidence;
  const store = evidenceStore(config, s3);
  const file = signingKeyFile(config.dataDir, settings.signingKeyFile);
  const local = fs.existsSync(file) ? keySigner(loadOrCreateSigningKey(file).privateKey) : undefined;
  return { store, custody: s3CustodyLog(store), settings, keys: keyDirectory(store, local) };
}
