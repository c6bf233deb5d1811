import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  onRequestAsyncHookHandler,
  preHandlerAsyncHookHandler,
  RouteOptions,
} from 'fastify';
import fp from 'fastify-plugin';
import { MIN_WEBHOOK_SECRET_BYTES } from '../common/config';
import { HttpProblem } from './errors';

/**
 * `custodian` places and lifts legal holds: lifting one lets evidence expire, so it is not an investigator's
 * to do (an investigator may still place one). `operator` runs the readiness preflight (GET /v1/preflight).
 */
export const ROLES = ['intake', 'responder', 'investigator', 'custodian', 'operator'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  /**
   * Who, for logs, the custody record and every decision: the person a token was issued to (`alice` in
   * `responder:alice=<token>`), the role name for a token issued to a role only, "webhook-hmac" for signed bodies.
   */
  name: string;
  role: Role;
  via: 'bearer' | 'hmac';
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** The exact bytes received, for HMAC verification and the alert's raw SHA-256. */
    rawBody?: Buffer;
    /** Signature headers that passed the window check in onRequest, waiting for the raw body. */
    pendingSignature?: { timestamp: string; mac: string };
  }
  interface FastifyInstance {
    requireRole(...roles: Role[]): preHandlerAsyncHookHandler;
    /** Checks a pending signature against the raw body (throws a 401/503 problem); call before parsing it. */
    verifySignedBody(request: FastifyRequest, raw: Buffer): void;
  }
}

/** Whom a token was issued to: a person in a role, or (the older form) a role alone. */
export interface TokenHolder {
  role: Role;
  /** The person; absent for a role-only token, whose principal is then the role's name. */
  name?: string;
}

/** Token → holder. A bare role is a role-only token (tests and older callers build tables that way). */
export type TokenTable = ReadonlyMap<string, Role | TokenHolder>;

/** A principal's name: what a custody record and an approval show, so short and plain. */
const PRINCIPAL_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
export const MIN_TOKEN_LENGTH = 16;

/**
 * Parses `responder:alice=<t>,investigator:bob=<t>,custodian:carol=<t>`; the older `<role>=<t>` still works
 * (the role is then the principal). A person may hold several tokens; one token names one holder only, since
 * a token shared between entries could not say who used it.
 */
export function parseTokenSpec(spec: string): Map<string, TokenHolder> {
  const table = new Map<string, TokenHolder>();
  for (const entry of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf('=');
    const holder = eq < 1 ? '' : entry.slice(0, eq).trim();
    const token = entry.slice(eq + 1).trim();
    const colon = holder.indexOf(':');
    const role = (colon < 0 ? holder : holder.slice(0, colon)) as Role;
    const name = colon < 0 ? undefined : holder.slice(colon + 1);
    // Only what is left of "=" is ever echoed: the rest is (or, without "=", may be) a token.
    if (eq < 1 || !ROLES.includes(role))
      throw new Error(
        `HOLDFAST_TOKENS: ${eq < 1 ? 'an entry' : `"${holder.slice(0, 80)}="`} is not <role>:<person>=<token> ` +
          `(or <role>=<token>) with role one of ${ROLES.join(', ')}`,
      );
    if (name !== undefined && !PRINCIPAL_NAME.test(name))
      throw new Error(
        `HOLDFAST_TOKENS: the person in "${holder.slice(0, 80)}" must be 1-64 letters, digits, ".", "_", "@" or "-"`,
      );
    const who = name === undefined ? `the ${role}` : `${role}:${name}`;
    if (token.length < MIN_TOKEN_LENGTH)
      throw new Error(`HOLDFAST_TOKENS: the token of ${who} must be at least ${MIN_TOKEN_LENGTH} characters`);
    if (table.has(token)) throw new Error(`HOLDFAST_TOKENS: the token of ${who} is also given to another entry`);
    table.set(token, name === undefined ? { role } : { role, name });
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
): { table: Map<string, TokenHolder>; file?: string; created: boolean } {
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

/** The principal a bearer token stands for, or undefined when the request carries no valid one. */
function bearerPrincipal(request: FastifyRequest, tokens: TokenTable): Principal | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  // Auth schemes are case-insensitive (RFC 9110 §11.1): senders write `bearer` as well as `Bearer`.
  const scheme = /^bearer +/i.exec(header);
  if (!scheme) return undefined;
  const presented = header.slice(scheme[0].length).trim();
  // Compare against every token so timing does not reveal which prefix matched.
  let found: Role | TokenHolder | undefined;
  for (const [token, holder] of tokens) if (timingSafeEqualText(presented, token)) found = holder;
  if (found === undefined) return undefined;
  const { role, name } = typeof found === 'string' ? { role: found, name: undefined } : found;
  return { name: name ?? role, role, via: 'bearer' };
}

/** A short, stable name for a valid bearer token (for rate-limit keys and logs), never the token itself. */
export function bearerClientKey(request: FastifyRequest, tokens: TokenTable): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string' || !bearerPrincipal(request, tokens)) return undefined;
  const presented = header.replace(/^bearer +/i, '').trim();
  return `token:${crypto.createHash('sha256').update(presented).digest('hex').slice(0, 16)}`;
}

