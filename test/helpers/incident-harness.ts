import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection, type WorkflowHandle, type WorkflowHandleWithSignaledRunId } from '@temporalio/client';
import type { ActivityDeps } from '../../activities';
import type { NotifyEvent } from '../../activities/contract';
import type { NotifierLike } from '../../activities/notify';
import { parsePlaybooks } from '../../activities/playbooks';
import type { SealInput, SealResult } from '../../activities/contract';
import type { Alert } from '../../common/types';
import {
  alertsSignal,
  incidentWorkflowId,
  INCIDENT_WORKFLOW,
  statusQuery,
  type IncidentStatus,
} from '../../workflows/definitions';
import { createWorker } from '../../worker/main';
import { FakeCluster } from '../fakes/cluster';
import { MemoryEvidenceStore } from '../fakes/evidence-store';
import { fixturesDir, quietTemporalRuntime, testConfig } from './env';

/**
 * With HOLDFAST_RECORD_HISTORIES=1, a finished scenario's history is written to test/fixtures/histories
 * so the replay test (test/unit/replay.test.ts) can prove later workflow code still replays it.
 */
export async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.HOLDFAST_RECORD_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  const dir = path.join(fixturesDir, 'histories');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), `${historyToJSON(history)}\n`);
}

/** A notifier that records what it was asked to send. */
export class RecordingNotifier implements NotifierLike {
  readonly sent: Array<NotifyEvent & { at: number }> = [];
  async send(event: NotifyEvent, opts: { dryRun: boolean }) {
    this.sent.push({ ...event, at: Date.now() });
    return { status: opts.dryRun ? ('dry-run' as const) : ('sent' as const) };
  }
}

export function sampleAlert(overrides: Partial<Alert> = {}, target: Partial<Alert['target']> = {}): Alert {
  const now = new Date().toISOString();
  return {
    id: crypto.randomUUID(),
    source: 'falco',
    rule: 'Terminal shell in container',
    severity: 'high',
    summary: 'A shell was spawned in a container with an attached terminal',
    observedAt: now,
    receivedAt: now,
    target: {
      cluster: 'test',
      namespace: 'shop',
      pod: `web-${crypto.randomBytes(3).toString('hex')}`,
      container: 'web',
      ...target,
    },
    labels: {},
    status: 'firing',
    rawSha256: crypto.createHash('sha256').update(now).digest('hex'),
    ...overrides,
  };
}

export interface Harness {
  client: Client;
  taskQueue: string;
  cluster: FakeCluster;
  evidence: MemoryEvidenceStore;
  notifiers: Map<string, RecordingNotifier>;
  seals: SealInput[];
  open(alert: Alert): Promise<WorkflowHandleWithSignaledRunId>;
  waitForStatus(
    handle: WorkflowHandle,
    predicate: (s: IncidentStatus) => boolean,
    timeoutMs?: number,
  ): Promise<IncidentStatus>;
  close(): Promise<void>;
}

/** A real worker on the real Temporal dev server, with fake cluster, evidence and notifiers. */
export async function startHarness(
  playbookYaml: string,
  overrides: Omit<Partial<ActivityDeps>, 'cluster'> & {
    cluster?: FakeCluster;
    /** A real cluster for the worker (the local one); `cluster` then stays an unused fake. */
    liveCluster?: ActivityDeps['cluster'];
    /** Another Temporal server than the test run's (e.g. one started with low limits). */
    temporalAddress?: string;
    /** A given task queue (e.g. one an API process started elsewhere delivers to). */
    taskQueue?: string;
    /** The cluster the worker serves (default `test`, as sampleAlert's target). */
    clusterName?: string;
  } = {},
): Promise<Harness> {
  quietTemporalRuntime();
  const taskQueue = overrides.taskQueue ?? `incident-test-${crypto.randomUUID()}`;
  const config = testConfig(taskQueue, {
    ...(overrides.temporalAddress ? { TEMPORAL_ADDRESS: overrides.temporalAddress } : {}),
    ...(overrides.clusterName ? { HOLDFAST_CLUSTER_NAME: overrides.clusterName } : {}),
  });
  const cluster = overrides.cluster ?? new FakeCluster();
  const evidence = new MemoryEvidenceStore();
  const playbooks = parsePlaybooks(playbookYaml, 'test-playbooks.yaml', {
    apiBaseUrl: 'http://holdfast.test',
    protectedNamespaces: config.scope.protectedNamespaces,
  });
  const notifiers = new Map(playbooks.notifiers.map((n) => [String(n.name), new RecordingNotifier()]));
  const seals: SealInput[] = [];
  const sealEvidence = async (input: SealInput): Promise<SealResult> => {
    seals.push(input);
    const key = `incidents/${input.incidentId}/manifest.json`;
    return {
      manifest: { key, size: 1, sha256: '0'.repeat(64) },
      signature: { key: `${key}.sig`, size: 1, sha256: '0'.repeat(64) },
      keyId: 'test',
    };
  };
  const { liveCluster, temporalAddress: _address, taskQueue: _queue, clusterName: _clusterName, ...deps } = overrides;
  const running = await createWorker(config, {
    evidence,
    notifiers,
    playbooks,
    sealEvidence,
    ...deps,
    cluster: liveCluster ?? cluster,
  });
  const workerDone = running.worker.run();
  const connection = await Connection.connect({ address: config.temporal.address! });
  const client = new Client({ connection, namespace: config.temporal.namespace });

  return {
    client,
    taskQueue,
    cluster,
    evidence,
    notifiers,
    seals,
    async open(alert) {
      const fingerprint = crypto
        .createHash('sha256')
        .update(`${alert.source}|${alert.rule}|${alert.summary}`)
        .digest('hex');
      return client.workflow.signalWithStart(INCIDENT_WORKFLOW, {
        taskQueue,
        workflowId: incidentWorkflowId(alert.target),
        args: [{ key: incidentWorkflowId(alert.target), target: alert.target, alerts: [] }],
        signal: alertsSignal,
        signalArgs: [{ alerts: [{ alert, fingerprint }] }],
      });
    },
    async waitForStatus(handle, predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last: IncidentStatus | undefined;
      while (Date.now() < deadline) {
        try {
          last = await handle.query(statusQuery);
          if (predicate(last)) return last;
        } catch {
          // The first workflow task may not have run yet.
        }
        await sleep(200);
      }
      throw new Error(`status did not reach the expected state in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    },
    async close() {
      running.worker.shutdown();
      await workerDone;
      await running.close();
      await connection.close();
    },
  };
}
