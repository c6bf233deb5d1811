import crypto from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import type * as k8s from '@kubernetes/client-node';
import type { CollectorInfo, PodRef } from '../../common/types';
import { HOLDFAST_VERSION } from '../../common/version';
import { NotFound, Unsupported } from '../../common/failures';
import { jsonBody } from '../../evidence/json-body';
import { mapKubernetesError } from './errors';

/**
 * The trusted collector: an ephemeral container from Holdfast's own image, added to the suspect pod
 * with `targetContainerName` so it shares the target container's PID namespace (and, like every
 * container of the pod, its network namespace). Tools run from the collector image only; the target's
 * filesystem is read through /proc/<pid>/root and never written. This works on distroless targets
 * and needs no privileged pod on the node. One collector per incident and pod, reused by every step.
 */
export interface CollectorConfig {
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** How long the collector's idle process lives: ephemeral containers cannot be removed, only end. */
  lifetimeSeconds: number;
  readyTimeoutMs: number;
}

export const DEFAULT_COLLECTOR: CollectorConfig = {
  image: 'docker.io/holdfast/collector:local',
  imagePullPolicy: 'IfNotPresent',
  lifetimeSeconds: 4 * 3600,
  readyTimeoutMs: 90_000,
};

export function collectorConfigFromEnv(env: NodeJS.ProcessEnv = process.env): CollectorConfig {
  const policy = env.HOLDFAST_COLLECTOR_PULL_POLICY;
  return {
    ...DEFAULT_COLLECTOR,
    image: env.HOLDFAST_COLLECTOR_IMAGE || DEFAULT_COLLECTOR.image,
    imagePullPolicy: policy === 'Always' || policy === 'Never' || policy === 'IfNotPresent' ? policy : DEFAULT_COLLECTOR.imagePullPolicy,
  };
}

/**
 * SYS_PTRACE: read /proc/<pid>/{root,mem,fd} of processes owned by other users and let gdb attach.
 * NET_ADMIN: read the pod network namespace's conntrack table. Nothing else is added, and the
 * collector never runs privileged.
 */
const COLLECTOR_CAPABILITIES = ['SYS_PTRACE', 'NET_ADMIN'];
const MAX_COLLECTORS_PER_INCIDENT = 5;

export interface CollectorHandle {
  namespace: string;
  pod: string;
  /** The ephemeral container's name. */
  container: string;
  targetContainer: string;
  /** The runtime's ID of the target container (without the `containerd://` prefix). */
  targetContainerId?: string;
  /** When the target container (re)started: files changed after it are the container's doing. */
  targetStartedAt?: string;
  info: CollectorInfo;
  notes: string[];
}

type WebSocket = Awaited<ReturnType<k8s.Exec['exec']>>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function collectorPrefix(incidentId: string): string {
  return `holdfast-collector-${crypto.createHash('sha256').update(incidentId).digest('hex').slice(0, 10)}`;
}

export class CollectorLauncher {
  constructor(private readonly core: k8s.CoreV1Api, private readonly config: CollectorConfig) {}

