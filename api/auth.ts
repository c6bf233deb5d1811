import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { HttpProblem } from './errors';

export const ROLES = ['intake', 'responder', 'investigator'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  /** Who, for logs and the custody record: the role name for bearer tokens, "webhook-hmac" for signed bodies. */
  name: string;
  role: Role;
  via: 'bearer' | 'hmac';
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** The exact bytes received, for HMAC verification and the alert's raw SHA-256. */
    rawBody?: Buffer;
  }
  interface FastifyInstance {
    requireRole(...roles: Role[]): preHandlerAsyncHookHandler;
  }
}

export type TokenTable = ReadonlyMap<string, Role>;

/** Parses `intake=<t>,responder=<t>,investigator=<t>` (several tokens per role allowed). */
export function parseTokenSpec(spec: string): Map<string, Role> {
  const table = new Map<string, Role>();
  for (const entry of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf('=');
    const role = entry.slice(0, eq).trim() as Role;
    const token = entry.slice(eq + 1).trim();
    if (eq < 1 || !ROLES.includes(role))
      throw new Error(
        `HOLDFAST_TOKENS: "${entry.slice(0, 40)}" is not <role>=<token> with role one of ${ROLES.join(', ')}`,
      );
    if (token.length < 16) throw new Error(`HOLDFAST_TOKENS: the ${role} token must be at least 16 characters`);
    table.set(token, role);
  }
  return table;
}

/**
 * Tokens from HOLDFAST_TOKENS, else from <dataDir>/tokens.env, generated once (mode 0600) so a fresh
 * `npm start` is never open to the world.
 */
export function loadOrCreateTokens(
  spec: string | undefined,
  dataDir: string,
): { table: Map<string, Role>; file?: string; created: boolean } {
  if (spec && spec.trim()) return { table: parseTokenSpec(spec), created: false };
  const file = path.join(dataDir, 'tokens.env');
  if (fs.existsSync(file)) {
    const line =
      fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('HOLDFAST_TOKENS=')) ?? '';
    return { table: parseTokenSpec(line.slice('HOLDFAST_TOKENS='.length)), file, created: false };
  }
  const generated = ROLES.map((role) => `${role}=hf_${role}_${crypto.randomBytes(24).toString('base64url')}`).join(',');
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, `HOLDFAST_TOKENS=${generated}\n`, { mode: 0o600 });
  return { table: parseTokenSpec(generated), file, created: true };
}

function timingSafeEqualText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}

function bearerRole(request: FastifyRequest, tokens: TokenTable): Role | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  // Auth schemes are case-insensitive (RFC 9110 §11.1): senders write `bearer` as well as `Bearer`.
  const scheme = /^bearer +/i.exec(header);
  if (!scheme) return undefined;
  const presented = header.slice(scheme[0].length).trim();
  // Compare against every token so timing does not reveal which prefix matched.
  let found: Role | undefined;
  for (const [token, role] of tokens) if (timingSafeEqualText(presented, token)) found = role;
  return found;
}

export function hmacSignature(secret: string, body: Buffer): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
}

function hmacValid(request: FastifyRequest, secret: string | undefined): boolean {
  const header = request.headers['x-holdfast-signature'];
  if (!secret || typeof header !== 'string' || !request.rawBody) return false;
  return timingSafeEqualText(header, hmacSignature(secret, request.rawBody));
}

export interface AuthOptions {
  tokens: TokenTable;
  webhookSecret?: string;
}

/** Decorates the app with requireRole(...): bearer tokens by role; a valid body HMAC also grants intake. */
export const authPlugin = fp(
  async (app: FastifyInstance, opts: AuthOptions) => {
    app.decorateRequest('principal', undefined);
    app.decorate('requireRole', (...roles: Role[]): preHandlerAsyncHookHandler => {
      return async (request: FastifyRequest, _reply: FastifyReply) => {
        const role = bearerRole(request, opts.tokens);
        if (role && roles.includes(role)) {
          request.principal = { name: role, role, via: 'bearer' };
          return;
        }
        if (roles.includes('intake') && hmacValid(request, opts.webhookSecret)) {
          request.principal = { name: 'webhook-hmac', role: 'intake', via: 'hmac' };
          return;
        }
        if (role)
          throw new HttpProblem(
            403,
            'Forbidden',
            `this token's role (${role}) may not do this; needs ${roles.join(' or ')}`,
          );
        throw new HttpProblem(401, 'Unauthorized', 'a valid bearer token (or webhook signature) is required');
      };
    });
  },
  { name: 'holdfast-auth' },
);
