import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { createNotifiers, parseNotifierConfigs } from '../../adapters/notifiers/registry';
import { parsePlaybooks } from '../../activities/playbooks';
import { temporalIncidents } from '../../api/incidents';
import { createApiMetrics } from '../../api/metrics';
import { buildServer } from '../../api/server';
import { run } from '../../cli/main';
import { loadCliConfig } from '../../common/config';
import type { IncidentStatus } from '../../workflows/definitions';
import { FakeCluster } from '../fakes/cluster';
import { missingServers } from '../helpers/env';
import { recordHistory, sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';
import { startRecordingServer, type RecordedRequest, type RecordingServer } from '../helpers/recording-server';
import { Capture } from '../helpers/capture';

// Tier 1 hears of an incident at once and of every gate as it opens, over real HTTP, from a real worker on the
// real Temporal dev server; a responder decides with the CLI against a real API server.
const RESPONDER = 'responder-token-0123456789';
const CAPTURE_DELAY_MS = 8000;

type Hook = { event: { action: string; incidentId: string; details?: string[]; approval?: Record<string, string> } };
type Pd = {
  event_action: string;
  dedup_key: string;
  payload?: { summary: string; custom_details: Record<string, unknown> };
};

describe('page on open and approval requests', { skip: missingServers() }, () => {
  let server: RecordingServer;
  let h: Harness;
  let app: FastifyInstance;
  let apiUrl: string;

  before(async () => {
    server = await startRecordingServer();
    const playbookYaml = `
notifiers:
  - { name: pd, type: pagerduty, url: "${server.url}/v2/enqueue", routingKey: "R0UT1NGKEY0123456789abcdef012345" }
  - { name: hook, type: webhook, url: "${server.url}/hook", secret: "hook-secret-0123456789" }
playbooks:
  - name: gated
    match: { rules: ["Gated*"] }
    pageOnOpen: false
    capture: [logs]
    contain:
      - name: isolate
        approval: { required: true, timeout: 1h, onTimeout: reject }
    escalation: { tiers: [{ notifiers: [hook], ackTimeout: 60s }] }
  - name: slow
    match: { rules: ["Slow*"] }
    capture: [network]
    escalation: { tiers: [{ notifiers: [pd, hook], ackTimeout: 60s }] }
`;
    const playbooks = parsePlaybooks(playbookYaml, 'pages.yaml', { apiBaseUrl: 'http://holdfast.test' });
    const notifiers = createNotifiers(parseNotifierConfigs(JSON.stringify(playbooks.notifiers)));
    // The network capture is slow on purpose: the opening page must not wait for it.
    h = await startHarness(playbookYaml, {
      notifiers,
      cluster: new FakeCluster({ delays: { 'capture.network': CAPTURE_DELAY_MS } }),
    });
    app = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: {},
      tokens: new Map([[RESPONDER, 'responder' as const]]),
      webhookSecret: 'webhook-secret-for-tests-0123456789abcdef',
      incidents: temporalIncidents(h.client, h.client.options.namespace),
      metrics: createApiMetrics(),
      routes: [],
    });
    apiUrl = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await app?.close();
    await h?.close();
    await server?.close();
  });

  async function cli(...args: string[]) {
    const stdout = new Capture();
    const stderr = new Capture();
    const code = await run(['--api', apiUrl, '--token', RESPONDER, ...args], {
      stdout,
      stderr: stderr as unknown as NodeJS.WriteStream,
      config: loadCliConfig({}),
    });
    return { code, out: stdout.text, err: stderr.text };
  }

  const hooks = (incidentId: string, action: string) =>
    server.requests.filter(
      (r) =>
        r.path === '/hook' &&
        (r.body as Hook).event.incidentId === incidentId &&
        (r.body as Hook).event.action === action,
    );
  const pds = (incidentId: string, pred: (b: Pd) => boolean) =>
    server.requests.filter(
      (r) => r.path === '/v2/enqueue' && (r.body as Pd).dedup_key === incidentId && pred(r.body as Pd),
    );

  async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const value = await probe();
      if (value !== undefined) return value;
      await sleep(50);
    }
    throw new Error(`${what}: not within ${timeoutMs} ms`);
  }

  test('a gate with a 1 h timeout: the webhook gets the request within seconds, with the API call and CLI command; holdfast incidents approve lets the step run', async (t) => {
    const alert = sampleAlert({ rule: 'Gated shell', severity: 'high' });
    const handle = await h.open(alert);
    const status = await h.waitForStatus(handle, (s) => s.steps.some((x) => x.name === 'isolate'));
    const id = status.incidentId;

    // Watch the gate and the webhook together: when did each happen, as seen from outside.
    let gateOpenedAt: number | undefined;
    const request = await until('approval request', async () => {
      if (gateOpenedAt === undefined) {
        const s = (await handle.query('status')) as IncidentStatus;
        if (s.steps.some((x) => x.name === 'isolate' && x.state === 'awaiting-approval')) gateOpenedAt = Date.now();
      }
      const found = hooks(id, 'approval')[0];
      return found && gateOpenedAt !== undefined ? { found, at: Date.now() } : undefined;
    });
    const delay = request.at - gateOpenedAt!;
    assert.ok(delay < 5000, `approval request ${delay} ms after the gate opened`);
    t.diagnostic(`approval request reached the webhook ${delay} ms after the gate was seen open`);
    assert.equal(request.found.headers['x-holdfast-event'], 'approval');
    const approval = (request.found.body as Hook).event.approval!;
    assert.equal(approval.step, 'isolate');
    assert.equal(approval.approveCall, `POST http://holdfast.test/v1/incidents/${id}/approve`);
    assert.equal(approval.rejectCall, `POST http://holdfast.test/v1/incidents/${id}/reject`);
    assert.equal(approval.body, '{"step":"isolate"}');
    assert.equal(approval.approveCommand, `holdfast incidents approve ${id} --step isolate`);
    assert.equal(approval.rejectCommand, `holdfast incidents reject ${id} --step isolate`);
    assert.equal(hooks(id, 'open').length, 0, 'pageOnOpen: false sends no opening page');
    assert.equal(
      h.cluster.calls.filter((c) => c.op === 'isolate' && c.target.endsWith(alert.target.pod!)).length,
      0,
      'nothing isolated before the decision',
    );

    const shown = await cli('incidents', 'show', id);
    assert.equal(shown.code, 0, shown.err);
    assert.match(shown.out, /contain\s+isolate\s+awaiting-approval/);
    assert.ok(shown.out.includes(approval.approveCommand), shown.out);

    // The command from the page, run as a responder would.
    const approved = await cli(...approval.approveCommand.split(' ').slice(1), '--note', 'seen the page');
    assert.equal(approved.code, 0, approved.err);
    assert.match(approved.out, /approve isolate accepted/);
    const done = await h.waitForStatus(handle, (s) =>
      s.steps.some((x) => x.name === 'isolate' && x.state === 'succeeded'),
    );
    const isolate = done.steps.find((x) => x.name === 'isolate')!;
    assert.deepEqual(
      { by: isolate.decision?.by, approved: isolate.decision?.approved, note: isolate.decision?.note },
      { by: 'responder', approved: true, note: 'seen the page' },
    );
    assert.equal(h.cluster.calls.filter((c) => c.op === 'isolate' && c.target.endsWith(alert.target.pod!)).length, 1);
    assert.deepEqual(
      done.notifications?.map((n) => `${n.action}:${n.notifier}:${n.step}:${n.state}`),
      ['approval:hook:isolate:sent'],
    );

    await h.waitForStatus(handle, (s) => s.phase === 'escalating');
    const resolved = await cli('incidents', 'resolve', id);
    assert.equal(resolved.code, 0, resolved.err);
    const final = (await handle.result()) as IncidentStatus;
    assert.equal(final.phase, 'resolved');
    assert.equal(hooks(id, 'resolve').length, 1, 'the webhook is told once that it is over');
    const again = await cli('incidents', 'approve', id, '--step', 'isolate');
    assert.equal(again.code, 2);
    assert.match(again.err, /409 Conflict/);
    await recordHistory(handle, 'incident-approval-request');
  });

  test('page on open: the first page arrives within 5 s of the alert, while the slow capture still runs; escalation updates the same alert', async (t) => {
    const alert = sampleAlert({ rule: 'Slow capture shell', severity: 'high' });
    const alertAt = Date.now();
    const handle = await h.open(alert);
    const id = incidentIdOf(await h.waitForStatus(handle, () => true));

    const first = await until('opening page', () =>
      pds(id, (b) => b.payload?.custom_details.notification === 'open')[0] ? Date.now() : undefined,
    );
    const statusAtPage = (await handle.query('status')) as IncidentStatus;
    const pageDelay = first - alertAt;
    assert.ok(pageDelay < 5000, `first page ${pageDelay} ms after the alert`);
    t.diagnostic(`first page ${pageDelay} ms after the alert (capture held for ${CAPTURE_DELAY_MS} ms)`);
    const network = statusAtPage.steps.find((s) => s.name === 'network');
    assert.ok(network && network.state === 'running', `capture still running at the page: ${network?.state}`);
    assert.equal(
      h.cluster.calls.filter((c) => c.op === 'capture.network' && c.target.endsWith(alert.target.pod!)).length,
      0,
      'the fake cluster has not finished the capture',
    );

    const open = pds(id, (b) => b.payload?.custom_details.notification === 'open')[0]!.body as Pd;
    assert.equal(open.event_action, 'trigger');
    assert.match(open.payload!.summary, /^Incident opened: \[high\] Slow capture shell/);
    const hookOpen = await until('webhook opening page', () => hooks(id, 'open')[0]);
    const details = (hookOpen.body as Hook).event.details!;
    assert.ok(details.includes(`preserved pod ${alert.target.namespace}/${alert.target.pod}`), details.join('|'));
    assert.ok(details.includes('capturing network'), details.join('|'));

    // After the capture and the seal, the escalation pages tier 1 under the same dedup key: one PagerDuty alert.
    await until(
      'escalation page',
      () => pds(id, (b) => b.event_action === 'trigger' && b.payload?.custom_details.notification === undefined)[0],
      CAPTURE_DELAY_MS + 20_000,
    );
    const triggers = pds(id, (b) => b.event_action === 'trigger');
    assert.equal(triggers.length, 2, 'opening page and tier-1 escalation page');
    assert.ok(triggers.every((r: RecordedRequest) => (r.body as Pd).dedup_key === id));

    const acked = await cli('incidents', 'ack', id);
    assert.equal(acked.code, 0, acked.err);
    await h.waitForStatus(handle, (s) => s.phase === 'acknowledged');
    assert.equal((await cli('incidents', 'resolve', id, '--undo')).code, 0);
    const final = (await handle.result()) as IncidentStatus;
    assert.equal(final.phase, 'resolved');
    assert.equal(pds(id, (b) => b.event_action === 'resolve').length, 1, 'one resolve closes the one alert');
    await recordHistory(handle, 'incident-page-on-open');
  });

  test('an acknowledgement before the escalation starts: no page after the opening one', async () => {
    const alert = sampleAlert({ rule: 'Slow capture again', severity: 'critical' });
    const handle = await h.open(alert);
    const id = incidentIdOf(await h.waitForStatus(handle, () => true));
    await until('opening page', () => pds(id, (b) => b.payload?.custom_details.notification === 'open')[0]);
    const acked = await cli('incidents', 'ack', id);
    assert.equal(acked.code, 0, acked.err);
    const settled = await h.waitForStatus(
      handle,
      (s) => s.steps.some((x) => x.name === 'escalate' && x.endedAt !== undefined),
      CAPTURE_DELAY_MS + 20_000,
    );
    assert.equal(settled.acknowledgedBy, 'responder');
    const escalate = settled.steps.find((x) => x.name === 'escalate')!;
    assert.equal(escalate.state, 'skipped');
    assert.match(escalate.notes.join(), /acknowledged by responder before the escalation/);
    await sleep(1000);
    assert.equal(pds(id, (b) => b.event_action === 'trigger').length, 1, 'only the opening page');
    assert.equal((await cli('incidents', 'cancel', id)).code, 0);
    await handle.result();
    assert.equal(pds(id, (b) => b.event_action === 'resolve').length, 1);
    await recordHistory(handle, 'incident-ack-before-escalation');
  });
});

function incidentIdOf(status: IncidentStatus): string {
  return status.incidentId;
}
