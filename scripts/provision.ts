/**
 * Prepares existing servers for Holdfast (used by docker-compose and for S3/Temporal you run yourself):
 * creates the evidence bucket with Object Lock enabled if it does not exist.
 */
import { createS3Client } from '../adapters/s3/client';
import { loadConfig, silenceAwsSdkNodeWarning } from '../common/config';
import { ensureLockedBucket } from './stack';

async function main(): Promise<void> {
  silenceAwsSdkNodeWarning();
  const config = loadConfig();
  if (!config.s3.endpoint && !process.env.AWS_REGION) throw new Error('set S3_ENDPOINT (or AWS_REGION for AWS S3)');
  const s3 = createS3Client(config.s3);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await ensureLockedBucket(s3, config.s3.bucket);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  console.log(`bucket ${config.s3.bucket} ready (Object Lock enabled)`);
  s3.destroy();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
