/**
 * bench/response: on the local cluster (root; scripts/cluster/up.sh) with the real stack and Holdfast as
 * `npm start` runs it (deploy/rbac.yaml's identities, the local collector image). Every incident follows
 * one playbook: preserve; capture filesystem (stallSeconds 5) and network; isolate once the captures end
 * or after at most a short grace (containAfter, --grace-s, default 10 s); page on open to tier 1, a local
 * recording webhook.
 *
 *  1. Calm: N incidents (--incidents, default 20) about N pods of one Deployment (busybox `sleep`), one
 *     after another, after one warm-up incident (the worker's first, reported apart).
 *  2. Hostile: N incidents (--hostile-incidents, default 20), one after another, each about a fresh pod whose
 *     workload SIGSTOPs every tar and gdb it sees (test/helpers/kube.ts SIGSTOP_COLLECTOR_TOOLS, CPU-limited
 *     by --hostile-cpu): the filesystem capture stalls, so containment waits out the grace. A pod is deleted
 *     once its incident has sealed, so at most two such busy loops run at a time on the 2-core machine.
 *     For each incident, from the moment its alert is sent:
 *      - preserved: a pod watch sees the quarantine label;
 *      - first page: the recording webhook receives the incident's opening page (`event.action: open`);
 *      - isolated: watches see a deny-all NetworkPolicy (Ingress and Egress, no rules) whose selector
 *        matches the pod's current labels; the isolate step's own endedAt is printed next to it;
 *      - sealed: the seal step's endedAt.
 *     Prints p50/p99 per run, each against its goal (preserved p99 < 2 s; first page p99 < 5 s; isolated
 *     p99 < grace + 10 s), and the hostile/calm ratios of the same run.
 *  3. Filesystem snapshot throughput (skip with --skip-throughput): a container with a large random file;
 *     the filesystem capture (collector tar → exec stream → changed-files scan → SHA-256 → S3 with Object
 *     Lock) against a raw tar of the same rootfs through the same exec stream, discarded. Prints the ratio,
 *     and the raw tar uploaded to S3 without hashing or scanning (what S3 alone costs).
 *
 *   node dist/bench/response.js [--incidents 20] [--hostile-incidents 20] [--grace-s 10] [--hostile-cpu 250m]
 *                               [--rootfs-mib 512] [--skip-throughput]
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Upload } from '@aws-sdk/lib-storage';
import * as k8s from '@kubernetes/client-node';
import { createS3Client } from '../adapters/s3/client';
import { S3EvidenceStore } from '../adapters/s3/evidence-store';
import { KubernetesCluster } from '../adapters/kubernetes/cluster';
import { ExecReadable } from '../adapters/kubernetes/collector/exec-stream';
import { CollectorLauncher } from '../adapters/kubernetes/collector/launcher';
import { DEFAULT_COLLECTOR } from '../adapters/kubernetes/collector/settings';
import { QUARANTINE_LABEL } from '../adapters/kubernetes/labels';
import { findStep } from '../activities/steps/registry';
import {
  clusterUp,
  identitiesEnv,
  LOCAL_IMAGES,
  localCollectorImage,
  startHoldfast,
  waitFor,
  type RunningHoldfast,
} from '../scripts/local-env';
import { startStack, type RunningStack } from '../scripts/stack';
import { loadConfig, silenceAwsSdkNodeWarning } from '../common/config';
import { SIGSTOP_COLLECTOR_TOOLS } from '../test/helpers/kube';
import { startRecordingServer, type RecordingServer } from '../test/helpers/recording-server';
import type { IncidentStatus } from '../workflows/definitions';
import { Cleanup, formatMs, summarize, type Summary } from './measure';

const say = (line: string) => process.stdout.write(`${line}\n`);
const log = (line: string) => process.stderr.write(`${line}\n`);
const MiB = 1024 * 1024;
const GOAL_PRESERVED_P99_MS = 2000;
const GOAL_FIRST_PAGE_P99_MS = 5000;
/** Isolated within the grace plus this, even when the workload stalls the capture. */
const ISOLATION_MARGIN_MS = 10_000;
const STALL_SECONDS = 5;

