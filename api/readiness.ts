import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Connection } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import type { HoldfastConfig } from '../common/config';
import type { ReadinessCheck } from './routes/health';

/**
 * What /readyz checks: Temporal answers for the namespace, the evidence bucket is reachable, and a worker
 * polls the task queue (so an accepted alert is acted on, not only recorded).
 */
export function readinessChecks(deps: {
  workflowService: Connection['workflowService'];
  s3: S3Client;
  config: Pick<HoldfastConfig, 'temporal' | 's3'>;
}): Record<'temporal' | 's3' | 'worker', ReadinessCheck> {
  const { workflowService, s3, config } = deps;
  return {
    temporal: async () => {
      await workflowService.describeNamespace({ namespace: config.temporal.namespace });
    },
    s3: async () => {
      await s3.send(new HeadBucketCommand({ Bucket: config.s3.bucket }));
    },
    worker: workerPollingCheck(workflowService, {
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
    }),
  };
}

/**
 * A Temporal server keeps each poller's last poll time (it forgets pollers after five minutes). An idle
 * worker's long poll is answered empty after about 60 s and renewed at once, so a live worker's last poll
 * is at most ~60 s old: the window must be longer than that, or an idle healthy worker looks gone.
 */
export const WORKER_POLL_WINDOW_MS = 90_000;

/** The part of Temporal's WorkflowService this check uses; `connection.workflowService` satisfies it. */
export interface TaskQueueDescriber {
  describeTaskQueue(
    request: temporal.api.workflowservice.v1.IDescribeTaskQueueRequest,
  ): Promise<temporal.api.workflowservice.v1.IDescribeTaskQueueResponse>;
}

export interface WorkerPollingOptions {
  namespace: string;
  taskQueue: string;
  windowMs?: number;
  now?: () => number;
}

const KINDS = [
  { type: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, tasks: 'workflow' },
  { type: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, tasks: 'activity' },
] as const;

/** The check's finding (no worker polls), as opposed to Temporal failing to answer it. */
export class NoWorkerError extends Error {}

/**
 * Ready only when a worker is polling the task queue for both workflow and activity tasks: without one,
 * alerts are accepted and incidents opened, but nothing preserves or contains anything until a worker
 * comes. Poller identities (process id and host name) stay out of the message.
 */
export function workerPollingCheck(service: TaskQueueDescriber, opts: WorkerPollingOptions): ReadinessCheck {
  const windowMs = opts.windowMs ?? WORKER_POLL_WINDOW_MS;
  const now = opts.now ?? Date.now;
  return async () => {
    const answers = await Promise.all(
      KINDS.map(({ type }) =>
        service.describeTaskQueue({
          namespace: opts.namespace,
          taskQueue: { name: opts.taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          taskQueueType: type,
        }),
      ),
    );
    const since = now() - windowMs;
    const missing = KINDS.filter(
      (_, i) => !(answers[i]!.pollers ?? []).some((p) => (optionalTsToMs(p.lastAccessTime) ?? -Infinity) >= since),
    ).map((k) => k.tasks);
    if (missing.length > 0) {
      throw new NoWorkerError(
        `no worker has polled task queue ${opts.taskQueue} in the last ${Math.round(windowMs / 1000)} s ` +
          `(${missing.join(' and ')} tasks)`,
      );
    }
  };
}

/**
 * Not ready while alerts wait in the spool and the last attempt to deliver them failed (Temporal away):
 * they are durable, but no incident acts on them. A spool buffering a storm while drains get through is ready.
 */
export function spoolCheck(spool: { pendingBytes: number; stalled: boolean }): ReadinessCheck {
  return async () => {
    if (spool.stalled) throw new Error(`${spool.pendingBytes} bytes of alerts wait in the spool for Temporal (in use)`);
  };
}

/**
 * What /readyz/intake checks, the API's readiness probe in a cluster: whether an alert posted now is taken
 * (202) rather than refused. With a spool that is room in it, whatever Temporal, S3 or the workers do: a
 * probe that followed them would take every API pod out of its Service exactly when Temporal is away, and
 * senders that never retry (Falcosidekick) would lose their alerts at the door. Without a spool, an alert
 * needs Temporal to answer.
 */
export function intakeReadinessChecks(deps: {
  temporal: ReadinessCheck;
  spool?: { roomBytes: number };
  /** The largest request body the API takes: less room than that and the next alert may not fit. */
  maxBodyBytes: number;
}): Record<string, ReadinessCheck> {
  const { spool, maxBodyBytes } = deps;
  if (!spool) return { temporal: deps.temporal };
  return {
    spool: async () => {
      if (spool.roomBytes < maxBodyBytes) throw new Error(`the alert spool is full (${spool.roomBytes} bytes left)`);
    },
  };
}
