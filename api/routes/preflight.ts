import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { HoldfastConfig } from '../../common/config';
import type { PreflightReport, PreflightRunner } from '../../common/preflight';
import { HttpProblem } from '../errors';

const Query = Type.Object(
  {
    namespace: Type.Optional(Type.String({ pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' })),
    only: Type.Optional(Type.String({ pattern: '^[a-z0-9-]{1,32}(,[a-z0-9-]{1,32}){0,15}$' })),
  },
  { additionalProperties: false },
);

const Result = Type.Object({
  name: Type.String(),
  needs: Type.String(),
  status: Type.Union([Type.Literal('pass'), Type.Literal('fail'), Type.Literal('skip')]),
  detail: Type.String(),
  fix: Type.Optional(Type.String()),
  neededBy: Type.Optional(Type.String()),
  durationMs: Type.Number(),
});

const Report = Type.Object({
  verdict: Type.Union([Type.Literal('ready'), Type.Literal('not-ready')]),
  startedAt: Type.String(),
  results: Type.Array(Result),
  swept: Type.Optional(Type.Array(Type.String())),
});

/**
 * `GET /v1/preflight`: the readiness checks, run by this API process with its own configuration (operator
 * role: it creates and removes throwaway pods with the API's Kubernetes access). One run at a time: two
 * would sweep each other's throwaway objects.
 */
export function preflightRoutes(run: PreflightRunner): FastifyPluginAsyncTypebox {
  return async (app) => {
    let running: Promise<PreflightReport> | undefined;
    app.get(
      '/v1/preflight',
      {
        preHandler: app.requireRole('operator'),
        schema: {
          summary: 'Forensic readiness: RBAC, collector, NetworkPolicy, checkpoint, Object Lock, clocks, Temporal',
          querystring: Query,
          response: { 200: Report },
        },
      },
      async (request) => {
        if (running) throw new HttpProblem(409, 'Conflict', 'a preflight is already running; retry when it ends');
        const { namespace, only } = request.query;
        running = run({ ...(namespace ? { namespace } : {}), ...(only ? { only: only.split(',') } : {}) });
        try {
          return await running;
        } finally {
          running = undefined;
        }
      },
    );
  };
}

/**
 * The worker's composition (worker/preflight.ts) with this process's configuration, loaded on first use: the
 * API reaches it only here, so a server that never runs a preflight never loads the Kubernetes client.
 */
export function configuredPreflight(config: HoldfastConfig): PreflightRunner {
  return async (options) => (await import('../../worker/preflight.js')).runPreflight(config, options);
}
