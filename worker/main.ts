import {
  GracefulShutdownPeriodExpiredError,
  NativeConnection,
  Runtime,
  Worker,
  type LogLevel,
  type LogMetadata,
} from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { createS3Client } from '../adapters/s3/client';
import { temporalIncidentStarter } from '../api/temporal-sink';
import { Client, Connection } from '@temporalio/client';
import { buildAdapters, clusterFromConfig } from './adapters';
import { createWorkerMetrics, serveMetrics } from './metrics';
import { runPreflight } from './preflight';
import { loadConfig, silenceAwsSdkNodeWarning, type HoldfastConfig } from '../common/config';
import { createLogger, type Logger } from '../common/logger';
import type { PreflightRunner } from '../common/preflight';

/** Routes the Temporal SDK's own logs into pino so there is one log stream. */
function installTemporalLogger(logger: Logger): void {
  const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
    TRACE: 'trace',
    DEBUG: 'debug',
    INFO: 'info',
    WARN: 'warn',
    ERROR: 'error',
  };
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => logger[levels[level]](meta ?? {}, message);
  Runtime.install({
    logger: {
      log,
      trace: (m, meta) => log('TRACE', m, meta),
      debug: (m, meta) => log('DEBUG', m, meta),
      info: (m, meta) => log('INFO', m, meta),
      warn: (m, meta) => log('WARN', m, meta),
      error: (m, meta) => log('ERROR', m, meta),
    },
  });
}

/** How long a stopping worker waits for cancelled activities; below what `npm start` allows it (scripts/start.ts). */
const SHUTDOWN_FORCE_MS = 3500;

/** The worker with real adapters; tests replace any of them (e.g. a fake cluster) through `overrides`. */
export async function createWorker(
  config: HoldfastConfig,
  overrides: Partial<ActivityDeps> = {},
  logger?: Logger,
): Promise<{ worker: Worker; close: () => Promise<void> }> {
  if (!config.temporal.address) throw new Error('TEMPORAL_ADDRESS is not set');
  // Before connecting: a worker that must not run (a collector not pinned by digest) refuses at once.
  const cluster = overrides.cluster ?? clusterFromConfig(config.kubernetes);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  // A client too, for the one activity that opens incidents (alerts that arrived while one was closing).
  const clientConnection = await Connection.connect({ address: config.temporal.address });
  const incidents = temporalIncidentStarter(
    new Client({ connection: clientConnection, namespace: config.temporal.namespace }),
  );
  const s3 = overrides.s3 ?? createS3Client(config.s3);
  // Tests that replace every adapter must not need real configuration (signing key, notifier secrets).
  const complete = ['cluster', 'evidence', 'notifiers', 'playbooks', 'sealEvidence'].every((k) => k in overrides);
  // The readiness checks run here, as this worker's identities (workflows/preflight.ts).
  const preflight: PreflightRunner = (options, signal) => runPreflight(config, options, signal ? { signal } : {});
  const adapters = { preflight, ...(complete ? {} : buildAdapters(config, s3, logger, cluster)), ...overrides } as Omit<
    ActivityDeps,
    'config' | 's3'
  >;
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: createActivities({ incidents, ...adapters, config, s3 }),
    // On SIGINT/SIGTERM running activities are cancelled at once (grace 0, the default) and Temporal retries
    // them on the next worker. One that ignores cancellation must not hold the stop: after this, run() gives up.
    shutdownForceTime: SHUTDOWN_FORCE_MS,
  });
  return {
    worker,
    async close() {
      s3.destroy();
      await clientConnection.close();
      await connection.close();
    },
  };
}

async function main(): Promise<void> {
  silenceAwsSdkNodeWarning();
  const config = loadConfig();
  const logger = createLogger('holdfast-worker', config.logging);
  installTemporalLogger(logger.child({ component: 'temporal-sdk' }));
  const metrics = createWorkerMetrics();
  const metricsPort = config.worker.metricsPort;
  // Ready while the worker runs: Worker.create has connected to Temporal and bundled the workflows.
  const started: { worker?: Worker } = {};
  const metricsServer =
    metricsPort > 0
      ? serveMetrics(metrics, config.api.host, metricsPort, () => started.worker?.getState() === 'RUNNING')
      : undefined;
  const { worker, close } = await createWorker(
    config,
    {
      observeStep: (step, outcome, seconds) => metrics.stepSeconds.observe({ step, outcome }, seconds),
    },
    logger,
  );
  logger.info({ taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace }, 'worker started');
  started.worker = worker;
  // The SDK stops the worker on the first SIGINT/SIGTERM and then stops listening, so a second one (under
  // `npm start`, Ctrl-C brings the terminal's SIGINT and then start.ts's SIGTERM) would kill the process in the
  // middle of handing back its tasks. Listening here keeps the stop graceful; start.ts still bounds it.
  let signals = 0;
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      if (signals++ > 0) logger.info({ signal }, 'worker already stopping');
    });
  // Worker.run() resolves after SIGINT/SIGTERM once in-flight tasks are handed back, or rejects when
  // activities outlast the force time.
  let code = 0;
  await worker.run().catch((err: unknown) => {
    if (!(err instanceof GracefulShutdownPeriodExpiredError)) throw err;
    logger.warn({ forceMs: SHUTDOWN_FORCE_MS }, 'activities did not end after cancellation; stopping anyway');
    code = 1;
  });
  // A scraper's keep-alive connection would otherwise keep the metrics server, and the process, alive.
  metricsServer?.closeAllConnections();
  metricsServer?.close();
  // After a forced stop the worker still holds its connection, which then refuses to close: exiting ends both.
  if (code === 0) await close();
  logger.info('worker stopped');
  // Exit now: nothing left to do, and no stray handle (a socket, a timer in a library) may delay the stop.
  process.exit(code);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
