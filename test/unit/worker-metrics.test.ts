/** The worker's metrics server: /metrics, and /readyz following the worker's state (deploy/worker.yaml's probe). */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createWorkerMetrics, serveMetrics } from '../../worker/metrics';

test('/readyz answers 503 until the worker runs, then 200; /metrics serves the registry', async () => {
  let ready = false;
  const server = serveMetrics(createWorkerMetrics(), '127.0.0.1', 0, () => ready);
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    assert.equal((await fetch(`${base}/readyz`)).status, 503);
    ready = true;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /holdfast_step_duration_seconds/);
    assert.equal((await fetch(`${base}/other`)).status, 404);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
