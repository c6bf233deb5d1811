import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { AlertTarget } from '../common/types';
import { temporalIncidentStarter } from '../adapters/temporal/incidents';
import { alertsSignal, incidentIdFromRunId, type AlertBatch } from '../workflows/definitions';
import type { IntakeSink } from './intake';

/**
 * The intake's way into Temporal: one deterministic workflow id per incident key, started on the task queue
 * of the worker that serves the target's cluster (`clusters`: cluster name → task queue).
 */
export function temporalSink(client: Client, clusters: ReadonlyMap<string, string>): IntakeSink {
  const starter = temporalIncidentStarter(client);
  return {
    async deliver(workflowId: string, target: AlertTarget, batch: AlertBatch, storm?: boolean): Promise<string> {
      const taskQueue = clusters.get(target.cluster);
      // Parsing refuses an unknown cluster; this guards a caller that did not parse.
      if (!taskQueue) throw new Error(`no worker serves cluster "${target.cluster}"`);
      return await starter.deliver(workflowId, taskQueue, target, batch, storm);
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
    async resolvedInstances(workflowId: string) {
      try {
        const latest = await client.workflow.getHandle(workflowId).describe();
        if (latest.status.name !== 'COMPLETED') return undefined;
        const memo = latest.memo as { incident?: { incidentId?: unknown }; resolved?: Record<string, unknown> };
        const resolved = memo?.resolved;
        const incidentId = memo?.incident?.incidentId;
        if (!resolved || typeof incidentId !== 'string' || typeof resolved.at !== 'string') return undefined;
        const instances = Array.isArray(resolved.instances)
          ? resolved.instances.filter((id): id is string => typeof id === 'string')
          : [];
        return { incidentId, at: resolved.at, instances };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      }
    },
    async openRun(workflowId: string) {
      try {
        const description = await client.workflow.getHandle(workflowId).describe();
        if (description.status.name !== 'RUNNING') return undefined;
        const memo = description.memo?.incident as { incidentId?: unknown } | undefined;
        const incidentId =
          typeof memo?.incidentId === 'string' ? memo.incidentId : incidentIdFromRunId(description.runId);
        return { runId: description.runId, incidentId };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      }
    },
    async describeRun(workflowId: string, runId: string) {
      const description = await client.workflow.getHandle(workflowId, runId).describe();
      const memo = description.memo?.incident as { incidentId?: unknown } | undefined;
      const incidentId = typeof memo?.incidentId === 'string' ? memo.incidentId : undefined;
      return { startedAt: description.startTime, ...(incidentId ? { incidentId } : {}) };
    },
  };
}
