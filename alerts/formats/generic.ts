/**
 * Holdfast's own minimal format for anything else (scripts, other detectors):
 * `{source, severity, title, description?, id?, observedAt?, target{cluster?, namespace?, pod?, container?, node?}, labels?}`.
 *
 * - target: namespace + pod (container optional), or node for a host-level alert; cluster defaults;
 * - `source` is the sender's free label (kept as label `generic.source`); Alert.source is 'generic';
 * - rule: title; summary: "title: description";
 * - id: the sender's `id` when given (1-128 of [A-Za-z0-9._:@-]), else a hash of source, title, target
 *   and observedAt, so a retried post of the same alert keeps its id.
 * Labels are the sender's own and checked strictly: at most 64, keys 1-128 of [A-Za-z0-9._/:-], string values.
 */
import { Type } from '@sinclair/typebox';
import { SEVERITIES, type Alert, type Severity } from '../../common/types';
import { LabelsSchema, RawName, RawText, RawTime, SeveritySchema } from '../schemas';
import {
  buildTarget,
  hashId,
  isoTime,
  optionalId,
  optionalString,
  requireObject,
  requireString,
  ruleText,
  strictLabels,
  summaryText,
} from '../parsing';
import { AlertRejected, defineAlertFormat, type ParseContext } from '../format';

const SOURCE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const bodySchema = Type.Object(
  {
    id: Type.Optional(Type.String({ maxLength: 128 })),
    source: Type.String({ maxLength: 64, description: "sender's name for itself, e.g. 'tetragon' or 'cron-scanner'" }),
    severity: SeveritySchema,
    title: RawText(1024),
    description: Type.Optional(RawText(65536)),
    observedAt: Type.Optional(RawTime),
    target: Type.Object(
      {
        cluster: Type.Optional(RawName),
        namespace: Type.Optional(RawName),
        pod: Type.Optional(RawName),
        container: Type.Optional(RawName),
        node: Type.Optional(RawName),
      },
      { additionalProperties: false },
    ),
    labels: Type.Optional(LabelsSchema),
  },
  { additionalProperties: false, description: 'Holdfast generic alert' },
);

const example = {
  source: 'tetragon',
  severity: 'high',
  title: 'Outbound connection to known mining pool',
  description: 'process /tmp/.x/xmrig connected to 198.51.100.23:3333',
  observedAt: '2026-11-28T14:25:00Z',
  target: { cluster: 'prod-eu-1', namespace: 'shop', pod: 'worker-6f7b9c8d5-k4m2n', container: 'worker' },
  labels: { team: 'payments', detector: 'tetragon-policy/crypto-mining' },
};

function parse(body: unknown, ctx: ParseContext): Alert[] {
  const b = requireObject(body, '');
  const source = requireString(b.source, '/source', 64);
  if (!SOURCE_RE.test(source)) throw new AlertRejected('/source', 'must be 1-64 of [A-Za-z0-9._-]');
  const severityRaw = requireString(b.severity, '/severity', 16);
  if (!(SEVERITIES as readonly string[]).includes(severityRaw))
    throw new AlertRejected('/severity', `must be one of ${SEVERITIES.join(', ')}`);
  const title = requireString(b.title, '/title', 1024);
  const description = optionalString(b.description, '/description');
  const observedRaw = optionalString(b.observedAt, '/observedAt', 64);
  const observedAt = observedRaw === undefined ? undefined : isoTime(observedRaw);
  if (observedRaw !== undefined && !observedAt) throw new AlertRejected('/observedAt', 'must be an RFC 3339 timestamp');
  const t = requireObject(b.target, '/target');
  const target = buildTarget(
    {
      scope: ctx,
      cluster: { value: t.cluster, field: '/target/cluster' },
      namespace: { value: t.namespace, field: '/target/namespace' },
      pod: { value: t.pod, field: '/target/pod' },
      container: { value: t.container, field: '/target/container' },
      node: { value: t.node, field: '/target/node' },
    },
    '/target/pod',
  );
  if (t.container && !target.pod) throw new AlertRejected('/target/container', 'a container needs its pod');
  const labels = strictLabels(b.labels, '/labels');
  if (Object.keys(labels).length >= 64 && !('generic.source' in labels)) {
    // Keep room for our own label without exceeding the bound.
    delete labels[Object.keys(labels).sort().pop() as string];
  }
  labels['generic.source'] = source;

  const id =
    optionalId(b.id, '/id') ??
    hashId('gen', [
      source,
      title,
      target.cluster,
      target.namespace,
      target.pod,
      target.container,
      target.node,
      observedAt,
    ]);
  return [
    {
      id,
      source: 'generic',
      rule: ruleText(title),
      severity: severityRaw as Severity,
      summary: summaryText(description ? `${title}: ${description}` : title),
      observedAt: observedAt ?? ctx.receivedAt,
      receivedAt: ctx.receivedAt,
      target,
      labels,
      status: 'firing',
      rawSha256: ctx.rawSha256,
    },
  ];
}

export const genericFormat = defineAlertFormat({
  name: 'generic',
  route: '/v1/alerts',
  description: "Holdfast's generic alert: a pod (namespace, pod, container?) or a node, with severity and text",
  bodySchema,
  example,
  parse,
});
