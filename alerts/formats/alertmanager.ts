/**
 * Prometheus Alertmanager webhook (payload version "4"): one group per request, one Alert per entry in
 * `alerts[]` (at most 1000; a larger group is refused, 422 at /alerts).
 *
 * - pod identity: labels `namespace`, `pod`, `container`; node: label `node` (kube-state-metrics style);
 *   cluster: label `cluster`, else the default. An entry with neither pod nor node is not actionable.
 * - one bad entry does not lose the group: the others are accepted and the answer lists it (see parseEach).
 * - severity: labels.severity (critical / high|error|major / warning|medium / low|minor|notice / info|none);
 *   missing or unknown → medium.
 * - status: firing/resolved per entry, preserved.
 * - id: `am-<fingerprint>-<startsAt epoch ms>`: the same alert instance keeps its id between the firing and
 *   the resolved notification; a new firing (new startsAt) gets a new id. Without a fingerprint (very old
 *   Alertmanager) the sorted labels are hashed instead.
 * - rule: labels.alertname; summary: annotations summary, else description, else message, else alertname.
 */
import { Type } from '@sinclair/typebox';
import type { Alert } from '../../common/types';
import { RawText, RawTime } from '../schemas';
import {
  buildTarget,
  collectLabels,
  hashId,
  isoTime,
  optionalObject,
  optionalString,
  parseEach,
  pointer,
  requireObject,
  ruleText,
  severityFromWord,
  summaryText,
} from '../parsing';
import { AlertRejected, defineAlertFormat, type ParseContext } from '../format';

export const MAX_ALERTS_PER_GROUP = 1000;

const StringMap = Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 65536 }), {
  maxProperties: 256,
});

const AmAlert = Type.Object(
  {
    status: Type.Union([Type.Literal('firing'), Type.Literal('resolved')]),
    labels: StringMap,
    annotations: Type.Optional(StringMap),
    startsAt: RawTime,
    endsAt: Type.Optional(RawTime),
    generatorURL: Type.Optional(Type.String({ maxLength: 8192 })),
    fingerprint: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: true },
);

const bodySchema = Type.Object(
  {
    version: Type.String({ maxLength: 8 }),
    groupKey: Type.Optional(RawText(8192)),
    truncatedAlerts: Type.Optional(Type.Integer({ minimum: 0 })),
    status: Type.Union([Type.Literal('firing'), Type.Literal('resolved')]),
    receiver: Type.Optional(Type.String({ maxLength: 1024 })),
    groupLabels: Type.Optional(StringMap),
    commonLabels: Type.Optional(StringMap),
    commonAnnotations: Type.Optional(StringMap),
    externalURL: Type.Optional(Type.String({ maxLength: 8192 })),
    alerts: Type.Array(AmAlert, { minItems: 1, maxItems: MAX_ALERTS_PER_GROUP }),
  },
  { additionalProperties: true, description: 'An Alertmanager webhook_config notification (version 4)' },
);

const example = {
  version: '4',
  groupKey: '{}/{team="platform"}:{alertname="ContainerShellSpawned"}',
  truncatedAlerts: 0,
  status: 'firing',
  receiver: 'holdfast',
  groupLabels: { alertname: 'ContainerShellSpawned' },
  commonLabels: { alertname: 'ContainerShellSpawned', cluster: 'prod-eu-1', namespace: 'shop', severity: 'critical' },
  commonAnnotations: { runbook_url: 'https://runbooks.example.com/container-shell' },
  externalURL: 'http://alertmanager.monitoring.svc:9093',
  alerts: [
    {
      status: 'firing',
      labels: {
        alertname: 'ContainerShellSpawned',
        cluster: 'prod-eu-1',
        namespace: 'shop',
        pod: 'web-7d9c6b5f4-x2x9q',
        container: 'web',
        severity: 'critical',
      },
      annotations: { summary: 'Interactive shell spawned in shop/web-7d9c6b5f4-x2x9q' },
      startsAt: '2026-11-28T14:12:10.000Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL:
        'http://prometheus.monitoring.svc:9090/graph?g0.expr=falco_events%7Brule%3D%22Terminal+shell+in+container%22%7D',
      fingerprint: '8c1f3e2a9b0d4c57',
    },
  ],
};

