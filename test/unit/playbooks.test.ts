import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parseNotifierConfigs } from '../../adapters/notifiers/registry';
import { parsePlaybooks, PlaybookError } from '../../activities/playbooks';
import { repoRoot } from '../helpers/env';
import { sampleAlert } from '../helpers/incident-harness';

const opts = { apiBaseUrl: 'http://holdfast.test' };

describe('playbooks', () => {
  const example = parsePlaybooks(
    fs.readFileSync(path.join(repoRoot, 'deploy/playbooks.example.yaml'), 'utf8'),
    'example',
    opts,
  );

  test('the shipped example validates and matches by source, rule, severity and namespace', () => {
    const prodShell = example.select(sampleAlert({ severity: 'critical' }, { namespace: 'prod-payments' }), {
      cluster: 'c',
      namespace: 'prod-payments',
      pod: 'p',
    });
    assert.equal(prodShell.playbook, 'prod-shell');
    assert.equal(prodShell.containment[0]!.approval.required, true);
    assert.equal(prodShell.containment[0]!.approval.timeoutSeconds, 600);
    assert.equal(prodShell.captures.find((c) => c.name === 'memory')!.timeouts.startToCloseSeconds, 45 * 60);
    assert.equal(prodShell.captures.find((c) => c.name === 'memory')!.params.maxProcesses, 16);
    // Defaults filled in from the step's own parameter schema.
    assert.equal(prodShell.captures.find((c) => c.name === 'filesystem')!.params.maxBytes, 4 * 1024 ** 3);

    const lowSeverity = example.select(sampleAlert({ severity: 'low' }, { namespace: 'prod-payments' }), {
      cluster: 'c',
      namespace: 'prod-payments',
      pod: 'p',
    });
    assert.equal(lowSeverity.playbook, 'default', 'below minSeverity falls through to the default');
    const staging = example.select(sampleAlert({}, { namespace: 'staging-web' }), {
      cluster: 'c',
      namespace: 'staging-web',
      pod: 'p',
    });
    assert.equal(staging.playbook, 'staging-dry-run');
    assert.equal(staging.dryRun, true);
  });

  test('delete-pod and scale-to-zero load only behind an approval that defaults to reject', () => {
    const load = (contain: string) =>
      parsePlaybooks(`playbooks:\n  - name: p\n    contain:\n${contain}`, 'gates.yaml', opts);
    for (const step of ['delete-pod', 'scale-to-zero']) {
      assert.throws(
        () => load(`      - ${step}\n`),
        (err: Error) =>
          err instanceof PlaybookError && err.message.includes(`${step} cannot be undone or takes a service down`),
      );
      assert.throws(
        () => load(`      - { name: ${step}, approval: { required: true, onTimeout: approve } }\n`),
        PlaybookError,
      );
      const ok = load(`      - { name: ${step}, approval: { required: true, timeout: 30m } }\n`);
      const plan = ok.select(sampleAlert(), { cluster: 'c', namespace: 'n', pod: 'p' });
      assert.deepEqual(
        plan.containment.map((c) => [c.name, c.approval.required, c.approval.onTimeout]),
        [[step, true, 'reject']],
      );
    }
  });

  test("the example's notifiers are valid notifier configurations", () => {
    const configs = parseNotifierConfigs(JSON.stringify(example.notifiers));
    assert.deepEqual(
      configs.map((c) => `${c.type}:${c.name}`),
      ['pagerduty:pagerduty-primary', 'slack:slack-security', 'opsgenie:opsgenie-secondary'],
    );
  });

  test('the default playbook preserves, captures all four and the control sample, isolates and pages every notifier', () => {
    const plan = example.select(sampleAlert({ source: 'alertmanager' }, { namespace: 'other' }), {
      cluster: 'c',
      namespace: 'other',
      pod: 'p',
    });
    assert.equal(plan.playbook, 'default');
    assert.ok(plan.preserve);
    assert.deepEqual(
      plan.captures.map((c) => c.name),
      ['filesystem', 'memory', 'logs', 'network', 'control'],
    );
    assert.deepEqual(
      plan.containment.map((c) => c.name),
      ['isolate'],
    );
    assert.deepEqual(plan.escalation.tiers[0]!.notifiers, [
      'pagerduty-primary',
      'slack-security',
      'opsgenie-secondary',
    ]);
  });

  const bad: Array<[string, string, RegExp]> = [
    [
      'unknown step',
      'playbooks: [{ name: a, capture: [dump-everything] }]',
      /\/playbooks\/0\.capture\[0\]: unknown step "dump-everything"/,
    ],
    [
      'contain step used as capture',
      'playbooks: [{ name: a, capture: [isolate] }]',
      /"isolate" is a contain step, not a capture step/,
    ],
    [
      'bad parameter',
      'playbooks: [{ name: a, capture: [{ name: memory, params: { maxProcesses: 100000 } }] }]',
      /capture\[0\]\.params\/maxProcesses/,
    ],
    [
      'unknown notifier',
      'playbooks: [{ name: a, escalation: { tiers: [{ notifiers: [nobody] }] } }]',
      /unknown notifier "nobody"/,
    ],
    [
      'schema error names the path',
      'playbooks: [{ name: a, contain: [{ name: isolate, approval: { required: maybe } }] }]',
      /\/playbooks\/0\/contain\/0/,
    ],
    ['unknown key', 'playbooks: [{ name: a, drain: true }]', /\/playbooks\/0/],
    ['duplicate name', 'playbooks: [{ name: a }, { name: a }]', /duplicate playbook "a"/],
    ['not YAML', 'playbooks: [', /not valid YAML/],
  ];
  for (const [what, yaml, message] of bad) {
    test(`refused with a clear error: ${what}`, () => {
      assert.throws(
        () => parsePlaybooks(yaml, 'p.yaml', opts),
        (err: Error) => err instanceof PlaybookError && message.test(err.message),
      );
    });
  }
});

