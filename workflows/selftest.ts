import { proxyActivities } from '@temporalio/workflow';
import type { NamedActivities, StorageSelfTestResult } from '../activities/contract';
import { SEAL_NON_RETRYABLE } from '../common/failures';

const { storageSelfTest } = proxyActivities<Pick<NamedActivities, 'storageSelfTest'>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: [...SEAL_NON_RETRYABLE] },
});

/** Runs at worker start and on demand: proves workflow → activity → S3 with Object Lock end to end. */
export async function selfTestWorkflow(probeId: string): Promise<StorageSelfTestResult> {
  return storageSelfTest(probeId);
}
