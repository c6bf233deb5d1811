import crypto from 'node:crypto';
import https from 'node:https';
import { Writable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { stripControlChars } from '../../common/k8s-names';
import { CollectorLauncher } from '../kubernetes/collector/launcher';
import { execSmall } from '../kubernetes/collector/exec-stream';
import type { CollectorConfig } from '../kubernetes/collector/settings';
import type { KubernetesIdentity } from '../kubernetes/units';
import {
  PREFLIGHT_LABEL,
  type AccessAnswer,
  type AccessQuestion,
  type CheckpointProbeResult,
  type ClusterProbe,
  type CollectorProbeResult,
  type IdentityAccess,
  type NetworkPolicyProbeResult,
  type TimeSample,
} from './types';

/** Bounds of every wait of the probes (the runner bounds each check as a whole too). */
export const PROBE_LIMITS = {
  podRunningMs: 60_000,
  collectorReadyMs: 60_000,
  execMs: 15_000,
  /** How long a deny-all policy may take to be enforced (the policy agent watches it). */
  denyEnforcedMs: 20_000,
  requestMs: 15_000,
  /** Throwaway pods end by themselves after this, even if nobody deletes them. */
  podDeadlineSeconds: 300,
} as const;

const PORT = 8080;
const MARKER = 'holdfast-preflight-ok';
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      },
      { once: true },
    );
  });

/** Text from the cluster (kubelet and admission messages) on one bounded line, never mistaken for ours. */
const bounded = (text: unknown, max = 300) => stripControlChars(String(text ?? '')).slice(0, max);

function apiMessage(err: unknown): { code?: number; message: string } {
  const e = err as { code?: number; body?: unknown; message?: string };
  let message = e?.message ?? String(err);
  try {
    const body = typeof e?.body === 'string' ? (JSON.parse(e.body) as { message?: string }) : e?.body;
    if (body && typeof body === 'object' && 'message' in body) message = String(body.message);
  } catch {
    // not JSON: keep the error's own message
  }
  return { code: e?.code, message: bounded(message, 500) };
}

/** A raw request to the API server as this kubeconfig's user: status, bounded body and the Date header. */
export async function apiServerRequest(
  kc: k8s.KubeConfig,
  method: 'GET' | 'POST',
  path: string,
  signal: AbortSignal,
  timeoutMs: number = PROBE_LIMITS.requestMs,
): Promise<{ status: number; body: string; date?: string; sentAt: number; receivedAt: number }> {
  const server = new URL(kc.getCurrentCluster()!.server);
  const options: https.RequestOptions = {
    method,
    hostname: server.hostname,
    port: server.port || 443,
    path,
    timeout: timeoutMs,
    signal,
  };
  await kc.applyToHTTPSOptions(options);
  const sentAt = Date.now();
  return new Promise((resolve, reject) => {
    const req = https.request(options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < 16 * 1024) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks)
            .toString('utf8')
            .slice(0, 16 * 1024),
          ...(typeof res.headers.date === 'string' ? { date: res.headers.date } : {}),
          sentAt,
          receivedAt: Date.now(),
        }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** An identity asking about itself: SelfSubjectAccessReview needs no permission of its own. */
export function identityAccess(identity: KubernetesIdentity, kc: k8s.KubeConfig, source: string): IdentityAccess {
  const authz = kc.makeApiClient(k8s.AuthorizationV1Api);
  return {
    identity,
    source,
    async review(q: AccessQuestion): Promise<AccessAnswer> {
      const answer = await authz.createSelfSubjectAccessReview({
        body: {
          spec: {
            resourceAttributes: {
              group: q.group,
              resource: q.resource,
              verb: q.verb,
              ...(q.subresource ? { subresource: q.subresource } : {}),
              ...(q.namespace ? { namespace: q.namespace } : {}),
            },
          },
        },
      });
      return {
        allowed: answer.status?.allowed === true,
        ...(answer.status?.reason ? { reason: bounded(answer.status.reason) } : {}),
      };
    },
  };
}

/** A pod that passes Pod Security `restricted`, so only what is being probed can be refused. */
function throwawayPod(
  name: string,
  run: string,
  role: string,
  collector: Pick<CollectorConfig, 'image' | 'imagePullPolicy'>,
  script: string,
): k8s.V1Pod {
  return {
    metadata: { name, labels: { [PREFLIGHT_LABEL]: run, 'holdfast.io/preflight-role': role } },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      activeDeadlineSeconds: PROBE_LIMITS.podDeadlineSeconds,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65532,
        runAsGroup: 65532,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'app',
          // The collector image: the one image the nodes must hold anyway, pinned, with a shell and nc.
          image: collector.image,
          imagePullPolicy: collector.imagePullPolicy,
          command: ['sh', '-c', script],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          resources: { limits: { cpu: '100m', memory: '32Mi' } },
        },
      ],
    },
  };
}

