import { Context } from '@temporalio/activity';
import { FailureType, nonRetryableFailure } from '../common/failures';
import { PREFLIGHT_BOUNDS, type PreflightOptions, type PreflightRunner } from '../common/preflight';
import type { PreflightActivity } from './contract';

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const CHECK_NAME = /^[a-z0-9-]{1,32}$/;

/**
 * The `preflight` activity: runs the readiness checks through `run` (the worker's composition,
 * worker/preflight.ts) on the worker that holds the cluster's identities. It heartbeats while a check runs
 * (a throwaway pod may take minutes), so a worker that died is noticed within the heartbeat timeout, and a
 * cancelled workflow aborts the running check (the throwaway objects are still removed). Unset `run`: this
 * worker runs no preflight, which fails at once.
 */
export function createPreflightActivities(run: PreflightRunner | undefined): { preflight: PreflightActivity } {
  return {
    async preflight(options: PreflightOptions) {
      // The API validated the request; the workflow's input is checked again where it becomes pod names.
      if (options.namespace !== undefined && !NAMESPACE.test(options.namespace))
        throw nonRetryableFailure(FailureType.InvalidInput, 'preflight: namespace is not a namespace name');
      if (options.only && (options.only.length > 16 || options.only.some((n) => !CHECK_NAME.test(n))))
        throw nonRetryableFailure(FailureType.InvalidInput, 'preflight: only takes up to 16 check names');
      if (!run) throw nonRetryableFailure(FailureType.Unsupported, 'this worker runs no preflight');
      const context = Context.current();
      const keepAlive = setInterval(() => context.heartbeat(), PREFLIGHT_BOUNDS.heartbeatEveryMs);
      try {
        return await run(options, context.cancellationSignal);
      } finally {
        clearInterval(keepAlive);
      }
    },
  };
}
