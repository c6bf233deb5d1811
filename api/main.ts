import fs from 'node:fs';
import path from 'node:path';
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
import { preflightRoutes } from './routes/preflight';
import { temporalPreflight } from './preflight';
import { consoleRoutes } from './routes/console';
import { evidenceRouteGroup, incidentSealRecords } from './routes/evidence';
import { timelineRoute } from './routes/timeline';
import { buildServer, MAX_BODY_BYTES } from './server';
import { temporalSink } from './temporal-sink';
import { intakeReadinessChecks, readinessChecks, spoolCheck } from './readiness';
import { AlertSpool, drainSpool } from './spool';
import { temporalPagingActions } from './paging/temporal';
import { pagingRoutes } from './routes/paging/registry';

/** Bounds of the API's stop, together well under what `npm start` allows it (scripts/start.ts). */
const SHUTDOWN_REQUESTS_GRACE_MS = 2000;
const SHUTDOWN_FLUSH_MS = 1500;

/** Resolves with `work`, or rejects once `ms` passed. */
function bounded<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

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
  // The API never reads the private key, nor trusts keys found in the bucket: /v1/keys serves the configured ones.
  const evidence = createEvidenceReadServices(config, s3);
  const intake = new AlertIntake(temporalSink(client, config.scope.clusters), {
    ...API_INTAKE_OPTIONS,
    creation: config.scope.incidentLimits,
    onError: (err, workflowId) => logger.error({ err, workflowId }, 'alert delivery to Temporal failed'),
  });
  const incidents = temporalIncidents(client, config.temporal.namespace);
  const readiness = {
    ...readinessChecks({ workflowService: connection.workflowService, s3, config }),
    ...(spool ? { spool: spoolCheck(spool) } : {}),
  };
  const app = await buildServer({
    logger,
    tokens: tokens.table,
    webhookSecret: config.api.webhookSecret,
    metricsToken: config.api.metricsToken,
    rateLimitPerMinute: config.api.rateLimitPerMinute,
    ...(config.api.tls
      ? { tls: { cert: fs.readFileSync(config.api.tls.certFile), key: fs.readFileSync(config.api.tls.keyFile) } }
      : {}),
    readiness,
    intakeReadiness: intakeReadinessChecks({ temporal: readiness.temporal, spool, maxBodyBytes: MAX_BODY_BYTES }),
    incidents,
    countIncidents: incidentCounter(client, config.temporal.namespace),
    ...(config.temporal.uiUrl
      ? { temporalUi: { url: config.temporal.uiUrl, namespace: config.temporal.namespace } }
      : {}),
    metrics,
    routes: [
      alertRoutes({
        intake,
        metrics,
        formats: ALERT_FORMATS,
        defaultCluster: config.api.defaultCluster,
        knownClusters: new Set(config.scope.clusters.keys()),
        ...(spool ? { spool, deliveryDeadlineMs: config.api.spool!.afterMs } : {}),
      }),
      ...evidenceRouteGroup(evidence, incidentSealRecords(incidents)),
      ...pagingRoutes(config.api.paging, {
        actions: temporalPagingActions(client, incidents),
        tokens: tokens.table,
        now: Date.now,
      }),
      timelineRoute(evidence, incidents),
      preflightRoutes(
        temporalPreflight(client, {
          clusters: config.scope.clusters,
          address: config.temporal.address,
          namespace: config.temporal.namespace,
        }),
        config.api.defaultCluster,
      ),
      // The responder console at /console, built into dist/console next to dist/api.
      consoleRoutes({ dir: path.join(__dirname, '..', 'console') }),
    ],
  });
  const drainer = spool ? drainSpool(spool, intake, connection, config.temporal.namespace, logger) : undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    // Under `npm start`, Ctrl-C reaches us twice: SIGINT from the terminal, then SIGTERM from start.ts.
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'api stopping');
    drainer?.stop();
    // Requests in flight get a moment to finish; a client in the middle of one (a slow upload, a download)
    // must not hold the stop for the whole request timeout.
    const forceClose = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_REQUESTS_GRACE_MS);
    await app.close();
    clearTimeout(forceClose);
    // Coalesced repeat counts go to Temporal now, if it answers in time; they are counts, not new alerts.
    await bounded(intake.flush(), SHUTDOWN_FLUSH_MS).catch(() => undefined);
    await bounded(connection.close(), 500).catch(() => undefined);
    s3.destroy();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  await app.listen({ host: config.api.host, port: config.api.port });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