  /** The running collector for this incident in the pod: reused if there is one, added if not. */
  async ensure(target: PodRef, incidentId: string, signal?: AbortSignal): Promise<CollectorHandle> {
    const prefix = collectorPrefix(incidentId);
    const deadline = Date.now() + this.config.readyTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      const pod = await this.read(target);
      const targetContainer = chooseTarget(pod, target);
      const mine = (pod.spec?.ephemeralContainers ?? []).filter((c) => c.name.startsWith(prefix));
      const statuses = new Map((pod.status?.ephemeralContainerStatuses ?? []).map((s) => [s.name, s]));
      const usable = mine.filter((c) => !statuses.get(c.name)?.state?.terminated);
      const running = usable.find((c) => statuses.get(c.name)?.state?.running);
      if (running) return this.handle(pod, running.name, targetContainer, statuses.get(running.name));
      const waiting = usable.at(-1);
      if (waiting) {
        // Added (by us or a parallel step) and still starting: an image that cannot be pulled never will be.
        const reason = statuses.get(waiting.name)?.state?.waiting?.reason;
        if (reason && /ErrImage|ImagePull|InvalidImageName|CreateContainerError|CreateContainerConfigError/.test(reason)) {
          throw new Unsupported(`collector ${waiting.name} cannot start: ${reason}: ${statuses.get(waiting.name)?.state?.waiting?.message ?? ''}`.slice(0, 500));
        }
        if (Date.now() > deadline) throw new Error(`collector ${waiting.name} not running after ${this.config.readyTimeoutMs} ms (${reason ?? 'no status yet'})`);
        await sleep(Math.min(250 * 2 ** Math.min(attempt, 3), 2000));
        continue;
      }
      if (mine.length >= MAX_COLLECTORS_PER_INCIDENT) {
        throw new Unsupported(`${mine.length} collectors of this incident already ended in ${target.namespace}/${target.pod}; not adding more`);
      }
      const name = `${prefix}-${mine.length + 1}`;
      const added = await this.add(pod, name, targetContainer, incidentId);
      if (added) continue;
      // someone else changed the pod (likely a parallel step adding the collector): look again
      if (Date.now() > deadline) throw new Error(`pod ${target.namespace}/${target.pod} kept changing: the collector could not be added in ${this.config.readyTimeoutMs} ms`);
      await sleep(100);
    }
  }

  /**
   * Dry run: the API server validates adding the collector (RBAC, Pod Security admission, image
   * policy) with dryRun=All and stores nothing. Returns what would have been added.
   */
  async validate(target: PodRef, incidentId: string): Promise<{ wouldAdd: k8s.V1EphemeralContainer; targetContainer: string }> {
    const pod = await this.read(target);
    const targetContainer = chooseTarget(pod, target);
    const name = `${collectorPrefix(incidentId)}-dry-run`;
    const wouldAdd = this.spec(name, targetContainer, incidentId);
    await this.core.replaceNamespacedPodEphemeralcontainers({ name: target.pod, namespace: target.namespace, body: withEphemeral(pod, wouldAdd), dryRun: 'All' }).catch((err: unknown) => {
      throw mapKubernetesError(err, `update pods/ephemeralcontainers (dry run: adding the collector to ${target.namespace}/${target.pod})`);
    });
    return { wouldAdd, targetContainer };
  }

  private read(target: PodRef): Promise<k8s.V1Pod> {
    return this.core.readNamespacedPod({ name: target.pod, namespace: target.namespace }).catch((err: unknown) => {
      throw mapKubernetesError(err, `get pod ${target.namespace}/${target.pod}`);
    });
  }

  /** Adds the ephemeral container; false on a write conflict (re-read and look again). */
  private async add(pod: k8s.V1Pod, name: string, targetContainer: string, incidentId: string): Promise<boolean> {
    const body = withEphemeral(pod, this.spec(name, targetContainer, incidentId));
    try {
      await this.core.replaceNamespacedPodEphemeralcontainers({ name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, body });
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 409) return false;
      throw mapKubernetesError(err, `update pods/ephemeralcontainers (adding collector ${name} to ${pod.metadata!.namespace}/${pod.metadata!.name})`);
    }
  }

  private spec(name: string, targetContainer: string, incidentId: string): k8s.V1EphemeralContainer {
    return {
      name,
      image: this.config.image,
      imagePullPolicy: this.config.imagePullPolicy,
      targetContainerName: targetContainer,
      command: ['sleep', String(this.config.lifetimeSeconds)],
      env: [{ name: 'HOLDFAST_INCIDENT', value: incidentId }],
      securityContext: {
        runAsUser: 0,
        runAsNonRoot: false,
        privileged: false,
        allowPrivilegeEscalation: false,
        capabilities: { add: COLLECTOR_CAPABILITIES },
      },
      terminationMessagePolicy: 'File',
    };
  }

  private handle(pod: k8s.V1Pod, container: string, targetContainer: string, status?: k8s.V1ContainerStatus): CollectorHandle {
    const target = pod.status?.containerStatuses?.find((s) => s.name === targetContainer);
    const notes: string[] = [];
    return {
      namespace: pod.metadata!.namespace!,
      pod: pod.metadata!.name!,
      container,
      targetContainer,
      targetContainerId: target?.containerID?.match(/^[a-z0-9-]+:\/\/([0-9a-f]{64})$/)?.[1],
      targetStartedAt: target?.state?.running?.startedAt ? new Date(target.state.running.startedAt).toISOString() : undefined,
      info: { name: 'holdfast-collector', version: HOLDFAST_VERSION, imageDigest: digestOf(status?.imageID) ?? this.config.image },
      notes,
    };
  }
}

