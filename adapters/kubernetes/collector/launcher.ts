import crypto from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { CollectorInfo, PodRef, TamperFinding } from '../../../common/types';
import { HOLDFAST_VERSION } from '../../../common/version';
import { CollectorUnverified, NotFound, Unsupported } from '../../../common/failures';
import { mapKubernetesError } from '../errors';
import { execSmall } from './exec-stream';
import { RETIRE_COLLECTOR, RETIRED_INTERFERED, RETIRED_PREFIX, RETIRED_STALLED } from './scripts';
import { pinnedDigest, type CollectorConfig } from './settings';

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
  /**
   * How many of this incident's collectors in the pod Holdfast retired after a stall or an interference (a
   * stall or interference now is final).
   */
  stalledBefore?: number;
  /**
   * What happened to this incident's earlier collectors in the pod (retired after a stall or a kill, or ended
   * without Holdfast retiring them): every capture on this collector reports it, so a retry that succeeds
   * still carries the tamper flag.
   */
  tamper?: TamperFinding[];
  /**
   * Whether Holdfast (this worker) has retired this collector: a command of it killed since died with the
   * collector, not by the target's hand, and is retried without a tamper flag of its own.
   */
  retiredByHoldfast?: () => boolean;
}

/** What an ended collector says about interference, from its status (the termination message is bounded and matched, never quoted). */
export function endedCollectorFinding(name: string, status?: k8s.V1ContainerStatus): TamperFinding | undefined {
  const ended = status?.state?.terminated;
  if (!ended) return undefined;
  const message = ended.message ?? '';
  if (message.startsWith(RETIRED_STALLED))
    return {
      kind: 'collector-stalled',
      detail: `collector ${name} was retired after a command's output stalled (stopped by a process in the target?)`,
    };
  if (message.startsWith(RETIRED_INTERFERED))
    return {
      kind: 'collector-killed',
      detail: `collector ${name} was retired after a command of it was killed or its output came out incomplete`,
    };
  // Its idle process ran out its lifetime: the normal end.
  if (ended.exitCode === 0 && !message.startsWith(RETIRED_PREFIX)) return undefined;
  const reason = /^[A-Za-z]{1,32}$/.test(ended.reason ?? '') ? `, ${ended.reason}` : '';
  return {
    kind: 'collector-vanished',
    detail: `collector ${name} ended without Holdfast retiring it (exit ${Number(ended.exitCode)}${reason}): possibly killed by a process in the target`,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function collectorPrefix(incidentId: string): string {
  return `holdfast-collector-${crypto.createHash('sha256').update(incidentId).digest('hex').slice(0, 10)}`;
}

/**
 * The trusted collector: an ephemeral container from Holdfast's own image, added to the suspect pod
 * with `targetContainerName` so it shares the target container's PID namespace (and, like every
 * container of the pod, its network namespace). Tools run from the collector image only; the target's
 * filesystem is read through /proc/<pid>/root and never written. This works on distroless targets
 * and needs no privileged pod on the node. One collector per incident and pod, reused by every step.
 */
export class CollectorLauncher {
  /** Collectors this launcher retired (namespace/pod/container), most recent last, bounded. */
  private readonly retired = new Set<string>();

  constructor(
    private readonly core: k8s.CoreV1Api,
    private readonly config: CollectorConfig,
  ) {}

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
      const stalledBefore = mine.filter((c) =>
        statuses.get(c.name)?.state?.terminated?.message?.startsWith(RETIRED_PREFIX),
      ).length;
      const tamper = mine
        .map((c) => endedCollectorFinding(c.name, statuses.get(c.name)))
        .filter((f): f is TamperFinding => f !== undefined);
      if (running) {
        const status = statuses.get(running.name);
        this.verifyImage(target, running.name, status);
        return this.handle(pod, running.name, targetContainer, status, stalledBefore, tamper);
      }
      const waiting = usable.at(-1);
      if (waiting) {
        // Added (by us or a parallel step) and still starting: an image that cannot be pulled never will be.
        const reason = statuses.get(waiting.name)?.state?.waiting?.reason;
        if (
          reason &&
          /ErrImage|ImagePull|InvalidImageName|CreateContainerError|CreateContainerConfigError/.test(reason)
        ) {
          throw new Unsupported(
            `collector ${waiting.name} cannot start: ${reason}: ${statuses.get(waiting.name)?.state?.waiting?.message ?? ''}`.slice(
              0,
              500,
            ),
          );
        }
        if (Date.now() > deadline)
          throw new Error(
            `collector ${waiting.name} not running after ${this.config.readyTimeoutMs} ms (${reason ?? 'no status yet'})`,
          );
        await sleep(Math.min(250 * 2 ** Math.min(attempt, 3), 2000));
        continue;
      }
      if (mine.length >= MAX_COLLECTORS_PER_INCIDENT) {
        throw new Unsupported(
          `${mine.length} collectors of this incident already ended in ${target.namespace}/${target.pod}; not adding more`,
        );
      }
      const name = `${prefix}-${mine.length + 1}`;
      const added = await this.add(pod, name, targetContainer, incidentId);
      if (added) continue;
      // someone else changed the pod (likely a parallel step adding the collector): look again
      if (Date.now() > deadline)
        throw new Error(
          `pod ${target.namespace}/${target.pod} kept changing: the collector could not be added in ${this.config.readyTimeoutMs} ms`,
        );
      await sleep(100);
    }
  }

  /**
   * Retires a collector one of whose commands stalled: a process in the target may have stopped it and may
   * stop whatever else it runs. Its termination message says why (the next collector counts it) and this
   * waits, bounded, until the pod reports it ended, so the step's retry adds a fresh one instead of reusing it.
   */
  async retire(exec: k8s.Exec, handle: CollectorHandle, why = RETIRED_STALLED, waitMs = 20_000): Promise<void> {
    const bounds = { maxBytes: 4096, timeoutMs: 10_000 };
    const message = why === RETIRED_INTERFERED ? RETIRED_INTERFERED : RETIRED_STALLED;
    // Before the kill: commands of this collector that die from it must see that it was us.
    this.retired.add(collectorKey(handle));
    if (this.retired.size > 1000) this.retired.delete(this.retired.values().next().value!);
    await execSmall(exec, handle, ['sh', '-c', RETIRE_COLLECTOR, 'holdfast-retire', message], bounds).catch(
      () => undefined,
    );
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      const pod = await this.core
        .readNamespacedPod({ name: handle.pod, namespace: handle.namespace })
        .catch(() => undefined);
      const status = pod?.status?.ephemeralContainerStatuses?.find((s) => s.name === handle.container);
      if (!pod || status?.state?.terminated) return;
      await sleep(500);
    }
  }

  /**
   * Dry run: the API server validates adding the collector (RBAC, Pod Security admission, image
   * policy) with dryRun=All and stores nothing. Returns what would have been added.
   */
  async validate(
    target: PodRef,
    incidentId: string,
  ): Promise<{ wouldAdd: k8s.V1EphemeralContainer; targetContainer: string }> {
    const pod = await this.read(target);
    const targetContainer = chooseTarget(pod, target);
    const name = `${collectorPrefix(incidentId)}-dry-run`;
    const wouldAdd = this.spec(name, targetContainer, incidentId);
    await this.core
      .replaceNamespacedPodEphemeralcontainers({
        name: target.pod,
        namespace: target.namespace,
        body: withEphemeral(pod, wouldAdd),
        dryRun: 'All',
      })
      .catch((err: unknown) => {
        throw mapKubernetesError(
          err,
          `update pods/ephemeralcontainers (dry run: adding the collector to ${target.namespace}/${target.pod})`,
        );
      });
    return { wouldAdd, targetContainer };
  }

  /**
   * Before any capture runs in a collector: the image the kubelet reports having run (its imageID) must carry
   * the pinned digest. A collector someone else added under our name, or a node that holds another image under
   * the collector's name, is refused for good (non-retryable: the pod keeps that container). An image not
   * pinned by digest never gets here in the worker (refused at start unless HOLDFAST_COLLECTOR_ALLOW_TAG, for
   * local development): there is nothing to compare with.
   */
  private verifyImage(target: PodRef, container: string, status?: k8s.V1ContainerStatus): void {
    const pinned = pinnedDigest(this.config.image);
    if (!pinned) return;
    const reported = digestOf(status?.imageID);
    if (reported === pinned) return;
    // imageID comes from the node: reduced to its digest (or none), never quoted.
    throw new CollectorUnverified(
      `collector ${container} in ${target.namespace}/${target.pod} runs image ${reported ?? '(no digest reported)'}, ` +
        `not the pinned ${pinned}: no capture runs in it`,
    );
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
      await this.core.replaceNamespacedPodEphemeralcontainers({
        name: pod.metadata!.name!,
        namespace: pod.metadata!.namespace!,
        body,
      });
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 409) return false;
      throw mapKubernetesError(
        err,
        `update pods/ephemeralcontainers (adding collector ${name} to ${pod.metadata!.namespace}/${pod.metadata!.name})`,
      );
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

  private handle(
    pod: k8s.V1Pod,
    container: string,
    targetContainer: string,
    status?: k8s.V1ContainerStatus,
    stalledBefore = 0,
    tamper: TamperFinding[] = [],
  ): CollectorHandle {
    const target = pod.status?.containerStatuses?.find((s) => s.name === targetContainer);
    // Said in every artifact of this collector: the tamper note survives a retry that succeeds.
    const stalled = tamper.filter((f) => f.kind === 'collector-stalled').length;
    const killed = tamper.filter((f) => f.kind === 'collector-killed').length;
    const notes: string[] = [];
    if (stalled > 0)
      notes.push(
        `${stalled} earlier collector(s) of this incident were retired after their output stalled: possibly stopped by a process in the target (SIGSTOP); this is a fresh collector`,
      );
    if (killed > 0)
      notes.push(
        `${killed} earlier collector(s) of this incident were retired after a command of them was killed or its output came out incomplete: possibly by a process in the target (SIGKILL); this is a fresh collector`,
      );
    notes.push(...tamper.filter((f) => f.kind === 'collector-vanished').map((f) => f.detail));
    return {
      namespace: pod.metadata!.namespace!,
      pod: pod.metadata!.name!,
      container,
      targetContainer,
      targetContainerId: target?.containerID?.match(/^[a-z0-9-]+:\/\/([0-9a-f]{64})$/)?.[1],
      targetStartedAt: target?.state?.running?.startedAt
        ? new Date(target.state.running.startedAt).toISOString()
        : undefined,
      info: {
        name: 'holdfast-collector',
        version: HOLDFAST_VERSION,
        imageDigest: digestOf(status?.imageID) ?? this.config.image,
      },
      notes,
      ...(stalledBefore > 0 ? { stalledBefore } : {}),
      ...(tamper.length > 0 ? { tamper } : {}),
      retiredByHoldfast: () =>
        this.retired.has(collectorKey({ namespace: pod.metadata!.namespace!, pod: pod.metadata!.name!, container })),
    };
  }
}

