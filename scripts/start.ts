/**
 * `npm start`: provisions and starts the embedded Temporal + S3 unless TEMPORAL_ADDRESS / S3_ENDPOINT
 * point at existing ones, then runs the worker and the API as supervised children. SIGINT/SIGTERM stop
 * every child; if one child dies, everything stops, so nothing is left half-running.
 *
 * The worker comes first and the API only once the worker polls and has run the self-test workflow (its
 * first workflow and activities, which are slower than later ones): when the API answers, an alert is
 * acted on at once, and the "API on …" line is printed only once /readyz says ready.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import path from 'node:path';
import { workerPollingCheck } from '../api/readiness';
import { ConfigError, loadConfig, silenceAwsSdkNodeWarning, type HoldfastConfig } from '../common/config';
import { localCollectorImage, localCollectorRefFile } from './local-env';
import { spawnOwned } from './processes';
import { scriptSettings } from './settings';
import { startS3, startTemporal } from './stack';

const say = (line: string) => process.stderr.write(`${line}\n`);

/**
 * Stopping is bounded: within these the API and the worker stop together, then Temporal and S3 together; a
 * child still running at the end of its stage is killed (SIGKILL). So `npm start` is gone within about 8 s of
 * SIGINT/SIGTERM whatever a child waits for (a client in the middle of a request, an activity that ignores
 * cancellation, a server draining connections). The API and the worker bound their own shutdown below these
 * (api/main.ts, worker/main.ts), so the kill is a last resort.
 */
const APPS_STOP_GRACE_MS = 5000;
const SERVERS_STOP_GRACE_MS = 3000;

/** How long start-up waits for the worker to poll, for the self-test to warm it, and for /readyz. */
const WORKER_POLL_WAIT_MS = 120_000;
const WARM_UP_WAIT_MS = 30_000;
const READY_WAIT_MS = 60_000;

/**
 * Polls `probe` until it returns undefined (done) or `timeoutMs` passes; returns the last reason it gave
 * (undefined when done). Stops early when `stop()` says start-up is over (a child died, a signal came).
 */
async function waitUntil(
  probe: () => Promise<string | undefined>,
  timeoutMs: number,
  stop: () => boolean,
): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let reason: string | undefined = 'not checked yet';
  while (!stop()) {
    reason = await probe().catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
    if (reason === undefined || Date.now() >= deadline) return reason;
    await new Promise((r) => setTimeout(r, 200));
  }
  return reason;
}

/** Why /readyz is not ready (each failing check with its reason), or undefined when it answers 200. */
async function readyzReason(url: string): Promise<string | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (res.status === 200) return undefined;
  const body = (await res.json().catch(() => undefined)) as
    { checks?: Record<string, { ok: boolean; error?: string }> } | undefined;
  const failing = Object.entries(body?.checks ?? {}).filter(([, c]) => !c.ok);
  return failing.length > 0
    ? failing.map(([name, c]) => `${name}: ${c.error ?? 'failed'}`).join('; ')
    : `HTTP ${res.status}`;
}

/**
 * A URL for probing the API from this host: a wildcard listen address is reached through loopback. With TLS
 * the probe verifies the certificate like any client (NODE_EXTRA_CA_CERTS for a private CA).
 */
function localUrl(host: string, port: number, pathname: string, tls = false): string {
  const reachable = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `${tls ? 'https' : 'http'}://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}${pathname}`;
}

/** Proves end to end (API-independent) that the worker runs and the bucket enforces Object Lock. */
async function storageSelfTest(
  address: string,
  namespace: string,
  taskQueue: string,
  retentionMode: string,
): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection, namespace });
    const probeId = crypto.randomUUID();
    const result = await client.workflow.execute('selfTestWorkflow', {
      taskQueue,
      workflowId: `selftest-${probeId}`,
      args: [probeId],
      workflowExecutionTimeout: '2 minutes',
    });
    const ok = result.readBackMatches && result.lockedDeleteRefused;
    say(
      ok
        ? `[holdfast] self-test passed: a workflow wrote ${result.key} under ${retentionMode} retention, read it back, and the server refused to delete it.`
        : `[holdfast] SELF-TEST FAILED: read back ${result.readBackMatches ? 'ok' : 'WRONG'}, locked delete ${result.lockedDeleteRefused ? 'refused' : 'ALLOWED'}: evidence would not be protected.`,
    );
  } catch (err) {
    say(`[holdfast] self-test could not run: ${(err as Error).message}`);
  } finally {
    await connection.close();
  }
}

