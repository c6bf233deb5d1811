import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { createNotifiers, parseNotifierConfigs } from '../../adapters/notifiers/registry';
import { parsePlaybooks } from '../../activities/playbooks';
import { temporalIncidents } from '../../api/incidents';
import { createApiMetrics } from '../../api/metrics';
import { temporalPagingActions } from '../../api/paging/temporal';
import { pagingRoutes } from '../../api/routes/paging/registry';
import { buildServer } from '../../api/server';
import type { IncidentStatus } from '../../workflows/definitions';
import { missingServers } from '../helpers/env';
import { sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';
import {
  opsgenieAction,
  opsgenieRequest,
  pagingPeople,
  pagerDutyEvent,
  pagerDutyRequest,
  slackClick,
  slackRequest,
  type VendorRequest,
} from '../helpers/paging-requests';
import { startRecordingServer, type RecordingServer } from '../helpers/recording-server';

// Requests shaped and signed as PagerDuty, Slack and Opsgenie send them, against the real API with a real worker
// on the real Temporal dev server; the incident ids they carry are taken from what Holdfast's own notifiers
// sent (PagerDuty's dedup key, the Slack buttons' values, Opsgenie's alias).
const PD_SECRET = crypto.randomBytes(24).toString('base64');
const SLACK_SECRET = crypto.randomBytes(16).toString('hex');
const OG_TOKEN = crypto.randomBytes(32).toString('hex');
const { settings: SETTINGS, tokens: TOKENS } = pagingPeople({
  pagerduty: PD_SECRET,
  slack: SLACK_SECRET,
  opsgenie: OG_TOKEN,
});

type Button = { action_id?: string; value?: string };
type SlackMessage = { blocks: Array<{ type: string; elements?: Button[] }> };

describe('two-way paging', { skip: missingServers() }, () => {
  let server: RecordingServer;
  let h: Harness;
  let app: FastifyInstance;
  let apiUrl: string;

  before(async () => {
    server = await startRecordingServer();
    server.setDefault({ status: 200, body: 'ok' });
    const playbookYaml = `
notifiers:
  - { name: pd, type: pagerduty, url: "${server.url}/v2/enqueue", routingKey: "R0UT1NGKEY0123456789abcdef012345" }
  - { name: slack, type: slack, url: "${server.url}/services/T0/B0/SECRETPATH0123" }
  - { name: og, type: opsgenie, url: "${server.url}/og", apiKey: "opsgenie-api-key-0123456789" }
playbooks:
  - name: gated
    match: { rules: ["Gated*"] }
    pageOnOpen: false
    capture: [logs]
    contain:
      - name: isolate
        approval: { required: true, timeout: 1h, onTimeout: reject }
    escalation: { tiers: [{ notifiers: [slack], ackTimeout: 60s }] }
  - name: paged
    match: { rules: ["Paged*"] }
    capture: [logs]
    contain: [isolate]
    undoContainmentOnResolve: true
    escalation: { tiers: [{ notifiers: [pd], ackTimeout: 60s }] }
  - name: genie
    match: { rules: ["Genie*"] }
    capture: [logs]
    escalation: { tiers: [{ notifiers: [og], ackTimeout: 60s }] }
`;
    const playbooks = parsePlaybooks(playbookYaml, 'paging.yaml', { apiBaseUrl: 'http://holdfast.test' });
    h = await startHarness(playbookYaml, {
      notifiers: createNotifiers(parseNotifierConfigs(JSON.stringify(playbooks.notifiers))),
    });
    const incidents = temporalIncidents(h.client, h.client.options.namespace);
    app = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: {},
      tokens: TOKENS,
      incidents,
      metrics: createApiMetrics(),
      routes: pagingRoutes(SETTINGS, {
        actions: temporalPagingActions(h.client, incidents),
        tokens: TOKENS,
        now: Date.now,
      }),
    });
    apiUrl = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await app?.close();
    await h?.close();
    await server?.close();
  });

  /** Over real HTTP, as the vendor would deliver it. */
  async function deliver(vendor: string, request: VendorRequest): Promise<{ status: number; body: unknown }> {
    const response = await fetch(`${apiUrl}/v1/paging/${vendor}`, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  }

  async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const value = probe();
      if (value !== undefined) return value;
      await sleep(50);
    }
    throw new Error(`${what}: not within ${timeoutMs} ms`);
  }

  /** The incident's signals in its Temporal history, by name: what landed, and how often. */
  async function signals(handle: WorkflowHandle, name: string) {
    const history = await handle.fetchHistory();
    return (history.events ?? [])
      .map((e) => e.workflowExecutionSignaledEventAttributes)
      .filter((a) => a?.signalName === name);
  }

  /** Refused requests leave the incident as it was: same status, no signal of that name. */
  async function unchanged(handle: WorkflowHandle, before: IncidentStatus, signal: string) {
    await sleep(300);
    const now = (await handle.query('status')) as IncidentStatus;
    assert.equal(now.acknowledgedBy, before.acknowledgedBy);
    assert.deepEqual(
      now.steps.map((s) => [s.name, s.decision]),
      before.steps.map((s) => [s.name, s.decision]),
    );
    assert.equal((await signals(handle, signal)).length, 0, `no ${signal} signal`);
  }

  test('Slack: the approval message carries buttons; refused clicks change nothing; Approve makes the step run, once; Acknowledge records the person', async (t) => {
    const alert = sampleAlert({ rule: 'Gated shell', severity: 'high' });
    const handle = await h.open(alert);
    const status = await h.waitForStatus(handle, (s) =>
      s.steps.some((x) => x.name === 'isolate' && x.state === 'awaiting-approval'),
    );
    const id = status.incidentId;
    const message = await until('the Slack approval message', () => {
      const found = server.requests.find(
        (r) => r.path.startsWith('/services/') && r.rawBody.includes(id) && r.rawBody.includes('holdfast.approve'),
      );
      return found?.body as SlackMessage | undefined;
    });
    const buttons = message.blocks.flatMap((b) => b.elements ?? []).filter((b) => b.action_id);
    const approve = buttons.find((b) => b.action_id === 'holdfast.approve')!;
    assert.deepEqual(JSON.parse(approve.value!), { incident: id, step: 'isolate' });
    const value = JSON.parse(approve.value!) as Record<string, string>;

    // Unknown Slack user, a mapped non-responder, a stale, a mis-signed and an unsigned click.
    const stranger = await deliver(
      'slack',
      slackRequest(slackClick('U0STRANGER', 'holdfast.approve', value), SLACK_SECRET),
    );
    assert.equal(stranger.status, 403);
    const bob = await deliver('slack', slackRequest(slackClick('U0BOB', 'holdfast.approve', value), SLACK_SECRET));
    assert.equal(bob.status, 403);
    const click = slackClick('U012AB3CD', 'holdfast.approve', value);
    const stale = await deliver('slack', slackRequest(click, SLACK_SECRET, Date.now() - 6 * 60_000));
    assert.equal(stale.status, 401);
    const misSigned = slackRequest(click, 'not-the-slack-signing-secret');
    assert.equal((await deliver('slack', misSigned)).status, 401);
    const unsigned = { body: misSigned.body, headers: { 'content-type': 'application/x-www-form-urlencoded' } };
    assert.equal((await deliver('slack', unsigned)).status, 401);
    await unchanged(handle, status, 'approve');
    assert.equal(h.cluster.calls.filter((c) => c.op === 'isolate').length, 0, 'nothing isolated yet');

    // The click, delivered twice at once (a replay racing the original): one approve signal.
    const signed = slackRequest(click, SLACK_SECRET);
    const [first, second] = await Promise.all([deliver('slack', signed), deliver('slack', signed)]);
    assert.deepEqual([first.status, second.status], [200, 200], JSON.stringify([first.body, second.body]));
    assert.equal((first.body as { by: string }).by, 'slack:U012AB3CD→alice');
    // "applied" twice means both passed the status check and Temporal dropped the second by its request id.
    t.diagnostic(`concurrent Slack deliveries: ${[first, second].map((r) => (r.body as { outcome: string }).outcome)}`);
    const done = await h.waitForStatus(handle, (s) =>
      s.steps.some((x) => x.name === 'isolate' && x.state === 'succeeded'),
    );
    const isolate = done.steps.find((x) => x.name === 'isolate')!;
    assert.deepEqual(
      { by: isolate.decision?.by, role: isolate.decision?.role, approved: isolate.decision?.approved },
      { by: 'slack:U012AB3CD→alice', role: 'responder', approved: true },
    );
    assert.equal(h.cluster.calls.filter((c) => c.op === 'isolate' && c.target.endsWith(alert.target.pod!)).length, 1);
    // Again later: the incident already shows the decision.
    const later = await deliver('slack', slackRequest(click, SLACK_SECRET));
    assert.equal((later.body as { outcome: string }).outcome, 'already');
    assert.equal((await signals(handle, 'approve')).length, 1, 'one approve signal in the history');

    // Acknowledge from the same message.
    const ack = buttons.find((b) => b.action_id === 'holdfast.acknowledge')!;
    const acked = await deliver(
      'slack',
      slackRequest(slackClick('U012AB3CD', 'holdfast.acknowledge', JSON.parse(ack.value!)), SLACK_SECRET),
    );
    assert.equal(acked.status, 200);
    const final = await h.waitForStatus(handle, (s) => s.acknowledgedBy !== undefined);
    assert.equal(final.acknowledgedBy, 'slack:U012AB3CD→alice');
    await handle.signal('cancel', { by: 'test' });
    await handle.result();
  });

  test('PagerDuty: refused deliveries change nothing; incident.acknowledged lands once; incident.resolved resolves and undoes containment', async (t) => {
    const alert = sampleAlert({ rule: 'Paged shell', severity: 'critical' });
    const handle = await h.open(alert);
    const status = await h.waitForStatus(handle, (s) => s.phase === 'escalating');
    const id = status.incidentId;
    const page = await until('the PagerDuty page', () =>
      server.requests.find((r) => r.path === '/v2/enqueue' && (r.body as { dedup_key?: string }).dedup_key === id),
    );
    const incidentKey = (page.body as { dedup_key: string }).dedup_key;

    const ackEvent = pagerDutyEvent('incident.acknowledged', incidentKey, 'PXPGF42');
    const signed = pagerDutyRequest(ackEvent, PD_SECRET);
    assert.equal(
      (await deliver('pagerduty', { body: signed.body, headers: { 'content-type': 'application/json' } })).status,
      401,
    );
    assert.equal((await deliver('pagerduty', pagerDutyRequest(ackEvent, 'not-the-pagerduty-secret'))).status, 401);
    for (const agent of ['PSTRANGE', 'PBOBBOB']) {
      const refused = await deliver(
        'pagerduty',
        pagerDutyRequest(pagerDutyEvent('incident.acknowledged', incidentKey, agent), PD_SECRET),
      );
      assert.equal(refused.status, 403);
    }
    await unchanged(handle, status, 'acknowledge');

    // Signed with the old and the new secret, as during a rotation; delivered twice at once, then again.
    const rotated = pagerDutyRequest(ackEvent, 'the-rotated-out-secret', PD_SECRET);
    const both = await Promise.all([deliver('pagerduty', rotated), deliver('pagerduty', rotated)]);
    assert.deepEqual(
      both.map((r) => r.status),
      [202, 202],
    );
    t.diagnostic(`concurrent PagerDuty deliveries: ${both.map((r) => (r.body as { outcome: string }).outcome)}`);
    const acked = await h.waitForStatus(handle, (s) => s.phase === 'acknowledged');
    assert.equal(acked.acknowledgedBy, 'pagerduty:PXPGF42→alice');
    assert.equal(((await deliver('pagerduty', rotated)).body as { outcome: string }).outcome, 'already');
    assert.equal((await signals(handle, 'acknowledge')).length, 1, 'one acknowledge signal in the history');

    const resolved = pagerDutyRequest(pagerDutyEvent('incident.resolved', incidentKey, 'PXPGF42'), PD_SECRET);
    assert.equal((await deliver('pagerduty', resolved)).status, 202);
    const final = (await handle.result()) as IncidentStatus;
    assert.equal(final.phase, 'resolved');
    assert.equal(final.resolvedBy, 'pagerduty:PXPGF42→alice');
    // The playbook undoes containment on resolve.
    assert.ok(
      h.cluster.calls.some((c) => c.op === 'unisolate' && c.target.endsWith(alert.target.pod!)),
      JSON.stringify(h.cluster.calls.map((c) => c.op)),
    );
    // PagerDuty's echo of Holdfast's own resolve, and a late redelivery: nothing to do.
    const echo = await deliver('pagerduty', resolved);
    assert.equal((echo.body as { outcome: string }).outcome, 'closed');
    assert.equal((await signals(handle, 'resolve')).length, 1);
  });

  test('Opsgenie: a wrong token or unknown user changes nothing; Acknowledge lands once; Close resolves', async (t) => {
    const handle = await h.open(sampleAlert({ rule: 'Genie shell', severity: 'high' }));
    const status = await h.waitForStatus(handle, (s) => s.phase === 'escalating');
    const id = status.incidentId;
    const created = await until('the Opsgenie alert', () =>
      server.requests.find((r) => r.path === '/og/v2/alerts' && (r.body as { alias?: string }).alias === id),
    );
    const alias = (created.body as { alias: string }).alias;
    const ack = opsgenieAction('Acknowledge', alias, 'alice@example.com');
    assert.equal((await deliver('opsgenie', opsgenieRequest(ack, 'f'.repeat(64)))).status, 401);
    assert.equal(
      (
        await deliver('opsgenie', {
          body: Buffer.from(JSON.stringify(ack)),
          headers: { 'content-type': 'application/json' },
        })
      ).status,
      401,
    );
    const stranger = opsgenieAction('Acknowledge', alias, 'mallory@example.com');
    assert.equal((await deliver('opsgenie', opsgenieRequest(stranger, OG_TOKEN))).status, 403);
    await unchanged(handle, status, 'acknowledge');

    const request = opsgenieRequest(ack, OG_TOKEN);
    const both = await Promise.all([deliver('opsgenie', request), deliver('opsgenie', request)]);
    assert.deepEqual(
      both.map((r) => r.status),
      [202, 202],
    );
    t.diagnostic(`concurrent Opsgenie deliveries: ${both.map((r) => (r.body as { outcome: string }).outcome)}`);
    const acked = await h.waitForStatus(handle, (s) => s.phase === 'acknowledged');
    assert.equal(acked.acknowledgedBy, 'opsgenie:alice@example.com→alice');
    assert.equal((await signals(handle, 'acknowledge')).length, 1);

    const close = opsgenieRequest(opsgenieAction('Close', alias, 'alice@example.com'), OG_TOKEN);
    assert.equal((await deliver('opsgenie', close)).status, 202);
    const final = (await handle.result()) as IncidentStatus;
    assert.equal(final.phase, 'resolved');
    assert.equal(final.resolvedBy, 'opsgenie:alice@example.com→alice');
  });
});
