import { proxyActivities } from '@temporalio/workflow';
import type { createSelfTestActivities, StorageSelfTestResult } from '../activities/selftest';

const { storageSelfTest } = proxyActivities<ReturnType<typeof createSelfTestActivities>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['InvalidInput', 'ObjectLockUnavailable'] },
});

/** Runs at worker start and on demand: proves workflow → activity → S3 with Object Lock end to end. */
export async function selfTestWorkflow(probeId: string): Promise<StorageSelfTestResult> {
  return storageSelfTest(probeId);
}