/**
 * Worker first; once it polls its task queue, the self-test workflow (its first workflow, activities and S3
 * calls, slower than later ones) warms it, bounded; then the API, announced once /readyz answers 200 or,
 * after a bound, with what is not ready. Returns early when `over()` (a child died, a signal came).
 */
async function bringUp(
  config: HoldfastConfig,
  temporalAddress: string,
  start: (name: 'worker' | 'api') => void,
  over: () => boolean,
): Promise<void> {
  start('worker');
  const connection = await Connection.connect({ address: temporalAddress });
  let notPolling: string | undefined;
  try {
    const workerPolls = workerPollingCheck(connection.workflowService, {
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
    });
    notPolling = await waitUntil(() => workerPolls().then(() => undefined), WORKER_POLL_WAIT_MS, over);
  } finally {
    await connection.close();
  }
  if (over()) return;
  if (notPolling) {
    say(`[holdfast] the worker is not polling yet (${notPolling}); starting the API anyway.`);
  } else {
    const selfTest = storageSelfTest(
      temporalAddress,
      config.temporal.namespace,
      config.temporal.taskQueue,
      config.retention.mode,
    );
    // A slow self-test goes on and reports when it ends; start-up does not wait for it past the bound.
    await Promise.race([selfTest, new Promise((r) => setTimeout(r, WARM_UP_WAIT_MS).unref())]);
    if (over()) return;
  }

  start('api');
  const notReady = await waitUntil(
    () => readyzReason(localUrl(config.api.host, config.api.port, '/readyz', Boolean(config.api.tls))),
    READY_WAIT_MS,
    over,
  );
  if (over()) return;
  const api = `${config.api.tls ? 'https' : 'http'}://${config.api.host}:${config.api.port}`;
  say(
    notReady
      ? `[holdfast] API on ${api} but NOT READY after ${READY_WAIT_MS / 1000} s: ${notReady}. GET /readyz says when it is. Ctrl-C stops everything.`
      : `[holdfast] API on ${api}, ready (GET /healthz, /readyz). Ctrl-C stops everything.`,
  );
  say(`[holdfast] console on ${api}/console/ (sign in with a responder or investigator token).`);
}

