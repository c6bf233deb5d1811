/**
 * The responder console: a static single-page app (built by scripts/build-console.ts into dist/console/)
 * served from the API's own origin, so it needs no CORS and talks to the same routes, with the same roles,
 * as the CLI. The page itself holds no data: every incident, alert and action goes through /v1 with the
 * bearer token the person enters, which the page keeps in sessionStorage (never a cookie, never a URL).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyReply, FastifySchema } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ROLES } from '../auth';
import { HttpProblem } from '../errors';

/**
 * No inline script or style, nothing from another origin, never framed, and Trusted Types required: a DOM
 * write of HTML from a string (innerHTML and the like) throws, so alert text can only ever land as text.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  // Small files rebuilt with the server: always revalidate, so a new build is never mixed with an old page.
  'cache-control': 'no-cache',
};

/** The console's files, by the one name each is served under: no path from the request reaches the disk. */
const FILES = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
} as const;
type ConsoleFile = keyof typeof FILES;

const Me = Type.Object({
  name: Type.String({ description: 'the person (or role) the token was issued to' }),
  role: Type.Union(ROLES.map((r) => Type.Literal(r))),
});

/**
 * `dir`: the built console (dist/console). Its files are read once, at registration; when it is missing (a
 * checkout built without the console) /console answers 503 saying how to build it, and the API still runs.
 */
export function consoleRoutes(opts: { dir: string }): FastifyPluginAsyncTypebox {
  return async (app) => {
    const files = new Map<ConsoleFile, Buffer>();
    for (const name of Object.keys(FILES) as ConsoleFile[]) {
      const file = path.join(opts.dir, name);
      if (fs.existsSync(file)) files.set(name, fs.readFileSync(file));
    }

    // Who this token is: the console shows only what the role may do (the routes enforce it regardless).
    app.get(
      '/v1/me',
      {
        preHandler: app.requireRole(...ROLES),
        schema: { summary: "The token's holder and role", response: { 200: Me } },
      },
      async (request) => ({ name: request.principal!.name, role: request.principal!.role }),
    );

    // Left out of /openapi.json (api/openapi.ts skips `hide`, as @fastify/swagger does): a page, not API.
    const hidden = { schema: { hide: true } as FastifySchema };
    app.get('/console', hidden, async (_request, reply) => reply.redirect('/console/', 301));
    const serve = (name: ConsoleFile) => async (_request: unknown, reply: FastifyReply) => {
      const body = files.get(name);
      if (!body)
        throw new HttpProblem(503, 'Service Unavailable', 'the console is not built: run `npm run build` and restart');
      return reply.headers(SECURITY_HEADERS).type(FILES[name]).send(body);
    };
    app.get('/console/', hidden, serve('index.html'));
    app.get('/console/app.js', hidden, serve('app.js'));
    app.get('/console/app.css', hidden, serve('app.css'));
  };
}