const NOT_STARTING = /ErrImage|ImagePull|InvalidImageName|CreateContainer|RunContainerError/;

export interface KubeProbeOptions {
  /** The operator: creates and deletes the throwaway objects, execs in the probe pods. */
  operator: k8s.KubeConfig;
  /** The capture identity: adds the collector and execs in it, as in an incident. */
  capture: k8s.KubeConfig;
  collector: CollectorConfig;
  source: string;
}

/** The real probes on a cluster (test/cluster/preflight.test.ts). */
export function kubeProbe(opts: KubeProbeOptions): ClusterProbe {
  const core = opts.operator.makeApiClient(k8s.CoreV1Api);
  const net = opts.operator.makeApiClient(k8s.NetworkingV1Api);
  const exec = new k8s.Exec(opts.operator);
  const captureCore = opts.capture.makeApiClient(k8s.CoreV1Api);
  const captureExec = new k8s.Exec(opts.capture);
  const run = crypto.randomBytes(4).toString('hex');
  const nameOf = (role: string) => `holdfast-preflight-${role}-${run}`;

  /** Creates the pod and waits until it runs; the reason it does not, otherwise. */
  async function startPod(namespace: string, pod: k8s.V1Pod, signal: AbortSignal): Promise<k8s.V1Pod> {
    await core.createNamespacedPod({ namespace, body: pod });
    const deadline = Date.now() + PROBE_LIMITS.podRunningMs;
    for (;;) {
      const now = await core.readNamespacedPod({ namespace, name: pod.metadata!.name! });
      if (now.status?.phase === 'Running' && now.status.podIP) return now;
      const waiting = now.status?.containerStatuses?.[0]?.state?.waiting;
      if (waiting?.reason && NOT_STARTING.test(waiting.reason))
        throw new NotStarted(`${bounded(waiting.reason, 64)}: ${bounded(waiting.message)}`);
      if (now.status?.phase === 'Failed' || now.status?.phase === 'Succeeded')
        throw new NotStarted(`the pod ended (${bounded(now.status.phase, 32)}) before it ran`);
      if (Date.now() > deadline)
        throw new NotStarted(
          `not running after ${PROBE_LIMITS.podRunningMs / 1000} s (${bounded(waiting?.reason ?? now.status?.phase, 64)})`,
        );
      await sleep(500, signal);
    }
  }

  async function remove(namespace: string, kind: 'pod' | 'networkpolicy', name: string): Promise<void> {
    const gone = (err: unknown) => {
      if ((err as { code?: number }).code !== 404) throw err;
    };
    if (kind === 'pod')
      await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }).then(() => undefined, gone);
    else await net.deleteNamespacedNetworkPolicy({ namespace, name }).then(() => undefined, gone);
  }

  /** Creates, runs `work`, and always deletes what was created, even when `work` failed. */
  async function withPods<T>(
    namespace: string,
    pods: k8s.V1Pod[],
    signal: AbortSignal,
    work: (running: k8s.V1Pod[]) => Promise<T>,
  ): Promise<T> {
    const created: string[] = [];
    try {
      const running: k8s.V1Pod[] = [];
      for (const pod of pods) {
        created.push(pod.metadata!.name!);
        running.push(await startPod(namespace, pod, signal));
      }
      return await work(running);
    } finally {
      for (const name of created) await remove(namespace, 'pod', name).catch(() => undefined);
    }
  }

  async function execOut(namespace: string, pod: string, command: string[]): Promise<{ code: number; out: string }> {
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (chunks.length < 64) chunks.push(Buffer.from(chunk));
        cb();
      },
    });
    let socket: { close(): void } | undefined;
    const status = await new Promise<k8s.V1Status>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket?.close();
        reject(new Error(`exec in ${pod} not done within ${PROBE_LIMITS.execMs / 1000} s`));
      }, PROBE_LIMITS.execMs);
      exec
        .exec(namespace, pod, 'app', command, sink, null, null, false, (s) => {
          clearTimeout(timer);
          resolve(s);
        })
        .then(
          (ws) => {
            socket = ws;
          },
          (err: unknown) => {
            clearTimeout(timer);
            reject(err instanceof Error ? err : new Error(String(err)));
          },
        );
    });
    const code =
      status.status === 'Success'
        ? 0
        : Number(status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message ?? -1);
    return { code, out: Buffer.concat(chunks).toString('utf8').slice(0, 4096) };
  }

  return {
    source: opts.source,

    async namespaceLabels(namespace) {
      const ns = await core.readNamespace({ name: namespace });
      return ns.metadata?.labels ?? {};
    },

    async collector(namespace, signal): Promise<CollectorProbeResult> {
      const target = throwawayPod(nameOf('target'), run, 'collector-target', opts.collector, 'exec sleep 300');
      try {
        return await withPods(namespace, [target], signal, async ([pod]) => {
          const launcher = new CollectorLauncher(captureCore, {
            ...opts.collector,
            lifetimeSeconds: 120,
            readyTimeoutMs: PROBE_LIMITS.collectorReadyMs,
          });
          let handle;
          try {
            handle = await launcher.ensure(
              { cluster: 'preflight', namespace, pod: pod!.metadata!.name!, container: 'app' },
              `preflight-${run}`,
              signal,
            );
          } catch (err) {
            const { message } = apiMessage(err);
            const type = (err as { type?: string; name?: string }).type ?? (err as Error).name;
            if (/PodSecurity/.test(message)) return { outcome: 'refused', by: 'pod-security', message };
            if (/ValidatingAdmissionPolicy|admission webhook/i.test(message))
              return { outcome: 'refused', by: 'admission-policy', message };
            if (type === 'CollectorUnverified') return { outcome: 'unverified', message };
            if (/permission denied|forbidden/i.test(message)) return { outcome: 'refused', by: 'rbac', message };
            if (type === 'Unsupported' || /not running after/.test(message))
              return { outcome: 'not-started', reason: message };
            return { outcome: 'refused', by: 'other', message };
          }
          // PID 1 of the shared namespace is the target, running as 65532: reading its root and environ
          // needs PTRACE_MODE_READ, which a root process without SYS_PTRACE does not have.
          const { stdout, outcome } = await execSmall(
            captureExec,
            handle,
            [
              'sh',
              '-c',
              `readlink /proc/1/exe && ls /proc/1/root/ >/dev/null && head -c 1 /proc/1/environ >/dev/null && echo ${MARKER}`,
            ],
            { maxBytes: 4096, timeoutMs: PROBE_LIMITS.execMs, signal },
          );
          const out = stdout.toString('utf8');
          const ptrace = outcome.exitCode === 0 && out.includes(MARKER);
          return {
            outcome: 'ran',
            ptrace,
            detail: ptrace
              ? `collector ${handle.container} read /proc/1/root of target ${handle.targetContainer} (uid 65532)`
              : `exit ${String(outcome.exitCode)}: ${bounded(outcome.stderr, 200)}`,
          };
        });
      } catch (err) {
        if (err instanceof NotStarted) return { outcome: 'not-started', reason: err.message };
        const { code, message } = apiMessage(err);
        if (code === 403 || code === 422 || code === 400) return { outcome: 'pod-refused', message };
        throw err;
      }
    },

    async networkPolicy(namespace, signal): Promise<NetworkPolicyProbeResult> {
      const server = throwawayPod(
        nameOf('server'),
        run,
        'netpol-server',
        opts.collector,
        `exec nc -ll -p ${PORT} -e /bin/cat`,
      );
      const client = throwawayPod(nameOf('client'), run, 'netpol-client', opts.collector, 'exec sleep 300');
      const policy = nameOf('deny');
      try {
        return await withPods(namespace, [server, client], signal, async ([srv, cli]) => {
          const ip = srv!.status!.podIP!;
          const probe = async () => {
            const r = await execOut(namespace, cli!.metadata!.name!, [
              'sh',
              '-c',
              `echo ${MARKER} | nc -w 2 ${ip} ${PORT}`,
            ]);
            return r.out.includes(MARKER);
          };
          // The server may need a moment to listen: a few tries before calling it unreachable.
          let reachableBefore = false;
          for (let i = 0; i < 5 && !reachableBefore; i++) {
            reachableBefore = await probe();
            if (!reachableBefore) await sleep(500, signal);
          }
          if (!reachableBefore)
            return {
              outcome: 'probed',
              reachableBefore,
              reachableWithDeny: false,
              detail: `nothing answered on ${ip}:${PORT}`,
            };
          try {
            await net.createNamespacedNetworkPolicy({
              namespace,
              body: {
                metadata: { name: policy, labels: { [PREFLIGHT_LABEL]: run } },
                spec: {
                  podSelector: {
                    matchLabels: { [PREFLIGHT_LABEL]: run, 'holdfast.io/preflight-role': 'netpol-server' },
                  },
                  policyTypes: ['Ingress', 'Egress'],
                },
              },
            });
            const started = Date.now();
            let reachable = true;
            while (reachable && Date.now() - started < PROBE_LIMITS.denyEnforcedMs) {
              reachable = await probe();
              if (reachable) await sleep(1000, signal);
            }
            const after = ((Date.now() - started) / 1000).toFixed(1);
            return {
              outcome: 'probed',
              reachableBefore,
              reachableWithDeny: reachable,
              detail: reachable
                ? `the client still reached ${ip}:${PORT} ${PROBE_LIMITS.denyEnforcedMs / 1000} s after the deny-all policy`
                : `reachable before, refused ${after} s after the deny-all policy`,
            };
          } finally {
            await remove(namespace, 'networkpolicy', policy).catch(() => undefined);
          }
        });
      } catch (err) {
        if (err instanceof NotStarted) return { outcome: 'not-started', reason: err.message };
        const { code, message } = apiMessage(err);
        if (code === 403 || code === 422 || code === 400) return { outcome: 'not-started', reason: message };
        throw err;
      }
    },

    async checkpoint(namespace, signal): Promise<CheckpointProbeResult> {
      const pod = throwawayPod(nameOf('checkpoint'), run, 'checkpoint', opts.collector, 'exec sleep 300');
      try {
        return await withPods(namespace, [pod], signal, async ([running]) => {
          const node = running!.spec!.nodeName!;
          const path = `/api/v1/nodes/${encodeURIComponent(node)}/proxy/checkpoint/${namespace}/${running!.metadata!.name!}/app?timeout=20`;
          const answer = await apiServerRequest(opts.operator, 'POST', path, signal, 30_000).catch((err: Error) => ({
            status: 0,
            body: err.message,
          }));
          return classifyCheckpoint(answer.status, answer.body, node);
        });
      } catch (err) {
        if (err instanceof NotStarted)
          return { status: 0, supported: false, reason: `not probed: the throwaway pod did not run: ${err.message}` };
        throw err;
      }
    },

    async serverTime(signal): Promise<TimeSample> {
      const answer = await apiServerRequest(opts.operator, 'GET', '/version', signal);
      if (!answer.date) throw new Error('the API server sent no Date header');
      return { remote: new Date(answer.date), sentAt: answer.sentAt, receivedAt: answer.receivedAt };
    },

    async sweep(namespace) {
      const removed: string[] = [];
      const selector = { namespace, labelSelector: PREFLIGHT_LABEL };
      for (const pod of (await core.listNamespacedPod(selector)).items) {
        await remove(namespace, 'pod', pod.metadata!.name!);
        removed.push(`pod/${pod.metadata!.name!}`);
      }
      for (const policy of (await net.listNamespacedNetworkPolicy(selector)).items) {
        await remove(namespace, 'networkpolicy', policy.metadata!.name!);
        removed.push(`networkpolicy/${policy.metadata!.name!}`);
      }
      return removed;
    },
  };
}