/**
 * Signed intake (Stripe/Slack style): `X-Holdfast-Timestamp: <unix seconds>` and
 * `X-Holdfast-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`. The timestamp is inside the MAC,
 * so a captured request is only good for the window, and the replay guard refuses it a second time within it.
 */
export const TIMESTAMP_HEADER = 'x-holdfast-timestamp';
export const SIGNATURE_HEADER = 'x-holdfast-signature';
/** How far a signed request's timestamp may be from the server's clock, either way. */
export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;
/** Signatures remembered at once (each for at most the window); beyond it signed intake answers 503. */
export const REPLAY_GUARD_MAX_ENTRIES = 100_000;

/** The v1 signature of a body sent at `timestamp` (unix seconds). */
export function webhookSignature(secret: string, timestamp: number | string, body: Buffer): string {
  const mac = crypto.createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
  return `v1=${mac}`;
}

/** The headers a sender adds to sign `body` at `nowMs` (tests, examples, other Holdfast components). */
export function signedHeaders(secret: string, body: Buffer | string, nowMs = Date.now()): Record<string, string> {
  const timestamp = Math.floor(nowMs / 1000);
  return {
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: webhookSignature(secret, timestamp, Buffer.isBuffer(body) ? body : Buffer.from(body)),
  };
}

export type ReplayVerdict = 'fresh' | 'replayed' | 'full';

/**
 * Signatures seen within the window, per process. Buckets by the signed timestamp's minute: a signature
 * only needs remembering until its timestamp leaves the window (after that the window check refuses it),
 * so whole buckets expire at once and the memory is bounded by the window, and by `maxEntries` whatever
 * the rate. Only verified signatures are stored, so nobody without the secret can fill it.
 */
export class ReplayGuard {
  private readonly buckets = new Map<number, Set<string>>();
  private size = 0;

  constructor(
    private readonly toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
    private readonly maxEntries = REPLAY_GUARD_MAX_ENTRIES,
  ) {}

  get entries(): number {
    return this.size;
  }

  claim(signature: string, timestampSeconds: number, nowSeconds: number): ReplayVerdict {
    for (const [minute, seen] of this.buckets)
      if ((minute + 1) * 60 + this.toleranceSeconds < nowSeconds) {
        this.buckets.delete(minute);
        this.size -= seen.size;
      }
    const minute = Math.floor(timestampSeconds / 60);
    const bucket = this.buckets.get(minute);
    if (bucket?.has(signature)) return 'replayed';
    // Fail closed: forgetting a signature early would let its request replay.
    if (this.size >= this.maxEntries) return 'full';
    if (bucket) bucket.add(signature);
    else this.buckets.set(minute, new Set([signature]));
    this.size += 1;
    return 'fresh';
  }
}

export interface AuthOptions {
  tokens: TokenTable;
  /** At least MIN_WEBHOOK_SECRET_BYTES; when set, a v1 signature (see above) also authorizes intake. */
  webhookSecret?: string;
  /** The clock for the signature window, in ms (tests move it). */
  now?: () => number;
  replayGuard?: ReplayGuard;
}

const unauthorized = (detail: string) => new HttpProblem(401, 'Unauthorized', detail);

