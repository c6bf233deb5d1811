/**
 * Prepares existing servers for Holdfast (used by docker-compose and for S3/Temporal you run yourself):
 * creates the evidence bucket with Object Lock enabled if it does not exist and, on versitygw, when
 * the HOLDFAST_S3_WORKER_… and HOLDFAST_S3_API_… keys are set, the worker's and the API's own accounts with the bucket
 * policy that gives each only what it needs (scripts/s3-accounts.ts). Runs with the root (admin) credentials.
 */
import { createS3Client } from '../adapters/s3/client';
import { loadConfig, silenceAwsSdkNodeWarning } from '../common/config';
import { provisionS3Accounts } from './s3-accounts';
import { scriptSettings } from './settings';
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
  const accounts = scriptSettings().s3Accounts;
  if (accounts && config.s3.endpoint && config.s3.accessKeyId && config.s3.secretAccessKey) {
    const root = { accessKeyId: config.s3.accessKeyId, secretAccessKey: config.s3.secretAccessKey };
    await provisionS3Accounts(s3, config.s3.endpoint, root, config.s3.bucket, accounts, {
      legalHoldOnWrite: config.evidence.legalHold,
    });
    console.log(
      `accounts ${accounts.worker.accessKeyId} (worker) and ${accounts.api.accessKeyId} (API) bound to ${config.s3.bucket} by the least-privilege policy`,
    );
  } else if (accounts)
    throw new Error(
      'the worker and API accounts need S3_ENDPOINT and the root AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY',
    );
  s3.destroy();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
