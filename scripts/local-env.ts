/**
 * The pieces `npm test`, `npm run demo` and the benchmarks share: the local cluster (scripts/cluster),
 * deploy/rbac.yaml's identities turned into kubeconfig files, and Holdfast itself (dist/scripts/start.js:
 * API + worker) started on an already running Temporal and S3.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import { pinAdmissionPolicy } from './admission-policy';
import { spawnOwned, type OwnedChild } from './processes';
import type { ManifestObject } from './rbac-namespaced';
import { scriptSettings } from './settings';
import { freePort } from './stack';

export const repoRoot = path.resolve(__dirname, '..', '..');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Workload images of the local cluster (never pulled). The collector is pinned by digest: localCollectorImage(). */
export const LOCAL_IMAGES = {
  busybox: 'docker.io/holdfast/busybox:local',
  distroless: 'docker.io/holdfast/distroless:local',
  /** busybox + /hostile (scripts/cluster/images/hostile.c): workloads that bend evidence, for tamper tests. */
  hostile: 'docker.io/holdfast/hostile:local',
} as const;

/** Where scripts/cluster/images.sh writes the locally built collector's digest reference when it imports it. */
export function localCollectorRefFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(scriptSettings(env).cacheDir, 'images', 'collector.ref');
}

/**
 * The locally built collector as a digest reference (`docker.io/holdfast/collector@sha256:…`), as the worker
 * must be given it (a tag is refused). There is no registry: images.sh imports the archive into containerd
 * under that name too and writes the reference to localCollectorRefFile(); read at each call (a rebuild changes it).
 */
export function localCollectorImage(env: NodeJS.ProcessEnv = process.env): string {
  const file = localCollectorRefFile(env);
  let ref: string;
  try {
    ref = fs.readFileSync(file, 'utf8').trim();
  } catch {
    throw new Error(
      `${file} is missing: the local collector image is not imported yet (bash scripts/cluster/images.sh)`,
    );
  }
  if (!/^docker\.io\/holdfast\/collector@sha256:[0-9a-f]{64}$/.test(ref))
    throw new Error(`${file} does not hold a collector digest reference: ${JSON.stringify(ref.slice(0, 120))}`);
  return ref;
}

/** Polls fn until it returns a value other than undefined/false, or fails after timeoutMs. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  fn: () => Promise<T | undefined | false>,
  everyMs = 500,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

/**
 * Brings up the local cluster (needs root); returns its admin kubeconfig path. A broken cluster throws:
 * a run that needs it must fail, not silently skip.
 */
export function clusterUp(say: (line: string) => void): string {
  const upScript = path.join(repoRoot, 'scripts', 'cluster', 'up.sh');
  if (process.getuid?.() !== 0)
    throw new Error(
      'the local Kubernetes cluster (containerd, kubelet) needs root: run as root, or point KUBECONFIG at a cluster',
    );
  say(
    '[holdfast] bringing up the local Kubernetes cluster (scripts/cluster/up.sh; the first run builds it from source)…',
  );
  let result = spawnSync('bash', [upScript], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    timeout: 45 * 60_000,
  });
  if (result.status !== 0) {
    // up.sh is idempotent: a transient failure (seen once: exit 2, not reproduced) gets one more try
    say(`[holdfast] scripts/cluster/up.sh exited ${result.status}; trying once more…`);
    result = spawnSync('bash', [upScript], {
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      timeout: 45 * 60_000,
    });
  }
  const lines = (result.stdout ?? '').trim().split('\n');
  const kubeconfig = lines[lines.length - 1]?.trim();
  if (result.status !== 0 || !kubeconfig || !fs.existsSync(kubeconfig)) {
    // A half-started cluster (etcd up, the API server not) must not outlive the failed attempt.
    clusterDown();
    throw new Error(
      `scripts/cluster/up.sh failed (exit ${result.status}); last output: ${lines.slice(-5).join(' | ')}`,
    );
  }
  return kubeconfig;
}

export function clusterDown(): void {
  const downScript = path.join(repoRoot, 'scripts', 'cluster', 'down.sh');
  if (fs.existsSync(downScript)) spawnSync('bash', [downScript], { stdio: 'inherit', timeout: 5 * 60_000 });
}

/** deploy/ files whose objects the local setup applies: the identities, the optional checkpoint role, the admission policy. */
export const DEPLOY_ACCESS_FILES = ['rbac.yaml', 'rbac-checkpoint.yaml', 'admission-policy.yaml'] as const;

/** The objects of a deploy/ file, as YAML documents. */
export function deployObjects(file: string): k8s.KubernetesObject[] {
  return YAML.parseAllDocuments(fs.readFileSync(path.join(repoRoot, 'deploy', file), 'utf8')).map(
    (d) => d.toJSON() as k8s.KubernetesObject,
  );
}

const REPLACED_KINDS = new Set([
  'ClusterRole',
  'ClusterRoleBinding',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
]);

/**
 * Creates every object of deploy/rbac.yaml, rbac-checkpoint.yaml (the demo's and the e2e test's playbooks try
 * the checkpoint) and admission-policy.yaml pinned to `collectorImage`; replaces the roles, bindings and
 * policy that exist (idempotent).
 */
