import { S3Client } from '@aws-sdk/client-s3';
import type { HoldfastConfig } from '../../common/config';

/**
 * One S3 client per process, built from configuration (explicit keys, else the standard AWS chain).
 * Entry points call silenceAwsSdkNodeWarning (common/config.ts) before building one.
 */
export function createS3Client(config: HoldfastConfig['s3']): S3Client {
  return new S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint, forcePathStyle: config.forcePathStyle } : {}),
    ...(config.accessKeyId && config.secretAccessKey
      ? { credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey } }
      : {}),
    // Bounded retries: an activity retry policy sits above this.
    maxAttempts: 3,
  });
}
