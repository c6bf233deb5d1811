/**
 * Generic signed webhook: POST a JSON document
 * `{schema: 'holdfast.notification/v1', sentAt, event: {action, incidentId, dedupKey, title, severity, summary, tier, target, links,
 * details?, approval?}}` (`details`: what Holdfast is doing, on `open`, or what a containment check found, on
 * `containment` and later pages; `approval`: the gate and the API call and CLI command that decide it, on
 * `approval`) with headers
 *   X-Holdfast-Timestamp: <unix seconds>            (equal to sentAt, which the signature covers)
 *   X-Holdfast-Signature: sha256=<hex HMAC-SHA256 over the exact body bytes, keyed by the secret>
 *   X-Holdfast-Event: trigger | resolve | open | approval | containment
 *   Idempotency-Key: <dedupKey>:<action>[:<step> for approval]
 * A receiver verifies the HMAC (constant-time), then rejects stale timestamps to stop replays. Same
 * signature header as Holdfast's own intake accepts.
 */
import crypto from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { ApprovalRequest, NotificationEvent } from '../../common/ports';
import {
  EnvName,
  HttpNotifier,
  Url,
  checkUrl,
  clip,
  notifierEntry,
  notifierKind,
  approvalLines,
  detailLines,
  resolveSecret,
  safeLink,
  type NotifierDeps,
} from './base';
import type { HttpRequest } from './http';

export const WEBHOOK_SCHEMA = 'holdfast.notification/v1';

export const WebhookConfigSchema = notifierEntry('webhook', {
  url: Url,
  secret: Type.Optional(Type.String({ maxLength: 1024 })),
  secretEnv: Type.Optional(EnvName),
});
export type WebhookConfig = Static<typeof WebhookConfigSchema>;

export function webhookSignature(secret: string, body: string | Buffer): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** For receivers and tests: constant-time check of X-Holdfast-Signature. */
export function verifyWebhookSignature(secret: string, body: string | Buffer, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(webhookSignature(secret, body));
  const given = Buffer.from(header);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

/** The approval request as JSON, every string bounded; `text` is the same as the other notifiers show. */
function boundedApproval(a: ApprovalRequest) {
  return {
    step: clip(a.step, 63),
    timeoutSeconds: a.timeoutSeconds,
    onTimeout: a.onTimeout,
    approveCall: clip(a.approveCall, 2100),
    rejectCall: clip(a.rejectCall, 2100),
    body: clip(a.body, 200),
    approveCommand: clip(a.approveCommand, 300),
    rejectCommand: clip(a.rejectCommand, 300),
    text: approvalLines(a),
  };
}

export class WebhookNotifier extends HttpNotifier {
  readonly kind = 'webhook';
  private readonly url: string;
  private readonly secret: string;
  private readonly now: () => Date;

  constructor(config: WebhookConfig, deps: NotifierDeps & { now?: () => Date } = {}) {
    const secret = resolveSecret(config.name, config.secret, config.secretEnv, 'secret', deps.secret) as string;
    super({ name: config.name, timeoutMs: config.timeoutMs, secrets: [secret], logger: deps.logger });
    this.secret = secret;
    this.url = checkUrl(config.name, config.url);
    this.now = deps.now ?? (() => new Date());
  }

  request(event: NotificationEvent): HttpRequest {
    const at = this.now();
    const seconds = Math.floor(at.getTime() / 1000);
    const body = JSON.stringify({
      schema: WEBHOOK_SCHEMA,
      sentAt: new Date(seconds * 1000).toISOString(),
      event: {
        action: event.action,
        incidentId: event.incidentId,
        dedupKey: event.dedupKey,
        title: clip(event.title, 1024),
        severity: event.severity,
        summary: clip(event.summary, 4096),
        tier: event.tier,
        target: event.target,
        links: {
          ...(safeLink(event.links.incident) ? { incident: safeLink(event.links.incident) } : {}),
          ...(safeLink(event.links.history) ? { history: safeLink(event.links.history) } : {}),
        },
        ...(event.details?.length ? { details: detailLines(event) } : {}),
        ...(event.approval ? { approval: boundedApproval(event.approval) } : {}),
      },
    });
    return {
      method: 'POST',
      url: this.url,
      headers: {
        'content-type': 'application/json',
        'x-holdfast-timestamp': String(seconds),
        'x-holdfast-signature': webhookSignature(this.secret, body),
        'x-holdfast-event': event.action,
        // One approval request per gate: the step keeps two gates' requests apart.
        'idempotency-key': `${event.dedupKey}:${event.action}${event.approval ? `:${event.approval.step}` : ''}`,
      },
      body,
    };
  }
}

export const webhookKind = notifierKind(WebhookConfigSchema, (config, deps) => new WebhookNotifier(config, deps));
