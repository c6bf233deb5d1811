import { neededByEveryIncident } from '../needs';
import type { Check } from '../types';

/** The evidence bucket has Object Lock, so every artifact can be locked with the configured retention mode. */
export const objectLockCheck: Check = {
  name: 'object-lock',
  needs: 'the evidence bucket (s3:GetBucketObjectLockConfiguration)',
  neededBy: neededByEveryIncident,
  async run(deps, signal) {
    if (!deps.bucket)
      return { status: 'skip', detail: 'no S3 configured', fix: 'set S3_ENDPOINT/S3_BUCKET (or AWS_REGION)' };
    const lock = await deps.bucket.objectLock(signal);
    const configured = `HOLDFAST_RETENTION_MODE=${deps.retention.mode}, ${deps.retention.days} days`;
    if (!lock.enabled)
      return {
        status: 'fail',
        detail: `bucket ${deps.bucket.bucket} has no Object Lock: evidence could be deleted or overwritten`,
        fix: 'Object Lock can only be enabled when a bucket is created (or on AWS with versioning): create the bucket with --object-lock-enabled-for-bucket and point S3_BUCKET at it',
      };
    const bucketDefault = lock.mode
      ? `bucket default ${lock.mode} ${lock.days ? `${lock.days} days` : lock.years ? `${lock.years} years` : ''}`.trimEnd()
      : 'no bucket default retention';
    return {
      status: 'pass',
      detail: `bucket ${deps.bucket.bucket}: Object Lock enabled, ${bucketDefault}; Holdfast locks each object itself (${configured})`,
    };
  },
};