async function main(): Promise<number> {
  silenceAwsSdkNodeWarning();
  const config = loadConfig();
  const { ports } = scriptSettings();
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  type Stop = (graceMs: number) => Promise<void>;
  // The API and the worker use the servers: they stop first.
  const apps: Stop[] = [];
  const servers: Stop[] = [];
  const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_DATA_DIR: config.dataDir };
  const envOf: Record<'worker' | 'api', NodeJS.ProcessEnv> = { worker: {}, api: {} };
  let shuttingDown = false;
  let stopping: Promise<void> | undefined;
  let exitCode = 0;

  const stopAll = (stops: Stop[], graceMs: number) =>
    Promise.all(
      stops.map((stop) => stop(graceMs).catch((err: unknown) => say(`[holdfast] stop failed: ${String(err)}`))),
    );
  /** Stops everything once; every later call (another signal, a child dying of it) waits for that same stop. */
  const shutdown = (reason: string): Promise<void> => {
    if (stopping) return stopping;
    shuttingDown = true;
    const since = Date.now();
    say(`[holdfast] stopping (${reason})…`);
    stopping = (async () => {
      await stopAll(apps, APPS_STOP_GRACE_MS);
      await stopAll(servers, SERVERS_STOP_GRACE_MS);
      say(`[holdfast] stopped in ${((Date.now() - since) / 1000).toFixed(1)} s.`);
    })();
    return stopping;
  };
  let markStopped: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    markStopped = resolve;
  });
  // `on`, not `once`: Ctrl-C sends SIGINT twice (the terminal's, and npm relaying it), and a second signal
  // without a listener would kill this process in the middle of stopping its children.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => void shutdown(signal).then(markStopped));
  }

  try {
    const stackOpts = {
      dataDir: config.dataDir,
      namespace: config.temporal.namespace,
      bucket: config.s3.bucket,
      log: say,
    };
    if (!config.s3.endpoint) {
      say('[holdfast] starting embedded S3 (versitygw)…');
      const s3 = await startS3({ ...stackOpts, s3Port: ports.s3, legalHoldOnWrite: config.evidence.legalHold });
      servers.push(s3.stop);
      Object.assign(env, { S3_ENDPOINT: s3.endpoint, S3_FORCE_PATH_STYLE: 'true' });
      // Each process its own least-privilege account (scripts/s3-accounts.ts); the root account stays here.
      for (const name of ['worker', 'api'] as const)
        Object.assign(envOf[name], {
          AWS_ACCESS_KEY_ID: s3.accounts[name].accessKeyId,
          AWS_SECRET_ACCESS_KEY: s3.accounts[name].secretAccessKey,
        });
      say(
        `[holdfast]   S3 at ${s3.endpoint}, bucket ${config.s3.bucket} (Object Lock on); the worker and the API each have their own account (${path.join(config.dataDir, 's3-accounts.json')}), root in ${path.join(config.dataDir, 's3-credentials.json')}`,
      );
    }
    if (!config.temporal.address) {
      say('[holdfast] starting embedded Temporal dev server…');
      const temporal = await startTemporal({
        ...stackOpts,
        temporalPort: ports.temporal,
        temporalUiPort: ports.temporalUi,
      });
      servers.push(temporal.stop);
      env.TEMPORAL_ADDRESS = temporal.address;
      // Incidents link to the embedded UI unless the operator named another.
      if (!config.temporal.uiUrl && temporal.uiUrl) env.HOLDFAST_TEMPORAL_UI_URL = temporal.uiUrl;
      say(`[holdfast]   Temporal at ${temporal.address}, namespace ${config.temporal.namespace}, UI ${temporal.uiUrl}`);
    }

    // The worker refuses a collector not pinned by digest: the locally built one (scripts/cluster/images.sh
    // writes its digest reference when it imports it into the local cluster) unless the operator named one.
    if (!config.kubernetes.collector.image && fs.existsSync(localCollectorRefFile())) {
      env.HOLDFAST_COLLECTOR_IMAGE = localCollectorImage();
      say(`[holdfast]   collector ${env.HOLDFAST_COLLECTOR_IMAGE} (the local cluster's, ${localCollectorRefFile()})`);
    }

    // Falcosidekick posts once and never retries: the API keeps what Temporal cannot take yet on disk.
    if (!config.api.spool) {
      envOf.api.HOLDFAST_SPOOL_DIR = path.join(config.dataDir, 'spool');
      say(`[holdfast]   alerts Temporal cannot take at once wait in ${envOf.api.HOLDFAST_SPOOL_DIR}`);
    }

    const start = (name: 'worker' | 'api') => {
      const child = spawnOwned(name, process.execPath, [path.join(__dirname, '..', name, 'main.js')], {
        stdio: 'inherit',
        env: { ...env, ...envOf[name] },
      });
      apps.push(async (graceMs) => {
        await child.stop(graceMs);
        if (child.child.signalCode === 'SIGKILL')
          say(`[holdfast] ${child.name} did not stop within ${graceMs / 1000} s: killed.`);
      });
      void child.exited.then((code) => {
        if (shuttingDown) return;
        say(`[holdfast] ${child.name} exited with code ${code}; stopping everything.`);
        exitCode = 1;
        void shutdown(`${child.name} died`).then(markStopped);
      });
    };
    await bringUp(config, env.TEMPORAL_ADDRESS!, start, () => shuttingDown);
  } catch (err) {
    say(`[holdfast] ${err instanceof Error ? err.message : String(err)}`);
    await shutdown('start-up failed');
    return 1;
  }
  await stopped;
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(err instanceof ConfigError ? `[holdfast] configuration error: ${err.message}` : String(err));
    process.exit(1);
  },
);
