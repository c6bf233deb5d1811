/**
 * What every two-way paging receiver shares (api/routes/paging/<vendor>.ts, one file each): the port that
 * acts on an incident exactly once per vendor delivery, who a vendor's user is in Holdfast, and a route
 * context that sees the raw bytes of the body (the vendors sign those, not a parse of them).
 */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import type { PagingVendorSettings } from '../../common/paging-config';
import type { TokenTable } from '../auth';
import { HttpProblem } from '../errors';
import type { IncidentAction } from '../incidents';

/** A vendor's request is small (Slack's, the largest, carries the message's blocks): bounded well below the API's. */
export const PAGING_MAX_BODY_BYTES = 256 * 1024;

export type PagingAction = Extract<IncidentAction, 'acknowledge' | 'approve' | 'reject' | 'resolve'>;

export interface PagingRequest {
  by: string;
  role: 'responder';
  step?: string;
  note?: string;
}

/**
 * `applied`: the signal was sent (Temporal drops a second signal with the same request id, so a retried
 * delivery lands once); `already`: the incident already shows this decision or acknowledgement, nothing was
 * sent; `closed`: the incident has ended, nothing was sent.
 */
export type PagingOutcome = 'applied' | 'already' | 'closed';

/** The port the receivers act through; the Temporal implementation is in ./temporal.ts, a fake in test/fakes. */
export interface PagingActions {
  act(incidentId: string, action: PagingAction, request: PagingRequest, deliveryId: string): Promise<PagingOutcome>;
}

export interface PagingReceiverDeps {
  settings: PagingVendorSettings;
  actions: PagingActions;
  /** The API's tokens: a vendor user acts only as a person who holds a responder token. */
  tokens: TokenTable;
  /** Clock in ms, for signature windows (tests move it). */
  now: () => number;
}

/** One vendor: its name (the key of its settings) and its routes, built only when its secret is configured. */
export interface PagingReceiver {
  /** Its key in PagingSettings (common/paging-config.ts) and the `<vendor>:` of the actors it records. */
  readonly vendor: string;
  routes(deps: PagingReceiverDeps): FastifyPluginAsync;
}

export const unauthorized = (detail: string) => new HttpProblem(401, 'Unauthorized', detail);

/** Holdfast's incident ids, the dedup key / alias every notifier sends: anything else is not ours. */
export const INCIDENT_ID = /^inc-[0-9a-f-]{36}$/;
/** Step names as playbooks write them (see the approval buttons in the Slack notifier). */
export const STEP_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * Who acts: `<vendor>:<vendor user>→<person>`, when the vendor user is mapped to a person holding a responder
 * token; otherwise 403 and nothing changes. The vendor user was checked against its pattern by the caller.
 */
export function pagingActor(
  vendor: string,
  vendorUser: string,
  settings: PagingVendorSettings,
  tokens: TokenTable,
): PagingRequest {
  const person = settings.users.get(vendorUser);
  if (person === undefined)
    throw new HttpProblem(403, 'Forbidden', `${vendor} user ${vendorUser} is not mapped to a Holdfast responder`);
  let responder = false;
  for (const holder of tokens.values()) {
    const { role, name } = typeof holder === 'string' ? { role: holder, name: undefined } : holder;
    if (role === 'responder' && (name ?? role) === person) responder = true;
  }
  if (!responder)
    throw new HttpProblem(403, 'Forbidden', `${vendor} user ${vendorUser} maps to ${person}, who is not a responder`);
  return { by: `${vendor}:${vendorUser}→${person}`, role: 'responder' };
}

/** What one vendor request asks: the incident, the action, and what identifies this delivery. */
export interface PagingAsk {
  incidentId: string;
  action: PagingAction;
  step?: string;
  /** Recorded with the action, e.g. "incident.acknowledged in PagerDuty". */
  note: string;
  /** The vendor's delivery id, or what identifies the person's action (see deliveryRequestId). */
  delivery: string[];
}

/**
 * The end every receiver shares once the request is authenticated: the vendor's user (refused 403 when it is
 * missing, malformed or not a mapped responder), then the action, once, logged with the person.
 */
export async function actAs(
  deps: PagingReceiverDeps,
  request: FastifyRequest,
  vendor: PagingReceiver['vendor'],
  user: { id: string | undefined; pattern: RegExp },
  ask: PagingAsk,
): Promise<{ incidentId: string; action: PagingAction; by: string; outcome: PagingOutcome }> {
  if (user.id === undefined || !user.pattern.test(user.id))
    throw new HttpProblem(403, 'Forbidden', `the request names no ${vendor} user`);
  const actor = pagingActor(vendor, user.id, deps.settings, deps.tokens);
  const { incidentId, action, step } = ask;
  const outcome = await deps.actions.act(
    incidentId,
    action,
    { ...actor, ...(step === undefined ? {} : { step }), note: ask.note },
    deliveryRequestId(vendor, ...ask.delivery),
  );
  request.log.info({ incidentId, action, step, by: actor.by, outcome }, `${vendor} paging action`);
  return { incidentId, action, by: actor.by, outcome };
}

/**
 * The delivery's key for Temporal's signal request id: the vendor's delivery or event id where it gives one,
 * else what identifies the person's click or action. Hashed into UUID form, so it is bounded whatever was sent.
 */
export function deliveryRequestId(vendor: string, ...parts: string[]): string {
  const hex = crypto
    .createHash('sha256')
    .update(JSON.stringify([vendor, ...parts]))
    .digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * In this route context (and only here: fastify encapsulates parsers per plugin) every body arrives as the
 * exact bytes received, at most PAGING_MAX_BODY_BYTES (413 beyond), whatever its content type; the receiver
 * verifies them and parses them itself. The API's JSON parser (and its intake signature check) is not used.
 */
export function rawBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: PAGING_MAX_BODY_BYTES }, (_request, body, done) =>
    done(null, body),
  );
}

/**
 * A receiver's routes: one POST at `path`, in a raw-body context, handled with the request's exact bytes.
 */
export function rawPostRoute(
  path: string,
  /** What /openapi.json says of it (there is no body schema: the body is the vendor's, checked by the handler). */
  summary: string,
  handle: (deps: PagingReceiverDeps, request: FastifyRequest, reply: FastifyReply, raw: Buffer) => Promise<unknown>,
): PagingReceiver['routes'] {
  return (deps) => async (app) => {
    rawBodies(app);
    app.post(path, { schema: { summary } as FastifySchema }, (request, reply) =>
      handle(deps, request, reply, rawBody(request.body)),
    );
  };
}

/**
 * A vendor's action names → Holdfast actions. A Map, not an object: a name such as "constructor" or
 * "__proto__" from a request must find nothing.
 */
export function actionNames(
  entries: Array<[string, PagingAction]>,
): (name: string | undefined) => PagingAction | undefined {
  const table = new Map(entries);
  return (name) => (name === undefined ? undefined : table.get(name));
}

/** The raw body of a request in a rawBodies context (empty when there was none). */
export function rawBody(body: unknown): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.alloc(0);
}

/** JSON from verified bytes; 400 when it is not. */
export function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpProblem(400, 'Bad Request', 'the body is not JSON');
  }
}

/** A string field of an untrusted object, or undefined. */
export function field(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

export function text(value: unknown, ...path: string[]): string | undefined {
  const found = field(value, ...path);
  return typeof found === 'string' ? found : undefined;
}
