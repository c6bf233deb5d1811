import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { freePort, startTemporal } from '../../scripts/stack';
import { alertsQuery, statusQuery } from '../../workflows/definitions';
import { missingServers, repoRoot, testConfig } from '../helpers/env';
import { startHarness, type Harness } from '../helpers/incident-harness';

// Temporal is down; a sender that never retries posts 1,000 distinct alerts about 10 pods. With a spool they
// are all answered 202; the API is SIGKILLed and restarted while Temporal is still down; Temporal comes
// back: every alert lands in its pod's incident exactly once.
const TOKEN = 'intake-token-for-the-spool-test-0123456789';
const PODS = 10;
const PER_POD = 100;

describe('spool while Temporal is away', { skip: missingServers() }, () => {
  let dataDir: string;
  let temporalPort: number;
  let apiPort: number;
  let temporal: Awaited<ReturnType<typeof startTemporal>> | undefined;
  let api: ChildProcess | undefined;
  let h: Harness | undefined;
  const namespace = testConfig('unused').temporal.namespace;
  const taskQueue = `spool-${crypto.randomUUID()}`;

  const startOurTemporal = async () =>
    startTemporal({ dataDir, namespace, bucket: 'unused', temporalPort, log: () => undefined });

  const startApi = async (): Promise<ChildProcess> => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'dist', 'api', 'main.js')], {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
        HOLDFAST_TASK_QUEUE: taskQueue,
        HOLDFAST_CLUSTER_NAME: 'test',
        HOLDFAST_API_PORT: String(apiPort),
        HOLDFAST_TOKENS: `intake=${TOKEN}`,
        HOLDFAST_DATA_DIR: path.join(dataDir, 'api'),
        HOLDFAST_SPOOL_DIR: path.join(dataDir, 'spool'),
        HOLDFAST_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    for (let i = 0; i < 100; i++) {
      const up = await fetch(`http://127.0.0.1:${apiPort}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) return child;
      await sleep(100);
    }
    throw new Error('the API did not start');
  };

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-spool-it-'));
    temporalPort = await freePort();
    apiPort = await freePort();
    // Create the namespace and database, then take Temporal away.
    temporal = await startOurTemporal();
    await temporal.stop();
    temporal = undefined;
  });
  /** Temporal's pid while a test holds it stopped: resumed whatever happens, or stopping it would hang. */
  let stalled: number | undefined;
  after(async () => {
    if (stalled) process.kill(stalled, 'SIGCONT');
    api?.kill('SIGKILL');
    await h?.close();
    await temporal?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('1,000 alerts answered 202 while Temporal is down, the API killed and restarted, all land exactly once', async (t) => {
    api = await startApi();
    const sent: string[] = [];
    const post = async (pod: number, i: number) => {
      const id = `spool-${pod}-${i}`;
      const res = await fetch(`http://127.0.0.1:${apiPort}/v1/alerts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          id,
          source: 'spool-test',
          title: 'Storm exec',
          severity: 'high',
          description: `exec number ${i}`,
          target: { cluster: 'test', namespace: 'shop', pod: `spooled-${pod}` },
        }),
      });
      const text = await res.text();
      assert.equal(res.status, 202, text);
      const body = JSON.parse(text) as { spooled?: boolean };
      assert.equal(body.spooled, true);
      sent.push(id);
    };
    const started = Date.now();
    for (let i = 0; i < PER_POD; i++) await Promise.all(Array.from({ length: PODS }, (_, pod) => post(pod, i)));
    t.diagnostic(`${sent.length} alerts spooled in ${Date.now() - started} ms`);
    // The drainer has tried Temporal and failed: /readyz says the spool is in use and stalled.
    let spoolCheck: { ok: boolean; error?: string } | undefined;
    for (let i = 0; i < 50 && spoolCheck?.ok !== false; i++) {
      const ready = (await fetch(`http://127.0.0.1:${apiPort}/readyz`).then((r) => r.json())) as {
        checks: { spool: { ok: boolean; error?: string } };
      };
      spoolCheck = ready.checks.spool;
      if (spoolCheck.ok) await sleep(200);
    }
    assert.equal(spoolCheck?.ok, false);
    assert.match(spoolCheck!.error!, /wait in the spool/);

    // Killed without a chance to flush anything, then restarted while Temporal is still away.
    api.kill('SIGKILL');
    await new Promise((resolve) => api!.once('exit', resolve));
    api = await startApi();

    temporal = await startOurTemporal();
    const harness = await startHarness(
      `
playbooks:
  - name: spooled
    match: { rules: ["Storm*"] }
    capture: [logs]
`,
      { temporalAddress: temporal.address, taskQueue },
    );
    h = harness;
    // Every pod's incident holds its 100 alerts, each once.
    const deadline = Date.now() + 90_000;
    let counts: number[] = [];
    while (Date.now() < deadline) {
      counts = await Promise.all(
        Array.from({ length: PODS }, async (_, pod) => {
          const handle = harness.client.workflow.getHandle(`incident/test/shop/spooled-${pod}`);
          return (await handle.query(statusQuery).catch(() => undefined))?.alertCount ?? 0;
        }),
      );
      if (counts.every((c) => c === PER_POD)) break;
      await sleep(500);
    }
    assert.deepEqual(counts, Array(PODS).fill(PER_POD), 'every alert in its incident');
    for (let pod = 0; pod < PODS; pod++) {
      const handle = harness.client.workflow.getHandle(`incident/test/shop/spooled-${pod}`);
      const [status, alerts] = await Promise.all([handle.query(statusQuery), handle.query(alertsQuery)]);
      assert.equal(status.resends ?? 0, 0, 'none delivered twice');
      assert.deepEqual(
        alerts.map((r) => r.alert.id).sort(),
        sent.filter((id) => id.startsWith(`spool-${pod}-`)).sort(),
      );
      assert.ok(alerts.every((r) => r.count === 1));
    }
    const drained = (await fetch(`http://127.0.0.1:${apiPort}/readyz`).then((r) => r.json())) as {
      checks: { spool: { ok: boolean } };
    };
    assert.equal(drained.checks.spool.ok, true, 'the spool is empty again');
  });

  test('Temporal stalled (accepts connections, never answers): alerts spooled, /readyz says so within seconds, all land once it answers', async () => {
    assert.ok(temporal?.pid && h, 'the first test left Temporal and a worker running');
    const stalledPid = temporal.pid;
    const post = async (i: number) => {
      const res = await fetch(`http://127.0.0.1:${apiPort}/v1/alerts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          id: `stalled-${i}`,
          source: 'spool-test',
          title: 'Storm exec',
          severity: 'high',
          description: `exec while stalled ${i}`,
          target: { cluster: 'test', namespace: 'shop', pod: 'stalled' },
        }),
        signal: AbortSignal.timeout(30_000),
      });
      return { status: res.status, body: (await res.json()) as { spooled?: boolean } };
    };
    process.kill(stalledPid, 'SIGSTOP');
    stalled = stalledPid;
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => post(i)));
      assert.deepEqual(
        answers.map((a) => `${a.status} ${a.body.spooled}`),
        Array(20).fill('202 true'),
      );
      // The drainer's look at Temporal is bounded: the stall shows as a stalled spool, not as silence.
      let ready: { checks: Record<string, { ok: boolean; error?: string }> } | undefined;
      for (let i = 0; i < 40 && ready?.checks.spool?.ok !== false; i++) {
        if (i > 0) await sleep(250);
        ready = (await fetch(`http://127.0.0.1:${apiPort}/readyz`).then((r) => r.json())) as typeof ready;
      }
      assert.match(ready!.checks.spool!.error ?? '', /wait in the spool for Temporal/, JSON.stringify(ready));
      const intake = await fetch(`http://127.0.0.1:${apiPort}/readyz/intake`);
      assert.equal(intake.status, 200, 'alerts are still taken');
    } finally {
      process.kill(stalledPid, 'SIGCONT');
      stalled = undefined;
    }
    const handle = h.client.workflow.getHandle('incident/test/shop/stalled');
    let count = 0;
    for (let i = 0; i < 120 && count < 20; i++) {
      await sleep(500);
      count = (await handle.query(statusQuery).catch(() => undefined))?.alertCount ?? 0;
    }
    assert.equal(count, 20, 'every alert spooled during the stall is in the incident');
  });
});
