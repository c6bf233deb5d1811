import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { ALERT_FORMATS, AlertRejected, alertFormat, type AlertFormat, type ParseContext } from '../../alerts/registry';
import { falcoSeverity } from '../../alerts/formats/falco';
import { guardDutySeverity } from '../../alerts/formats/guardduty';
import { MAX_ALERTS_PER_GROUP } from '../../alerts/formats/alertmanager';
import { isValidName } from '../../common/k8s-names';
import type { Alert } from '../../common/types';
import { fixturesDir } from '../helpers/env';

function fixture(name: string): { body: unknown; ctx: ParseContext } {
  const raw = fs.readFileSync(path.join(fixturesDir, 'alerts', name));
  return {
    body: JSON.parse(raw.toString('utf8')),
    ctx: {
      rawSha256: crypto.createHash('sha256').update(raw).digest('hex'),
      receivedAt: '2026-11-28T15:00:00.000Z',
      defaultCluster: 'default-cluster',
    },
  };
}

function format(name: string): AlertFormat {
  const f = alertFormat(name);
  assert.ok(f, `format ${name} is registered`);
  return f;
}

function parseFixture(formatName: string, file: string): Alert[] {
  const { body, ctx } = fixture(file);
  return format(formatName).parse(body, ctx);
}

/** Asserts parse refuses with 422 and names exactly this field. */
function assertRejected(fn: () => unknown, field: string, message?: RegExp): AlertRejected {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof AlertRejected, `expected AlertRejected, got ${String(caught)}`);
  assert.equal(caught.status, 422);
  assert.equal(caught.field, field);
  if (message) assert.match(caught.message, message);
  return caught;
}

function assertSafeAlert(alert: Alert): void {
  assert.ok(isValidName('cluster', alert.target.cluster));
  for (const kind of ['namespace', 'pod', 'container', 'node'] as const) {
    const v = alert.target[kind];
    if (v !== undefined) assert.ok(isValidName(kind, v), `${kind} ${v} is valid`);
  }
  assert.ok(alert.target.pod ? alert.target.namespace : alert.target.node, 'keyed by pod or node');
  assert.ok(Buffer.byteLength(alert.summary) <= 4096);
  // eslint-disable-next-line no-control-regex
  assert.ok(!/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/.test(alert.summary + alert.rule));
  assert.ok(Object.keys(alert.labels).length <= 64);
  assert.ok(!Number.isNaN(Date.parse(alert.observedAt)));
}

describe('format registry', () => {
  test('four formats, each with a unique name and route: /v1/alerts/<name>, generic at /v1/alerts', () => {
    assert.deepEqual(
      ALERT_FORMATS.map((f) => f.name),
      ['falco', 'alertmanager', 'guardduty', 'generic'],
    );
    for (const f of ALERT_FORMATS) assert.equal(f.route, f.name === 'generic' ? '/v1/alerts' : `/v1/alerts/${f.name}`);
  });

  test("each format's example matches its own body schema and parses", () => {
    const ctx: ParseContext = {
      rawSha256: 'a'.repeat(64),
      receivedAt: '2026-11-28T15:00:00.000Z',
      defaultCluster: 'dc',
    };
    for (const f of ALERT_FORMATS) {
      assert.equal(
        Value.Check(f.bodySchema, f.example),
        true,
        `${f.name} example matches its schema: ${JSON.stringify([...Value.Errors(f.bodySchema, f.example)][0])}`,
      );
      const alerts = f.parse(f.example, ctx);
      assert.ok(alerts.length >= 1);
      for (const a of alerts) assertSafeAlert(a);
    }
  });

  test('fixtures match their format schemas', () => {
    const pairs: Array<[string, string]> = [
      ['falco', 'falco-terminal-shell.json'],
      ['falco', 'falco-host-rule.json'],
      ['alertmanager', 'alertmanager-group.json'],
      ['guardduty', 'guardduty-exec-kube-system.json'],
      ['generic', 'generic-pod.json'],
      ['generic', 'generic-node.json'],
    ];
    for (const [name, file] of pairs)
      assert.equal(Value.Check(format(name).bodySchema, fixture(file).body), true, file);
  });
});