/** The header's single value, or undefined when absent or repeated. */
function single(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** Marks a preHandler made by requireRole with the roles it admits, so the onRoute hook can lift it. */
const ROLES_OF = Symbol('holdfast.roles');
type RoleCheck = preHandlerAsyncHookHandler & { [ROLES_OF]?: readonly Role[] };

/** The roles a route's preHandler(s) admit, when one of them was made by requireRole (OpenAPI reads it too). */
export function rolesOf(handlers: unknown): readonly Role[] | undefined {
  const list: unknown[] = Array.isArray(handlers) ? handlers : [handlers];
  for (const h of list) {
    const roles = (h as RoleCheck | undefined)?.[ROLES_OF];
    if (roles) return roles;
  }
  return undefined;
}

function appendHook(route: RouteOptions, name: 'onRequest' | 'preValidation', hook: onRequestAsyncHookHandler) {
  const existing = route[name] as unknown;
  const list = Array.isArray(existing) ? existing : existing ? [existing] : [];
  (route as unknown as Record<string, unknown>)[name] = [...list, hook];
}

/**
 * Authentication runs before the body is read. A route that calls `app.requireRole(...)` gets, besides
 * that preHandler (kept as a last check):
 *  - an onRequest hook: a bearer token of an admitted role passes, another role is 403, a wrong token 401;
 *    without a token, an intake route takes signature headers whose timestamp is inside the window, and
 *    everything else is 401 — all before a byte of the body is read, let alone parsed or validated;
 *  - the signature itself is checked by `verifySignedBody`, which the JSON parser calls on the raw bytes
 *    before parsing them (the MAC needs the body);
 *  - a preValidation hook: a request still without a principal (a signed body the JSON parser never saw,
 *    e.g. another content type) is 401 before schema validation.
 */
export const authPlugin = fp(
  async (app: FastifyInstance, opts: AuthOptions) => {
    const now = opts.now ?? Date.now;
    const guard = opts.replayGuard ?? new ReplayGuard();
    const secret = opts.webhookSecret;
    if (secret !== undefined && Buffer.byteLength(secret) < MIN_WEBHOOK_SECRET_BYTES)
      throw new Error(`the webhook secret must be at least ${MIN_WEBHOOK_SECRET_BYTES} bytes`);
    app.decorateRequest('principal', undefined);
    app.decorateRequest('pendingSignature', undefined);

    const beforeBody = (roles: readonly Role[]): onRequestAsyncHookHandler =>
      async function authenticate(request) {
        if (request.headers.authorization !== undefined) {
          const principal = bearerPrincipal(request, opts.tokens);
          if (!principal) throw unauthorized('the bearer token is not valid');
          if (!roles.includes(principal.role))
            throw new HttpProblem(
              403,
              'Forbidden',
              `this token's role (${principal.role}) may not do this; needs ${roles.join(' or ')}`,
            );
          request.principal = principal;
          return;
        }
        const signature = single(request, SIGNATURE_HEADER);
        if (!roles.includes('intake') || !secret || signature === undefined)
          throw unauthorized('a valid bearer token (or, for intake, a webhook signature) is required');
        if (signature.startsWith('sha256='))
          throw unauthorized(
            `body-only signatures (sha256=) are no longer accepted: send ${TIMESTAMP_HEADER} and ` +
              `${SIGNATURE_HEADER}: v1=<HMAC-SHA256 of "<timestamp>.<body>">`,
          );
        const mac = /^v1=([0-9a-f]{64})$/.exec(signature)?.[1];
        const timestamp = single(request, TIMESTAMP_HEADER);
        if (!mac || !timestamp || !/^[0-9]{1,12}$/.test(timestamp))
          throw unauthorized(`${SIGNATURE_HEADER} must be v1=<64 hex> with ${TIMESTAMP_HEADER}: <unix seconds>`);
        const nowSeconds = Math.floor(now() / 1000);
        if (Math.abs(nowSeconds - Number(timestamp)) > SIGNATURE_TOLERANCE_SECONDS)
          throw unauthorized(`the signature's timestamp is more than ${SIGNATURE_TOLERANCE_SECONDS} s from now`);
        request.pendingSignature = { timestamp, mac };
      };

    /** Runs on the raw bytes, before JSON parsing; a no-op for requests authenticated by bearer. */
    const verify = (request: FastifyRequest, raw: Buffer): void => {
      const pending = request.pendingSignature;
      if (!pending || request.principal) return;
      request.pendingSignature = undefined;
      const expected = webhookSignature(secret!, pending.timestamp, raw).slice('v1='.length);
      if (!timingSafeEqualText(pending.mac, expected)) throw unauthorized('the webhook signature does not match');
      const verdict = guard.claim(pending.mac, Number(pending.timestamp), Math.floor(now() / 1000));
      if (verdict === 'replayed') throw unauthorized('this signed request was already received (replay)');
      if (verdict === 'full')
        throw new HttpProblem(
          503,
          'Service Unavailable',
          'too many signed requests in the window; retry later',
          {},
          {
            'Retry-After': '10',
          },
        );
      request.principal = { name: 'webhook-hmac', role: 'intake', via: 'hmac' };
    };
    app.decorate('verifySignedBody', verify);

    const authenticatedBeforeValidation: onRequestAsyncHookHandler = async function (request) {
      if (!request.principal) throw unauthorized('signed requests must carry an application/json body');
    };

    app.addHook('onRoute', (route) => {
      const roles = rolesOf(route.preHandler);
      if (!roles) return;
      appendHook(route, 'onRequest', beforeBody(roles));
      appendHook(route, 'preValidation', authenticatedBeforeValidation);
    });

    app.decorate('requireRole', (...roles: Role[]): preHandlerAsyncHookHandler => {
      const check: RoleCheck = async (request: FastifyRequest, _reply: FastifyReply) => {
        const principal = request.principal;
        if (!principal) throw unauthorized('a valid bearer token (or webhook signature) is required');
        if (!roles.includes(principal.role))
          throw new HttpProblem(403, 'Forbidden', `this role (${principal.role}) may not do this`);
      };
      check[ROLES_OF] = roles;
      return check;
    });
  },
  { name: 'holdfast-auth' },
);

/**
 * `/metrics` behind its own bearer token when one is configured (a scraper needs no role); open otherwise.
 * Runs in onRequest like every other check.
 */
export function metricsGuard(token: string | undefined): onRequestAsyncHookHandler {
  return async function metricsAuth(request) {
    if (token === undefined) return;
    const header = request.headers.authorization;
    const presented = typeof header === 'string' ? header.replace(/^bearer +/i, '') : '';
    if (typeof header !== 'string' || !/^bearer +/i.test(header) || !timingSafeEqualText(presented.trim(), token))
      throw unauthorized('/metrics needs its bearer token');
  };
}