/** The pod as sent to …/ephemeralcontainers: its resourceVersion makes a concurrent change a 409. */
function withEphemeral(pod: k8s.V1Pod, container: k8s.V1EphemeralContainer): k8s.V1Pod {
  return { ...pod, spec: { ...pod.spec!, ephemeralContainers: [...(pod.spec?.ephemeralContainers ?? []), container] } };
}

function digestOf(imageID?: string): string | undefined {
  const match = imageID?.match(/sha256:[0-9a-f]{64}/);
  return match?.[0];
}

function chooseTarget(pod: k8s.V1Pod, target: PodRef): string {
  const containers = pod.spec?.containers ?? [];
  const name = target.container ?? containers[0]?.name;
  if (!name || !containers.some((c) => c.name === name)) {
    throw new NotFound(`container ${target.container ?? '(first)'} is not in pod ${target.namespace}/${target.pod}`);
  }
  const status = pod.status?.containerStatuses?.find((s) => s.name === name);
  if (!status?.state?.running) {
    throw new Unsupported(`container ${name} of ${target.namespace}/${target.pod} is not running: a live capture is impossible (its logs may still be)`);
  }
  return name;
}

// ---- exec: streaming, bounded, with backpressure ----

export interface ExecBounds {
  maxBytes: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface ExecOutcome {
  /** null when the connection closed without an exit status. */
  exitCode: number | null;
  message?: string;
  stderr: string;
  bytes: number;
  truncated: boolean;
  timedOut: boolean;
}

const MAX_STDERR = 16 * 1024;

/** Converts a websocket handshake failure ("Unexpected server response: 403") into our error types. */
function mapExecError(err: unknown, doing: string): Error {
  const message = (err as Error)?.message ?? String(err);
  const status = message.match(/Unexpected server response: (\d{3})/)?.[1];
  return mapKubernetesError(status ? { code: Number(status), message } : err, doing);
}

/**
 * The stdout of a command run in the collector, as a Readable that starts the exec on first read
 * (so a step's artifacts stream one after another) and pauses the websocket when the consumer is
 * slow. Stops at maxBytes or timeoutMs and says so through onEnd, which runs before the stream ends.
 */
export class ExecReadable extends Readable {
  private ws?: WebSocket;
  private started = false;
  private finished = false;
  private wantPause = false;
  private status?: k8s.V1Status;
  private stderrText = '';
  private bytes = 0;
  private truncated = false;
  private timedOut = false;
  private timer?: NodeJS.Timeout;
  private readonly onAbort = () => this.destroy(new Error('capture cancelled'));

  constructor(
    private readonly exec: k8s.Exec,
    private readonly handle: CollectorHandle,
    private readonly argv: string[],
    private readonly bounds: ExecBounds,
    private readonly onEnd: (outcome: ExecOutcome) => void | Error,
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _read(): void {
    if (!this.started) {
      this.started = true;
      this.start();
      return;
    }
    this.wantPause = false;
    this.ws?.resume();
  }

  private start(): void {
    if (this.bounds.signal?.aborted) return void this.destroy(new Error('capture cancelled'));
    this.bounds.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.timer = setTimeout(() => { this.timedOut = true; this.stop(); }, this.bounds.timeoutMs);
    const stdout = new Writable({ write: (chunk: Buffer, _enc, cb) => { this.onData(chunk); cb(); } });
    const stderr = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        if (this.stderrText.length < MAX_STDERR) this.stderrText += chunk.toString('utf8').slice(0, MAX_STDERR - this.stderrText.length);
        cb();
      },
    });
    const { namespace, pod, container } = this.handle;
    this.exec.exec(namespace, pod, container, this.argv, stdout, stderr, null, false, (status) => { this.status = status; })
      .then((ws) => {
        this.ws = ws;
        if (this.finished || this.destroyed) return void ws.close();
        if (this.wantPause) ws.pause();
        ws.on('close', () => this.finish());
        ws.on('error', (err: Error) => this.destroy(mapExecError(err, `get+create pods/exec (collector ${container})`)));
      })
      .catch((err: unknown) => this.destroy(mapExecError(err, `get+create pods/exec (collector ${namespace}/${pod}/${container})`)));
  }

  private onData(chunk: Buffer): void {
    if (this.finished || this.destroyed) return;
    const room = this.bounds.maxBytes - this.bytes;
    if (chunk.length > room) {
      if (room > 0) this.push(chunk.subarray(0, room));
      this.bytes += Math.max(room, 0);
      this.truncated = true;
      this.stop();
      return;
    }
    this.bytes += chunk.length;
    if (!this.push(chunk)) {
      this.wantPause = true;
      this.ws?.pause();
    }
  }

  /** Ends early (bound reached): closing the socket ends the remote command's session. */
  private stop(): void {
    if (this.ws) this.ws.close();
    this.finish();
  }

  private finish(): void {
    if (this.finished || this.destroyed) return;
    this.finished = true;
    this.cleanup();
    const exitCause = this.status?.details?.causes?.find((c) => c.reason === 'ExitCode');
    const exitCode = this.status?.status === 'Success' ? 0 : exitCause ? Number(exitCause.message) : null;
    const outcome: ExecOutcome = {
      exitCode,
      message: this.status?.status === 'Success' ? undefined : this.status?.message,
      stderr: this.stderrText,
      bytes: this.bytes,
      truncated: this.truncated,
      timedOut: this.timedOut,
    };
    const failure = this.onEnd(outcome);
    if (failure) return void this.destroy(failure);
    this.push(null);
  }

  private cleanup(): void {
    if (this.timer) clearTimeout(this.timer);
    this.bounds.signal?.removeEventListener('abort', this.onAbort);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.finished = true;
    this.cleanup();
    this.ws?.close();
    callback(err);
  }
}

