import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { stripControlChars } from '../common/k8s-names';
import {
  PREFLIGHT_BOUNDS,
  PREFLIGHT_WORKFLOW,
  preflightWorkflowId,
  type PreflightOptions,
  type PreflightReport,
} from '../common/preflight';
import { HttpProblem } from './errors';
import { NoWorkerError, workerPollingCheck } from './readiness';

/** A preflight asked of the API: the cluster whose worker runs it, and the checks' options. */
export interface PreflightRequest extends PreflightOptions {
  cluster: string;
}

/** What GET /v1/preflight calls: starts the checks where the cluster's identities are and waits for the report. */
export type PreflightStarter = (request: PreflightRequest) => Promise<PreflightReport>;

/** Errors from our own servers, on one bounded line. */
const oneLine = (err: unknown) => stripControlChars(String((err as Error)?.message ?? err)).slice(0, 300);

/**
 * The report when Temporal itself did not take the preflight: the `temporal` check fails with the reason and
 * its fix (nothing else could run: the other checks run on the worker, through Temporal).
 */
export function temporalUnreachableReport(address: string, namespace: string, err: unknown): PreflightReport {
  const code = (err as { code?: number })?.code;
  // gRPC NOT_FOUND on start: the namespace does not exist.
  const missingNamespace = code === 5 || /namespace .*not found/i.test(oneLine(err));
  return {
    verdict: 'not-ready',
    startedAt: new Date().toISOString(),
    results: [
      {
        name: 'temporal',
        needs: 'the Temporal frontend (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE)',
        status: 'fail',
        detail: missingNamespace
          ? `Temporal answers but has no namespace ${namespace}; no check could run on the worker`
          : `Temporal at ${address} did not take the preflight within ${PREFLIGHT_BOUNDS.temporalStartMs / 1000} s ` +
            `(${oneLine(err)}); no check could run on the worker`,
        fix: missingNamespace
          ? `create it: temporal operator namespace create ${namespace}`
          : `start Temporal or make ${address} reachable from the API (TEMPORAL_ADDRESS), then run preflight again`,
        neededBy: 'every incident (the API starts it, the worker runs it)',
        durationMs: 0,
      },
    ],
  };
}

/** The report when no worker polls the cluster's task queue: the workflow would wait, not run. */
export function noWorkerReport(cluster: string, taskQueue: string, reason: unknown): PreflightReport {
  return {
    verdict: 'not-ready',
    startedAt: new Date().toISOString(),
    results: [
      {
        name: 'worker',
        needs: `a worker polling task queue ${taskQueue} (HOLDFAST_CLUSTERS)`,
        status: 'fail',
        detail: `${oneLine(reason)}: no check could run for cluster ${cluster}`,
        fix: `start the worker of cluster ${cluster} (HOLDFAST_CLUSTER_NAME=${cluster}, HOLDFAST_TASK_QUEUE=${taskQueue}) and run preflight again`,
        neededBy: 'every incident of the cluster',
        durationMs: 0,
      },
    ],
  };
}

/**
 * The API's way to a preflight: preflightWorkflow on the task queue of the worker serving `cluster`
 * (HOLDFAST_CLUSTERS). One workflow id per cluster with the FAIL conflict policy: while one runs, another is
 * refused (409) rather than attached to, since its options may differ and two runs would sweep each other's
 * throwaway objects; a finished one may be run again. Starting is bounded: when Temporal does not answer,
 * the report says so (a failed `temporal` check) instead of an error; when no worker polls the cluster's task
 * queue (the readiness check's test), a failed `worker` check says so at once rather than a workflow that
 * would wait for one for the whole bound.
 */
export function temporalPreflight(
  client: Client,
  settings: { clusters: ReadonlyMap<string, string>; address: string; namespace: string },
): PreflightStarter {
  return async ({ cluster, ...options }) => {
    const taskQueue = settings.clusters.get(cluster);
    if (!taskQueue) throw new HttpProblem(400, 'Bad Request', `no worker serves cluster "${cluster.slice(0, 80)}"`);
    const polled = workerPollingCheck(client.workflowService, { namespace: settings.namespace, taskQueue });
    let started: { handle: WorkflowHandle } | { idle: unknown };
    try {
      started = await client.withDeadline(Date.now() + PREFLIGHT_BOUNDS.temporalStartMs, async () => {
        // Without a worker the workflow would wait for one, and this request with it, for the whole bound.
        try {
          await polled();
        } catch (err) {
          if (err instanceof NoWorkerError) return { idle: err };
          throw err;
        }
        const handle = await client.workflow.start(PREFLIGHT_WORKFLOW, {
          taskQueue,
          workflowId: preflightWorkflowId(cluster),
          args: [options],
          workflowIdConflictPolicy: 'FAIL',
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          workflowExecutionTimeout: PREFLIGHT_BOUNDS.resultMs,
          staticSummary: `preflight of cluster ${cluster}`,
        });
        return { handle };
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError)
        throw new HttpProblem(
          409,
          'Conflict',
          `a preflight of cluster ${cluster} is already running; retry when it ends`,
        );
      return temporalUnreachableReport(settings.address, settings.namespace, err);
    }
    if ('idle' in started) return noWorkerReport(cluster, taskQueue, started.idle);
    const { handle } = started;
    try {
      return (await handle.result()) as PreflightReport;
    } catch (err) {
      // The activity failed (a worker that died, a timeout): no report to show, only why.
      const cause = err instanceof WorkflowFailedError ? (err.cause?.cause ?? err.cause ?? err) : err;
      throw new HttpProblem(
        502,
        'Bad Gateway',
        `the preflight on the worker of cluster ${cluster} did not end with a report: ${oneLine(cause)}`,
      );
    }
  };
}
