import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { temporal } from '@temporalio/proto';
import { temporalIncidents } from '../../api/incidents';
import { AlertIntake } from '../../api/intake';
import { temporalSink } from '../../api/temporal-sink';
import type { Alert } from '../../common/types';
import { startTemporal } from '../../scripts/stack';
import { alertsQuery, incidentWorkflowId, type IncidentStatus } from '../../workflows/definitions';
import { missingServers, testConfig } from '../helpers/env';
import { recordHistory, sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';
import { alertsSignal } from '../../workflows/definitions';

// A storm of repeating and distinct alerts about one pod, on a Temporal dev server whose limits are low
// enough that the incident would be terminated without bounded payloads and continue-as-new: it must stay
// open, seal, keep paging, resolve, and every alert must be accounted for.
const LIMITS = {
  'limit.historyCount.error': 2000,
  'limit.historyCount.warn': 1500,
  'limit.historyCount.suggestContinueAsNew': 300,
  'limit.historySize.suggestContinueAsNew': 1024 * 1024,
  // The storm sends ~25 MiB of alerts: one run holding them all would be terminated.
  'limit.historySize.error': 4 * 1024 * 1024,
  'limit.historySize.warn': 3 * 1024 * 1024,
  'limit.blobSize.error': 256 * 1024,
  'limit.blobSize.warn': 128 * 1024,
};
const STORM_MS = 25_000;

describe(
  'a long incident under an alert storm on a server with low history and blob limits',
  { skip: missingServers() },
  () => {
    let server: Awaited<ReturnType<typeof startTemporal>>;
    let h: Harness;
    let dataDir: string;
    const namespace = testConfig('unused').temporal.namespace;

    before(async () => {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-limits-'));
      server = await startTemporal({
        dataDir,
        namespace,
        bucket: 'unused',
        temporalDynamicConfig: LIMITS,
        log: () => undefined,
      });
      h = await startHarness(
        `
notifiers:
  - { name: tier1, type: webhook, url: "http://127.0.0.1:9/unused" }
  - { name: tier2, type: webhook, url: "http://127.0.0.1:9/unused" }
playbooks:
  - name: storm
    match: { rules: ["Storm*"] }
    capture: [logs]
    escalation:
      tiers: [{ notifiers: [tier1], ackTimeout: 4s }, { notifiers: [tier2], ackTimeout: 4s }]
      repeatLastTier: 4
`,
        { temporalAddress: server.address },
      );
    });
    after(async () => {
      await h?.close();
      await server?.stop();
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    });

    test('stays open across runs, seals, pages on, resolves, and the alert counts add up', async (t) => {
      const intake = new AlertIntake(temporalSink(h.client, new Map([['test', h.taskQueue]])), {
        repeatWindowMs: 60_000,
        repeatFlushMs: 100,
        repeatFlushMaxMs: 800,
        minDeliveryIntervalMs: 150,
        maxBatch: 20,
        maxInFlight: 16,
        maxKeys: 100,
      });
      const target = { cluster: 'test', namespace: 'shop', pod: 'storm-0', container: 'web' };
      const workflowId = incidentWorkflowId(target);
      // Big distinct alerts (the parser's 4 KiB summary bound) and exact repeats of a few, interleaved.
      const distinct = (i: number): Alert =>
        sampleAlert({ rule: 'Storm of execs', summary: `exec ${i} `.padEnd(4096, 'x'), severity: 'medium' }, target);
      const repeated = [0, 1, 2].map((i) => sampleAlert({ rule: 'Storm repeat', summary: `same ${i}` }, target));
      const answers: Array<Promise<{ incidentId: string }>> = [];
      let sent = 0;
      const started = Date.now();
      for (let round = 0; Date.now() - started < STORM_MS; round++) {
        for (let k = 0; k < 8; k++) answers.push(intake.accept(distinct(round * 8 + k)));
        for (const r of repeated) answers.push(intake.accept({ ...r, id: `${r.id}-${round}` }));
        sent += 8 + repeated.length;
        await sleep(40);
      }
      // A critical alert late in the storm still raises the incident's severity.
      answers.push(intake.accept(sampleAlert({ rule: 'Storm critical', severity: 'critical' }, target)));
      sent += 1;
      const accepted = await Promise.all(answers);
      await intake.flush();
      const incidentIds = new Set(accepted.map((a) => a.incidentId));
      assert.equal(incidentIds.size, 1, `one incident for the pod, answered by one id: ${[...incidentIds].join(', ')}`);
      const [incidentId] = [...incidentIds] as [string];

      const latest = h.client.workflow.getHandle(workflowId);
      const status = await h.waitForStatus(latest, (s) => s.alertCount === sent, 30_000);
      assert.ok((status.runs ?? 1) >= 2, `the incident continued as new (runs ${status.runs})`);
      assert.equal(status.incidentId, incidentId);
      assert.equal(status.severity, 'critical');
      assert.ok(status.manifestKey, 'the incident sealed');
      assert.ok(['escalating', 'acknowledged'].includes(status.phase), status.phase);
      // The Temporal UI's line for a later run, which has no static summary: the incident's summary and phase.
      const metadata = await latest.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      assert.match(
        metadata.currentDetails ?? '',
        /^medium · test\/shop\/storm-0 · `Storm of execs`\n\nphase: (escalating|acknowledged)$/,
      );
      const alerts = await latest.query(alertsQuery);
      const keptCount = alerts.reduce((sum, r) => sum + r.count, 0);
      assert.ok(status.alertsNotKept! > 0, 'the storm went beyond what an incident keeps');
      assert.equal(keptCount + status.alertsNotKept!, sent, 'kept counts plus those only counted = every alert sent');
      assert.ok(JSON.stringify(alerts).length < 200 * 1024, 'what the incident keeps stays under the blob limit');
      // The seal got a bounded alert list and a tally that adds up at the time it sealed.
      const seal = h.seals[0]!;
      assert.ok(seal.alertTally);
      assert.equal(seal.alertTally.kept, seal.alerts.length);
      assert.ok(seal.alertTally.received >= seal.alertTally.kept + seal.alertTally.notKept);

      // Every run but the last ended by continuing as new: none was terminated by the server's limits.
      const runs = await h.client.workflowService.listWorkflowExecutions({
        namespace,
        query: `WorkflowId = "${workflowId}"`,
      });
      const Status = temporal.api.enums.v1.WorkflowExecutionStatus;
      const statuses = (runs.executions ?? []).map((e) => e.status);
      assert.ok(!statuses.includes(Status.WORKFLOW_EXECUTION_STATUS_TERMINATED), `run statuses ${statuses.join(',')}`);
      assert.ok(statuses.filter((s) => s === Status.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW).length >= 1);
      const lengths = await Promise.all((runs.executions ?? []).map(async (e) => Number(e.historyLength ?? 0)));
      t.diagnostic(
        `${sent} alerts sent; ${status.runs} runs with ${lengths.join(', ')} history events; ` +
          `${alerts.length} distinct kept, ${status.alertsNotKept} only counted`,
      );

      // The escalation child outlived the runs it started in and reported its pages to the current one.
      const service = temporalIncidents(h.client, namespace);
      const paged = await waitFor(async () => {
        const { status: s } = await service.get(incidentId);
        const notes = s.steps.find((x) => x.kind === 'escalate')?.notes ?? [];
        return notes.filter((n) => n.includes('tier 2')).length >= 2 ? s : undefined;
      }, 40_000);
      assert.ok(paged.steps.find((x) => x.kind === 'escalate')!.notes.some((n) => n.startsWith('tier 1 tier1')));

      // Responders find and resolve it by the id the intake answered with, across the runs.
      const listed = await service.list({ pod: 'storm-0' }, 10);
      assert.deepEqual(
        listed.incidents.map((i) => i.incidentId),
        [incidentId],
        'one entry for the incident, not one per run',
      );
      await service.act(incidentId, 'resolve', { by: 'alice', note: 'storm over' });
      const final = (await latest.result()) as IncidentStatus;
      assert.equal(final.phase, 'resolved');
      assert.equal(final.resolvedBy, 'alice');
      const escalate = final.steps.find((x) => x.kind === 'escalate')!;
      assert.ok(escalate.endedAt, `the escalation confirmed it stopped: ${JSON.stringify(escalate)}`);
      assert.ok(!escalate.notes.some((n) => n.includes('did not confirm')), escalate.notes.join('; '));
      const resolves = [...h.notifiers.values()].flatMap((n) => n.sent.filter((e) => e.action === 'resolve'));
      assert.deepEqual(resolves.map((e) => e.incidentId).sort(), [incidentId, incidentId], 'tier1 and tier2 resolved');
      const child = await h.client.workflow.getHandle(`${workflowId}/escalation/${incidentId.slice(4)}`).describe();
      assert.equal(child.status.name, 'COMPLETED');
      const closed = await service.get(incidentId);
      assert.equal(closed.running, false);
      assert.equal(closed.status.phase, 'resolved');
    });

    test('a long trickle of repeat counts: continues as new by event count; the later run acknowledges and resolves', async (t) => {
      const alert = sampleAlert({ rule: 'Storm trickle' }, { pod: 'trickle-0' });
      const opened = await h.open(alert);
      const incidentId = `inc-${opened.signaledRunId}`;
      const latest = h.client.workflow.getHandle(opened.workflowId);
      await h.waitForStatus(latest, (s) => s.phase === 'escalating');
      const fingerprint = (await latest.query(alertsQuery))[0]!.fingerprint;
      // One repeat count per signal, as a sender that defeats the intake's coalescing would cause.
      const repeats = 400;
      for (let i = 1; i <= repeats; i++)
        await latest.signal(alertsSignal, { alerts: [], repeats: [{ fingerprint, count: 1, lastSeenAt: `${i}` }] });
      const sent = repeats + 1;
      const status = await h.waitForStatus(latest, (s) => s.alertCount === sent);
      assert.ok((status.runs ?? 1) >= 2, `continued as new by event count (runs ${status.runs})`);
      assert.equal(status.incidentId, incidentId);
      t.diagnostic(`${sent} alerts, ${repeats} of them in one signal each; ${status.runs} runs`);
      const service = temporalIncidents(h.client, namespace);
      // The API names the run the incident is in now, not the first one its id carries.
      const detail = await service.get(incidentId);
      assert.equal(detail.workflowId, opened.workflowId);
      assert.notEqual(detail.runId, opened.signaledRunId);
      assert.equal(detail.runId, (await latest.describe()).runId);
      await service.act(incidentId, 'acknowledge', { by: 'bob' });
      await h.waitForStatus(latest, (s) => s.phase === 'acknowledged');
      await service.act(incidentId, 'resolve', { by: 'bob' });
      const final = (await latest.result()) as IncidentStatus;
      assert.equal(final.phase, 'resolved');
      assert.equal(final.acknowledgedBy, 'bob');
      assert.equal((await latest.query(alertsQuery))[0]!.count, sent);
      // The last run: resumed from a snapshot, acknowledged, resolved (replayed by test/unit/replay.test.ts).
      await recordHistory(latest, 'incident-continued-run');
    });
  },
);

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms (${String(lastError)})`);
}