describe('falco', () => {
  test('Falcosidekick "Terminal shell in container": pod, container, node, cluster, severity, id mapped', () => {
    const [alert, ...rest] = parseFixture('falco', 'falco-terminal-shell.json');
    assert.equal(rest.length, 0);
    assert.ok(alert);
    const { ctx } = fixture('falco-terminal-shell.json');
    assert.equal(alert.id, '3f8b2c1e-7d4a-4e9b-a6c5-1b2d3e4f5a6b');
    assert.equal(alert.source, 'falco');
    assert.equal(alert.rule, 'Terminal shell in container');
    assert.equal(alert.severity, 'low'); // Notice
    assert.equal(alert.status, 'firing');
    assert.deepEqual(alert.target, {
      cluster: 'prod-eu-1',
      namespace: 'shop',
      pod: 'web-7d9c6b5f4-x2x9q',
      container: 'web',
      node: 'ip-10-0-12-34.eu-west-1.compute.internal',
    });
    assert.equal(alert.observedAt, '2026-11-28T14:12:07.481Z');
    assert.equal(alert.receivedAt, ctx.receivedAt);
    assert.equal(alert.rawSha256, ctx.rawSha256);
    assert.match(alert.summary, /^14:12:07\.481632214: Notice A shell was spawned/);
    assert.equal(alert.labels['falco.priority'], 'Notice');
    assert.equal(alert.labels['falco.tags'], 'T1059,container,maturity_stable,mitre_execution,shell');
    assert.equal(alert.labels['proc.cmdline'], 'bash -il');
    assert.equal(alert.labels['user.uid'], '0');
    assertSafeAlert(alert);
  });

  test('host rule without a pod is keyed by the node (hostname)', () => {
    const [alert] = parseFixture('falco', 'falco-host-rule.json');
    assert.ok(alert);
    assert.deepEqual(alert.target, { cluster: 'default-cluster', node: 'ip-10-0-7-19.eu-west-1.compute.internal' });
    assert.equal(alert.severity, 'medium'); // Warning
    assert.equal(alert.rule, 'Read sensitive file untrusted');
  });

  test('priorities map to severities', () => {
    const expected: Record<string, string> = {
      Emergency: 'critical',
      Alert: 'critical',
      Critical: 'critical',
      Error: 'high',
      Warning: 'medium',
      Notice: 'low',
      Informational: 'low',
      Debug: 'info',
      critical: 'critical',
      WARNING: 'medium',
    };
    for (const [priority, severity] of Object.entries(expected))
      assert.equal(falcoSeverity(priority), severity, priority);
    assert.equal(falcoSeverity('Bogus'), undefined);
    const { body, ctx } = fixture('falco-terminal-shell.json');
    assertRejected(() => format('falco').parse({ ...(body as object), priority: 'Bogus' }, ctx), '/priority');
  });

  test('ids are stable: the uuid when present, else a hash of rule, time, host and output', () => {
    const { body, ctx } = fixture('falco-terminal-shell.json');
    const noUuid = { ...(body as Record<string, unknown>) };
    delete noUuid.uuid;
    const a = format('falco').parse(noUuid, ctx)[0];
    const b = format('falco').parse(noUuid, {
      ...ctx,
      rawSha256: 'f'.repeat(64),
      receivedAt: '2026-11-28T16:00:00.000Z',
    })[0];
    assert.ok(a && b);
    assert.match(a.id, /^falco-[0-9a-f]{32}$/);
    assert.equal(a.id, b.id);
    const c = format('falco').parse({ ...noUuid, time: '2026-11-28T14:12:08Z' }, ctx)[0];
    assert.notEqual(c?.id, a.id);
    assertRejected(() => format('falco').parse({ ...noUuid, uuid: '../x' }, ctx), '/uuid');
  });

  test('cluster from output_fields "cluster" (Falcosidekick custom field) and 422 when it is unsafe', () => {
    const { body, ctx } = fixture('falco-terminal-shell.json');
    const b = body as { output_fields: Record<string, unknown> };
    const fields = { ...b.output_fields };
    delete fields['k8s.cluster.name'];
    assert.equal(
      format('falco').parse({ ...b, output_fields: { ...fields, cluster: 'staging' } }, ctx)[0]?.target.cluster,
      'staging',
    );
    assert.equal(format('falco').parse({ ...b, output_fields: fields }, ctx)[0]?.target.cluster, 'default-cluster');
    assertRejected(
      () => format('falco').parse({ ...b, output_fields: { ...fields, cluster: 'a/../b' } }, ctx),
      '/output_fields/cluster',
    );
  });

  test('a cluster Holdfast does not serve is refused (unknown_cluster); the default and served ones pass', () => {
    const { body, ctx } = fixture('falco-terminal-shell.json');
    const b = body as { output_fields: Record<string, unknown> };
    const fields = { ...b.output_fields };
    delete fields['k8s.cluster.name'];
    const served = { ...ctx, knownClusters: new Set(['default-cluster', 'staging']) };
    const parse = (cluster?: string) =>
      format('falco').parse({ ...b, output_fields: { ...fields, ...(cluster ? { cluster } : {}) } }, served);
    assert.equal(parse('staging')[0]?.target.cluster, 'staging');
    assert.equal(parse()[0]?.target.cluster, 'default-cluster');
    let refused: unknown;
    try {
      parse('prod-eu-1');
    } catch (err) {
      refused = err;
    }
    assert.ok(refused instanceof AlertRejected, 'refused');
    assert.equal(refused.field, '/output_fields/cluster');
    assert.equal(refused.reason, 'unknown_cluster');
    assert.doesNotMatch(refused.message, /prod-eu-1/, 'the message never echoes the value');
  });

  test('a pod alert with an odd hostname keeps the pod and drops the node; a host alert with one is refused', () => {
    const { body, ctx } = fixture('falco-terminal-shell.json');
    const [alert] = format('falco').parse({ ...(body as object), hostname: 'Falco_Pod' }, ctx);
    assert.equal(alert?.target.pod, 'web-7d9c6b5f4-x2x9q');
    assert.equal(alert?.target.node, undefined);
    const host = fixture('falco-host-rule.json');
    assertRejected(
      () => format('falco').parse({ ...(host.body as object), hostname: 'node;reboot' }, host.ctx),
      '/hostname',
      /node name is not valid/,
    );
    assertRejected(
      () => format('falco').parse({ ...(host.body as object), hostname: undefined }, host.ctx),
      '/hostname',
      /neither a pod/,
    );
  });

  test('malicious pod names are refused with 422 naming the field', () => {
    assertRejected(
      () => parseFixture('falco', 'malicious-falco-pod-traversal.json'),
      '/output_fields/k8s.pod.name',
      /pod name is not valid/,
    );
    const err = assertRejected(
      () => parseFixture('falco', 'malicious-falco-pod-subshell.json'),
      '/output_fields/k8s.pod.name',
    );
    assert.ok(!err.message.includes('rm -rf'), 'the message does not echo the value');
    assertRejected(
      () => parseFixture('falco', 'malicious-falco-namespace-newline.json'),
      '/output_fields/k8s.ns.name',
      /namespace name is not valid/,
    );
  });

  test('newline/escape injection in output and rule is neutralized and bounded, not refused', () => {
    const [alert] = parseFixture('falco', 'malicious-falco-output-injection.json');
    assert.ok(alert);
    assertSafeAlert(alert);
    assert.ok(
      alert.summary.startsWith('shell spawned 2026-11-28T14:00:00Z INFO incident resolved by admin [2J evil AAAA'),
    );
    assert.ok(alert.summary.endsWith('…'));
    assert.ok(Buffer.byteLength(alert.summary) <= 4096);
    assert.equal(alert.rule, 'Terminal shell in container [FAKE] all clear');
  });

  test('wrong types are 422 with the field', () => {
    const { body, ctx } = fixture('falco-terminal-shell.json');
    assertRejected(() => format('falco').parse({ ...(body as object), rule: 7 }, ctx), '/rule');
    assertRejected(() => format('falco').parse({ ...(body as object), output_fields: [] }, ctx), '/output_fields');
    assertRejected(() => format('falco').parse({ ...(body as object), tags: 'shell' }, ctx), '/tags');
    assertRejected(() => format('falco').parse('nope', ctx), '');
  });
});

