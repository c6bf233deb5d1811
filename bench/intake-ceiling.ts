/**
 * bench/intake-ceiling: what this machine allows the intake before Temporal costs anything, in one run, with
 * the same load generator as bench/intake (autocannon in its own process, `connections` in flight):
 *   1. a bare fastify route that answers 202 with a fixed body: HTTP on loopback and the load generator alone;
 *   2. the real API routes (auth, parsing, intake, metrics) with an in-memory Temporal port (each delivery
 *      takes 2 ms, one run per incident key): a storm of exact repeats, and one of distinct alerts with a spool.
 * bench/intake's goals are measured against these: the API's share of a request is what `npm start` can
 * make cheaper; what is left of two cores for Temporal and the worker is not.
 *
 *   node dist/bench/intake-ceiling.js [--alerts 60000] [--pods 50] [--connections 64]
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Connection } from '@temporalio/client';
import Fastify from 'fastify';
import { ALERT_FORMATS } from '../alerts/registry';
import { AlertIntake, API_INTAKE_OPTIONS, type IntakeSink } from '../api/intake';
import { createApiMetrics } from '../api/metrics';
import { alertRoutes } from '../api/routes/alerts';
import { buildServer } from '../api/server';
import { AlertSpool, drainSpool } from '../api/spool';
import type { IncidentsService } from '../api/incidents';
import { loadConfig } from '../common/config';
import { createLogger } from '../common/logger';

interface LoadResult {
  ok: number;
  seconds: number;
  latencyMs: { p50: number; p99: number };
}

/** Temporal as the intake sees it, in memory: one run per key, every call 2 ms. */
function memoryTemporal(): IntakeSink {
  const runs = new Map<string, string>();
  const later = () => new Promise((resolve) => setTimeout(resolve, 2));
  return {
    async deliver(workflowId) {
      await later();
      if (!runs.has(workflowId)) runs.set(workflowId, `run-${runs.size}`);
      return runs.get(workflowId)!;
    },
    async signalOpen(workflowId) {
      await later();
      return runs.has(workflowId);
    },
    async describeRun() {
      await later();
      return { startedAt: new Date(0) };
    },
    async latest(workflowId) {
      await later();
      const runId = runs.get(workflowId);
      return runId ? { open: { runId, incidentId: `inc-${runId}` } } : {};
    },
  };
}

/** bench/intake's load generator (`--load`), in its own process. */
async function load(url: string, token: string, alerts: number, pods: number, connections: number, distinct: boolean) {
  const child = fork(path.join(__dirname, 'intake.js'), [
    '--load',
    ...['--url', url, '--token', token, '--alerts', String(alerts), '--pods', String(pods)],
    ...['--connections', String(connections), '--cluster', 'ceiling', ...(distinct ? ['--distinct'] : [])],
  ]);
  return await new Promise<LoadResult>((resolve, reject) => {
    child.once('message', (m) => resolve(m as LoadResult));
    child.once('exit', (code) => code !== 0 && reject(new Error(`load generator exited ${code}`)));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      alerts: { type: 'string', default: '60000' },
      pods: { type: 'string', default: '50' },
      connections: { type: 'string', default: '64' },
    },
  });
  const alerts = Number(values.alerts);
  const pods = Number(values.pods);
  const connections = Number(values.connections);
  const token = 'ceiling-intake-token';
  const rate = (r: LoadResult) => r.ok / r.seconds;

  const bare = Fastify({ logger: false });
  bare.post('/v1/alerts', async (_request, reply) =>
    reply.code(202).send({ incidentId: 'inc-0', workflowId: 'incident/ceiling/ns/pod', deduplicated: true }),
  );
  const bareUrl = await bare.listen({ host: '127.0.0.1', port: 0 });
  const bareResult = await load(`${bareUrl}/v1/alerts`, token, alerts, pods, connections, false);
  await bare.close();

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-ceiling-'));
  const metrics = createApiMetrics();
  const intake = new AlertIntake(memoryTemporal(), { ...API_INTAKE_OPTIONS, creation: undefined });
  const spool = AlertSpool.openDir({ dir: path.join(dataDir, 'spool'), maxBytes: 4 * 1024 ** 3 });
  // The drainer asks Temporal whether it answers before each drain: here it always does.
  const temporalAnswers = {
    workflowService: { describeNamespace: async () => ({}) },
    withDeadline: (_deadline: number, fn: () => Promise<unknown>) => fn(),
  } as unknown as Pick<Connection, 'workflowService' | 'withDeadline'>;
  const logger = createLogger('bench', { ...loadConfig().logging, level: 'warn' });
  const drainer = drainSpool(spool, intake, temporalAnswers, 'ceiling', logger);
  const app = await buildServer({
    logger,
    tokens: new Map([[token, 'intake']]),
    readiness: {},
    metrics,
    // The incident routes are not loaded here.
    incidents: {} as IncidentsService,
    routes: [
      alertRoutes({
        intake,
        metrics,
        formats: ALERT_FORMATS,
        defaultCluster: 'ceiling',
        spool,
        deliveryDeadlineMs: 5000,
      }),
    ],
  });
  const apiUrl = `${await app.listen({ host: '127.0.0.1', port: 0 })}/v1/alerts`;
  const repeats = await load(apiUrl, token, alerts, pods, connections, false);
  const distinct = await load(apiUrl, token, alerts, pods, connections, true);
  // Every spooled alert reaches the in-memory incidents before the spool goes.
  while (spool.inUse) await new Promise((resolve) => setTimeout(resolve, 100));
  drainer.stop();
  await app.close();
  fs.rmSync(dataDir, { recursive: true, force: true });

  const line = (name: string, r: LoadResult, goal: number) =>
    `${name}: ${Math.round(rate(r))} alerts/s (goal ${goal}: ratio ${(rate(r) / goal).toFixed(2)}; ` +
    `of the bare route: ${(rate(r) / rate(bareResult)).toFixed(2)}), p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms`;
  console.log(
    JSON.stringify({
      bench: 'intake-ceiling',
      alerts,
      connections,
      cpus: os.cpus().length,
      bareRoute: Math.round(rate(bareResult)),
      apiRepeats: Math.round(rate(repeats)),
      apiDistinctSpooled: Math.round(rate(distinct)),
    }),
  );
  console.log(`bare fastify route: ${Math.round(rate(bareResult))} requests/s, p99 ${bareResult.latencyMs.p99} ms`);
  console.log(line('API, in-memory Temporal, repeats', repeats, 10_000));
  console.log(line('API, in-memory Temporal, distinct, spool', distinct, 2000));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
