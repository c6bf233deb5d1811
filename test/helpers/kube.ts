/**
 * Helpers for tests on the real local cluster (scripts/cluster/up.sh): bounded waits, exec with exit
 * codes, deploy/rbac.yaml applied and its service accounts turned into kubeconfig files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import { repoRoot } from './env';

export const IMAGES = {
  busybox: 'docker.io/holdfast/busybox:local',
  distroless: 'docker.io/holdfast/distroless:local',
  collector: 'docker.io/holdfast/collector:local',
} as const;

export const MERGE_PATCH = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a value other than undefined/false, or fails after timeoutMs. */
export async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined | false>, everyMs = 500): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

export function collect(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { chunks.push(Buffer.from(chunk)); cb(); } });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

/** Runs a command in a container; resolves with its exit code and output. */
export async function execIn(exec: k8s.Exec, namespace: string, pod: string, container: string, command: string[], timeoutMs = 30_000) {
  const out = collect();
  const err = collect();
  const status = await new Promise<k8s.V1Status>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exec ${command.join(' ')} in ${pod}/${container} timed out`)), timeoutMs);
    exec.exec(namespace, pod, container, command, out.stream, err.stream, null, false, (s) => { clearTimeout(timer); resolve(s); })
      .catch((e: unknown) => { clearTimeout(timer); reject(e); });
  });
  const exitCause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const code = status.status === 'Success' ? 0 : Number(exitCause?.message ?? -1);
  return { code, stdout: out.text(), stderr: err.text(), status };
}

export async function deploymentReady(apps: k8s.AppsV1Api, namespace: string, name: string, replicas: number): Promise<boolean> {
  const d = await apps.readNamespacedDeployment({ name, namespace });
  return d.status?.readyReplicas === replicas && d.status.availableReplicas === replicas && d.status.updatedReplicas === replicas;
}

/** Creates every object of deploy/rbac.yaml, replacing ones that exist (idempotent across runs). */
export async function applyRbac(kc: k8s.KubeConfig): Promise<void> {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(repoRoot, 'deploy', 'rbac.yaml'), 'utf8')).map((d) => d.toJSON() as k8s.KubernetesObject);
  for (const doc of docs) {
    try {
      await objects.create(doc);
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
      if (doc.kind === 'ClusterRole' || doc.kind === 'ClusterRoleBinding') {
        const current = await objects.read({ apiVersion: doc.apiVersion!, kind: doc.kind, metadata: { name: doc.metadata!.name! } });
        await objects.replace({ ...doc, metadata: { ...doc.metadata, resourceVersion: current.metadata?.resourceVersion } });
      }
    }
  }
}

/** A kubeconfig file that authenticates as a service account of deploy/rbac.yaml (short-lived token). */
export async function serviceAccountKubeconfig(kc: k8s.KubeConfig, core: k8s.CoreV1Api, account: string, dir: string): Promise<string> {
  const token = await core.createNamespacedServiceAccountToken({
    name: account, namespace: 'holdfast-system', body: { spec: { audiences: [], expirationSeconds: 3 * 3600 } },
  });
  const cluster = kc.getCurrentCluster()!;
  const caData = cluster.caData ?? (cluster.caFile ? fs.readFileSync(cluster.caFile).toString('base64') : undefined);
  const config = {
    apiVersion: 'v1', kind: 'Config', 'current-context': account,
    clusters: [{ name: 'local', cluster: { server: cluster.server, 'certificate-authority-data': caData } }],
    users: [{ name: account, user: { token: token.status!.token } }],
    contexts: [{ name: account, context: { cluster: 'local', user: account } }],
  };
  const file = path.join(dir, `${account}.kubeconfig`);
  fs.writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

/** A Deployment of `replicas` pods labelled app=<name> running one container (local images, never pulled). */
export function deploymentOf(name: string, container: k8s.V1Container, replicas = 2, labels: Record<string, string> = {}): k8s.V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, ...labels } },
        spec: { terminationGracePeriodSeconds: 1, containers: [{ imagePullPolicy: 'Never', ...container }] },
      },
    },
  };
}

/** API clients for the cluster a kubeconfig file points at. */
export function kubeClients(file: string) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(file);
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    net: kc.makeApiClient(k8s.NetworkingV1Api),
    exec: new k8s.Exec(kc),
  };
}
