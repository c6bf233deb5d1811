import type { Socket } from 'node:net';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PREFLIGHT_BOUNDS } from '../../common/preflight';
import type { PreflightStarter } from '../preflight';

const Query = Type.Object(
  {
    cluster: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$' })),
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
 * `GET /v1/preflight`: the readiness checks, run on the worker serving `cluster` (default: the API's default
 * cluster) as its own identities, through Temporal (api/preflight.ts, workflows/preflight.ts). Operator role:
 * it creates and removes throwaway pods. One run per cluster at a time (409), enforced by the workflow id.
 */
export function preflightRoutes(start: PreflightStarter, defaultCluster: string): FastifyPluginAsyncTypebox {
  return async (app) => {
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
        const { cluster, namespace, only } = request.query;
        // The answer may take minutes (throwaway pods) with nothing sent meanwhile: the server's idle bound
        // would cut the socket, so this one request waits as long as the workflow may run.
        // (An injected request, app.inject, has no real socket.)
        const socket = request.raw.socket as Partial<Socket> | undefined;
        const idle = socket?.timeout;
        socket?.setTimeout?.(PREFLIGHT_BOUNDS.resultMs + 30_000);
        try {
          return await start({
            cluster: cluster ?? defaultCluster,
            ...(namespace ? { namespace } : {}),
            ...(only ? { only: only.split(',') } : {}),
          });
        } finally {
          socket?.setTimeout?.(idle ?? 0);
        }
      },
    );
  };
}