/** One incident as seen from outside; a figure is undefined when it was not seen within its bound. */
interface Sample {
  pod: string;
  incidentId: string;
  answeredMs: number;
  preservedMs?: number;
  firstPageMs?: number;
  isolatedMs?: number;
  isolateStepMs?: number;
  sealedMs?: number;
  /** The filesystem capture's error, if it failed (CollectorStalled against the hostile workload). */
  filesystemError?: string;
  /** The incident said containment started after the grace while captures ran. */
  containedEarly?: boolean;
}

/** Whether a label selector selects these labels (matchLabels and matchExpressions, as the API server reads them). */
function selects(selector: k8s.V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    const listed = has && (e.values ?? []).includes(value!);
    if (e.operator === 'In' && !listed) return false;
    if (e.operator === 'NotIn' && listed) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
    if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(e.operator)) return false;
  }
  return true;
}

function deniesAll(spec: k8s.V1NetworkPolicySpec | undefined): boolean {
  const types = spec?.policyTypes ?? [];
  return types.includes('Ingress') && types.includes('Egress') && !spec?.ingress?.length && !spec?.egress?.length;
}

/**
 * What the cluster shows, timed by watch events as they arrive: when each pod first carried the quarantine
 * label, and when a deny-all policy first selected it as it was labelled then. A watch the server ends is
 * started again (it replays the current objects, so nothing is missed, only timed late).
 */
class ClusterObserver {
  readonly preservedAt = new Map<string, number>();
  readonly isolatedAt = new Map<string, number>();
  private readonly labels = new Map<string, Record<string, string>>();
  private readonly policies = new Map<string, k8s.V1NetworkPolicySpec | undefined>();
  private readonly tracked = new Set<string>();
  private readonly aborts: AbortController[] = [];
  private stopped = false;

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly namespace: string,
  ) {}

  async start(): Promise<void> {
    await this.watch(`/api/v1/namespaces/${this.namespace}/pods`, (type, pod: k8s.V1Pod) => {
      const name = pod.metadata?.name;
      if (!name) return;
      if (type === 'DELETED') {
        this.labels.delete(name);
        return;
      }
      this.labels.set(name, pod.metadata?.labels ?? {});
      if (pod.metadata?.labels?.[QUARANTINE_LABEL] && !this.preservedAt.has(name))
        this.preservedAt.set(name, Date.now());
    });
    await this.watch(
      `/apis/networking.k8s.io/v1/namespaces/${this.namespace}/networkpolicies`,
      (type, policy: k8s.V1NetworkPolicy) => {
        const name = policy.metadata?.name;
        if (!name) return;
        if (type === 'DELETED') this.policies.delete(name);
        else this.policies.set(name, policy.spec);
      },
    );
  }

  /** Start timing isolation for this pod (from now on; its figures are measured from the alert). */
  track(pod: string): void {
    this.tracked.add(pod);
    this.check();
  }

  stop(): void {
    this.stopped = true;
    for (const a of this.aborts) a.abort();
  }

  private check(): void {
    const now = Date.now();
    for (const pod of this.tracked) {
      if (this.isolatedAt.has(pod)) continue;
      const labels = this.labels.get(pod);
      if (!labels) continue;
      for (const spec of this.policies.values()) {
        if (deniesAll(spec) && selects(spec?.podSelector, labels)) {
          this.isolatedAt.set(pod, now);
          break;
        }
      }
    }
  }

  private async watch(path: string, onEvent: (type: string, obj: never) => void): Promise<void> {
    const again = () => {
      if (!this.stopped) setTimeout(() => void this.watch(path, onEvent).catch(again), 500);
    };
    const abort = await new k8s.Watch(this.kc).watch(
      path,
      {},
      (type, obj) => {
        onEvent(type, obj as never);
        this.check();
      },
      again,
    );
    this.aborts.push(abort);
  }
}

