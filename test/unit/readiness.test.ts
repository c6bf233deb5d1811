import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import pino from 'pino';
import { msNumberToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { createApiMetrics } from '../../api/metrics';
import { buildServer } from '../../api/server';
import {
  intakeReadinessChecks,
  workerPollingCheck,
  type TaskQueueDescriber,
  WORKER_POLL_WINDOW_MS,
} from '../../api/readiness';
import { AlertSpool } from '../../api/spool';
import type { IncidentsService } from '../../api/incidents';
import { sampleAlert } from '../helpers/incident-harness';

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

describe('/readyz/intake: whether an alert posted now is taken (the API probe in a cluster)', () => {
  const temporalAway = async () => {
    throw new Error('14 UNAVAILABLE: connection refused');
  };
  const serve = (intakeReadiness: Record<string, () => Promise<void>>) =>
    buildServer({
      logger: pino({ level: 'silent' }),
      readiness: { temporal: temporalAway, s3: async () => {} },
      intakeReadiness,
      tokens: new Map(),
      incidents: {} as IncidentsService,
      metrics: createApiMetrics(),
    });

  test('with a spool: Temporal away leaves it ready (/readyz says what is missing) until the spool has no room', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-readyz-'));
    const spool = AlertSpool.openDir({ dir, maxBytes: 8 * 1024 });
    const app = await serve(intakeReadinessChecks({ temporal: temporalAway, spool, maxBodyBytes: 2048 }));
    try {
      const full = await app.inject({ url: '/readyz' });
      assert.equal(full.statusCode, 503);
      assert.match(full.json().checks.temporal.error, /UNAVAILABLE/);
      const intake = await app.inject({ url: '/readyz/intake' });
      assert.equal(intake.statusCode, 200);
      assert.deepEqual(intake.json(), { status: 'ready', checks: { spool: { ok: true } } });
      // Alerts fill the spool until less than one largest body fits: then a sender is better served elsewhere.
      for (let i = 0; spool.roomBytes >= 2048; i++) await spool.append([sampleAlert({ id: `a-${i}` })]);
      const fullSpool = await app.inject({ url: '/readyz/intake' });
      assert.equal(fullSpool.statusCode, 503);
      assert.match(fullSpool.json().checks.spool.error, /^the alert spool is full \(\d+ bytes left\)$/);
    } finally {
      await app.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('without a spool an alert needs Temporal: Temporal away is not ready', async () => {
    const app = await serve(intakeReadinessChecks({ temporal: temporalAway, maxBodyBytes: 2048 }));
    try {
      const res = await app.inject({ url: '/readyz/intake' });
      assert.equal(res.statusCode, 503);
      assert.deepEqual(Object.keys(res.json().checks), ['temporal']);
    } finally {
      await app.close();
    }
  });
});
