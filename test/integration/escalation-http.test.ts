import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { createNotifiers, parseNotifierConfigs } from '../../adapters/notifiers/registry';
import { parsePlaybooks } from '../../activities/playbooks';
import { acknowledgeSignal, resolveSignal, type IncidentStatus } from '../../workflows/definitions';
import { missingServers } from '../helpers/env';
import { sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';
import { startRecordingServer, type RecordingServer } from '../helpers/recording-server';

let server: RecordingServer;
let h: Harness;

before(async () => {
  if (missingServers()) return;
  server = await startRecordingServer();
  const playbookYaml = `
notifiers:
  - { name: pd, type: pagerduty, url: "${server.url}/v2/enqueue", routingKey: "R0UT1NGKEY0123456789abcdef012345" }
  - { name: hook, type: webhook, url: "${server.url}/hook", secret: "hook-secret-0123456789" }
playbooks:
  - name: http-escalation
    preserve: false
    capture: [logs]
    # This test is about the escalation's own pages; the opening page is covered by page-and-approve.test.ts.
    pageOnOpen: false
    escalation:
      tiers:
        - { notifiers: [pd], ackTimeout: 2s }
        - { notifiers: [hook], ackTimeout: 60s }
`;
  // Real notifiers, built from the playbook's own notifier entries, pointed at a local recording server.
  const playbooks = parsePlaybooks(playbookYaml, 'escalation.yaml', { apiBaseUrl: 'http://holdfast.test' });
  const notifiers = createNotifiers(parseNotifierConfigs(JSON.stringify(playbooks.notifiers)));
  h = await startHarness(playbookYaml, { notifiers });
});
after(async () => {
  await h?.close();
  await server?.close();
});

test(
  'escalation over real HTTP: PagerDuty trigger, tier 2 webhook after the ack timeout, PagerDuty resolve with the same dedup key',
  { skip: missingServers() },
  async () => {
    const handle = await h.open(sampleAlert({ rule: 'Terminal shell in container', severity: 'critical' }));
    for (let i = 0; i < 100 && !server.requests.some((r) => r.path === '/hook'); i++) await sleep(100);
    const status = (await handle.query('status')) as IncidentStatus;

    const trigger = server.requests.find((r) => r.path === '/v2/enqueue')!;
    const pd = trigger.body as {
      routing_key: string;
      event_action: string;
      dedup_key: string;
      payload: { severity: string; summary: string; source: string };
    };
    assert.equal(pd.event_action, 'trigger');
    assert.equal(pd.routing_key, 'R0UT1NGKEY0123456789abcdef012345');
    assert.equal(pd.dedup_key, status.incidentId);
    assert.equal(pd.payload.severity, 'critical');
    assert.match(pd.payload.summary, /Terminal shell in container/);

    const hook = server.requests.find((r) => r.path === '/hook')!;
    assert.match(String(hook.headers['x-holdfast-signature']), /^sha256=[0-9a-f]{64}$/);
    assert.equal((hook.body as { event: { incidentId: string; tier: number } }).event.incidentId, status.incidentId);
    assert.equal((hook.body as { event: { tier: number } }).event.tier, 2);

    await handle.signal(acknowledgeSignal, { by: 'alice' });
    await handle.signal(resolveSignal, { by: 'alice' });
    const final = (await handle.result()) as IncidentStatus;
    assert.equal(final.phase, 'resolved');
    const resolves = server.requests.filter(
      (r) => r.path === '/v2/enqueue' && (r.body as { event_action: string }).event_action === 'resolve',
    );
    assert.equal(resolves.length, 1);
    assert.equal((resolves[0]!.body as { dedup_key: string }).dedup_key, status.incidentId);
    assert.equal(
      server.requests.filter(
        (r) => r.path === '/v2/enqueue' && (r.body as { event_action: string }).event_action === 'trigger',
      ).length,
      1,
      'tier 1 paged once',
    );
  },
);