class NotStarted extends Error {}

/** The checkpoint answer in our own words (the kubelet's text is the node's, and only classified). */
export function classifyCheckpoint(status: number, body: string, node: string): CheckpointProbeResult {
  if (status === 200)
    return {
      status,
      supported: true,
      reason: `the kubelet on ${bounded(node, 253)} checkpointed a throwaway container (its archive stays under /var/lib/kubelet/checkpoints on that node)`,
    };
  if (status === 500 && /code = Unimplemented/.test(body))
    return {
      status,
      supported: false,
      reason:
        'the container runtime does not implement CheckpointContainer (kubelet answered HTTP 500, rpc code Unimplemented)',
    };
  if (status === 500)
    return {
      status,
      supported: false,
      reason: 'the kubelet could not checkpoint (HTTP 500): the runtime or CRIU failed',
    };
  if (status === 404)
    return {
      status,
      supported: false,
      reason: 'the kubelet has no checkpoint API (HTTP 404): the ContainerCheckpoint feature gate is off',
    };
  if (status === 401 || status === 403)
    return { status, supported: false, reason: `not probed: the operator may not create nodes/proxy (HTTP ${status})` };
  if (status === 0) return { status, supported: false, reason: `no answer from the kubelet: ${bounded(body, 200)}` };
  return { status, supported: false, reason: `unexpected answer from the kubelet (HTTP ${status})` };
}
