/**
 * bench/intake: storms of alerts about a few pods through the real API (with the options it runs with)
 * into the real Temporal dev server, in one run: first mostly exact repeats (3 rules × the pods), then every
 * alert distinct (its text unique, as Falco's output carries the event time and command line). Prints
 * alerts/s, latency percentiles and how many incidents each storm opened, with the ratios to the goals.
 *
 *   node dist/bench/intake.js [--alerts 20000] [--distinct-alerts 5000] [--pods 50] [--connections 16]
 *
 * Starts its own Temporal + S3 (free ports, temp dir) unless TEMPORAL_ADDRESS/S3_ENDPOINT are set.
 * The load comes from a separate process so the API's CPU time is its own.
 */
import { fork } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import autocannon from 'autocannon';
import { AlertIntake, API_INTAKE_OPTIONS, stormWorkflowId } from '../api/intake';
import { createApiMetrics } from '../api/metrics';
import { ALERT_FORMATS } from '../alerts/registry';
import { alertRoutes } from '../api/routes/alerts';
import { AlertSpool, drainSpool } from '../api/spool';
import { buildServer } from '../api/server';
import { temporalIncidents } from '../api/incidents';
import { temporalSink } from '../api/temporal-sink';
import { loadConfig, silenceAwsSdkNodeWarning } from '../common/config';
import { createLogger } from '../common/logger';
import { startStack, type RunningStack } from '../scripts/stack';
import { INCIDENT_WORKFLOW, statusQuery } from '../workflows/definitions';

