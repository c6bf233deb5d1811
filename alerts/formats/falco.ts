/**
 * Falco events, as Falco's http_output or Falcosidekick's webhook output post them:
 * `{uuid, output, priority, rule, time, source, tags, hostname, output_fields{...}}`.
 *
 * - pod: output_fields "k8s.ns.name" + "k8s.pod.name"; container: "container.name" (only with a pod);
 * - node: `hostname` (the Falco host; the Falco Helm chart sets it to the node name). A pod alert keeps it
 *   when it is a valid name; a host rule (no pod) is keyed by it, so there it must be valid;
 * - cluster: output_fields "k8s.cluster.name", else "cluster" (a Falcosidekick custom field), else the default;
 * - severity: Emergency/Alert/Critical → critical, Error → high, Warning → medium, Notice/Informational → low,
 *   Debug → info;
 * - id: `uuid` (Falcosidekick sets one per event); without it a hash of rule, time, hostname and output.
 * `output` and every proc.* / fd.* field are attacker-influenced text: bounded and never used as names.
 */
import { Type } from '@sinclair/typebox';
import { isValidName } from '../../common/k8s-names';
import type { Alert, Severity } from '../../common/types';
import { RawName, RawText, RawTime } from '../schemas';
import {
  buildTarget,
  collectLabels,
  hashId,
  isObject,
  isoTime,
  optionalId,
  optionalObject,
  optionalString,
  pointer,
  requireObject,
  requireString,
  ruleText,
  summaryText,
} from '../parsing';
import { AlertRejected, defineAlertFormat, type ParseContext } from '../format';

const PRIORITIES: Record<string, Severity> = {
  emergency: 'critical',
  alert: 'critical',
  critical: 'critical',
  error: 'high',
  warning: 'medium',
  notice: 'low',
  informational: 'low',
  info: 'low',
  debug: 'info',
};

export function falcoSeverity(priority: string): Severity | undefined {
  return PRIORITIES[priority.trim().toLowerCase()];
}

const bodySchema = Type.Object(
  {
    uuid: Type.Optional(Type.String({ maxLength: 128 })),
    output: Type.Optional(RawText(65536, 'Falco output line (attacker-influenced)')),
    priority: Type.String({ maxLength: 32 }),
    rule: RawText(1024),
    time: Type.Optional(RawTime),
    source: Type.Optional(Type.String({ maxLength: 64 })),
    tags: Type.Optional(Type.Array(Type.String({ maxLength: 256 }), { maxItems: 64 })),
    hostname: Type.Optional(RawName),
    output_fields: Type.Optional(Type.Record(Type.String({ maxLength: 256 }), Type.Unknown(), { maxProperties: 512 })),
  },
  { additionalProperties: true, description: 'A Falco event as posted by Falco http_output or Falcosidekick' },
);

const example = {
  uuid: '5f3a6a8e-2f63-4c1e-9a52-0f0c8d1e7b21',
  output:
    '14:12:07.481632214: Notice A shell was spawned in a container with an attached terminal (evt_type=execve user=root user_uid=0 process=sh proc_exepath=/bin/busybox parent=runc command=sh terminal=34816 exe_flags=EXE_WRITABLE container_id=4c2f1e0d9b7a container_name=web k8s_ns=shop k8s_pod_name=web-7d9c6b5f4-x2x9q)',
  priority: 'Notice',
  rule: 'Terminal shell in container',
  time: '2026-11-28T14:12:07.481632214Z',
  source: 'syscall',
  tags: ['T1059', 'container', 'maturity_stable', 'mitre_execution', 'shell'],
  hostname: 'ip-10-0-12-34.eu-west-1.compute.internal',
  output_fields: {
    'container.id': '4c2f1e0d9b7a',
    'container.name': 'web',
    'evt.type': 'execve',
    'k8s.ns.name': 'shop',
    'k8s.pod.name': 'web-7d9c6b5f4-x2x9q',
    'proc.cmdline': 'sh',
    'proc.exepath': '/bin/busybox',
    'proc.pname': 'runc',
    'proc.tty': 34816,
    'user.name': 'root',
    'user.uid': 0,
  },
};

function parse(body: unknown, ctx: ParseContext): Alert[] {
  const b = requireObject(body, '');
  const fields = optionalObject(b.output_fields, '/output_fields') ?? {};
  const f = (name: string) => ({ value: fields[name], field: pointer('output_fields', name) });

  const priority = requireString(b.priority, '/priority', 32);
  const severity = falcoSeverity(priority);
  if (!severity)
    throw new AlertRejected(
      '/priority',
      'must be a Falco priority (Emergency, Alert, Critical, Error, Warning, Notice, Informational, Debug)',
    );
  const rule = requireString(b.rule, '/rule', 1024);
  const output = optionalString(b.output, '/output') ?? rule;
  const hostname = optionalString(b.hostname, '/hostname', 1024);
  const time = optionalString(b.time, '/time', 64);
  const source = optionalString(b.source, '/source', 64);
  let tags: string[] = [];
  if (b.tags !== undefined && b.tags !== null) {
    if (
      !Array.isArray(b.tags) ||
      b.tags.length > 64 ||
      !b.tags.every((t) => typeof t === 'string' && t.length <= 256)
    ) {
      throw new AlertRejected('/tags', 'must be at most 64 strings');
    }
    tags = b.tags as string[];
  }

  const clusterField =
    fields['k8s.cluster.name'] !== undefined
      ? f('k8s.cluster.name')
      : fields.cluster !== undefined
        ? f('cluster')
        : undefined;
  const hasPod =
    fields['k8s.pod.name'] !== undefined && fields['k8s.pod.name'] !== null && fields['k8s.pod.name'] !== '';
  const target = buildTarget(
    {
      scope: ctx,
      cluster: clusterField,
      namespace: f('k8s.ns.name'),
      pod: f('k8s.pod.name'),
      container: hasPod ? f('container.name') : undefined,
      // A pod alert keeps the node only when it is a valid name; a host alert is keyed by it, so it must be.
      node: !hasPod || isValidName('node', hostname) ? { value: hostname, field: '/hostname' } : undefined,
    },
    hasPod ? '/output_fields/k8s.ns.name' : '/hostname',
  );

  const id = optionalId(b.uuid, '/uuid') ?? hashId('falco', [rule, time, hostname, output]);
  const restFields = isObject(fields) ? fields : {};
  const labels = collectLabels(
    {
      'falco.priority': priority,
      ...(source ? { 'falco.source': source } : {}),
      ...(tags.length > 0 ? { 'falco.tags': tags.join(',') } : {}),
      ...(hostname ? { 'falco.hostname': hostname } : {}),
    },
    restFields,
  );

  return [
    {
      id,
      source: 'falco',
      rule: ruleText(rule),
      severity,
      summary: summaryText(output),
      observedAt: isoTime(time) ?? ctx.receivedAt,
      receivedAt: ctx.receivedAt,
      target,
      labels,
      status: 'firing',
      rawSha256: ctx.rawSha256,
    },
  ];
}

export const falcoFormat = defineAlertFormat({
  name: 'falco',
  route: '/v1/alerts/falco',
  description: 'Falco events from Falco http_output or Falcosidekick webhook output',
  bodySchema,
  example,
  parse,
});