/** Runs a short command in the collector and returns its (bounded) stdout. */
export async function execSmall(exec: k8s.Exec, handle: CollectorHandle, argv: string[], bounds: ExecBounds): Promise<{ stdout: Buffer; outcome: ExecOutcome }> {
  let outcome: ExecOutcome | undefined;
  const stream = new ExecReadable(exec, handle, argv, bounds, (o) => { outcome = o; });
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return { stdout: Buffer.concat(chunks), outcome: outcome! };
}

/**
 * The exec connection closed before the command reported how it ended (and no bound of ours closed
 * it): the bytes are a fragment. An error, so the step retries instead of storing it as complete.
 */
export function cutShort(what: string, outcome: ExecOutcome): Error | undefined {
  if (outcome.exitCode !== null || outcome.truncated || outcome.timedOut) return undefined;
  return new Error(`${what}: the connection to the collector closed before the command ended (${outcome.bytes} bytes); retrying`);
}

/** A note describing how a collector command ended, or undefined when it ended cleanly. */
export function describeOutcome(what: string, outcome: ExecOutcome, bounds: ExecBounds): string[] {
  const notes: string[] = [];
  if (outcome.truncated) notes.push(`${what}: stopped at the bound of ${bounds.maxBytes} bytes (the artifact is truncated there)`);
  if (outcome.timedOut) notes.push(`${what}: stopped at the time bound of ${Math.round(bounds.timeoutMs / 1000)} s (the artifact is truncated there)`);
  if (!outcome.truncated && !outcome.timedOut && outcome.exitCode !== 0) {
    const stderr = outcome.stderr.trim().split('\n').slice(-5).join(' | ').slice(0, 800);
    notes.push(`${what}: exit ${outcome.exitCode ?? 'unknown'}${outcome.message ? ` (${outcome.message.slice(0, 200)})` : ''}${stderr ? `: ${stderr}` : ''}`);
  }
  return notes;
}

/** In a dry run a collector capture only validates the collector and records what it would have done. */
export async function dryRunPlan(launcher: CollectorLauncher, target: PodRef, incidentId: string, kind: string, params: Record<string, unknown>) {
  const { wouldAdd, targetContainer } = await launcher.validate(target, incidentId);
  const record = { dryRun: true, kind, targetContainer, params, wouldAddEphemeralContainer: wouldAdd };
  return [{
    name: 'dry-run.json',
    body: jsonBody(record),
    contentType: 'application/json',
    collector: { name: 'holdfast-kubernetes-api', version: HOLDFAST_VERSION },
    method: 'kubernetes-api: ephemeral container add validated with dryRun=All',
    notes: [`dry run: the ${kind} capture would add collector ${wouldAdd.image} to ${target.namespace}/${target.pod} targeting ${targetContainer}; the API server accepted it and stored nothing`],
  }];
}
