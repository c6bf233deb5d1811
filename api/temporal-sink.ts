import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { AlertTarget } from '../common/types';
import type { IncidentStarter } from '../common/ports';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes';
import {
  alertsSignal,
  incidentIdFromRunId,
  INCIDENT_WORKFLOW,
  type AlertBatch,
  type IncidentInput,
} from '../workflows/definitions';
import { incidentSummary, stormSummary } from '../common/incident-summary';
import type { IntakeSink, LatestRun } from './intake';

/**
 * The intake's way into Temporal: one deterministic workflow id per incident key, started on the task queue
 * of the worker that serves the target's cluster (`clusters`: cluster name → task queue).
 */
export function temporalSink(client: Client, clusters: ReadonlyMap<string, string>): IntakeSink {
  return {
    async deliver(workflowId: string, target: AlertTarget, batch: AlertBatch, storm?: boolean): Promise<string> {
      const taskQueue = clusters.get(target.cluster);
      // Parsing refuses an unknown cluster; this guards a caller that did not parse.
      if (!taskQueue) throw new Error(`no worker serves cluster "${target.cluster}"`);
      return await signalWithStart(client, workflowId, taskQueue, target, batch, storm);
    },
    async signalOpen(workflowId: string, batch: AlertBatch): Promise<boolean> {
      try {
        await client.workflow.getHandle(workflowId).signal(alertsSignal, batch);
        return true;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },
    latest: (workflowId: string) => latestRun(client, workflowId),
    async resolvedInstances(workflowId: string) {
      return (await latestRun(client, workflowId)).resolved;
    },
    async openRun(workflowId: string) {
      return (await latestRun(client, workflowId)).open;
    },
    async describeRun(workflowId: string, runId: string) {
      const description = await client.workflow.getHandle(workflowId, runId).describe();
      const memo = description.memo?.incident as { incidentId?: unknown } | undefined;
      const incidentId = typeof memo?.incidentId === 'string' ? memo.incidentId : undefined;
      return { startedAt: description.startTime, ...(incidentId ? { incidentId } : {}) };
    },
  };
}

/** One look at the key's latest run: open (with its incident), or closed by a responder (with its instances). */
async function latestRun(client: Client, workflowId: string): Promise<LatestRun> {
  let description;
  try {
    description = await client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return {};
    throw err;
  }
  const memo = description.memo as { incident?: { incidentId?: unknown }; resolved?: Record<string, unknown> };
  const incidentId = memo?.incident?.incidentId;
  if (description.status.name === 'RUNNING')
    return {
      open: {
        runId: description.runId,
        incidentId: typeof incidentId === 'string' ? incidentId : incidentIdFromRunId(description.runId),
      },
    };
  const resolved = memo?.resolved;
  if (description.status.name !== 'COMPLETED' || !resolved || typeof incidentId !== 'string') return {};
  if (typeof resolved.at !== 'string') return {};
  const instances = Array.isArray(resolved.instances)
    ? resolved.instances.filter((id): id is string => typeof id === 'string')
    : [];
  return { resolved: { incidentId, at: resolved.at, instances } };
}

/** Signal-with-start of an incident: the alerts go to the key's running incident, or open one on `taskQueue`. */
async function signalWithStart(
  client: Client,
  workflowId: string,
  taskQueue: string,
  target: AlertTarget,
  batch: AlertBatch,
  storm?: boolean,
): Promise<string> {
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
}

/**
 * The same, as the port the worker hands its activities: alerts that arrived while an incident was closing
 * open the next one (activities/next-incident.ts).
 */
export function temporalIncidentStarter(client: Client): IncidentStarter {
  return {
    deliver: (workflowId, taskQueue, target, alerts) =>
      signalWithStart(client, workflowId, taskQueue, target, { alerts }),
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
