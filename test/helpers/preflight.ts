/**
 * The preflight's way in, as tests drive it: the API's GET /v1/preflight over a Temporal client (the route and
 * starter main.ts composes), and `holdfast preflight --json` against it.
 */
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { IncidentsService } from '../../api/incidents';
import { createApiMetrics } from '../../api/metrics';
import { temporalPreflight } from '../../api/preflight';
import { preflightRoutes } from '../../api/routes/preflight';
import { buildServer } from '../../api/server';
import { workerPollingCheck } from '../../api/readiness';
import { preflightCommand } from '../../cli/preflight';
import type { PreflightReport } from '../../common/preflight';

export interface PreflightApiSettings {
  client: Client;
  clusters: ReadonlyMap<string, string>;
  defaultCluster: string;
  /** What the report names when Temporal does not answer. */
  address: string;
  namespace: string;
  /** The operator token the API accepts. */
  token: string;
}

/** The API with only the preflight route, listening on a free loopback port. */
export async function startPreflightApi(s: PreflightApiSettings): Promise<{ url: string; app: FastifyInstance }> {
  const app = await buildServer({
    logger: pino({ level: 'silent' }),
    readiness: {},
    tokens: new Map([[s.token, 'operator' as const]]),
    incidents: {} as IncidentsService,
    metrics: createApiMetrics(),
    routes: [
      preflightRoutes(
        temporalPreflight(s.client, { clusters: s.clusters, address: s.address, namespace: s.namespace }),
        s.defaultCluster,
      ),
    ],
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, app };
}

/** `holdfast preflight --json …` against `url`: its exit code, its report (when it printed one) and stderr. */
export async function preflightCli(
  url: string,
  token: string,
  args: string[],
): Promise<{ code: number; report?: PreflightReport; err: string }> {
  const text = { out: '', err: '' };
  const sink = (key: 'out' | 'err') =>
    new Writable({
      write(chunk, _e, cb) {
        text[key] += String(chunk);
        cb();
      },
    });
  const code = await preflightCommand(['--json', ...args], {
    stdout: sink('out'),
    stderr: sink('err'),
    config: { apiUrl: url, token },
  });
  return { code, ...(text.out ? { report: JSON.parse(text.out) as PreflightReport } : {}), err: text.err };
}

/** Waits (20 s at most) until Temporal has seen a worker poll `taskQueue`: the API refuses a preflight before. */
export async function workerPolls(client: Client, namespace: string, taskQueue: string): Promise<void> {
  const polled = workerPollingCheck(client.workflowService, { namespace, taskQueue });
  for (const deadline = Date.now() + 20_000; ;) {
    const seen = await polled().then(
      () => true,
      () => false,
    );
    if (seen) return;
    if (Date.now() > deadline) throw new Error(`no worker polls ${taskQueue} after 20 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