const FINGERPRINT_RE = /^[0-9a-fA-F]{1,64}$/;

function parseOne(entry: unknown, i: number, group: Record<string, unknown>, ctx: ParseContext): Alert {
  const at = (...rest: Array<string | number>) => pointer('alerts', i, ...rest);
  const a = requireObject(entry, at());
  const labels = requireObject(a.labels, at('labels'));
  const annotations = optionalObject(a.annotations, at('annotations')) ?? {};
  const status = a.status === 'resolved' ? 'resolved' : a.status === 'firing' ? 'firing' : undefined;
  if (!status) throw new AlertRejected(at('status'), "must be 'firing' or 'resolved'");
  const startsAtRaw = optionalString(a.startsAt, at('startsAt'), 64);
  const startsAt = isoTime(startsAtRaw);
  if (!startsAt) throw new AlertRejected(at('startsAt'), 'must be an RFC 3339 timestamp');
  const fingerprint = optionalString(a.fingerprint, at('fingerprint'), 64);
  if (fingerprint !== undefined && !FINGERPRINT_RE.test(fingerprint))
    throw new AlertRejected(at('fingerprint'), 'must be hexadecimal');

  const label = (name: string) => ({ value: labels[name], field: at('labels', name) });
  const hasPod = labels.pod !== undefined && labels.pod !== '';
  const target = buildTarget(
    {
      scope: ctx,
      cluster: label('cluster'),
      namespace: label('namespace'),
      pod: label('pod'),
      container: hasPod ? label('container') : undefined,
      node: label('node'),
    },
    hasPod ? at('labels', 'namespace') : at('labels', 'pod'),
  );

  const alertname = optionalString(labels.alertname, at('labels', 'alertname'), 1024) ?? 'unknown';
  const text = [annotations.summary, annotations.description, annotations.message].find(
    (t): t is string => typeof t === 'string' && t.length > 0,
  );
  const id = fingerprint
    ? `am-${fingerprint.toLowerCase()}-${Date.parse(startsAt)}`
    : hashId('am', [
        JSON.stringify(
          Object.keys(labels)
            .sort()
            .map((k) => [k, labels[k]]),
        ),
        startsAt,
      ]);
  const endsAt = isoTime(a.endsAt);
  const extra: Record<string, unknown> = {};
  if (typeof group.receiver === 'string') extra['alertmanager.receiver'] = group.receiver;
  if (typeof group.truncatedAlerts === 'number' && group.truncatedAlerts > 0)
    extra['alertmanager.truncatedAlerts'] = group.truncatedAlerts;
  if (status === 'resolved' && endsAt && !endsAt.startsWith('0001-')) extra['alertmanager.endsAt'] = endsAt;

  return {
    id,
    source: 'alertmanager',
    rule: ruleText(alertname),
    severity: severityFromWord(typeof labels.severity === 'string' ? labels.severity : undefined, 'medium'),
    summary: summaryText(text ?? alertname),
    observedAt: startsAt,
    receivedAt: ctx.receivedAt,
    target,
    labels: collectLabels(extra, labels),
    status,
    rawSha256: ctx.rawSha256,
  };
}

function parse(body: unknown, ctx: ParseContext): Alert[] {
  const b = requireObject(body, '');
  if (b.version !== '4')
    throw new AlertRejected('/version', "only Alertmanager webhook payload version '4' is understood");
  if (!Array.isArray(b.alerts) || b.alerts.length === 0)
    throw new AlertRejected('/alerts', 'must be a non-empty array');
  if (b.alerts.length > MAX_ALERTS_PER_GROUP)
    throw new AlertRejected('/alerts', `at most ${MAX_ALERTS_PER_GROUP} alerts per notification`);
  return parseEach(b.alerts, ctx.reject, (entry, i) => parseOne(entry, i, b, ctx));
}

export const alertmanagerFormat = defineAlertFormat({
  name: 'alertmanager',
  route: '/v1/alerts/alertmanager',
  description: 'Prometheus Alertmanager webhook notifications (payload version 4); one alert per entry of alerts[]',
  bodySchema,
  example,
  grouped: true,
  parse,
});
