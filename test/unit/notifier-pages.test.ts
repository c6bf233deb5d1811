import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createNotifier } from '../../adapters/notifiers/registry';
import type { HttpNotifier } from '../../adapters/notifiers/base';
import type { ApprovalRequest, NotificationEvent } from '../../common/ports';
import { envSecrets } from '../../common/config';

// The opening page and approval requests, rendered per vendor: the exact request each notifier would send.
const ID = 'inc-0f8e2c1a-5b6d-4e7f-8a9b-0c1d2e3f4a5b';
const BASE = `https://holdfast.example.com/v1/incidents/${ID}`;
const APPROVAL: ApprovalRequest = {
  step: 'isolate',
  timeoutSeconds: 600,
  onTimeout: 'reject',
  approveCall: `POST ${BASE}/approve`,
  rejectCall: `POST ${BASE}/reject`,
  body: '{"step":"isolate"}',
  approveCommand: `holdfast incidents approve ${ID} --step isolate`,
  rejectCommand: `holdfast incidents reject ${ID} --step isolate`,
};
// Attacker-influenced alert text, as an alert could carry it.
const HOSTILE = 'shell <!channel> <https://evil.example|click> @here\u0007\u202e'.repeat(400);

function event(overrides: Partial<NotificationEvent> = {}): NotificationEvent {
  return {
    action: 'open',
    incidentId: ID,
    dedupKey: ID,
    title: '[high] Terminal shell in container',
    severity: 'high',
    summary: HOSTILE,
    tier: 1,
    target: { cluster: 'prod', namespace: 'shop', pod: 'web-1', container: 'web' },
    links: { incident: BASE, history: `${BASE}/history` },
    details: ['playbook default', 'preserved pod shop/web-1', 'capturing filesystem, memory, logs, network'],
    ...overrides,
  };
}
const approvalEvent = () => event({ action: 'approval', details: undefined, approval: APPROVAL });

const notifiers = {
  pagerduty: () =>
    createNotifier(
      { type: 'pagerduty', name: 'pd', routingKeyEnv: 'K' },
      { secret: envSecrets({ K: 'R0UTINGKEY0123456789abcdef012345' }) },
    ) as HttpNotifier,
  opsgenie: () =>
    createNotifier(
      { type: 'opsgenie', name: 'og', apiKeyEnv: 'K' },
      { secret: envSecrets({ K: 'eb243592-faa2-4ba2-a551-1afdf565c889' }) },
    ) as HttpNotifier,
  slack: () =>
    createNotifier(
      { type: 'slack', name: 'sl', urlEnv: 'K' },
      { secret: envSecrets({ K: 'https://hooks.slack.com/services/T0/B0/SECRETSECRET' }) },
    ) as HttpNotifier,
  webhook: () =>
    createNotifier(
      { type: 'webhook', name: 'wh', url: 'https://soar.example.com/hook', secretEnv: 'K' },
      { secret: envSecrets({ K: 'whsec-very-secret-value-123' }) },
    ) as HttpNotifier,
};
const body = (n: HttpNotifier, e: NotificationEvent) => JSON.parse(n.request(e).body) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('PagerDuty: open and approval are triggers under the incident dedup key', () => {
  test('open', () => {
    const b = body(notifiers.pagerduty(), event());
    assert.equal(b.event_action, 'trigger');
    assert.equal(b.dedup_key, ID);
    assert.equal(b.payload.summary, 'Incident opened: [high] Terminal shell in container');
    assert.equal(b.payload.severity, 'error');
    assert.equal(b.payload.custom_details.notification, 'open');
    assert.deepEqual(b.payload.custom_details.holdfast_is, event().details);
    assert.ok(b.payload.custom_details.alert_summary.length <= 4096);
  });
  test('approval carries the API call and CLI command', () => {
    const b = body(notifiers.pagerduty(), approvalEvent());
    assert.equal(b.event_action, 'trigger');
    assert.equal(b.dedup_key, ID);
    assert.match(b.payload.summary, /^Approval needed \(isolate\): /);
    assert.equal(b.payload.custom_details.approval_step, 'isolate');
    const how = (b.payload.custom_details.how_to_decide as string[]).join('\n');
    assert.ok(how.includes(`POST ${BASE}/approve with body {"step":"isolate"}`));
    assert.ok(how.includes(`holdfast incidents approve ${ID} --step isolate`));
    assert.ok(how.includes(`holdfast incidents reject ${ID} --step isolate`));
    assert.match(how, /within 10m the gate will reject isolate/);
  });
  test('an escalation page is unchanged: no notification field', () => {
    const b = body(notifiers.pagerduty(), event({ action: 'trigger', details: undefined }));
    assert.equal(b.payload.summary, '[high] Terminal shell in container');
    assert.equal(b.payload.custom_details.notification, undefined);
  });
});

describe('Opsgenie: open and approval create under the same alias', () => {
  test('open', () => {
    const n = notifiers.opsgenie();
    const req = n.request(event());
    assert.equal(req.url, 'https://api.opsgenie.com/v2/alerts');
    const b = JSON.parse(req.body);
    assert.equal(b.alias, ID);
    assert.ok(b.message.startsWith('Incident opened: '));
    assert.ok(b.message.length <= 130);
    assert.equal(b.details.notification, 'open');
    assert.match(b.description, /^Holdfast is:\n- playbook default\n- preserved pod shop\/web-1/);
    assert.ok(Array.from(b.description as string).length <= 15000);
  });
  test('approval', () => {
    const b = body(notifiers.opsgenie(), approvalEvent());
    assert.equal(b.alias, ID);
    assert.equal(b.details.approvalStep, 'isolate');
    assert.ok(b.description.includes(`Approve: POST ${BASE}/approve with body {"step":"isolate"}`));
    assert.ok(b.description.includes(`or: holdfast incidents reject ${ID} --step isolate`));
  });
});

