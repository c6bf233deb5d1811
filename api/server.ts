import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../common/logger';
import { problemErrorHandler, sendProblem } from './errors';
import { healthRoutes, type ReadinessCheck } from './routes/health';

export const MAX_BODY_BYTES = 1024 * 1024;

export interface ServerDeps {
  logger: Logger;
  readiness: Record<string, ReadinessCheck>;
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
  await app.register(healthRoutes(deps.readiness));
  return app;
}
