import { S3Client } from '@aws-sdk/client-s3';
import type { HoldfastConfig } from '../../common/config';

/** One S3 client per process, built from configuration (explicit keys, else the standard AWS chain). */
export function createS3Client(config: HoldfastConfig['s3']): S3Client {
  // The SDK warns on every start that releases after January 2027 need Node 22; package-lock pins ours.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
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
