import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { Connection } from '@temporalio/client';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../adapters/s3/client';
import type { IncidentsService } from '../../api/incidents';
import { createApiMetrics } from '../../api/metrics';
import { readinessChecks } from '../../api/readiness';
import { buildServer } from '../../api/server';
import { createWorker } from '../../worker/main';
import { missingServers, quietTemporalRuntime, testConfig } from '../helpers/env';

interface Readyz {
  status: string;
  checks: Record<string, { ok: boolean; error?: string }>;
}

describe('/readyz on the real Temporal server: ready only once a worker polls', { skip: missingServers() }, () => {
  // A task queue of its own, so no other test's worker makes it look polled.
  const config = testConfig(`readiness-${crypto.randomUUID()}`);
  let connection: Connection;
  let s3: S3Client;
  let app: FastifyInstance;

  before(async () => {
    quietTemporalRuntime();
    connection = await Connection.connect({ address: config.temporal.address! });
    s3 = createS3Client(config.s3);
    app = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: readinessChecks({ workflowService: connection.workflowService, s3, config }),
      tokens: new Map(),
      incidents: {} as IncidentsService,
      metrics: createApiMetrics(),
    });
  });
  after(async () => {
    await app.close();
    s3.destroy();
    await connection.close();
  });

  const readyz = async () => {
    const res = await app.inject({ url: '/readyz' });
    return { code: res.statusCode, body: res.json() as Readyz };
  };

  test('503 naming the task queue while no worker runs; 200 once one polls it', async () => {
    const before = await readyz();
    assert.equal(before.code, 503);
    assert.equal(before.body.status, 'unavailable');
    assert.deepEqual(before.body.checks.temporal, { ok: true });
    assert.deepEqual(before.body.checks.s3, { ok: true });
    assert.deepEqual(before.body.checks.worker, {
      ok: false,
      error: `no worker has polled task queue ${config.temporal.taskQueue} in the last 90 s (workflow and activity tasks)`,
    });

    // The worker with its real adapters, as `npm start` runs it.
    const running = await createWorker(config);
    const workerDone = running.worker.run();
    try {
      let last = before;
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        last = await readyz();
        if (last.code === 200) break;
        await sleep(100);
      }
      assert.equal(last.code, 200, JSON.stringify(last.body));
      assert.deepEqual(last.body, {
        status: 'ready',
        checks: { temporal: { ok: true }, s3: { ok: true }, worker: { ok: true } },
      });
    } finally {
      running.worker.shutdown();
      await workerDone;
      await running.close();
    }
  });
});
