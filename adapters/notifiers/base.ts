/**
 * What every notifier shares: the descriptor each kind exports for the registry, the schema pieces of a
 * configuration entry, configuration checks, secrets from env vars, dry-run previews with secrets masked,
 * and text helpers for attacker-influenced alert text.
 */
import { Type, type Static, type TLiteral, type TProperties, type TSchema } from '@sinclair/typebox';
import { stripControlChars } from '../../common/k8s-names';
import type { AlertTarget } from '../../common/types';
import type { ApprovalRequest, NotificationEvent, NotificationResult, Notifier } from '../../common/ports';
import type { SecretLookup } from '../../common/config';
import { DEFAULT_TIMEOUT_MS, maskSecrets, send, type HttpRequest } from './http';

/** Where dry runs are reported; pino's logger fits. */
export interface NotifierLogger {
  info(obj: object, msg: string): void;
}

export interface NotifierDeps {
  /** Resolves `*Env` secret names (the worker passes `config.notifiers.secret`); without it only inline secrets work. */
  secret?: SecretLookup;
  logger?: NotifierLogger;
}

const NO_SECRETS: SecretLookup = () => undefined;

export class NotifierConfigError extends Error {
  override name = 'NotifierConfigError';
}

/**
 * What each notifier file exports for the registry (registry.ts lists them): the kind (the `type` of its
 * configuration entries), the schema of one entry, and how to build a notifier from a valid entry.
 */
export interface NotifierKind<S extends TSchema = TSchema> {
  readonly kind: string;
  readonly schema: S;
  create(config: Static<S>, deps: NotifierDeps): Notifier;
}

export const EnvName = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' });
export const Url = Type.String({ maxLength: 2048 });

/** One configuration entry: `type` (the kind), `name`, the kind's own fields, `timeoutMs`, and nothing else. */
export function notifierEntry<K extends string, P extends TProperties>(kind: K, properties: P) {
  return Type.Object(
    {
      type: Type.Literal(kind),
      name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' }),
      ...properties,
      timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000 })),
    },
    { additionalProperties: false },
  );
}

/** The descriptor for an entry schema built by notifierEntry; the kind is the schema's `type`, stated once. */
export function notifierKind<S extends TSchema & { properties: { type: TLiteral<string> } }>(
  schema: S,
  create: (config: Static<S>, deps: NotifierDeps) => Notifier,
): NotifierKind<S> {
  return { kind: schema.properties.type.const, schema, create };
}

/** A secret given inline or as the name of an environment variable; the message names the variable, never a value. */
export function resolveSecret(
  notifier: string,
  inline: string | undefined,
  envName: string | undefined,
  field: string,
  secret: SecretLookup = NO_SECRETS,
  required = true,
): string | undefined {
  if (inline !== undefined && envName !== undefined)
    throw new NotifierConfigError(`notifier "${notifier}": set ${field} or ${field}Env, not both`);
  if (envName !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(envName))
      throw new NotifierConfigError(`notifier "${notifier}": ${field}Env must be an environment variable name`);
    const value = secret(envName)?.trim();
    if (!value)
      throw new NotifierConfigError(`notifier "${notifier}": environment variable ${envName} (${field}) is not set`);
    return value;
  }
  if (inline !== undefined && inline.trim() !== '') return inline.trim();
  if (required) throw new NotifierConfigError(`notifier "${notifier}": ${field} (or ${field}Env) is required`);
  return undefined;
}