test('pageOnOpen: carried into the plan when set, absent (severity decides) when not', () => {
  const yaml = (field: string) => `
playbooks:
  - name: p
    preserve: false
    ${field}
`;
  const alert = sampleAlert();
  assert.equal(parsePlaybooks(yaml('pageOnOpen: false'), 't', opts).select(alert, alert.target).pageOnOpen, false);
  assert.equal(parsePlaybooks(yaml('pageOnOpen: true'), 't', opts).select(alert, alert.target).pageOnOpen, true);
  assert.equal('pageOnOpen' in parsePlaybooks(yaml(''), 't', opts).select(alert, alert.target), false);
  assert.throws(() => parsePlaybooks(yaml('pageOnOpen: sometimes'), 't', opts), /pageOnOpen/);
});

test('containAfter: the containment grace is 120 s unless the playbook sets it, and at least a second', () => {
  const yaml = (field: string) => `
playbooks:
  - name: p
    preserve: false
    ${field}
`;
  const alert = sampleAlert();
  const grace = (field: string) =>
    parsePlaybooks(yaml(field), 't', opts).select(alert, alert.target).containAfterSeconds;
  assert.equal(grace(''), 120);
  assert.equal(grace('containAfter: 30s'), 30);
  assert.equal(grace('containAfter: 5m'), 300);
  assert.equal(grace('containAfter: 0'), 1, 'the network capture always gets its chance before isolation');
  assert.throws(() => parsePlaybooks(yaml('containAfter: soon'), 't', opts), /containAfter/);
});

test('stallSeconds: a parameter of the collector captures, 60 s by default, bounded', () => {
  const yaml = (params: string) => `
playbooks:
  - name: p
    preserve: false
    capture:
      - { name: filesystem${params} }
      - memory
      - network
`;
  const alert = sampleAlert();
  const plan = parsePlaybooks(yaml(''), 't', opts).select(alert, alert.target);
  assert.deepEqual(
    plan.captures.map((c) => c.params.stallSeconds),
    [60, 60, 60],
  );
  const short = parsePlaybooks(yaml(', params: { stallSeconds: 5 }'), 't', opts).select(alert, alert.target);
  assert.equal(short.captures[0]!.params.stallSeconds, 5);
  assert.throws(() => parsePlaybooks(yaml(', params: { stallSeconds: 1 }'), 't', opts), /stallSeconds/);
});
