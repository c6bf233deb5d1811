import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../common/search-attributes';
import type { AlertTarget } from '../../common/types';
import { alertsSignal, INCIDENT_WORKFLOW, type AlertBatch, type IncidentInput } from '../../workflows/definitions';
import { incidentSummary, stormSummary } from './incident-summary';

/**
 * Opening incidents and handing them alerts, on Temporal: the API's intake does it for alerts as they arrive,
 * and an activity does it for alerts that arrived while an incident was closing (they open the next one).
 */
export interface IncidentStarter {
  /**
   * Signal-with-start: the alerts go to the key's running incident, or open one on `taskQueue`. Returns the run
   * that got them. `storm`: the key is a cluster's storm incident (acts on nothing).
   */
  deliver(
    workflowId: string,
    taskQueue: string,
    target: AlertTarget,
    batch: AlertBatch,
    storm?: boolean,
  ): Promise<string>;
  /** The run of the key's incident while one is running; undefined when none is. */
  runningRun(workflowId: string): Promise<string | undefined>;
}

export function temporalIncidentStarter(client: Client): IncidentStarter {
  return {
    async deliver(workflowId, taskQueue, target, batch, storm) {
      const input: IncidentInput = { key: workflowId, target, alerts: [], ...(storm ? { storm: true } : {}) };
      const handle = await client.workflow.signalWithStart(INCIDENT_WORKFLOW, {
        taskQueue,
        workflowId,
        args: [input],
        signal: alertsSignal,
        signalArgs: [batch],
        typedSearchAttributes: [
          { key: SEARCH_ATTRIBUTES.status, value: 'planning' },
          { key: SEARCH_ATTRIBUTES.cluster, value: target.cluster },
          ...(target.namespace ? [{ key: SEARCH_ATTRIBUTES.namespace, value: target.namespace }] : []),
          ...(target.pod ? [{ key: SEARCH_ATTRIBUTES.pod, value: target.pod }] : []),
        ],
        // The Temporal UI's one line for this incident; used only when this call starts the run.
        staticSummary: storm ? stormSummary(target.cluster) : incidentSummary(target, batch.alerts[0]?.alert),
      });
      return handle.signaledRunId;
    },
    async runningRun(workflowId) {
      try {
        const description = await client.workflow.getHandle(workflowId).describe();
        return description.status.name === 'RUNNING' ? description.runId : undefined;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      }
    },
  };
}
