/**
 * bench/first-incident: is the first incident after start as fast as later ones? Needs no cluster.
 * Starts the embedded Temporal + S3 and Holdfast (`npm start`'s dist/scripts/start.js) without Kubernetes
 * access, waits for /readyz like a deployment would, then sends N alerts (default 10) one after another.
 * For each it measures alert accepted (the API's 202) → the preserve step's activity has run (it fails
 * fast with ClusterUnavailable: the same path as a real preserve up to the Kubernetes call), timed by the
 * event in the workflow's history. Prints the first incident apart from the p50/max of the rest.
 *
 * With --timeline, also prints the first and second incidents' first history events (server time, ms
 * after the workflow started), which shows where the first one spends its extra time.
 *
 *   node dist/bench/first-incident.js [--incidents 10] [--timeline]
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { startHoldfast, waitFor } from '../scripts/local-env';
import { startStack } from '../scripts/stack';
import { silenceAwsSdkNodeWarning } from '../common/config';

const say = (line: string) => process.stdout.write(`${line}\n`);

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const eventMs = (e: HistoryEvent) => Number(e.eventTime!.seconds) * 1000 + (e.eventTime!.nanos ?? 0) / 1e6;

async function main(): Promise<void> {
  silenceAwsSdkNodeWarning();
  const { values } = parseArgs({
    options: { incidents: { type: 'string', default: '10' }, timeline: { type: 'boolean', default: false } },
  });
  const incidents = Math.max(2, Number(values.incidents));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-bench-first-'));
  const stack = await startStack({
    dataDir: path.join(work, 'servers'),
    namespace: 'holdfast',
    bucket: 'holdfast-evidence',
    log: (l) => process.stderr.write(`${l}\n`),
  });
  const playbooks = path.join(work, 'playbooks.yaml');
  fs.writeFileSync(
    playbooks,
    'playbooks:\n  - name: bench-first\n    match: { sources: [falco] }\n    capture: []\n    contain: []\n',
  );
  const env: NodeJS.ProcessEnv = { ...process.env, ...stack.env };
  // No Kubernetes access at all: steps fail fast and say why.
  for (const name of ['KUBECONFIG', 'KUBERNETES_SERVICE_HOST']) delete env[name];
  const startedAt = Date.now();
  const holdfast = await startHoldfast({
    dataDir: path.join(work, 'holdfast'),
    env: { ...env, HOLDFAST_PLAYBOOKS: playbooks, HOLDFAST_CLUSTER_NAME: 'local', HOLDFAST_LOG_LEVEL: 'warn' },
  });
  say(`[bench] /readyz answered 200 ${Date.now() - startedAt} ms after start`);
  const stoppers: Array<() => Promise<void>> = [];
  try {
    const connection = await Connection.connect({ address: stack.temporalAddress });
    stoppers.push(() => connection.close());
    const client = new Client({ connection, namespace: 'holdfast' });
    const workflowIds: string[] = [];
    const fire = async (): Promise<number> => {
      const pod = `web-${crypto.randomBytes(4).toString('hex')}`;
      const res = await fetch(`${holdfast.url}/v1/alerts/falco`, {
        method: 'POST',
        headers: { authorization: `Bearer ${holdfast.tokens.intake}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          uuid: crypto.randomUUID(),
          rule: 'Terminal shell in container',
          priority: 'Critical',
          source: 'syscall',
          time: new Date().toISOString(),
          output: `A shell was spawned in ${pod}`,
          output_fields: { 'k8s.ns.name': 'shop', 'k8s.pod.name': pod, 'container.name': 'app' },
        }),
      });
      // Measured from the answer, as bench/response does: the API answers once Temporal has the alert.
      const accepted = Date.now();
      if (res.status !== 202) throw new Error(`alert refused: ${res.status} ${await res.text()}`);
      const { workflowId, runId } = (await res.json()) as { workflowId: string; runId: string };
      workflowIds.push(workflowId);
      // The preserve activity's outcome, timed by the server's event clock (same host), not by how often we poll.
      const closedAt = await waitFor(
        `${workflowId}'s preserve step`,
        60_000,
        async () => {
          const events = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
          const scheduled = events.find(
            (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'step.preserve',
          );
          const closed = events.find(
            (e) =>
              (
                e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes
              )?.scheduledEventId?.toString() === scheduled?.eventId?.toString(),
          );
          return scheduled && closed ? eventMs(closed) : undefined;
        },
        20,
      );
      return Math.round(closedAt - accepted);
    };
    const first = await fire();
    const rest: number[] = [];
    for (let i = 1; i < incidents; i++) rest.push(await fire());
    rest.sort((a, b) => a - b);
    say(`[bench] first incident after start: alert accepted → preserve step ran ${first} ms`);
    say(
      `[bench] next ${rest.length}: p50 ${rest[Math.floor(rest.length / 2)]} ms, max ${rest.at(-1)} ms; ` +
        `first/p50 ${(first / rest[Math.floor(rest.length / 2)]!).toFixed(1)}`,
    );
    if (values.timeline) await printTimelines(client, workflowIds.slice(0, 2));
  } finally {
    for (const stop of stoppers) await stop();
    await holdfast.stop();
    await stack.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function printTimelines(client: Client, workflowIds: string[]): Promise<void> {
  for (const workflowId of workflowIds) {
    const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    say(`[bench] ${workflowId}:`);
    for (const e of events.slice(0, 18)) {
      const at = String(Math.round(eventMs(e) - eventMs(events[0]!))).padStart(6);
      const activity = e.activityTaskScheduledEventAttributes?.activityType?.name ?? '';
      say(`  ${at} ms ${temporal.api.enums.v1.EventType[e.eventType!]} ${activity}`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