describe('alertmanager', () => {
  test('a group of 3 alerts across 2 pods: one Alert each, status preserved, labels mapped', () => {
    const alerts = parseFixture('alertmanager', 'alertmanager-group.json');
    assert.equal(alerts.length, 3);
    const [a, b, c] = alerts as [Alert, Alert, Alert];
    assert.deepEqual(a.target, {
      cluster: 'prod-eu-1',
      namespace: 'shop',
      pod: 'web-7d9c6b5f4-x2x9q',
      container: 'web',
    });
    assert.deepEqual(b.target, {
      cluster: 'prod-eu-1',
      namespace: 'shop',
      pod: 'web-7d9c6b5f4-x2x9q',
      container: 'istio-proxy',
    });
    assert.deepEqual(c.target, {
      cluster: 'prod-eu-1',
      namespace: 'shop',
      pod: 'cart-5b8f7d6c9-q7w8e',
      container: 'cart',
    });
    assert.deepEqual(
      alerts.map((x) => x.status),
      ['firing', 'firing', 'resolved'],
    );
    assert.deepEqual(
      alerts.map((x) => x.severity),
      ['critical', 'medium', 'medium'],
    );
    assert.deepEqual(
      alerts.map((x) => x.rule),
      ['ContainerSuspiciousProcess', 'ContainerSuspiciousProcess', 'ContainerSuspiciousProcess'],
    );
    assert.equal(a.summary, 'Netcat started in shop/web-7d9c6b5f4-x2x9q');
    assert.equal(a.observedAt, '2026-11-28T14:12:10.512Z');
    assert.equal(a.labels.process, 'nc');
    assert.equal(a.labels['alertmanager.receiver'], 'holdfast');
    assert.equal(c.labels['alertmanager.endsAt'], '2026-11-28T14:10:02.000Z');
    assert.equal(new Set(alerts.map((x) => x.id)).size, 3);
    for (const x of alerts) assertSafeAlert(x);
  });

  test('id = fingerprint + startsAt: the resolved notice of an alert has the firing id; a new firing gets a new id', () => {
    const [a] = parseFixture('alertmanager', 'alertmanager-group.json');
    assert.equal(a?.id, `am-8c1f3e2a9b0d4c57-${Date.parse('2026-11-28T14:12:10.512Z')}`);
    const { body, ctx } = fixture('alertmanager-group.json');
    const group = body as { alerts: Array<Record<string, unknown>> };
    const first = group.alerts[0] as Record<string, unknown>;
    const resolved = format('alertmanager').parse(
      { ...group, alerts: [{ ...first, status: 'resolved', endsAt: '2026-11-28T14:40:00Z' }] },
      ctx,
    )[0];
    assert.equal(resolved?.id, a?.id);
    assert.equal(resolved?.status, 'resolved');
    const refired = format('alertmanager').parse(
      { ...group, alerts: [{ ...first, startsAt: '2026-11-28T15:00:00Z' }] },
      ctx,
    )[0];
    assert.notEqual(refired?.id, a?.id);
    const noFp = { ...first };
    delete noFp.fingerprint;
    const h1 = format('alertmanager').parse({ ...group, alerts: [noFp] }, ctx)[0];
    const h2 = format('alertmanager').parse(
      { ...group, alerts: [noFp] },
      { ...ctx, receivedAt: '2026-11-29T00:00:00.000Z' },
    )[0];
    assert.match(h1?.id ?? '', /^am-[0-9a-f]{32}$/);
    assert.equal(h1?.id, h2?.id);
  });

  test('severity words map; unknown or missing is medium', () => {
    const { body, ctx } = fixture('alertmanager-group.json');
    const group = body as { alerts: Array<{ labels: Record<string, string> }> };
    const first = group.alerts[0] as { labels: Record<string, string> };
    const sev = (s?: string) => {
      const labels = { ...first.labels };
      if (s === undefined) delete labels.severity;
      else labels.severity = s;
      return format('alertmanager').parse({ ...group, alerts: [{ ...first, labels }] }, ctx)[0]?.severity;
    };
    assert.equal(sev('critical'), 'critical');
    assert.equal(sev('error'), 'high');
    assert.equal(sev('warning'), 'medium');
    assert.equal(sev('info'), 'info');
    assert.equal(sev('none'), 'info');
    assert.equal(sev('whatever'), 'medium');
    assert.equal(sev(undefined), 'medium');
  });

  test('a node alert (label node, no pod) is keyed by node; an alert with neither is refused naming it', () => {
    const { body, ctx } = fixture('alertmanager-group.json');
    const group = body as { alerts: Array<Record<string, unknown>> };
    const nodeAlert = {
      status: 'firing',
      labels: {
        alertname: 'NodeFilesystemTampered',
        node: 'ip-10-0-7-19.eu-west-1.compute.internal',
        severity: 'high',
      },
      startsAt: '2026-11-28T14:00:00Z',
      fingerprint: 'abcdef0123456789',
    };
    const [n] = format('alertmanager').parse({ ...group, alerts: [nodeAlert] }, ctx);
    assert.deepEqual(n?.target, { cluster: 'default-cluster', node: 'ip-10-0-7-19.eu-west-1.compute.internal' });
    const orphan = { ...nodeAlert, labels: { alertname: 'Orphan' } };
    assertRejected(
      () => format('alertmanager').parse({ ...group, alerts: [group.alerts[0], orphan] }, ctx),
      '/alerts/1/labels/pod',
      /neither a pod/,
    );
  });

  test('a malicious container label fails the whole notification with 422 naming the entry', () => {
    assertRejected(
      () => parseFixture('alertmanager', 'malicious-alertmanager-container.json'),
      '/alerts/1/labels/container',
      /container name is not valid/,
    );
  });

  test('bounded: more than 1000 alerts, wrong version, bad timestamps are refused', () => {
    const { body, ctx } = fixture('alertmanager-group.json');
    const group = body as { alerts: unknown[] };
    const many = Array.from({ length: MAX_ALERTS_PER_GROUP + 1 }, () => group.alerts[0]);
    assertRejected(() => format('alertmanager').parse({ ...group, alerts: many }, ctx), '/alerts', /at most 1000/);
    assert.equal(
      format('alertmanager').parse({ ...group, alerts: many.slice(0, MAX_ALERTS_PER_GROUP) }, ctx).length,
      MAX_ALERTS_PER_GROUP,
    );
    assertRejected(() => format('alertmanager').parse({ ...group, version: '3' }, ctx), '/version');
    assertRejected(
      () =>
        format('alertmanager').parse(
          { ...group, alerts: [{ ...(group.alerts[0] as object), startsAt: 'yesterday' }] },
          ctx,
        ),
      '/alerts/0/startsAt',
    );
    assertRejected(
      () =>
        format('alertmanager').parse(
          { ...group, alerts: [{ ...(group.alerts[0] as object), fingerprint: 'zz/..' }] },
          ctx,
        ),
      '/alerts/0/fingerprint',
    );
    assert.equal(
      Value.Check(format('alertmanager').bodySchema, { ...group, alerts: many }),
      false,
      'the schema bounds alerts[] too',
    );
  });

  test('derived labels are bounded to 64 entries and 1 KiB values', () => {
    const { body, ctx } = fixture('alertmanager-group.json');
    const group = body as { alerts: Array<{ labels: Record<string, string> }> };
    const first = group.alerts[0] as { labels: Record<string, string> };
    const labels: Record<string, string> = { ...first.labels };
    for (let i = 0; i < 200; i += 1) labels[`extra_${String(i).padStart(3, '0')}`] = 'v'.repeat(5000);
    const [a] = format('alertmanager').parse({ ...group, alerts: [{ ...first, labels }] }, ctx);
    assert.ok(a);
    assert.equal(Object.keys(a.labels).length, 64);
    for (const v of Object.values(a.labels)) assert.ok(Buffer.byteLength(v) <= 1024);
  });
});

