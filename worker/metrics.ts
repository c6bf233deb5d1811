import http from 'node:http';
import client from 'prom-client';

/** The worker's Prometheus metrics: how long each incident step takes and how it ends. */
export function createWorkerMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'holdfast_worker_' });
  const stepSeconds = new client.Histogram({
    name: 'holdfast_step_duration_seconds',
    help: 'Duration of incident step activities (preserve, captures, containment), by step and outcome.',
    labelNames: ['step', 'outcome'] as const,
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 1800],
    registers: [registry],
  });
  return { registry, stepSeconds };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/**
 * Serves GET /metrics on its own port (the API serves its own), and GET /readyz: 200 once `ready()` says the
 * worker polls Temporal, else 503, so a Deployment's readiness probe waits for the connection and the
 * workflow bundle rather than for the process.
 */
export function serveMetrics(
  metrics: WorkerMetrics,
  host: string,
  port: number,
  ready: () => boolean = () => true,
): http.Server {
  const server = http.createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/readyz') {
      const ok = ready();
      response.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready\n' : 'starting\n');
      return;
    }
    if (request.method !== 'GET' || request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    void metrics.registry.metrics().then((text) => {
      response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
    });
  });
  server.listen(port, host);
  return server;
}
