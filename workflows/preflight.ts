import { proxyActivities } from '@temporalio/workflow';
import type { NamedActivities } from '../activities/contract';
import { PREFLIGHT_BOUNDS, type PreflightOptions, type PreflightReport } from '../common/preflight';

/**
 * The readiness checks, on the worker that serves the cluster (the task queue the API starts this on), as
 * that worker's own identities. One activity, one attempt: a retry after a lost heartbeat could start while
 * the first attempt still runs (a worker cut off from Temporal, not dead), and the two would create and sweep
 * each other's throwaway objects. A run that died leaves labelled objects; the next preflight sweeps them
 * first. A new workflow type: no incident history replays through it.
 */
export async function preflightWorkflow(options: PreflightOptions): Promise<PreflightReport> {
  const { preflight } = proxyActivities<Pick<NamedActivities, 'preflight'>>({
    startToCloseTimeout: PREFLIGHT_BOUNDS.activityMs,
    heartbeatTimeout: PREFLIGHT_BOUNDS.heartbeatTimeoutMs,
    retry: { maximumAttempts: 1 },
  });
  return preflight(options);
}
