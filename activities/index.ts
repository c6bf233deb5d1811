import type { S3Client } from '@aws-sdk/client-s3';
import type { HoldfastConfig } from '../common/config';
import { createSelfTestActivities } from './selftest';

/** Everything activities need, built once by the worker and injected (tests pass fakes). */
export interface ActivityDeps {
  s3: S3Client;
  config: HoldfastConfig;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createSelfTestActivities({ s3: deps.s3, bucket: deps.config.s3.bucket, retention: deps.config.retention }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
