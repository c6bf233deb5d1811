import Fastify, {
  type FastifyBaseLogger,
  type FastifyHttpOptions,
  type FastifyInstance,
  type FastifyPluginAsync,
} from 'fastify';
import type http from 'node:http';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import { isSafeNumber, parse as parseLossless } from 'lossless-json';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from '../common/logger';
import { authPlugin, bearerClientKey, metricsGuard, type ReplayGuard, type TokenTable } from './auth';
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
  /** What /readyz/intake checks (default: `readiness`): whether alerts can be taken now. */
  intakeReadiness?: Record<string, ReadinessCheck>;
  tokens: TokenTable;
  /**
   * When set (at least 32 bytes), `X-Holdfast-Timestamp` + `X-Holdfast-Signature: v1=<HMAC of "<ts>.<body>">`
   * also authorizes intake (see auth.ts).
   */
  webhookSecret?: string;
  /** The signature window's clock (ms) and replay memory; tests inject them. */
  now?: () => number;
  replayGuard?: ReplayGuard;
  /** When set, `/metrics` needs `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string;
  /** Requests per client (a valid bearer token, else its IP) per minute; unset or 0: no limit. */
  rateLimitPerMinute?: number;
  /** PEM certificate (chain) and key: the server speaks HTTPS only. */
  tls?: { cert: Buffer | string; key: Buffer | string };
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
  const options: FastifyHttpOptions<http.Server> = {
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: MAX_BODY_BYTES,
    // Bounded timeouts: a slow client must not hold a socket forever.
    requestTimeout: 30_000,
    connectionTimeout: 10_000,
    ajv: { customOptions: { removeAdditional: false, useDefaults: true, coerceTypes: 'array', allErrors: false } },
  };
  // With TLS the server is an https.Server; routes and hooks are the same, so the http typing is kept.
  const app = Fastify(
    (deps.tls ? { ...options, https: { cert: deps.tls.cert, key: deps.tls.key } } : options) as typeof options,
  ).withTypeProvider<TypeBoxTypeProvider>();
  app.setErrorHandler(problemErrorHandler);
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, 404, 'Not Found', `no route for ${request.method} ${request.url.split('?')[0]}`),
  );

  // Registered before auth so that its onRequest hook runs first: a flood is refused before any other work.
  // The key is a valid token's hash, else the client's address (an IPv6 /64): random tokens buy no new bucket.
  if (deps.rateLimitPerMinute)
    await app.register(rateLimit, {
      max: deps.rateLimitPerMinute,
      timeWindow: 60_000,
      keyGenerator: (request) => bearerClientKey(request, deps.tokens) ?? `ip:${normalizeIP(request.ip)}`,
      errorResponseBuilder: (_request, context) =>
        new HttpProblem(
          429,
          'Too Many Requests',
          `more than ${context.max} requests a minute from this client; retry in ${context.after}`,
        ),
    });
  await app.register(authPlugin, {
    tokens: deps.tokens,
    webhookSecret: deps.webhookSecret,
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.replayGuard ? { replayGuard: deps.replayGuard } : {}),
  });

  // Keep the exact bytes: webhook HMACs and the evidence manifest's raw-payload hash are over them.
  // A signed request's MAC is checked here, on the raw bytes, before they are parsed.
  app.addContentTypeParser(
    ['application/json', 'application/*+json'],
    { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES },
    (request, body, done) => {
      const raw = body as Buffer;
      request.rawBody = raw;
      try {
        app.verifySignedBody(request, raw);
      } catch (err) {
        done(err as Error, undefined);
        return;
      }
      try {
        done(null, raw.length === 0 ? undefined : parseJsonExact(raw.toString('utf8')));
      } catch (err) {
        done(
          new HttpProblem(400, 'Bad Request', `body is not valid JSON: ${(err as Error).message.slice(0, 200)}`),
          undefined,
        );
      }
    },
  );

  registerOpenApi(app);
  await app.register(healthRoutes(deps.readiness, deps.intakeReadiness));
  await app.register(incidentRoutes(deps.incidents, deps.alertSources, deps.temporalUi));
  for (const routes of deps.routes ?? []) await app.register(routes);

  app.get('/metrics', { onRequest: metricsGuard(deps.metricsToken) }, async (_request, reply) => {
    if (deps.countIncidents) {
      const counts = await deps.countIncidents().catch(() => undefined);
      for (const [status, count] of Object.entries(counts ?? {})) deps.metrics.incidentsByStatus.set({ status }, count);
    }
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  return app;
}

/**
 * JSON with every number kept exactly: one that a JavaScript number would round (Falco's nanosecond
 * `evt.time`, a 64-bit id) stays the string of its digits, so what Holdfast stores and shows is what was
 * sent. Plain JSON.parse unless the text has a run of 16 or more digits.
 */
export function parseJsonExact(text: string): unknown {
  if (!/\d{16}/.test(text)) return JSON.parse(text);
  return parseLossless(text, null, (digits) => (isSafeNumber(digits) ? Number(digits) : digits));
}