describe('guardduty', () => {
  test('Execution:Kubernetes/ExecInKubeSystemPod: pod, container, cluster, severity, rule, id mapped', () => {
    const [alert, ...rest] = parseFixture('guardduty', 'guardduty-exec-kube-system.json');
    assert.equal(rest.length, 0);
    assert.ok(alert);
    assert.equal(alert.id, 'gd-a4c9e1f27b3d5e6f8a9b0c1d2e3f4a5b');
    assert.equal(alert.source, 'guardduty');
    assert.equal(alert.rule, 'Execution:Kubernetes/ExecInKubeSystemPod');
    assert.equal(alert.severity, 'medium');
    assert.deepEqual(alert.target, {
      cluster: 'prod-eu-1',
      namespace: 'kube-system',
      pod: 'coredns-5d78c9869d-8xk2p',
      container: 'coredns',
    });
    assert.equal(alert.observedAt, '2026-11-28T14:18:02.000Z');
    assert.equal(
      alert.summary,
      'Kubernetes exec in kube-system pod. — A command was executed inside a pod in the kube-system namespace on EKS Cluster prod-eu-1.',
    );
    assert.equal(alert.labels['guardduty.kubernetesUser'], 'arn:aws:sts::123456789012:assumed-role/dev-admin/alice');
    assert.equal(alert.labels['guardduty.account'], '123456789012');
    assertSafeAlert(alert);
  });

  test('a republished finding (newer updatedAt, higher count) is the same alert id', () => {
    const { body, ctx } = fixture('guardduty-exec-kube-system.json');
    const b = body as { detail: Record<string, unknown> & { service: Record<string, unknown> } };
    const again = {
      ...b,
      id: 'another-eventbridge-id',
      detail: {
        ...b.detail,
        updatedAt: '2026-11-28T15:20:00.000Z',
        service: { ...b.detail.service, count: 7, eventLastSeen: '2026-11-28T15:19:00Z' },
      },
    };
    const first = format('guardduty').parse(b, ctx)[0];
    const second = format('guardduty').parse(again, { ...ctx, rawSha256: 'b'.repeat(64) })[0];
    assert.equal(second?.id, first?.id);
    assert.equal(second?.labels['guardduty.count'], '7');
  });

  test('numeric severity bands', () => {
    const cases: Array<[number, string]> = [
      [0, 'info'],
      [0.5, 'info'],
      [1, 'low'],
      [3.9, 'low'],
      [4, 'medium'],
      [6.9, 'medium'],
      [7, 'high'],
      [8.9, 'high'],
      [9, 'critical'],
      [10, 'critical'],
    ];
    for (const [n, s] of cases) assert.equal(guardDutySeverity(n), s, String(n));
    const { body, ctx } = fixture('guardduty-exec-kube-system.json');
    const b = body as { detail: Record<string, unknown> };
    assert.equal(format('guardduty').parse({ ...b, detail: { ...b.detail, severity: 8 } }, ctx)[0]?.severity, 'high');
    assertRejected(
      () => format('guardduty').parse({ ...b, detail: { ...b.detail, severity: '8' } }, ctx),
      '/detail/severity',
    );
  });

  test('a non-pod workload is keyed by the node from instanceDetails, else refused', () => {
    const { body, ctx } = fixture('guardduty-exec-kube-system.json');
    const b = body as {
      detail: { resource: Record<string, unknown> & { kubernetesDetails: Record<string, unknown> } };
    };
    const deployment = { name: 'web', type: 'deployments', namespace: 'shop' };
    const resource = {
      ...b.detail.resource,
      kubernetesDetails: { ...b.detail.resource.kubernetesDetails, kubernetesWorkloadDetails: deployment },
    };
    assertRejected(
      () => format('guardduty').parse({ ...b, detail: { ...b.detail, resource } }, ctx),
      '/detail/resource/kubernetesDetails/kubernetesWorkloadDetails',
      /neither a pod/,
    );
    const withNode = {
      ...resource,
      instanceDetails: { networkInterfaces: [{ privateDnsName: 'ip-10-0-3-4.eu-west-1.compute.internal' }] },
    };
    const [alert] = format('guardduty').parse({ ...b, detail: { ...b.detail, resource: withNode } }, ctx);
    assert.deepEqual(alert?.target, {
      cluster: 'prod-eu-1',
      namespace: 'shop',
      node: 'ip-10-0-3-4.eu-west-1.compute.internal',
    });
    assert.equal(alert?.labels['guardduty.workloadName'], 'web');
  });

  test('refusals: wrong detail-type, unsafe cluster, unsafe finding id', () => {
    const { body, ctx } = fixture('guardduty-exec-kube-system.json');
    const b = body as Record<string, unknown> & { detail: Record<string, unknown> };
    assertRejected(
      () => format('guardduty').parse({ ...b, 'detail-type': 'GuardDuty Runtime Protection Healthy' }, ctx),
      '/detail-type',
    );
    assertRejected(
      () => parseFixture('guardduty', 'malicious-guardduty-cluster.json'),
      '/detail/resource/eksClusterDetails/name',
      /cluster name is not valid/,
    );
    assertRejected(
      () => format('guardduty').parse({ ...b, detail: { ...b.detail, id: '../../x' } }, ctx),
      '/detail/id',
    );
  });
});

