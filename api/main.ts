import { Client, Connection } from '@temporalio/client';
import { createEvidenceReadServices, createS3Client } from '../evidence';
import { loadConfig, silenceAwsSdkNodeWarning } from '../common/config';
import { createLogger } from '../common/logger';
import { loadOrCreateTokens } from './auth';
import { incidentCounter, temporalIncidents } from './incidents';
import { AlertIntake, API_INTAKE_OPTIONS } from './intake';
import { createApiMetrics } from './metrics';
import { ALERT_FORMATS } from '../alerts/registry';
import { alertRoutes } from './routes/alerts';
import { evidenceRouteGroup } from './routes/evidence';
import { buildServer } from './server';
import { temporalSink } from './temporal-sink';
import { readinessChecks, spoolCheck } from './readiness';
import { AlertSpool, drainSpool } from './spool';

async function main(): Promise<void> {
  silenceAwsSdkNodeWarning();
  const config = loadConfig();
  const logger = createLogger('holdfast-api', config.logging);
  if (!config.temporal.address) throw new Error('TEMPORAL_ADDRESS is not set');
  // With a spool the API starts and takes alerts while Temporal is away: connect on first use.
  const spool = config.api.spool ? AlertSpool.openDir(config.api.spool) : undefined;
  const connection = spool
    ? Connection.lazy({ address: config.temporal.address })
    : await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const s3 = createS3Client(config.s3);
  const tokens = loadOrCreateTokens(config.api.tokens, config.dataDir);
  if (tokens.file)
    logger.info({ file: tokens.file }, tokens.created ? 'generated API tokens (mode 0600)' : 'API tokens loaded');
  const metrics = createApiMetrics();
  // The API never holds the private key: public keys come from the bucket, where the worker publishes them.
  const evidence = createEvidenceReadServices(config, s3);
  const intake = new AlertIntake(temporalSink(client, config.temporal.taskQueue), {
    ...API_INTAKE_OPTIONS,
    onError: (err, workflowId) => logger.error({ err, workflowId }, 'alert delivery to Temporal failed'),
  });
  const app = await buildServer({
    logger,
    tokens: tokens.table,
    webhookSecret: config.api.webhookSecret,
    readiness: {
      ...readinessChecks({ workflowService: connection.workflowService, s3, config }),
      ...(spool ? { spool: spoolCheck(spool) } : {}),
    },
    incidents: temporalIncidents(client, config.temporal.namespace),
    countIncidents: incidentCounter(client, config.temporal.namespace),
    metrics,
    routes: [
      alertRoutes({ intake, metrics, formats: ALERT_FORMATS, defaultCluster: config.api.defaultCluster, spool }),
      ...evidenceRouteGroup(evidence),
    ],
  });
  const drainer = spool ? drainSpool(spool, intake, connection, config.temporal.namespace, logger) : undefined;
  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'api stopping');
    drainer?.stop();
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
