import type { FastifyInstance, RouteOptions } from 'fastify';
import { HOLDFAST_VERSION } from '../common/version';
import { rolesOf } from './auth';

interface CollectedRoute {
  method: string;
  url: string;
  schema?: Record<string, unknown>;
  secured: boolean;
  /** Intake routes also take a webhook signature. */
  signed: boolean;
}

/** OpenAPI path templates use {name} where fastify uses :name. */
function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function parametersFrom(schema: Record<string, unknown> | undefined, where: 'path' | 'query') {
  const source = schema?.[where === 'path' ? 'params' : 'querystring'] as
    { properties?: Record<string, unknown>; required?: string[] } | undefined;
  return Object.entries(source?.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (source?.required ?? []).includes(name),
    schema: s,
  }));
}

/**
 * Serves /openapi.json built from the same schemas fastify validates with, so the document cannot
 * drift from what the server enforces.
 */
export function registerOpenApi(app: FastifyInstance): void {
  const routes: CollectedRoute[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD' || route.url === '/openapi.json') continue;
      // The console's static files are a page, not API (api/routes/console.ts marks them hidden).
      if ((route.schema as { hide?: boolean } | undefined)?.hide) continue;
      routes.push({
        method: method.toLowerCase(),
        url: route.url,
        schema: route.schema as Record<string, unknown> | undefined,
        secured: Boolean(route.preHandler),
        signed: rolesOf(route.preHandler)?.includes('intake') ?? false,
      });
    }
  });
  let cached: unknown;
  app.get('/openapi.json', async () => {
    cached ??= {
      openapi: '3.1.0',
      info: {
        title: 'Holdfast API',
        version: HOLDFAST_VERSION,
        description: 'Durable incident response and forensics for containers on Kubernetes.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description:
              'Tokens issued to a person in a role (intake, responder, investigator, custodian), or to a role',
          },
          webhookTimestamp: {
            type: 'apiKey',
            in: 'header',
            name: 'X-Holdfast-Timestamp',
            description: 'Unix seconds when the request was signed; refused beyond ±300 s of the server clock',
          },
          webhookSignature: {
            type: 'apiKey',
            in: 'header',
            name: 'X-Holdfast-Signature',
            description:
              'v1=<hex HMAC-SHA256 of "<X-Holdfast-Timestamp>.<raw body>"> with HOLDFAST_WEBHOOK_SECRET (intake ' +
              'only; with X-Holdfast-Timestamp; a signature is accepted once)',
          },
        },
      },
      paths: routes.reduce<Record<string, Record<string, unknown>>>((paths, r) => {
        const path = openApiPath(r.url);
        const body = r.schema?.body;
        paths[path] ??= {};
        paths[path][r.method] = {
          summary: r.schema?.summary,
          parameters: [...parametersFrom(r.schema, 'path'), ...parametersFrom(r.schema, 'query')],
          ...(body ? { requestBody: { required: true, content: { 'application/json': { schema: body } } } } : {}),
          responses: Object.fromEntries(
            Object.entries((r.schema?.response as Record<string, unknown>) ?? { 200: {} }).map(([code, schema]) => [
              code,
              { description: code, content: { 'application/json': { schema } } },
            ]),
          ),
          ...(r.secured
            ? { security: [{ bearer: [] }, ...(r.signed ? [{ webhookTimestamp: [], webhookSignature: [] }] : [])] }
            : {}),
        };
        return paths;
      }, {}),
    };
    return cached;
  });
}
