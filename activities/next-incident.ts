import { ApplicationFailure } from '@temporalio/common';
import type { IncidentStarter } from '../common/ports';
import { FailureType } from '../common/failures';
import type { NextIncidentActivity } from './contract';

/**
 * openNextIncident: alerts that arrived while an incident was closing go to the key's next incident. While
 * the closing run still runs, a delivery would land on it again: the activity fails (retryable) and Temporal
 * tries again until that run has closed, then signal-with-start opens the next incident (or joins the one
 * another alert opened meanwhile).
 */
export function createNextIncidentActivities(starter: IncidentStarter | undefined): {
  openNextIncident: NextIncidentActivity;
} {
  return {
    async openNextIncident({ key, target, taskQueue, afterRunId, alerts }) {
      if (!starter)
        throw ApplicationFailure.nonRetryable(
          'this worker has no Temporal client to open incidents with',
          FailureType.Unsupported,
        );
      const running = await starter.runningRun(key);
      if (running === afterRunId)
        throw ApplicationFailure.retryable(
          `incident run ${afterRunId} is still closing`,
          FailureType.IncidentStillClosing,
        );
      return { runId: await starter.deliver(key, taskQueue, target, alerts) };
    },
  };
}