export async function applyRbac(kc: k8s.KubeConfig, collectorImage = localCollectorImage()): Promise<void> {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const docs = DEPLOY_ACCESS_FILES.flatMap((file) =>
    file === 'admission-policy.yaml'
      ? (pinAdmissionPolicy(deployObjects(file) as ManifestObject[], collectorImage) as k8s.KubernetesObject[])
      : deployObjects(file),
  );
  for (const doc of docs) {
    try {
      await objects.create(doc);
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
      if (REPLACED_KINDS.has(doc.kind!)) {
        const current = await objects.read({
          apiVersion: doc.apiVersion!,
          kind: doc.kind!,
          metadata: {
            name: doc.metadata!.name!,
            ...(doc.metadata?.namespace ? { namespace: doc.metadata.namespace } : {}),
          },
        });
        await objects.replace({
          ...doc,
          metadata: { ...doc.metadata, resourceVersion: current.metadata?.resourceVersion },
        });
      }
    }
  }
}

/** A kubeconfig file (mode 0600) that authenticates as a service account of deploy/rbac.yaml, with a 3-hour token. */
export async function serviceAccountKubeconfig(kc: k8s.KubeConfig, account: string, dir: string): Promise<string> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const token = await core.createNamespacedServiceAccountToken({
    name: account,
    namespace: 'holdfast-system',
    body: { spec: { audiences: [], expirationSeconds: 3 * 3600 } },
  });
  const cluster = kc.getCurrentCluster()!;
  const caData = cluster.caData ?? (cluster.caFile ? fs.readFileSync(cluster.caFile).toString('base64') : undefined);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': account,
    clusters: [{ name: 'local', cluster: { server: cluster.server, 'certificate-authority-data': caData } }],
    users: [{ name: account, user: { token: token.status!.token } }],
    contexts: [{ name: account, context: { cluster: 'local', user: account } }],
  };
  const file = path.join(dir, `${account}.kubeconfig`);
  fs.writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

/**
 * deploy/'s identities and admission policy applied; environment for a worker holding exactly the capture and
 * containment identities, with the locally built collector pinned by digest.
 */
export async function identitiesEnv(adminKubeconfig: string, dir: string): Promise<Record<string, string>> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(adminKubeconfig);
  const collector = localCollectorImage();
  await applyRbac(kc, collector);
  return {
    HOLDFAST_COLLECTOR_IMAGE: collector,
    HOLDFAST_CAPTURE_KUBECONFIG: await serviceAccountKubeconfig(kc, 'holdfast-capture', dir),
    HOLDFAST_CONTAINMENT_KUBECONFIG: await serviceAccountKubeconfig(kc, 'holdfast-containment', dir),
  };
}

export interface RunningHoldfast {
  url: string;
  /** dist/scripts/start.js, the parent of the worker and API processes. */
  pid?: number;
  tokens: { intake: string; responder: string; investigator: string };
  output(): string;
  stop(): Promise<void>;
}

/**
 * Holdfast's API and worker (dist/scripts/start.js) on the Temporal and S3 that `env` points at, on a
 * free port and its own task queue. Resolves once /readyz answers 200.
 */
export async function startHoldfast(opts: {
  env: NodeJS.ProcessEnv;
  dataDir: string;
  echo?: boolean;
}): Promise<RunningHoldfast> {
  const [apiPort, metricsPort] = await Promise.all([freePort(), freePort()]);
  const secret = () => crypto.randomBytes(18).toString('base64url');
  const tokens = {
    intake: `hf_intake_${secret()}`,
    responder: `hf_responder_${secret()}`,
    investigator: `hf_investigator_${secret()}`,
  };
  const env: NodeJS.ProcessEnv = {
    ...opts.env,
    HOLDFAST_DATA_DIR: opts.dataDir,
    HOLDFAST_API_PORT: String(apiPort),
    HOLDFAST_WORKER_METRICS_PORT: String(metricsPort),
    HOLDFAST_TASK_QUEUE: opts.env.HOLDFAST_TASK_QUEUE ?? `holdfast-${crypto.randomBytes(3).toString('hex')}`,
    HOLDFAST_TOKENS: Object.entries(tokens)
      .map(([role, token]) => `${role}=${token}`)
      .join(','),
  };
  let output = '';
  const child: OwnedChild = spawnOwned(
    'holdfast',
    process.execPath,
    [path.join(repoRoot, 'dist', 'scripts', 'start.js')],
    { env, cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const record = (d: Buffer) => {
    output += d.toString();
    if (opts.echo) process.stderr.write(d);
  };
  child.child.stdout!.on('data', record);
  child.child.stderr!.on('data', record);
  const url = `http://127.0.0.1:${apiPort}`;
  const running: RunningHoldfast = {
    url,
    pid: child.child.pid,
    tokens,
    output: () => output,
    async stop() {
      if (child.child.exitCode !== null) return;
      child.child.kill('SIGINT');
      await Promise.race([child.exited, new Promise((r) => setTimeout(r, 30_000))]);
      await child.stop(1000);
    },
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.child.exitCode !== null)
      throw new Error(`holdfast exited with ${child.child.exitCode}:\n${output.slice(-3000)}`);
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) return running;
    if (Date.now() > deadline) {
      await running.stop();
      throw new Error(`holdfast not ready after 120 s:\n${output.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
