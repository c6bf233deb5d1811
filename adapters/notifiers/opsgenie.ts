/**
 * Opsgenie Alert API v2 (base URL default https://api.opsgenie.com; EU accounts use https://api.eu.opsgenie.com).
 * trigger: POST /v2/alerts `{message ≤ 130, alias (dedup, the incident id), description ≤ 15000,
 * priority P1–P5, details{string: string}, tags (≤ 20 of ≤ 50 chars), entity, source, responders?}`;
 * `open` (the first page) and `approval` (a gate waiting) are the same create under the same alias: Opsgenie
 * folds them into the one open alert; the message says which, the description how to decide.
 * resolve: POST /v2/alerts/<alias>/close?identifierType=alias `{source, user, note}`.
 * Header `Authorization: GenieKey <key>`. Opsgenie answers 202 and processes asynchronously.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Severity } from '../../common/types';
import type { NotificationEvent } from '../../common/ports';
import {
  EnvName,
  HttpNotifier,
  NotifierConfigError,
  Url,
  checkUrl,
  clip,
  limit,
  notifierEntry,
  notifierKind,
  actionPrefix,
  detailsHeading,
  approvalLines,
  detailLines,
  resolveSecret,
  safeLink,
  targetText,
  type NotifierDeps,
} from './base';
import type { HttpRequest } from './http';

export const OPSGENIE_DEFAULT_URL = 'https://api.opsgenie.com';

const OpsgenieResponderSchema = Type.Object(
  {
    type: Type.Union([
      Type.Literal('team'),
      Type.Literal('user'),
      Type.Literal('escalation'),
      Type.Literal('schedule'),
    ]),
    id: Type.Optional(Type.String({ maxLength: 128 })),
    name: Type.Optional(Type.String({ maxLength: 256 })),
    username: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
);
export type OpsgenieResponder = Static<typeof OpsgenieResponderSchema>;

export const OpsgenieConfigSchema = notifierEntry('opsgenie', {
  /** API base URL, without /v2. */
  url: Type.Optional(Url),
  apiKey: Type.Optional(Type.String({ maxLength: 256 })),
  apiKeyEnv: Type.Optional(EnvName),
  responders: Type.Optional(Type.Array(OpsgenieResponderSchema, { maxItems: 50 })),
  tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { maxItems: 17 })),
});
export type OpsgenieConfig = Static<typeof OpsgenieConfigSchema>;

const PRIORITY: Record<Severity, 'P1' | 'P2' | 'P3' | 'P4' | 'P5'> = {
  critical: 'P1',
  high: 'P2',
  medium: 'P3',
  low: 'P4',
  info: 'P5',
};

export function opsgeniePriority(severity: Severity): 'P1' | 'P2' | 'P3' | 'P4' | 'P5' {
  return PRIORITY[severity];
}

export class OpsgenieNotifier extends HttpNotifier {
  readonly kind = 'opsgenie';
  private readonly base: string;
  private readonly apiKey: string;
  private readonly responders: OpsgenieResponder[];
  private readonly extraTags: string[];

  constructor(config: OpsgenieConfig, deps: NotifierDeps = {}) {
    const apiKey = resolveSecret(config.name, config.apiKey, config.apiKeyEnv, 'apiKey', deps.secret) as string;
    super({ name: config.name, timeoutMs: config.timeoutMs, secrets: [apiKey], logger: deps.logger });
    this.apiKey = apiKey;
    this.base = checkUrl(config.name, config.url ?? OPSGENIE_DEFAULT_URL).replace(/\/+$/, '');
    this.responders = config.responders ?? [];
    this.extraTags = config.tags ?? [];
    if (this.extraTags.some((t) => typeof t !== 'string' || t.length === 0 || t.length > 50)) {
      throw new NotifierConfigError(`notifier "${config.name}": tags must be 1-50 characters`);
    }
  }

  request(event: NotificationEvent): HttpRequest {
    const headers = { 'content-type': 'application/json', authorization: `GenieKey ${this.apiKey}` };
    const incident = safeLink(event.links.incident);
    if (event.action === 'resolve') {
      return {
        method: 'POST',
        url: `${this.base}/v2/alerts/${encodeURIComponent(event.dedupKey)}/close?identifierType=alias`,
        headers,
        body: JSON.stringify({
          source: 'Holdfast',
          user: 'Holdfast',
          note: clip(`Resolved in Holdfast${incident ? `: ${incident}` : ''}`, 25000),
        }),
      };
    }
    const t = event.target;
    const details: Record<string, string> = {
      incidentId: event.incidentId,
      tier: String(event.tier),
      severity: event.severity,
      cluster: t.cluster,
      ...(t.namespace ? { namespace: t.namespace } : {}),
      ...(t.pod ? { pod: t.pod } : {}),
      ...(t.container ? { container: t.container } : {}),
      ...(t.node ? { node: t.node } : {}),
      ...(incident ? { incident } : {}),
      ...(safeLink(event.links.history) ? { history: safeLink(event.links.history) as string } : {}),
    };
    const tags = [
      ...new Set(['holdfast', `severity:${event.severity}`, `tier:${event.tier}`, ...this.extraTags]),
    ].slice(0, 20);
    if (event.approval) details.approvalStep = event.approval.step;
    if (event.action !== 'trigger') details.notification = event.action;
    const holdfast = [
      ...(event.approval ? approvalLines(event.approval) : []),
      ...(event.details?.length ? [`${detailsHeading(event)}:`, ...detailLines(event).map((l) => `- ${l}`)] : []),
    ].join('\n');
    // Each part is clipped (which also strips newlines); the joined text keeps its line breaks within 15000.
    const description = limit(
      [holdfast, clip(event.summary, 14000), incident ? `Incident: ${incident}` : ''].filter(Boolean).join('\n\n'),
      15000,
    );
    const body = {
      message: clip(`${actionPrefix(event)}${event.title || event.summary}`, 130),
      alias: event.dedupKey,
      description,
      priority: opsgeniePriority(event.severity),
      details,
      tags,
      entity: clip(targetText(t), 512),
      source: 'Holdfast',
      ...(this.responders.length > 0 ? { responders: this.responders } : {}),
    };
    return { method: 'POST', url: `${this.base}/v2/alerts`, headers, body: JSON.stringify(body) };
  }
}

export const opsgenieKind = notifierKind(OpsgenieConfigSchema, (config, deps) => new OpsgenieNotifier(config, deps));
