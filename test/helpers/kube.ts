/**
 * Helpers for tests on the real local cluster (scripts/cluster/up.sh): bounded waits, exec with exit
 * codes, Deployments of the local images.
 */
import fs from 'node:fs';
import { Writable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import * as tar from 'tar-stream';
import { KubernetesCluster } from '../../adapters/kubernetes/cluster';
import { LOCAL_IMAGES, localCollectorImage, sleep, waitFor } from '../../scripts/local-env';

export { localCollectorImage, sleep, waitFor };

export const IMAGES = LOCAL_IMAGES;

export const MERGE_PATCH = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export function collect(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

/** Runs a command in a container; resolves with its exit code and output. */
export async function execIn(
  exec: k8s.Exec,
  namespace: string,
  pod: string,
  container: string,
  command: string[],
  timeoutMs = 30_000,
) {
  const out = collect();
  const err = collect();
  const status = await new Promise<k8s.V1Status>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`exec ${command.join(' ')} in ${pod}/${container} timed out`)),
      timeoutMs,
    );
    exec
      .exec(namespace, pod, container, command, out.stream, err.stream, null, false, (s) => {
        clearTimeout(timer);
        resolve(s);
      })
      .catch((e: unknown) => {
        clearTimeout(timer);
        reject(e);
      });
  });
  const exitCause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const code = status.status === 'Success' ? 0 : Number(exitCause?.message ?? -1);
  return { code, stdout: out.text(), stderr: err.text(), status };
}

export async function deploymentReady(
  apps: k8s.AppsV1Api,
  namespace: string,
  name: string,
  replicas: number,
): Promise<boolean> {
  const d = await apps.readNamespacedDeployment({ name, namespace });
  return (
    d.status?.readyReplicas === replicas &&
    d.status.availableReplicas === replicas &&
    d.status.updatedReplicas === replicas
  );
}

/** A Deployment of `replicas` pods labelled app=<name> running one container (local images, never pulled). */
export function deploymentOf(
  name: string,
  container: k8s.V1Container,
  replicas = 2,
  labels: Record<string, string> = {},
): k8s.V1Deployment {
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

/** The Kubernetes adapter with the locally imported collector image (never pulled). */
export function localCollectorCluster(kc: k8s.KubeConfig, lifetimeSeconds = 600): KubernetesCluster {
  return new KubernetesCluster(kc, {
    image: localCollectorImage(),
    imagePullPolicy: 'Never',
    lifetimeSeconds,
    readyTimeoutMs: 90_000,
  });
}

/** A pod of one container "app" running `script` in sh (a local image, never pulled), quick to delete. */
export function shellPod(name: string, image: string, script: string): k8s.V1Pod {
  return {
    metadata: { name },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'app',
          image,
          imagePullPolicy: 'Never',
          command: ['sh', '-c', script],
          resources: { limits: { cpu: '500m' } },
        },
      ],
    },
  };
}

/** Creates a namespace and waits for its default service account (pods are refused until it exists). */
export async function createReadyNamespace(core: k8s.CoreV1Api, namespace: k8s.V1Namespace): Promise<void> {
  const name = namespace.metadata!.name!;
  await core.createNamespace({ body: namespace });
  await waitFor('default service account', 30_000, () =>
    core.readNamespacedServiceAccount({ name: 'default', namespace: name }).then(() => true),
  );
}

/**
 * A hostile target's shell loop: it fills 64 MiB (so a capture has work to do), then stops every tar and
 * gdb in the PID namespace it shares with the collector, as fast as it can look.
 */
export const SIGSTOP_COLLECTOR_TOOLS = [
  'dd if=/dev/zero of=/bulk bs=1M count=64 2>/dev/null',
  'while :; do',
  '  for d in /proc/[0-9]*; do',
  '    { read -r c < "$d/comm"; } 2>/dev/null || continue',
  '    case "$c" in tar|gdb) kill -STOP "${d#/proc/}" 2>/dev/null;; esac',
  '  done',
  'done',
].join('\n');

/** The entry names of a tar archive (a file path or the bytes), in order. */
export async function tarNames(archive: string | Buffer): Promise<string[]> {
  const names: string[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.on('entry', (header, stream, next) => {
    names.push(header.name);
    stream.on('end', next);
    stream.resume();
  });
  if (typeof archive === 'string') fs.createReadStream(archive).pipe(extract as unknown as NodeJS.WritableStream);
  else extract.end(archive);
  await done;
  return names;
}

/** A KubeConfig that authenticates as a service account (a one-hour token), for tests that act as one identity. */
export async function serviceAccountKubeConfig(
  admin: k8s.KubeConfig,
  namespace: string,
  account: string,
): Promise<k8s.KubeConfig> {
  const core = admin.makeApiClient(k8s.CoreV1Api);
  const token = await core.createNamespacedServiceAccountToken({
    name: account,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const kc = new k8s.KubeConfig();
  const server = admin.getCurrentCluster()!;
  kc.loadFromOptions({
    clusters: [{ name: 'local', server: server.server, caData: server.caData, caFile: server.caFile }],
    users: [{ name: account, token: token.status!.token }],
    contexts: [{ name: account, cluster: 'local', user: account }],
    currentContext: account,
  });
  return kc;
}

/** The admin kubeconfig of the local cluster and, without one, why a cluster test skips. */
export function localClusterOrSkip(): { kubeconfig: string; skip: false } | { kubeconfig: undefined; skip: string } {
  const kubeconfig = process.env.HOLDFAST_TEST_KUBECONFIG;
  return kubeconfig
    ? { kubeconfig, skip: false }
    : {
        kubeconfig: undefined,
        skip: 'HOLDFAST_TEST_KUBECONFIG not set: the local cluster needs root; run npm run cluster:up',
      };
}

/** A pod of one busybox container (`container`) that only sleeps: a target to act on. */
export function sleepingPod(name: string, container = 'app'): k8s.V1Pod {
  return {
    metadata: { name },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: container, image: IMAGES.busybox, imagePullPolicy: 'Never', command: ['sleep', '100000'] }],
    },
  };
}
