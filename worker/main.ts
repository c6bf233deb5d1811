import { NativeConnection, Runtime, Worker, type LogLevel, type LogMetadata } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { createS3Client } from '../adapters/s3/client';
import { buildAdapters } from './adapters';
import { createWorkerMetrics, serveMetrics } from './metrics';
import { loadConfig, silenceAwsSdkNodeWarning, type HoldfastConfig } from '../common/config';
import { createLogger, type Logger } from '../common/logger';

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

/** The worker with real adapters; tests replace any of them (e.g. a fake cluster) through `overrides`. */
export async function createWorker(
  config: HoldfastConfig,
  overrides: Partial<ActivityDeps> = {},
  logger?: Logger,
): Promise<{ worker: Worker; close: () => Promise<void> }> {
  if (!config.temporal.address) throw new Error('TEMPORAL_ADDRESS is not set');
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const s3 = overrides.s3 ?? createS3Client(config.s3);
  // Tests that replace every adapter must not need real configuration (signing key, notifier secrets).
  const complete = ['cluster', 'evidence', 'notifiers', 'playbooks', 'sealEvidence'].every((k) => k in overrides);
  const adapters = { ...(complete ? {} : buildAdapters(config, s3, logger)), ...overrides } as Omit<
    ActivityDeps,
    'config' | 's3'
  >;
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: createActivities({ ...adapters, config, s3 }),
  });
  return {
    worker,
    async close() {
      s3.destroy();
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
  const metricsServer = metricsPort > 0 ? serveMetrics(metrics, config.api.host, metricsPort) : undefined;
  const { worker, close } = await createWorker(
    config,
    {
      observeStep: (step, outcome, seconds) => metrics.stepSeconds.observe({ step, outcome }, seconds),
    },
    logger,
  );
  logger.info({ taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace }, 'worker started');
  // Worker.run() resolves after SIGINT/SIGTERM once in-flight tasks are handed back.
  await worker.run();
  metricsServer?.close();
  await close();
  logger.info('worker stopped');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
