import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from '../common/logger';
import { authPlugin, type TokenTable } from './auth';
import { HttpProblem, problemErrorHandler, sendProblem } from './errors';
import type { IncidentsService } from './incidents';
import type { ApiMetrics } from './metrics';
import { registerOpenApi } from './openapi';
import { healthRoutes, type ReadinessCheck } from './routes/health';
import { incidentRoutes, type TemporalUi } from './routes/incidents';

export const MAX_BODY_BYTES = 1024 * 1024;

export interface ServerDeps {
  logger: Logger;
  readiness: Record<string, ReadinessCheck>;
  tokens: TokenTable;
  /** When set, `X-Holdfast-Signature: sha256=<hmac of body>` also authorizes intake. */
  webhookSecret?: string;
  incidents: IncidentsService;
  metrics: ApiMetrics;
  /** Incident counts by status for /metrics. */
  countIncidents?: () => Promise<Record<string, number>>;
  /** Further route groups (alert intake, evidence), each a fastify plugin. */
  routes?: FastifyPluginAsync[];
  /** The sources the incidents list filters by (default: every registered alert format's name). */
  alertSources?: readonly string[];
  /** When set, GET /v1/incidents/{id} links to the incident's run in the Temporal Web UI. */
  temporalUi?: TemporalUi;
}

/** Builds the HTTP API without listening, so tests drive it with inject(). */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: MAX_BODY_BYTES,
    // Bounded timeouts: a slow client must not hold a socket forever.
    requestTimeout: 30_000,
    connectionTimeout: 10_000,
    ajv: { customOptions: { removeAdditional: false, useDefaults: true, coerceTypes: 'array', allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setErrorHandler(problemErrorHandler);
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, 404, 'Not Found', `no route for ${request.method} ${request.url.split('?')[0]}`),
  );

  // Keep the exact bytes: webhook HMACs and the evidence manifest's raw-payload hash are over them.
  app.addContentTypeParser(
    ['application/json', 'application/*+json'],
    { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES },
    (request, body, done) => {
      const raw = body as Buffer;
      request.rawBody = raw;
      try {
        done(null, raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8')));
      } catch (err) {
        done(
          new HttpProblem(400, 'Bad Request', `body is not valid JSON: ${(err as Error).message.slice(0, 200)}`),
          undefined,
        );
      }
    },
  );

  registerOpenApi(app);
  await app.register(authPlugin, { tokens: deps.tokens, webhookSecret: deps.webhookSecret });
  await app.register(healthRoutes(deps.readiness));
  await app.register(incidentRoutes(deps.incidents, deps.alertSources, deps.temporalUi));
  for (const routes of deps.routes ?? []) await app.register(routes);

  app.get('/metrics', async (_request, reply) => {
    if (deps.countIncidents) {
      const counts = await deps.countIncidents().catch(() => undefined);
      for (const [status, count] of Object.entries(counts ?? {})) deps.metrics.incidentsByStatus.set({ status }, count);
    }
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  return app;
}