/** Polls until fn gives a value or the bound passes; undefined then (a bench records a miss, it does not stop). */
async function within<T>(timeoutMs: number, fn: () => T | undefined | Promise<T | undefined>, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve(fn()).catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

interface Env {
  holdfast: RunningHoldfast;
  hook: RecordingServer;
  observer: ClusterObserver;
  namespace: string;
  graceMs: number;
}

async function incidentStatus(env: Env, incidentId: string): Promise<IncidentStatus | undefined> {
  const res = await fetch(`${env.holdfast.url}/v1/incidents/${incidentId}`, {
    headers: { authorization: `Bearer ${env.holdfast.tokens.responder}` },
    signal: AbortSignal.timeout(10_000),
  });
  return res.status === 200 ? ((await res.json()) as { status: IncidentStatus }).status : undefined;
}

/** Fires one alert about a pod and times what follows, up to isolation; `sealed` settles later. */
async function fire(env: Env, pod: string): Promise<{ sample: Sample; sealed: Promise<void> }> {
  env.observer.track(pod);
  const alert = {
    uuid: crypto.randomUUID(),
    rule: 'Terminal shell in container',
    priority: 'Critical',
    source: 'syscall',
    time: new Date().toISOString(),
    output: `A shell was spawned in ${pod}`,
    output_fields: { 'k8s.ns.name': env.namespace, 'k8s.pod.name': pod, 'container.name': 'app' },
  };
  const sent = Date.now();
  const res = await fetch(`${env.holdfast.url}/v1/alerts/falco`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.holdfast.tokens.intake}`, 'content-type': 'application/json' },
    body: JSON.stringify(alert),
    signal: AbortSignal.timeout(30_000),
  });
  const answeredMs = Date.now() - sent;
  if (res.status !== 202) throw new Error(`alert refused: ${res.status} ${await res.text()}`);
  const { incidentId } = (await res.json()) as { incidentId: string };
  const since = (at: number | undefined) => (at === undefined ? undefined : at - sent);
  const [preserved, firstPage, isolated] = await Promise.all([
    within(60_000, () => env.observer.preservedAt.get(pod)),
    within(60_000, () =>
      env.hook.requests.find((r) => {
        const e = (r.body as { event?: { incidentId?: string; action?: string } } | undefined)?.event;
        return e?.incidentId === incidentId && e.action === 'open';
      }),
    ),
    within(env.graceMs + 120_000, () => env.observer.isolatedAt.get(pod)),
  ]);
  const sample: Sample = {
    pod,
    incidentId,
    answeredMs,
    preservedMs: since(preserved),
    firstPageMs: since(firstPage?.receivedAt),
    isolatedMs: since(isolated),
  };
  // The isolate step records its end once it has read the policy back: a little after the policy appears.
  const isolateStep = await within(
    30_000,
    async () => (await incidentStatus(env, incidentId))?.steps.find((s) => s.name === 'isolate' && s.endedAt),
    250,
  );
  if (isolateStep?.state === 'succeeded') sample.isolateStepMs = Date.parse(isolateStep.endedAt!) - sent;
  const sealed = (async () => {
    const status = await within(
      180_000,
      async () => {
        const s = await incidentStatus(env, incidentId);
        return s?.steps.some((x) => x.name === 'seal' && x.endedAt) ? s : undefined;
      },
      500,
    );
    if (!status) return;
    sample.sealedMs = Date.parse(status.steps.find((x) => x.name === 'seal')!.endedAt!) - sent;
    const filesystem = status.steps.find((x) => x.name === 'filesystem');
    if (filesystem?.state === 'failed') sample.filesystemError = filesystem.error;
    sample.containedEarly = status.notes?.some((n) => n.startsWith('containment started after the')) ?? false;
  })();
  return { sample, sealed };
}

interface RunFigures {
  samples: Sample[];
  answered: Summary;
  preserved: Summary;
  firstPage: Summary;
  isolated: Summary;
  isolateStep: Summary;
  sealed: Summary;
}

function figures(samples: Sample[]): RunFigures {
  const of = (pick: (s: Sample) => number | undefined) =>
    summarize(samples.map(pick).filter((v): v is number => v !== undefined));
  return {
    samples,
    answered: of((s) => s.answeredMs),
    preserved: of((s) => s.preservedMs),
    firstPage: of((s) => s.firstPageMs),
    isolated: of((s) => s.isolatedMs),
    isolateStep: of((s) => s.isolateStepMs),
    sealed: of((s) => s.sealedMs),
  };
}

function missing(f: RunFigures, s: Summary): string {
  return s.n < f.samples.length ? ` (${f.samples.length - s.n} NOT SEEN within the bound)` : '';
}

function printRun(name: string, f: RunFigures): void {
  say(
    `[bench] ${name}, ${f.samples.length} incidents, from the alert sent (API answered 202 in ${formatMs(f.answered)}):`,
  );
  say(`[bench]   → pod preserved:   ${formatMs(f.preserved)}${missing(f, f.preserved)}`);
  say(`[bench]   → first page:      ${formatMs(f.firstPage)}${missing(f, f.firstPage)}`);
  say(
    `[bench]   → isolated:        ${formatMs(f.isolated)}${missing(f, f.isolated)} (deny-all policy selects the pod, seen by watch)`,
  );
  say(`[bench]     isolate step ended ${formatMs(f.isolateStep)}${missing(f, f.isolateStep)}`);
  say(`[bench]   → sealed:          ${formatMs(f.sealed)}${missing(f, f.sealed)}`);
  const stalled = f.samples.filter((s) => /^CollectorStalled/.test(s.filesystemError ?? '')).length;
  const otherFailures = f.samples.filter((s) => s.filesystemError && !/^CollectorStalled/.test(s.filesystemError));
  const early = f.samples.filter((s) => s.containedEarly).length;
  say(
    `[bench]   filesystem capture failed as CollectorStalled in ${stalled}, otherwise in ${otherFailures.length}; ` +
      `containment started after the grace in ${early}`,
  );
  for (const s of otherFailures.slice(0, 3)) say(`[bench]     ${s.pod}: ${s.filesystemError!.slice(0, 200)}`);
}

function goal(what: string, s: Summary, total: number, goalMs: number): string {
  const met = s.n === total && s.p99 < goalMs;
  return `${what} p99 ${Math.round(s.p99)} ms / ${goalMs} ms = ${(s.p99 / goalMs).toFixed(2)} ${met ? 'met' : 'MISSED'}`;
}

/** Waits for a pod to run; the SIGSTOP loop starts with it. */
async function podRunning(core: k8s.CoreV1Api, namespace: string, name: string): Promise<void> {
  await waitFor(`${name} running`, 90_000, async () => {
    const p = await core.readNamespacedPod({ name, namespace });
    return p.status?.containerStatuses?.every((c) => c.state?.running) || undefined;
  });
}

async function main(): Promise<void> {
  silenceAwsSdkNodeWarning();
  const { values } = parseArgs({
    options: {
      incidents: { type: 'string', default: '20' },
      'hostile-incidents': { type: 'string', default: '20' },
      'grace-s': { type: 'string', default: '10' },
      'hostile-cpu': { type: 'string', default: '250m' },
      'rootfs-mib': { type: 'string', default: '512' },
      'skip-throughput': { type: 'boolean', default: false },
    },
  });
  const incidents = Math.max(1, Number(values.incidents) || 20);
  const hostileIncidents = Math.max(0, Number(values['hostile-incidents']) || 0);
  const graceSeconds = Math.max(1, Number(values['grace-s']) || 10);
  const rootfsMiB = Math.max(16, Number(values['rootfs-mib']) || 512);
  const cleanup = new Cleanup(log);
  try {
    const kubeconfig = clusterUp(log);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-bench-response-'));
    cleanup.add('remove the work directory', () => fs.rmSync(work, { recursive: true, force: true }));
    const ns = `holdfast-bench-${crypto.randomBytes(3).toString('hex')}`;
    const stack = await startStack({
      dataDir: path.join(work, 'servers'),
      namespace: 'holdfast',
      bucket: 'holdfast-evidence',
      log,
    });
    cleanup.add('stop Temporal and S3', () => stack.stop());
    const hook = await startRecordingServer({ maxRequests: 20 * (incidents + hostileIncidents) + 100 });
    cleanup.add('stop the recording webhook', () => hook.close());
    const playbooks = path.join(work, 'playbooks.yaml');
    fs.writeFileSync(
      playbooks,
      [
        'notifiers:',
        `  - { name: hook, type: webhook, url: "${hook.url}/hook", secret: "${crypto.randomBytes(16).toString('hex')}" }`,
        'playbooks:',
        '  - name: bench-response',
        '    match: { sources: [falco] }',
        '    capture:',
        `      - { name: filesystem, params: { stallSeconds: ${STALL_SECONDS} } }`,
        '      - network',
        '    contain: [isolate]',
        `    containAfter: ${graceSeconds}s`,
        '    pageOnOpen: true',
        '    escalation: { tiers: [{ notifiers: [hook], ackTimeout: 1h }] }',
        '',
      ].join('\n'),
    );
    const holdfast = await startHoldfast({
      dataDir: path.join(work, 'holdfast'),
      env: {
        ...process.env,
        ...stack.env,
        ...(await identitiesEnv(kubeconfig, work)),
        HOLDFAST_PLAYBOOKS: playbooks,
        HOLDFAST_CLUSTER_NAME: 'local',
        HOLDFAST_LOG_LEVEL: 'warn',
        HOLDFAST_COLLECTOR_IMAGE: localCollectorImage(),
        HOLDFAST_COLLECTOR_PULL_POLICY: 'Never',
      },
    });
    cleanup.add('stop Holdfast', () => holdfast.stop());

    await core.createNamespace({ body: { metadata: { name: ns } } });
    cleanup.add(`delete namespace ${ns}`, () => core.deleteNamespace({ name: ns, gracePeriodSeconds: 0 }));
    await waitFor('default service account', 30_000, () =>
      core.readNamespacedServiceAccount({ name: 'default', namespace: ns }).then(() => true),
    );
    const observer = new ClusterObserver(kc, ns);
    await observer.start();
    cleanup.add('stop the watches', () => observer.stop());
    const env: Env = { holdfast, hook, observer, namespace: ns, graceMs: graceSeconds * 1000 };

    // ---- calm: a Deployment of sleeping pods ----
    const replicas = incidents + 1;
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'fleet' },
        spec: {
          replicas,
          selector: { matchLabels: { app: 'fleet' } },
          template: {
            metadata: { labels: { app: 'fleet' } },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [
                { name: 'app', image: LOCAL_IMAGES.busybox, imagePullPolicy: 'Never', command: ['sleep', '100000'] },
              ],
            },
          },
        },
      },
    });
    await waitFor(`${replicas} ready pods`, 300_000, async () =>
      (await apps.readNamespacedDeployment({ name: 'fleet', namespace: ns })).status?.readyReplicas === replicas
        ? true
        : undefined,
    );
    const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=fleet' })).items.map(
      (p) => p.metadata!.name!,
    );
    const warm = await fire(env, pods[0]!);
    await warm.sealed;
    say(
      `[bench] warm-up incident (first after start): preserved ${warm.sample.preservedMs} ms, first page ${warm.sample.firstPageMs} ms, ` +
        `isolated ${warm.sample.isolatedMs} ms, sealed ${warm.sample.sealedMs} ms after the alert`,
    );
    const calmSamples: Sample[] = [];
    const calmSealed: Array<Promise<void>> = [];
    for (const pod of pods.slice(1, incidents + 1)) {
      const { sample, sealed } = await fire(env, pod);
      calmSamples.push(sample);
      calmSealed.push(sealed);
    }
    // Nothing of the calm run may still be capturing while the hostile one is timed.
    await Promise.all(calmSealed);
    const calm = figures(calmSamples);

    // ---- hostile: each pod stops every tar and gdb it sees ----
    const hostileSamples: Sample[] = [];
    const alive = new Set<Promise<void>>();
    for (let i = 0; i < hostileIncidents; i++) {
      // The busy loops share two cores with everything else: at most one earlier one still runs.
      while (alive.size > 1) await Promise.race(alive);
      const name = `stopper-${i}`;
      await core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name, labels: { app: 'stopper' } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'app',
                image: LOCAL_IMAGES.busybox,
                imagePullPolicy: 'Never',
                command: ['sh', '-c', SIGSTOP_COLLECTOR_TOOLS],
                resources: { limits: { cpu: values['hostile-cpu'] } },
              },
            ],
          },
        },
      });
      await podRunning(core, ns, name);
      const { sample, sealed } = await fire(env, name);
      hostileSamples.push(sample);
      const done: Promise<void> = sealed
        .then(() => core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: 0 }))
        .then(
          () => undefined,
          () => undefined,
        )
        .finally(() => alive.delete(done));
      alive.add(done);
    }
    await Promise.all(alive);
    const hostile = figures(hostileSamples);

    printRun('calm (busybox sleep)', calm);
    if (hostileIncidents > 0) printRun(`hostile (SIGSTOPs every tar/gdb, CPU ${values['hostile-cpu']})`, hostile);
    const isolationGoal = graceSeconds * 1000 + ISOLATION_MARGIN_MS;
    for (const [name, f] of [
      ['calm', calm],
      ['hostile', hostile],
    ] as const) {
      if (f.samples.length === 0) continue;
      say(
        `[bench] goals, ${name}: ${goal('preserved', f.preserved, f.samples.length, GOAL_PRESERVED_P99_MS)}; ` +
          `${goal('first page', f.firstPage, f.samples.length, GOAL_FIRST_PAGE_P99_MS)}; ` +
          `${goal(`isolated (grace ${graceSeconds} s + 10 s)`, f.isolated, f.samples.length, isolationGoal)}`,
      );
    }
    if (hostile.samples.length > 0) {
      const r = (h: Summary, c: Summary) => `p50 ×${(h.p50 / c.p50).toFixed(2)}, p99 ×${(h.p99 / c.p99).toFixed(2)}`;
      say(
        `[bench] hostile/calm, same run: preserved ${r(hostile.preserved, calm.preserved)}; first page ${r(hostile.firstPage, calm.firstPage)}; ` +
          `isolated ${r(hostile.isolated, calm.isolated)}; sealed ${r(hostile.sealed, calm.sealed)}`,
      );
    }

    if (!values['skip-throughput']) await throughput(kc, core, ns, stack, rootfsMiB);
  } finally {
    await cleanup.run();
  }
}

/** Filesystem capture into S3 against a raw tar of the same rootfs through the same exec stream. */
async function throughput(
  kc: k8s.KubeConfig,
  core: k8s.CoreV1Api,
  ns: string,
  stack: RunningStack,
  rootfsMiB: number,
): Promise<void> {
  // ---- filesystem snapshot throughput ----
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: 'bigfs' },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'app',
            image: LOCAL_IMAGES.busybox,
            imagePullPolicy: 'Never',
            command: [
              'sh',
              '-c',
              `dd if=/dev/urandom of=/var/blob bs=1048576 count=${rootfsMiB} 2>/dev/null; touch /var/ready; exec sleep 100000`,
            ],
          },
        ],
      },
    },
  });
  await waitFor('the big rootfs to be written', 600_000, async () => {
    const p = await core.readNamespacedPod({ name: 'bigfs', namespace: ns });
    return p.status?.phase === 'Running' ? true : undefined;
  });
  const collector = { ...DEFAULT_COLLECTOR, image: localCollectorImage(), imagePullPolicy: 'Never' as const };
  const target = { cluster: 'local', namespace: ns, pod: 'bigfs', container: 'app' };
  const handle = await new CollectorLauncher(core, collector).ensure(target, 'inc-bench-raw');
  const exec = new k8s.Exec(kc);
  const probe = new ExecReadable(
    exec,
    handle,
    ['sh', '-c', 'while [ ! -e /proc/1/root/var/ready ]; do sleep 1; done; echo ready'],
    { maxBytes: 1024, timeoutMs: 600_000 },
    () => undefined,
  );
  for await (const _ of probe) {
    /* wait */
  }
  const tarArgv = [
    '/usr/bin/tar',
    '-C',
    '/proc/1/root',
    '--format=posix',
    '--numeric-owner',
    '--sparse',
    '--one-file-system',
    '--anchored',
    '--exclude=./proc',
    '--exclude=./sys',
    '--exclude=./dev',
    '-cf',
    '-',
    '.',
  ];

  const rawOnce = async () => {
    const started = process.hrtime.bigint();
    let bytes = 0;
    const raw = new ExecReadable(
      exec,
      handle,
      tarArgv,
      { maxBytes: 64 * 1024 * MiB, timeoutMs: 1800_000 },
      () => undefined,
    );
    for await (const chunk of raw) bytes += (chunk as Buffer).length;
    return { bytes, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  };
  const inPod = async () => {
    const started = process.hrtime.bigint();
    const r = new ExecReadable(
      exec,
      handle,
      ['sh', '-c', `${tarArgv.map((a) => `'${a}'`).join(' ')} | wc -c`],
      { maxBytes: 1024, timeoutMs: 1800_000 },
      () => undefined,
    );
    let out = '';
    for await (const chunk of r) out += String(chunk);
    return { bytes: Number(out.trim()), seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  };
  const s3 = createS3Client({
    endpoint: stack.s3Endpoint,
    region: 'us-east-1',
    bucket: 'holdfast-evidence',
    forcePathStyle: true,
    ...stack.s3Credentials,
  });
  const { partSize, queueSize } = loadConfig().evidence;
  const store = new S3EvidenceStore({
    s3,
    bucket: 'holdfast-evidence',
    retention: { mode: 'GOVERNANCE', days: 1 },
    partSize,
    queueSize,
  });
  const captureOnce = async (round: number) => {
    const started = process.hrtime.bigint();
    const result = await findStep('filesystem')!.run({
      incidentId: `inc-bench-fs-${round}-${crypto.randomBytes(3).toString('hex')}`,
      target,
      dryRun: false,
      params: {},
      progress: () => {},
      deps: { cluster: new KubernetesCluster(kc, collector), evidence: store },
    });
    const tarRef = result.artifacts.find((a) => a.name === 'rootfs.tar')!;
    return { bytes: tarRef.size, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  };
  // The same raw tar into S3 with a plain lib-storage upload (no hash, no scan, no lock): what S3 alone costs.
  const rawToS3Once = async (round: number) => {
    const started = process.hrtime.bigint();
    let bytes = 0;
    const raw = new ExecReadable(
      exec,
      handle,
      tarArgv,
      { maxBytes: 64 * 1024 * MiB, timeoutMs: 1800_000 },
      () => undefined,
    );
    raw.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    await new Upload({
      client: s3,
      params: {
        Bucket: 'holdfast-evidence',
        Key: `bench/raw-${round}-${crypto.randomBytes(3).toString('hex')}.tar`,
        Body: raw,
      },
      partSize,
      queueSize,
    }).done();
    return { bytes, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  };
  const mibps = (r: { bytes: number; seconds: number }) => r.bytes / MiB / r.seconds;
  const local = await inPod();
  say(
    `[bench] tar inside the collector to wc -c (disk read only): ${(local.bytes / MiB).toFixed(0)} MiB in ${local.seconds.toFixed(2)} s = ${mibps(local).toFixed(1)} MiB/s`,
  );
  const ratios: number[] = [];
  for (let round = 0; round < 2; round++) {
    const raw = await rawOnce();
    const rawS3 = await rawToS3Once(round);
    const captured = await captureOnce(round);
    ratios.push(mibps(captured) / mibps(raw));
    say(
      `[bench] round ${round + 1}: raw tar through exec ${mibps(raw).toFixed(1)} MiB/s (${(raw.bytes / MiB).toFixed(0)} MiB); ` +
        `raw tar into S3 (plain upload) ${mibps(rawS3).toFixed(1)} MiB/s; filesystem capture into S3 ${mibps(captured).toFixed(1)} MiB/s ` +
        `(${(captured.bytes / MiB).toFixed(0)} MiB, ${captured.seconds.toFixed(2)} s): ratio to raw tar ${(mibps(captured) / mibps(raw)).toFixed(2)}, to raw tar into S3 ${(mibps(captured) / mibps(rawS3)).toFixed(2)}`,
    );
  }
  say(
    `[bench] filesystem snapshot throughput ratio to a raw tar of the same rootfs: ${Math.min(...ratios).toFixed(2)} (worst of ${ratios.length})`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[bench] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
