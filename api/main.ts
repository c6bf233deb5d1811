import { Client, Connection } from '@temporalio/client';
import { createEvidenceReadServices, createS3Client } from '../evidence';
import { loadConfig, silenceAwsSdkNodeWarning } from '../common/config';
import { createLogger } from '../common/logger';
import { loadOrCreateTokens } from './auth';
import { incidentCounter, temporalIncidents } from './incidents';
import { AlertIntake } from './intake';
import { createApiMetrics } from './metrics';
import { ALERT_FORMATS } from '../alerts/registry';
import { alertRoutes } from './routes/alerts';
import { evidenceRouteGroup } from './routes/evidence';
import { buildServer } from './server';
import { temporalSink } from './temporal-sink';
import { readinessChecks } from './readiness';

async function main(): Promise<void> {
  silenceAwsSdkNodeWarning();
  const config = loadConfig();
  const logger = createLogger('holdfast-api', config.logging);
  if (!config.temporal.address) throw new Error('TEMPORAL_ADDRESS is not set');
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const s3 = createS3Client(config.s3);
  const tokens = loadOrCreateTokens(config.api.tokens, config.dataDir);
  if (tokens.file)
    logger.info({ file: tokens.file }, tokens.created ? 'generated API tokens (mode 0600)' : 'API tokens loaded');
  const metrics = createApiMetrics();
  // The API never holds the private key: public keys come from the bucket, where the worker publishes them.
  const evidence = createEvidenceReadServices(config, s3);
  const intake = new AlertIntake(temporalSink(client, config.temporal.taskQueue), {
    repeatWindowMs: 60_000,
    repeatFlushMs: 2000,
    repeatFlushMaxMs: 60_000,
    minDeliveryIntervalMs: 1000,
    maxBatch: 20,
    maxInFlight: 64,
    maxKeys: 100_000,
    onError: (err, workflowId) => logger.error({ err, workflowId }, 'alert delivery to Temporal failed'),
  });
  const app = await buildServer({
    logger,
    tokens: tokens.table,
    webhookSecret: config.api.webhookSecret,
    readiness: readinessChecks({ workflowService: connection.workflowService, s3, config }),
    incidents: temporalIncidents(client, config.temporal.namespace),
    countIncidents: incidentCounter(client, config.temporal.namespace),
    ...(config.temporal.uiUrl
      ? { temporalUi: { url: config.temporal.uiUrl, namespace: config.temporal.namespace } }
      : {}),
    metrics,
    routes: [
      alertRoutes({ intake, metrics, formats: ALERT_FORMATS, defaultCluster: config.api.defaultCluster }),
      ...evidenceRouteGroup(evidence),
    ],
  });
  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'api stopping');
    await app.close();
    await intake.flush().catch(() => undefined);
    await connection.close();
    s3.destroy();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  await app.listen({ host: config.api.host, port: config.api.port });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
