import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import {
  alertsSignal,
  incidentWorkflowId,
  INCIDENT_WORKFLOW,
  resolveSignal,
  statusQuery,
  type IncidentStatus,
} from '../../workflows/definitions';
import { readJournal } from '../fakes/cluster';
import { missingServers, testConfig } from '../helpers/env';
import { sampleAlert } from '../helpers/incident-harness';

const PLAYBOOKS = `
notifiers: [{ name: oncall, type: webhook }]
playbooks:
  - name: crash-test
    capture:
      - filesystem
      - { name: memory, timeout: 6s, heartbeatTimeout: 0 }
      - logs
    contain: [isolate]
    escalation: { tiers: [{ notifiers: [oncall], ackTimeout: 60s }] }
`;

const children: ChildProcess[] = [];
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

async function startWorkerProcess(env: Record<string, string>): Promise<ChildProcess> {
  const child = fork(path.join(__dirname, '..', 'helpers', 'worker-process.js'), [], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`worker process exited with ${code}`)));
  });
  return child;
}

test(
  'SIGKILL of the worker mid-incident: a new worker finishes it and no completed side effect is repeated',
  { skip: missingServers(), timeout: 120_000 },
  async () => {
    const taskQueue = `crash-test-${crypto.randomUUID()}`;
    const journal = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-crash-')), 'journal.jsonl');
    const env = {
      TASK_QUEUE: taskQueue,
      JOURNAL: journal,
      PLAYBOOKS,
      DELAYS: JSON.stringify({ 'capture.memory': 3000 }),
    };
    const config = testConfig(taskQueue);
    const connection = await Connection.connect({ address: config.temporal.address! });
    const client = new Client({ connection, namespace: config.temporal.namespace });
    try {
      const first = await startWorkerProcess(env);
      const alert = sampleAlert();
      const workflowId = incidentWorkflowId(alert.target);
      const handle = await client.workflow.signalWithStart(INCIDENT_WORKFLOW, {
        taskQueue,
        workflowId,
        args: [{ key: workflowId, target: alert.target, alerts: [] }],
        signal: alertsSignal,
        signalArgs: [{ alerts: [{ alert, fingerprint: 'f' }] }],
      });

      // Wait until preserve and the quick captures are done and the slow memory capture is in flight.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const status = await handle.query(statusQuery).catch(() => undefined);
        const states = Object.fromEntries((status?.steps ?? []).map((s) => [s.name, s.state]));
        if (
          states.preserve === 'succeeded' &&
          states.filesystem === 'succeeded' &&
          states.logs === 'succeeded' &&
          states.memory === 'running'
        )
          break;
        assert.ok(Date.now() < deadline, `incident did not reach the memory capture: ${JSON.stringify(states)}`);
        await sleep(100);
      }
      first.kill('SIGKILL');
      await new Promise((resolve) => first.once('exit', resolve));
      const beforeCrash = readJournal(journal).map((c) => c.op);
      assert.ok(!beforeCrash.includes('isolate'), 'containment had not run before the crash');

      await startWorkerProcess(env);
      let status: IncidentStatus | undefined;
      const deadline2 = Date.now() + 60_000;
      while (Date.now() < deadline2) {
        status = await handle.query(statusQuery).catch(() => undefined);
        if (status?.phase === 'escalating' && status.steps.find((s) => s.name === 'escalate')?.state !== 'running')
          break;
        await sleep(200);
      }
      assert.equal(status?.phase, 'escalating', JSON.stringify(status?.steps.map((s) => [s.name, s.state])));
      await handle.signal(resolveSignal, { by: 'test' });
      const final = (await handle.result()) as IncidentStatus;
      assert.equal(final.phase, 'resolved');

      const ops = readJournal(journal).map((c) => c.op);
      const count = (op: string) => ops.filter((o) => o === op).length;
      // Everything that completed before the crash ran exactly once overall.
      for (const op of [
        'inspect',
        'preserve',
        'capture.filesystem',
        'capture.logs',
        'capture.memory',
        'isolate',
        'seal',
        'notify.oncall.trigger',
        'notify.oncall.resolve',
      ]) {
        assert.equal(count(op), 1, `${op} ran ${count(op)} times`);
      }
      assert.deepEqual(
        final.steps.filter((s) => s.state !== 'succeeded').map((s) => s.name),
        [],
      );
    } finally {
      await connection.close();
    }
  },
);