describe('generic', () => {
  test('pod target: fields mapped, source kept as a label', () => {
    const [alert] = parseFixture('generic', 'generic-pod.json');
    assert.ok(alert);
    assert.equal(alert.source, 'generic');
    assert.equal(alert.rule, 'Outbound connection to known mining pool');
    assert.equal(alert.severity, 'high');
    assert.equal(
      alert.summary,
      'Outbound connection to known mining pool: process /tmp/.x/xmrig connected to 198.51.100.23:3333',
    );
    assert.deepEqual(alert.target, {
      cluster: 'prod-eu-1',
      namespace: 'shop',
      pod: 'worker-6f7b9c8d5-k4m2n',
      container: 'worker',
    });
    assert.deepEqual(alert.labels, {
      team: 'payments',
      detector: 'tetragon-policy/crypto-mining',
      'generic.source': 'tetragon',
    });
    assert.equal(alert.observedAt, '2026-11-28T14:25:00.000Z');
    assert.match(alert.id, /^gen-[0-9a-f]{32}$/);
    assert.equal(parseFixture('generic', 'generic-pod.json')[0]?.id, alert.id, 'stable across posts');
  });

  test('node target without a pod; the sender id is kept', () => {
    const [alert] = parseFixture('generic', 'generic-node.json');
    assert.deepEqual(alert?.target, { cluster: 'default-cluster', node: 'ip-10-0-7-19.eu-west-1.compute.internal' });
    assert.equal(alert?.id, 'scan-2026-11-28-node-7');
    assert.equal(alert?.severity, 'critical');
    assert.equal(alert?.observedAt, '2026-11-28T15:00:00.000Z', 'receivedAt when the sender gives no time');
  });

  test('refusals name the field', () => {
    assertRejected(() => parseFixture('generic', 'malicious-generic-overlong-pod.json'), '/target/pod', /at most 253/);
    const { body, ctx } = fixture('generic-pod.json');
    const b = body as Record<string, unknown> & { target: Record<string, unknown> };
    assertRejected(
      () => format('generic').parse({ ...b, target: { pod: 'web-1' } }, ctx),
      '/target/namespace',
      /needs its namespace/,
    );
    assertRejected(
      () => format('generic').parse({ ...b, target: { namespace: 'shop' } }, ctx),
      '/target/pod',
      /neither a pod/,
    );
    assertRejected(
      () => format('generic').parse({ ...b, target: { node: 'n1', container: 'web' } }, ctx),
      '/target/container',
      /needs its pod/,
    );
    assertRejected(
      () => format('generic').parse({ ...b, target: { ...b.target, container: 'Web' } }, ctx),
      '/target/container',
    );
    assertRejected(() => format('generic').parse({ ...b, severity: 'urgent' }, ctx), '/severity');
    assertRejected(() => format('generic').parse({ ...b, source: 'a b' }, ctx), '/source');
    assertRejected(() => format('generic').parse({ ...b, id: 'x'.repeat(129) }, ctx), '/id');
    assertRejected(() => format('generic').parse({ ...b, observedAt: 'soon' }, ctx), '/observedAt');
    assertRejected(() => format('generic').parse({ ...b, labels: { 'bad key': 'v' } }, ctx), '/labels/bad key');
    assertRejected(() => format('generic').parse({ ...b, labels: { 'a/b': 7 } }, ctx), '/labels/a~1b');
    const tooMany = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    assertRejected(() => format('generic').parse({ ...b, labels: tooMany }, ctx), '/labels', /at most 64/);
  });

  test('the body schema refuses unknown fields and oversize label maps (fastify answers 400)', () => {
    const schema = format('generic').bodySchema;
    const { body } = fixture('generic-pod.json');
    assert.equal(Value.Check(schema, body), true);
    assert.equal(Value.Check(schema, { ...(body as object), extra: 1 }), false);
    const tooMany = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    assert.equal(Value.Check(schema, { ...(body as object), labels: tooMany }), false);
  });
});