export function checkUrl(notifier: string, url: string, field = 'url'): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new NotifierConfigError(`notifier "${notifier}": ${field} is not a valid URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new NotifierConfigError(`notifier "${notifier}": ${field} must be http(s)`);
  if (parsed.username || parsed.password)
    throw new NotifierConfigError(`notifier "${notifier}": ${field} must not carry credentials`);
  return parsed.toString();
}

/** At most `max` characters (code points), control characters removed, "…" marking a cut. */
export function clip(text: string, max: number): string {
  const clean = stripControlChars(text);
  const chars = Array.from(clean);
  return chars.length <= max ? clean : chars.slice(0, max - 1).join('') + '…';
}

/** At most `max` code points, "…" marking a cut; for text built from clipped parts whose line breaks must stay. */
export function limit(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : chars.slice(0, max - 1).join('') + '…';
}

/** Only http(s) links are ever put in a message. */
export function safeLink(url: string | undefined): string | undefined {
  if (!url || url.length > 2000) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}

export function targetText(target: AlertTarget): string {
  if (target.pod)
    return `${target.cluster}/${target.namespace}/${target.pod}${target.container ? `/${target.container}` : ''}`;
  if (target.node) return `${target.cluster}/node/${target.node}`;
  // A cluster's storm incident: alerts about many targets.
  return `${target.cluster} (many targets)`;
}

const ACTIONS: ReadonlySet<string> = new Set(['trigger', 'resolve', 'open', 'approval', 'containment']);

export function checkEvent(event: NotificationEvent): void {
  if (!ACTIONS.has(event.action)) throw new NotifierConfigError(`unknown action ${String(event.action)}`);
  if (event.action === 'approval' && !event.approval)
    throw new NotifierConfigError('an approval request needs its approval details');
  if (!/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,254}$/.test(event.dedupKey) || event.dedupKey.includes('..')) {
    throw new NotifierConfigError('dedupKey must be 1-255 of [A-Za-z0-9._:@-], starting alphanumeric, without ".."');
  }
}

export interface HttpNotifierOptions {
  name: string;
  timeoutMs?: number;
  secrets: string[];
  logger?: NotifierLogger;
}

/** Base for notifiers that make one HTTP request per event. */
export abstract class HttpNotifier implements Notifier {
  abstract readonly kind: string;
  readonly name: string;
  protected readonly timeoutMs: number;
  private readonly secrets: string[];
  private readonly logger?: NotifierLogger;

  constructor(opts: HttpNotifierOptions) {
    this.name = opts.name;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.secrets = opts.secrets.filter(Boolean);
    this.logger = opts.logger;
  }

  /** The exact request for this event. */
  abstract request(event: NotificationEvent): HttpRequest;

  /** How the URL appears in previews (Slack's URL is itself the secret). */
  protected displayUrl(url: string): string {
    return maskSecrets(url, this.secrets);
  }

  async send(event: NotificationEvent, opts: { dryRun: boolean; signal?: AbortSignal }): Promise<NotificationResult> {
    checkEvent(event);
    const request = this.request(event);
    if (opts.dryRun) {
      const preview = this.preview(request);
      this.logger?.info(
        { notifier: this.name, kind: this.kind, action: event.action, dedupKey: event.dedupKey, request: preview },
        'dry run: notification not sent',
      );
      return { status: 'dry-run', preview };
    }
    const outcome = await send(request, {
      label: `${this.kind} notifier "${this.name}"`,
      secrets: this.secrets,
      timeoutMs: this.timeoutMs,
      signal: opts.signal,
    });
    return { status: 'sent', httpStatus: outcome.httpStatus, response: outcome.response };
  }

  private preview(request: HttpRequest): NonNullable<NotificationResult['preview']> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(request.headers)) {
      headers[k] = /^(authorization|x-holdfast-signature)$/i.test(k) ? '[redacted]' : maskSecrets(v, this.secrets);
    }
    let body: unknown;
    try {
      body = JSON.parse(maskSecrets(request.body, this.secrets));
    } catch {
      body = maskSecrets(request.body, this.secrets);
    }
    return { method: request.method, url: this.displayUrl(request.url), headers, body };
  }
}

/** What a raised alert leads with, by kind: an escalation page has no prefix. */
export function actionPrefix(event: NotificationEvent): string {
  if (event.action === 'open') return 'Incident opened: ';
  if (event.action === 'approval' && event.approval) return `Approval needed (${event.approval.step}): `;
  if (event.action === 'containment') return 'Containment NOT effective: ';
  return '';
}

/** Seconds as a person reads a gate's timeout: 90 → "90s", 600 → "10m", 7200 → "2h". */
export function humanDuration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** The lines that tell a person how to approve or reject, each bounded. */
export function approvalLines(a: ApprovalRequest): string[] {
  return [
    `Approve: ${a.approveCall} with body ${a.body}`,
    `or: ${a.approveCommand}`,
    `Reject: ${a.rejectCall} with body ${a.body}`,
    `or: ${a.rejectCommand}`,
    `Without a decision within ${humanDuration(a.timeoutSeconds)} the gate will ${a.onTimeout} ${a.step}.`,
  ].map((line) => clip(line, 1000));
}

/** How a page heads Holdfast's own lines: what it is doing (opening page), or what it found (a containment check). */
export function detailsHeading(event: NotificationEvent): string {
  return event.action === 'open' ? 'Holdfast is' : 'Holdfast found';
}

/** Holdfast's own lines (what it is doing, or what it found), at most 20 of 300 characters. */
export function detailLines(event: NotificationEvent): string[] {
  return (event.details ?? []).slice(0, 20).map((line) => clip(line, 300));
}