interface LoadResult {
  sent: number;
  ok: number;
  failed: number;
  seconds: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

/** Namespaces the pods are spread over: a storm across a cluster, within the API's per-namespace creation limit. */
const NAMESPACES = 10;

/**
 * The load generator, run in a child process (`--load`): autocannon keeps `connections` requests in flight
 * and builds each body as it goes, so the generator costs the machine far less than the API it measures.
 */
async function generateLoad(
  url: string,
  token: string,
  alerts: number,
  pods: number,
  connections: number,
  distinct: boolean,
  cluster: string,
): Promise<LoadResult> {
  const rules = ['Terminal shell in container', 'Write below etc', 'Outbound connection to C2 server'];
  let next = 0;
  const body = () => {
    const i = next++;
    const pod = i % pods;
    return JSON.stringify({
      source: 'bench',
      severity: 'high',
      title: rules[i % rules.length],
      description: distinct ? `exec ${i} at ${Date.now()} about pod ${pod}` : `storm alert about pod ${pod}`,
      target: { cluster, namespace: `ns-${pod % NAMESPACES}`, pod: `pod-${pod}`, container: 'app' },
    });
  };
  const result = await autocannon({
    url,
    // autocannon refuses more connections than requests.
    connections: Math.min(connections, alerts),
    amount: alerts,
    timeout: 30,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    requests: [{ setupRequest: (request) => ({ ...request, body: body() }) }],
  });
  const ok = result['2xx'];
  return {
    sent: alerts,
    ok,
    failed: alerts - ok,
    seconds: result.duration,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
  };
}

async function main(): Promise<void> {
  silenceAwsSdkNodeWarning();
  const { values } = parseArgs({
    options: {
      alerts: { type: 'string', default: '20000' },
      'distinct-alerts': { type: 'string', default: '5000' },
      'spool-after-ms': { type: 'string' },
      distinct: { type: 'boolean', default: false },
      cluster: { type: 'string', default: 'bench' },
      pods: { type: 'string', default: '50' },
      connections: { type: 'string', default: '16' },
      load: { type: 'boolean', default: false },
      'no-worker': { type: 'boolean', default: false },
      url: { type: 'string' },
      token: { type: 'string' },
    },
  });
  const alerts = Number(values.alerts);
  const pods = Number(values.pods);
  const connections = Number(values.connections);
  if (values.load) {
    const result = await generateLoad(
      values.url!,
      values.token!,
      alerts,
      pods,
      connections,
      values.distinct!,
      values.cluster!,
    );
    process.send!(result);
    return;
  }

  let stack: RunningStack | undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-bench-'));
  if (!process.env.TEMPORAL_ADDRESS || !process.env.S3_ENDPOINT) {
    stack = await startStack({
      dataDir,
      namespace: 'holdfast',
      bucket: 'holdfast-evidence',
      log: (l) => process.stderr.write(`${l}\n`),
    });
    Object.assign(process.env, stack.env);
  }
  const taskQueue = `bench-${crypto.randomUUID()}`;
  const config = { ...loadConfig(), temporal: { ...loadConfig().temporal, taskQueue } };
  const logger = createLogger('bench', { ...config.logging, level: 'warn' });
  const connection = await Connection.connect({ address: config.temporal.address! });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  // The worker runs in its own process, as under `npm start`, so its workflow work is not the API's.
  const worker = values['no-worker']
    ? undefined
    : fork(path.join(__dirname, '..', 'test', 'helpers', 'worker-process.js'), [], {
        env: {
          ...process.env,
          TASK_QUEUE: taskQueue,
          JOURNAL: path.join(dataDir, 'journal.jsonl'),
          PLAYBOOKS: 'notifiers: []\nplaybooks: [{ name: bench, preserve: false, capture: [logs], contain: [] }]',
        },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
  if (worker) {
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('exit', (code) => reject(new Error(`worker exited ${code}`)));
    });
  }
  const metrics = createApiMetrics();
  const intake = new AlertIntake(
    temporalSink(
      client,
      new Map([
        ['bench-repeats', taskQueue],
        ['bench-distinct', taskQueue],
      ]),
    ),
    API_INTAKE_OPTIONS,
  );
  // With --spool-after-ms, the API's spool is the 202 point once Temporal is slower than that.
  const spoolAfterMs = values['spool-after-ms'] ? Number(values['spool-after-ms']) : undefined;
  const spool =
    spoolAfterMs === undefined
      ? undefined
      : AlertSpool.openDir({ dir: path.join(dataDir, 'spool'), maxBytes: 4 * 1024 * 1024 * 1024 });
  const drainer = spool ? drainSpool(spool, intake, connection, config.temporal.namespace, logger) : undefined;
  const token = `intake-${crypto.randomBytes(12).toString('hex')}`;
  const app = await buildServer({
    logger,
    tokens: new Map([[token, 'intake']]),
    readiness: {},
    metrics,
    incidents: temporalIncidents(client, config.temporal.namespace),
    routes: [
      alertRoutes({
        intake,
        metrics,
        formats: ALERT_FORMATS,
        defaultCluster: 'bench',
        ...(spool ? { spool, deliveryDeadlineMs: spoolAfterMs } : {}),
      }),
    ],
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });

  const genericRoute = ALERT_FORMATS.find((f) => f.name === 'generic')!.route;
  const storms = [
    { name: 'repeats', alerts, distinct: false, cluster: 'bench-repeats', goal: 10_000 },
    {
      name: 'distinct',
      alerts: Number(values['distinct-alerts']),
      distinct: true,
      cluster: 'bench-distinct',
      goal: 2000,
    },
  ];
  const lines: string[] = [];
  for (const storm of storms) {
    process.stderr.write(
      `[bench] ${storm.name}: ${storm.alerts} alerts about ${pods} pods, ${connections} connections, against ${address}\n`,
    );
    const load = fork(__filename, [
      '--load',
      '--url',
      `${address}${genericRoute}`,
      '--token',
      token,
      '--alerts',
      String(storm.alerts),
      '--pods',
      String(pods),
      '--connections',
      String(connections),
      '--cluster',
      storm.cluster,
      ...(storm.distinct ? ['--distinct'] : []),
    ]);
    const result = await new Promise<LoadResult>((resolve, reject) => {
      load.once('message', (m) => resolve(m as LoadResult));
      load.once('exit', (code) => code !== 0 && reject(new Error(`load generator exited ${code}`)));
    });
    // Spooled alerts reach their incidents after the answers: how long after the load until all did.
    const loadEnded = Date.now();
    while (spool?.inUse) await new Promise((r) => setTimeout(r, 100));
    const drainSeconds = (Date.now() - loadEnded) / 1000;
    await intake.flush();
    // Visibility is eventually consistent: wait until the count settles.
    let incidents = 0;
    for (let i = 0; i < 40; i++) {
      const count = await client.workflowService.countWorkflowExecutions({
        namespace: config.temporal.namespace,
        query: `WorkflowType = "${INCIDENT_WORKFLOW}" AND TaskQueue = "${taskQueue}" AND HoldfastCluster = "${storm.cluster}"`,
      });
      incidents = Number(count.count ?? 0);
      if (incidents >= pods) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    // Every accepted alert is in its incident: an occurrence (alertCount) or a re-send of one (resends).
    // A spooled copy of an alert that also landed is a re-send (same sender id), never a second occurrence.
    let inIncidents = 0;
    let resends = 0;
    for (let i = 0; i < 120 && inIncidents < result.ok; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 500));
      // Beyond the incident creation limits (the API's, as configured by default), alerts land on the
      // cluster's storm incident: counted there.
      const keys = [
        ...Array.from({ length: pods }, (_, pod) => `incident/${storm.cluster}/ns-${pod % NAMESPACES}/pod-${pod}`),
        stormWorkflowId(storm.cluster),
      ];
      const counts = await Promise.all(
        keys.map(async (key) => {
          const status = await client.workflow
            .getHandle(key)
            .query(statusQuery)
            .catch(() => undefined);
          return [status?.alertCount ?? 0, status?.resends ?? 0] as const;
        }),
      );
      inIncidents = counts.reduce((sum, [occurrences, again]) => sum + occurrences + again, 0);
      resends = counts.reduce((sum, [, again]) => sum + again, 0);
    }
    const rate = result.ok / result.seconds;
    const p99 = result.latencyMs.p99;
    console.log(
      JSON.stringify({
        bench: 'intake',
        storm: storm.name,
        alerts: result.sent,
        accepted: result.ok,
        failed: result.failed,
        pods,
        incidents,
        alertsInIncidents: inIncidents,
        resends,
        seconds: Number(result.seconds.toFixed(2)),
        alertsPerSecond: Math.round(rate),
        ...(spool ? { spoolAfterMs, drainedSecondsAfterLoad: Number(drainSeconds.toFixed(2)) } : {}),
        latencyMs: result.latencyMs,
      }),
    );
    lines.push(
      `${storm.name}: alerts/s ${Math.round(rate)} (goal ≥ ${storm.goal}: ratio ${(rate / storm.goal).toFixed(2)}); ` +
        `p99 ${p99.toFixed(1)} ms (goal < 50: ratio ${(p99 / 50).toFixed(2)}); incidents ${incidents} for ${pods} pods; ` +
        `${inIncidents} of ${result.ok} accepted alerts in them (${resends} as re-sends)` +
        (spool ? `; spool after ${spoolAfterMs} ms, all in incidents ${drainSeconds.toFixed(1)} s after the load` : ''),
    );
  }
  for (const line of lines) console.log(line);

  drainer?.stop();
  await app.close();
  if (worker) {
    worker.kill('SIGTERM');
    await new Promise((resolve) => worker.once('exit', resolve));
  }
  await connection.close();
  await stack?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
