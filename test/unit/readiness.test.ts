import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { msNumberToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { createApiMetrics } from '../../api/metrics';
import { buildServer } from '../../api/server';
import { workerPollingCheck, type TaskQueueDescriber, WORKER_POLL_WINDOW_MS } from '../../api/readiness';
import type { IncidentsService } from '../../api/incidents';

const { TaskQueueType, TaskQueueKind } = temporal.api.enums.v1;
const NOW = Date.parse('2026-12-02T03:00:00Z');

/** A describeTaskQueue that answers from a table of last-poll times per task type, and records its requests. */
function fakeTemporal(lastPolls: { workflow?: number[]; activity?: number[] }) {
  const requests: temporal.api.workflowservice.v1.IDescribeTaskQueueRequest[] = [];
  const service: TaskQueueDescriber = {
    async describeTaskQueue(request) {
      requests.push(request);
      const polls =
        request.taskQueueType === TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY ? lastPolls.activity : lastPolls.workflow;
      return {
        pollers: (polls ?? []).map((ms, i) => ({
          identity: `${1000 + i}@secret-host`,
          lastAccessTime: msNumberToTs(ms),
        })),
      };
    },
  };
  return { service, requests };
}

const check = (service: TaskQueueDescriber) =>
  workerPollingCheck(service, { namespace: 'holdfast', taskQueue: 'holdfast-incidents', now: () => NOW });

describe('readiness: a worker polls the task queue', () => {
  test('ready when a worker polled workflow and activity tasks within the window; asks about the normal queue of the namespace', async () => {
    const { service, requests } = fakeTemporal({ workflow: [NOW - 59_000], activity: [NOW - 1000] });
    await check(service)();
    assert.deepEqual(
      requests.map((r) => [r.namespace, r.taskQueue?.name, r.taskQueue?.kind, r.taskQueueType]).sort(),
      [
        [
          'holdfast',
          'holdfast-incidents',
          TaskQueueKind.TASK_QUEUE_KIND_NORMAL,
          TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ],
        [
          'holdfast',
          'holdfast-incidents',
          TaskQueueKind.TASK_QUEUE_KIND_NORMAL,
          TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        ],
      ].sort(),
    );
  });

  test('no poller at all: not ready, and the reason names the queue, the window and both task types', async () => {
    await assert.rejects(check(fakeTemporal({}).service)(), {
      message: 'no worker has polled task queue holdfast-incidents in the last 90 s (workflow and activity tasks)',
    });
  });

  test('a poller the server still remembers but that stopped polling longer ago than the window is not a worker', async () => {
    const stale = NOW - WORKER_POLL_WINDOW_MS - 1;
    await assert.rejects(check(fakeTemporal({ workflow: [stale, NOW - 200_000], activity: [NOW] }).service)(), {
      message: /in the last 90 s \(workflow tasks\)$/,
    });
  });

  test('a worker without activities (workflow pollers only) is not enough', async () => {
    await assert.rejects(check(fakeTemporal({ workflow: [NOW] }).service)(), { message: /\(activity tasks\)$/ });
  });

  test('a poller without a last poll time does not count', async () => {
    const service: TaskQueueDescriber = { describeTaskQueue: async () => ({ pollers: [{ identity: 'x' }] }) };
    await assert.rejects(check(service)(), /no worker has polled/);
  });

  test('/readyz: 503 with the worker reason beside the other checks, then 200 once a worker polls; no poller identity leaks', async () => {
    const polls: { workflow?: number[]; activity?: number[] } = {};
    const app = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: { temporal: async () => {}, s3: async () => {}, worker: check(fakeTemporal(polls).service) },
      tokens: new Map(),
      incidents: {} as IncidentsService,
      metrics: createApiMetrics(),
    });
    try {
      const before = await app.inject({ url: '/readyz' });
      assert.equal(before.statusCode, 503);
      assert.deepEqual(before.json(), {
        status: 'unavailable',
        checks: {
          temporal: { ok: true },
          s3: { ok: true },
          worker: {
            ok: false,
            error: 'no worker has polled task queue holdfast-incidents in the last 90 s (workflow and activity tasks)',
          },
        },
      });
      polls.workflow = [NOW - 5];
      polls.activity = [NOW - 5];
      const after = await app.inject({ url: '/readyz' });
      assert.equal(after.statusCode, 200);
      assert.deepEqual(after.json().checks.worker, { ok: true });
      assert.doesNotMatch(before.body + after.body, /secret-host|1000@/);
    } finally {
      await app.close();
    }
  });

  test('a describe call that never answers is bounded by the check timeout and reported', async () => {
    const app = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: { worker: check({ describeTaskQueue: () => new Promise(() => {}) }) },
      tokens: new Map(),
      incidents: {} as IncidentsService,
      metrics: createApiMetrics(),
    });
    try {
      const started = Date.now();
      const res = await app.inject({ url: '/readyz' });
      assert.equal(res.statusCode, 503);
      assert.match(res.json().checks.worker.error, /timed out after \d+ ms/);
      assert.ok(Date.now() - started < 10_000);
    } finally {
      await app.close();
    }
  });
});
