import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../common/logger';
import { authPlugin, type TokenTable } from './auth';
import { HttpProblem, problemErrorHandler, sendProblem } from './errors';
import { healthRoutes, type ReadinessCheck } from './routes/health';

export const MAX_BODY_BYTES = 1024 * 1024;

export interface ServerDeps {
  logger: Logger;
  readiness: Record<string, ReadinessCheck>;
  tokens: TokenTable;
  /** When set, `X-Holdfast-Signature: sha256=<hmac of body>` also authorizes intake. */
  webhookSecret?: string;
}

/** Builds the HTTP API without listening, so tests drive it with inject(). */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: MAX_BODY_BYTES,
    // Bounded timeouts: a slow client must not hold a socket forever.
    requestTimeout: 30_000,
    connectionTimeout: 10_000,
  });
  app.setErrorHandler(problemErrorHandler);
  app.setNotFoundHandler((request, reply) => sendProblem(reply, 404, 'Not Found', `no route for ${request.method} ${request.url.split('?')[0]}`));

  // Keep the exact bytes: webhook HMACs and the evidence manifest's raw-payload hash are over them.
  app.addContentTypeParser(['application/json', 'application/*+json'], { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES }, (request, body, done) => {
    const raw = body as Buffer;
    request.rawBody = raw;
    try {
      done(null, raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8')));
    } catch (err) {
      done(new HttpProblem(400, 'Bad Request', `body is not valid JSON: ${(err as Error).message.slice(0, 200)}`), undefined);
    }
  });

  await app.register(authPlugin, { tokens: deps.tokens, webhookSecret: deps.webhookSecret });
  await app.register(healthRoutes(deps.readiness));
  return app;
}
