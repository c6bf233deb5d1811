/**
 * PagerDuty Events API v2: POST <url> (default https://events.pagerduty.com/v2/enqueue).
 * trigger: `{routing_key, event_action: 'trigger', dedup_key, payload{summary ≤ 1024, source, severity,
 * component, group, class, custom_details}, client, client_url, links[]}`; `open` (the first page) and
 * `approval` (a gate waiting) are triggers too, under the same dedup key, so they raise or update the one
 * alert, their summary saying which and custom_details carrying what Holdfast does or how to decide; resolve: `{routing_key,
 * event_action: 'resolve', dedup_key}`. The dedup key is the incident's, so repeats fold into one PagerDuty
 * alert and the resolve closes it. PagerDuty answers 202; 400 is a bad event (not retried), 429 throttling.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Severity } from '../../common/types';
import type { NotificationEvent } from '../../common/ports';
import {
  EnvName,
  HttpNotifier,
  Url,
  checkUrl,
  clip,
  notifierEntry,
  notifierKind,
  actionPrefix,
  approvalLines,
  detailLines,
  resolveSecret,
  safeLink,
  targetText,
  type NotifierDeps,
} from './base';
import type { HttpRequest } from './http';

export const PAGERDUTY_DEFAULT_URL = 'https://events.pagerduty.com/v2/enqueue';

export const PagerDutyConfigSchema = notifierEntry('pagerduty', {
  url: Type.Optional(Url),
  routingKey: Type.Optional(Type.String({ maxLength: 256 })),
  /** Name of the environment variable holding the routing key (preferred over routingKey). */
  routingKeyEnv: Type.Optional(EnvName),
});
export type PagerDutyConfig = Static<typeof PagerDutyConfigSchema>;

const SEVERITY: Record<Severity, 'critical' | 'error' | 'warning' | 'info'> = {
  critical: 'critical',
  high: 'error',
  medium: 'warning',
  low: 'info',
  info: 'info',
};

export function pagerDutySeverity(severity: Severity): 'critical' | 'error' | 'warning' | 'info' {
  return SEVERITY[severity];
}

export class PagerDutyNotifier extends HttpNotifier {
  readonly kind = 'pagerduty';
  private readonly url: string;
  private readonly routingKey: string;

  constructor(config: PagerDutyConfig, deps: NotifierDeps = {}) {
    const routingKey = resolveSecret(
      config.name,
      config.routingKey,
      config.routingKeyEnv,
      'routingKey',
      deps.secret,
    ) as string;
    super({ name: config.name, timeoutMs: config.timeoutMs, secrets: [routingKey], logger: deps.logger });
    this.routingKey = routingKey;
    this.url = checkUrl(config.name, config.url ?? PAGERDUTY_DEFAULT_URL);
  }

  request(event: NotificationEvent): HttpRequest {
    const common = { routing_key: this.routingKey, dedup_key: event.dedupKey };
    let body: Record<string, unknown>;
    if (event.action === 'resolve') {
      body = { ...common, event_action: 'resolve' };
    } else {
      const t = event.target;
      const links = [
        safeLink(event.links.incident) && { href: safeLink(event.links.incident), text: 'Holdfast incident' },
        safeLink(event.links.history) && { href: safeLink(event.links.history), text: 'Incident history' },
      ].filter(Boolean);
      body = {
        ...common,
        event_action: 'trigger',
        payload: {
          summary: clip(`${actionPrefix(event)}${event.title || event.summary}`, 1024),
          source: targetText(t),
          severity: pagerDutySeverity(event.severity),
          component: t.container ?? t.pod ?? t.node ?? t.cluster,
          group: t.namespace ? `${t.cluster}/${t.namespace}` : t.cluster,
          class: 'holdfast.incident',
          custom_details: {
            incident_id: event.incidentId,
            tier: event.tier,
            severity: event.severity,
            target: t,
            alert_summary: clip(event.summary, 4096),
            ...(event.action === 'trigger' ? {} : { notification: event.action }),
            ...(event.details?.length
              ? { [event.action === 'open' ? 'holdfast_is' : 'holdfast_found']: detailLines(event) }
              : {}),
            ...(event.approval
              ? { approval_step: event.approval.step, how_to_decide: approvalLines(event.approval) }
              : {}),
          },
        },
        client: 'Holdfast',
        ...(safeLink(event.links.incident) ? { client_url: safeLink(event.links.incident) } : {}),
        links,
      };
    }
    return {
      method: 'POST',
      url: this.url,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    };
  }
}

export const pagerdutyKind = notifierKind(PagerDutyConfigSchema, (config, deps) => new PagerDutyNotifier(config, deps));