describe('Slack: a message, everything escaped', () => {
  test('approval: the commands in a code block; alert text cannot mention or link', () => {
    const b = body(notifiers.slack(), approvalEvent());
    assert.match(b.text, /Approval needed \(isolate\)/);
    const how = b.blocks.find((x: { text?: { text?: string } }) => x.text?.text?.startsWith('*How to decide*'));
    assert.ok(how, 'a block says how to decide');
    assert.ok(how.text.text.includes(`holdfast incidents approve ${ID} --step isolate`));
    assert.ok(how.text.text.length <= 3000);
    const raw = notifiers.slack().request(approvalEvent()).body;
    assert.doesNotMatch(raw, /<!channel>|<https:\/\/evil/);
  });
  test('open: what Holdfast is doing as a list', () => {
    const b = body(notifiers.slack(), event());
    assert.match(b.blocks[0].text.text, /^Incident opened: HIGH: /);
    const doing = b.blocks.find((x: { text?: { text?: string } }) => x.text?.text?.startsWith('*Holdfast is*'));
    assert.equal(
      doing.text.text,
      '*Holdfast is*\n• playbook default\n• preserved pod shop/web-1\n• capturing filesystem, memory, logs, network',
    );
  });
});

describe('signed webhook: the JSON says which, and carries the request', () => {
  test('approval: structured request, event header, idempotency key per step', () => {
    const n = notifiers.webhook();
    const req = n.request(approvalEvent());
    assert.equal(req.headers['x-holdfast-event'], 'approval');
    assert.equal(req.headers['idempotency-key'], `${ID}:approval:isolate`);
    const b = JSON.parse(req.body);
    assert.equal(b.event.action, 'approval');
    assert.equal(b.event.approval.approveCall, `POST ${BASE}/approve`);
    assert.equal(b.event.approval.body, '{"step":"isolate"}');
    assert.equal(b.event.approval.approveCommand, `holdfast incidents approve ${ID} --step isolate`);
    assert.equal(b.event.approval.rejectCommand, `holdfast incidents reject ${ID} --step isolate`);
    assert.ok(b.event.summary.length <= 4096);
  });
  test('open: details listed, idempotency key per action', () => {
    const req = notifiers.webhook().request(event());
    assert.equal(req.headers['idempotency-key'], `${ID}:open`);
    assert.deepEqual(JSON.parse(req.body).event.details, event().details);
  });
});

test('every notifier refuses an approval event without its details', async () => {
  for (const make of Object.values(notifiers)) {
    await assert.rejects(make().send(event({ action: 'approval' }), { dryRun: true }), /approval details/);
  }
});

test('Holdfast lines are bounded too: 20 lines of at most 300 characters', () => {
  const b = body(notifiers.webhook(), event({ details: Array.from({ length: 50 }, () => 'x'.repeat(1000)) }));
  assert.equal(b.event.details.length, 20);
  assert.ok(b.event.details.every((l: string) => l.length <= 300));
});

describe('containment found not effective: raised under the incident dedup key, with what Holdfast found', () => {
  const found = [
    "CONTAINMENT NOT EFFECTIVE (isolate): the pod uses its node's network namespace (hostNetwork)",
    'containment not verified (isolate): no peer to test',
  ];
  const containment = () =>
    event({ action: 'containment', title: '[high] CONTAINMENT NOT EFFECTIVE: Terminal shell', details: found });
  test('PagerDuty', () => {
    const b = body(notifiers.pagerduty(), containment());
    assert.equal(b.event_action, 'trigger');
    assert.equal(b.dedup_key, ID);
    assert.equal(b.payload.summary, 'Containment NOT effective: [high] CONTAINMENT NOT EFFECTIVE: Terminal shell');
    assert.equal(b.payload.custom_details.notification, 'containment');
    assert.deepEqual(b.payload.custom_details.holdfast_found, found);
    assert.equal(b.payload.custom_details.holdfast_is, undefined);
  });
  test('Opsgenie, Slack and the webhook', () => {
    const og = body(notifiers.opsgenie(), containment());
    assert.match(og.message, /^Containment NOT effective: /);
    assert.match(og.description, /^Holdfast found:\n- CONTAINMENT NOT EFFECTIVE \(isolate\)/);
    const sl = body(notifiers.slack(), containment());
    assert.ok(
      sl.blocks.some((x: { text?: { text?: string } }) =>
        x.text?.text?.startsWith('*Holdfast found*\n• CONTAINMENT NOT EFFECTIVE'),
      ),
    );
    const wh = notifiers.webhook().request(containment());
    assert.equal(wh.headers['x-holdfast-event'], 'containment');
    assert.deepEqual(JSON.parse(wh.body).event.details, found);
  });
  test('an escalation page after the finding carries it as well', () => {
    const b = body(notifiers.pagerduty(), event({ action: 'trigger', details: found }));
    assert.deepEqual(b.payload.custom_details.holdfast_found, found);
  });
});