function collectorKey(h: Pick<CollectorHandle, 'namespace' | 'pod' | 'container'>): string {
  return `${h.namespace}/${h.pod}/${h.container}`;
}

/** The pod as sent to …/ephemeralcontainers: its resourceVersion makes a concurrent change a 409. */
function withEphemeral(pod: k8s.V1Pod, container: k8s.V1EphemeralContainer): k8s.V1Pod {
  return { ...pod, spec: { ...pod.spec!, ephemeralContainers: [...(pod.spec?.ephemeralContainers ?? []), container] } };
}

/** The digest of a kubelet imageID (`repo@sha256:…`, or a bare `sha256:…`); anything else is none. */
export function digestOf(imageID?: string): string | undefined {
  if (!imageID || imageID.length > 1024) return undefined;
  return imageID.match(/(?:^|@)(sha256:[0-9a-f]{64})$/)?.[1];
}

function chooseTarget(pod: k8s.V1Pod, target: PodRef): string {
  const containers = pod.spec?.containers ?? [];
  const name = target.container ?? containers[0]?.name;
  if (!name || !containers.some((c) => c.name === name)) {
    throw new NotFound(`container ${target.container ?? '(first)'} is not in pod ${target.namespace}/${target.pod}`);
  }
  const status = pod.status?.containerStatuses?.find((s) => s.name === name);
  if (!status?.state?.running) {
    throw new Unsupported(
      `container ${name} of ${target.namespace}/${target.pod} is not running: a live capture is impossible (its logs may still be)`,
    );
  }
  return name;
}
