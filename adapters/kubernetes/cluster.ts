import crypto from 'node:crypto';
import { Transform } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { FailureType, isFailure, Unsupported } from '../../common/failures';
import type { PodRef } from '../../common/types';
import { HOLDFAST_VERSION } from '../../common/version';
import { jsonBody } from '../../evidence/json-body';
import type { ActionOutcome, CaptureOptions, CaptureStream, Cluster, MutationOptions } from '../../common/ports';
import { captureFilesystem } from './capture-filesystem';
import { captureMemory } from './capture-memory';
import { captureNetwork } from './capture-network';
import { CollectorLauncher, DEFAULT_COLLECTOR, type CollectorConfig } from './collector';
import type { CollectorDeps } from './collector-deps';
import { mapKubernetesError } from './errors';

import {
  CORDONED_BY_ANNOTATION, INCIDENT_ANNOTATION, ORIGINAL_LABELS_ANNOTATION, ORIGINAL_OWNER_ANNOTATION, QUARANTINE_LABEL, SCALED_DOWN_ANNOTATION,
} from './labels';


const POD_KEEP_ANNOTATIONS = {
  'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false',
  'karpenter.sh/do-not-disrupt': 'true',
};
const NODE_KEEP_ANNOTATIONS = {
  'cluster-autoscaler.kubernetes.io/scale-down-disabled': 'true',
  'karpenter.sh/do-not-disrupt': 'true',
};

const MERGE_PATCH = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const collector = { name: 'holdfast-kubernetes-api', version: HOLDFAST_VERSION };

/** Label values are ≤ 63 chars: the quarantine label carries a stable hash of the incident id. */
export function quarantineValue(incidentId: string): string {
  return `q-${crypto.createHash('sha256').update(incidentId).digest('hex').slice(0, 16)}`;
}

function policyName(pod: string): string {
  return `holdfast-quarantine-${crypto.createHash('sha256').update(pod).digest('hex').slice(0, 12)}`;
}

function jsonStream(name: string, method: string, value: unknown, notes: string[] = []): CaptureStream {
  return {
    name, method, notes, collector,
    contentType: 'application/json',
    body: jsonBody(value),
  };
}

/** A pass-through that notes, before it ends, when the server's byte limit was reached (later lines were cut). */
function boundNoted(limitBytes: number, notes: string[], what: string): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, callback) { bytes += chunk.length; callback(null, chunk); },
    flush(callback) {
      if (bytes >= limitBytes) notes.push(`${what}: the bound of ${limitBytes} bytes was reached: later lines are missing`);
      callback();
    },
  });
}

const dryRunOf = (opts: MutationOptions) => (opts.dryRun ? 'All' : undefined);

/**
 * The Cluster port on @kubernetes/client-node. Mutations are idempotent (safe to retry) and honour
 * server-side dry run; reads are bounded.
 */
export class KubernetesCluster implements Cluster {
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly networking: k8s.NetworkingV1Api;
  private readonly logs: k8s.Log;
  private readonly collectorDeps: CollectorDeps;

  constructor(kc: k8s.KubeConfig, collector: CollectorConfig = DEFAULT_COLLECTOR) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.apps = kc.makeApiClient(k8s.AppsV1Api);
    this.networking = kc.makeApiClient(k8s.NetworkingV1Api);
    this.logs = new k8s.Log(kc);
    this.collectorDeps = {
      kc,
      core: this.core,
      networking: this.networking,
      discovery: kc.makeApiClient(k8s.DiscoveryV1Api),
      exec: new k8s.Exec(kc),
      launcher: new CollectorLauncher(this.core, collector),
    };
  }

  private async call<T>(doing: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw mapKubernetesError(err, doing);
    }
  }

  private readPod(target: PodRef): Promise<k8s.V1Pod> {
    return this.call(`get pod ${target.namespace}/${target.pod}`, () => this.core.readNamespacedPod({ name: target.pod, namespace: target.namespace }));
  }

  async nodeOf(target: PodRef): Promise<string | undefined> {
    return (await this.readPod(target)).spec?.nodeName;
  }

  /** The controller chain above the pod (ReplicaSet → Deployment …), read-only. */
  private async ownerChain(pod: k8s.V1Pod): Promise<Array<{ kind: string; name: string; uid?: string }>> {
    const chain: Array<{ kind: string; name: string; uid?: string }> = [];
    const namespace = pod.metadata!.namespace!;
    let owners = pod.metadata?.ownerReferences ?? [];
    for (let depth = 0; depth < 4 && owners.length > 0; depth++) {
      const owner = owners.find((o) => o.controller) ?? owners[0]!;
      chain.push({ kind: owner.kind, name: owner.name, uid: owner.uid });
      if (owner.kind === 'ReplicaSet') {
        const rs = await this.apps.readNamespacedReplicaSet({ name: owner.name, namespace }).catch(() => undefined);
        owners = rs?.metadata?.ownerReferences ?? [];
      } else {
        break;
      }
    }
    return chain;
  }

  async inspect(target: PodRef, _opts: CaptureOptions): Promise<CaptureStream[]> {
    const pod = await this.readPod(target);
    const owners = await this.ownerChain(pod).catch(() => []);
    const events = await this.call('list events', () => this.core.listNamespacedEvent({
      namespace: target.namespace,
      fieldSelector: `involvedObject.uid=${pod.metadata?.uid}`,
      limit: 500,
    })).catch(() => ({ items: [] as k8s.CoreV1Event[] }));
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? []), ...(pod.status?.ephemeralContainerStatuses ?? [])];
    const record = {
      pod: { namespace: target.namespace, name: target.pod, uid: pod.metadata?.uid, node: pod.spec?.nodeName, podIP: pod.status?.podIP, phase: pod.status?.phase, labels: pod.metadata?.labels, annotations: pod.metadata?.annotations },
      owners,
      containers: statuses.map((s) => ({ name: s.name, image: s.image, imageID: s.imageID, containerID: s.containerID, restartCount: s.restartCount, ready: s.ready, state: s.state })),
      events: events.items.map((e) => ({ type: e.type, reason: e.reason, message: e.message?.slice(0, 2000), count: e.count, firstTimestamp: e.firstTimestamp, lastTimestamp: e.lastTimestamp ?? e.eventTime })),
      manifest: pod,
    };
    return [jsonStream('pod.json', 'kubernetes-api:get-pod', record)];
  }

  async preserve(target: PodRef, opts: MutationOptions): Promise<ActionOutcome> {
    const pod = await this.readPod(target);
    const notes: string[] = [];
    const labels = { ...(pod.metadata?.labels ?? {}) };
    const chain = await this.ownerChain(pod).catch(() => []);
    // Detach from the ReplicaSet by removing the labels its selector matches: the controller releases
    // the pod and starts a replacement, while this pod (and its evidence) stays running.
    const detached: Record<string, string | null> = {};
    const owner = pod.metadata?.ownerReferences?.find((o) => o.controller);
    if (owner?.kind === 'ReplicaSet') {
      const rs = await this.call(`get replicaset ${owner.name}`, () => this.apps.readNamespacedReplicaSet({ name: owner.name, namespace: target.namespace }));
      for (const key of Object.keys(rs.spec?.selector?.matchLabels ?? {})) if (key in labels) detached[key] = null;
      if (rs.spec?.selector?.matchExpressions?.length) notes.push('the ReplicaSet selector has matchExpressions: only matchLabels keys were removed');
      notes.push(`detached from ReplicaSet ${owner.name} by removing labels ${Object.keys(detached).join(', ') || '(none)'}`);
    } else if (owner) {
      notes.push(`controlled by ${owner.kind} ${owner.name}: not detached (only ReplicaSet-owned pods are relabelled)`);
    }
    const quarantine = quarantineValue(opts.incidentId);
    const alreadyPreserved = labels[QUARANTINE_LABEL] === quarantine;
    const originalLabels = pod.metadata?.annotations?.[ORIGINAL_LABELS_ANNOTATION] ?? JSON.stringify(labels);
    // The live owner reference wins over an annotation (which anyone able to patch the pod could have set).
    const originalOwner = owner ? `${owner.kind}/${owner.name}` : pod.metadata?.annotations?.[ORIGINAL_OWNER_ANNOTATION];
    const patch = {
      metadata: {
        labels: { ...detached, [QUARANTINE_LABEL]: quarantine },
        annotations: {
          ...POD_KEEP_ANNOTATIONS, [INCIDENT_ANNOTATION]: opts.incidentId, [ORIGINAL_LABELS_ANNOTATION]: originalLabels,
          ...(originalOwner ? { [ORIGINAL_OWNER_ANNOTATION]: originalOwner } : {}),
        },
      },
    };
    await this.call(`patch pod ${target.namespace}/${target.pod}`, () => this.core.patchNamespacedPod({ name: target.pod, namespace: target.namespace, body: patch, dryRun: dryRunOf(opts) }, MERGE_PATCH));
    const node = pod.spec?.nodeName;
    if (node) {
      await this.call(`patch node ${node}`, () => this.core.patchNode({ name: node, body: { metadata: { annotations: NODE_KEEP_ANNOTATIONS } }, dryRun: dryRunOf(opts) }, MERGE_PATCH));
      notes.push(`node ${node} annotated against scale-down and disruption`);
    }
    return { changed: !alreadyPreserved, dryRun: opts.dryRun, notes, record: { pod: target, patch, node, owners: chain } };
  }

  async isolate(target: PodRef, opts: MutationOptions): Promise<ActionOutcome> {
    const quarantine = quarantineValue(opts.incidentId);
    // The label is what the policy selects; preserve usually set it already, this makes isolate standalone.
    await this.call(`label pod ${target.namespace}/${target.pod}`, () => this.core.patchNamespacedPod({
      name: target.pod, namespace: target.namespace, dryRun: dryRunOf(opts),
      body: { metadata: { labels: { [QUARANTINE_LABEL]: quarantine }, annotations: { [INCIDENT_ANNOTATION]: opts.incidentId } } },
    }, MERGE_PATCH));
    const policy: k8s.V1NetworkPolicy = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: policyName(target.pod), namespace: target.namespace, labels: { 'app.kubernetes.io/managed-by': 'holdfast' }, annotations: { [INCIDENT_ANNOTATION]: opts.incidentId } },
      spec: { podSelector: { matchLabels: { [QUARANTINE_LABEL]: quarantine } }, policyTypes: ['Ingress', 'Egress'], ingress: [], egress: [] },
    };
    let changed = true;
    try {
      await this.networking.createNamespacedNetworkPolicy({ namespace: target.namespace, body: policy, dryRun: dryRunOf(opts) });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw mapKubernetesError(err, `create NetworkPolicy ${policy.metadata!.name}`);
      changed = false;
    }
    return {
      changed, dryRun: opts.dryRun, record: policy,
      notes: [
        `deny-all NetworkPolicy ${target.namespace}/${policy.metadata!.name} selects ${QUARANTINE_LABEL}=${quarantine}`,
        'whether already-established connections are cut depends on the CNI / policy enforcer',
      ],
    };
  }

  async unisolate(target: PodRef, opts: MutationOptions): Promise<ActionOutcome> {
    const name = policyName(target.pod);
    try {
      await this.networking.deleteNamespacedNetworkPolicy({ name, namespace: target.namespace, dryRun: dryRunOf(opts) });
      return { changed: true, dryRun: opts.dryRun, notes: [`deleted NetworkPolicy ${target.namespace}/${name}`] };
    } catch (err) {
      if ((err as { code?: number }).code === 404) return { changed: false, dryRun: opts.dryRun, notes: [`NetworkPolicy ${name} was already gone`] };
      throw mapKubernetesError(err, `delete NetworkPolicy ${name}`);
    }
  }

  async cordon(node: string, opts: MutationOptions): Promise<ActionOutcome> {
    const current = await this.call(`get node ${node}`, () => this.core.readNode({ name: node }));
    if (current.spec?.unschedulable) {
      return { changed: false, dryRun: opts.dryRun, notes: [`node ${node} was already cordoned`] };
    }
    await this.call(`cordon node ${node}`, () => this.core.patchNode({
      name: node, dryRun: dryRunOf(opts),
      body: { spec: { unschedulable: true }, metadata: { annotations: { [CORDONED_BY_ANNOTATION]: opts.incidentId } } },
    }, MERGE_PATCH));
    return { changed: true, dryRun: opts.dryRun, notes: [`node ${node} cordoned (not drained)`] };
  }

  async uncordon(node: string, opts: MutationOptions): Promise<ActionOutcome> {
    const current = await this.call(`get node ${node}`, () => this.core.readNode({ name: node }));
    // Only undo our own cordon: a node someone else cordoned stays cordoned.
    if (current.metadata?.annotations?.[CORDONED_BY_ANNOTATION] !== opts.incidentId) {
      return { changed: false, dryRun: opts.dryRun, notes: [`node ${node} was not cordoned by this incident; left as is`] };
    }
    await this.call(`uncordon node ${node}`, () => this.core.patchNode({
      name: node, dryRun: dryRunOf(opts),
      body: { spec: { unschedulable: false }, metadata: { annotations: { [CORDONED_BY_ANNOTATION]: null } } },
    }, MERGE_PATCH));
    return { changed: true, dryRun: opts.dryRun, notes: [`node ${node} uncordoned`] };
  }

  async deletePod(target: PodRef, opts: MutationOptions): Promise<ActionOutcome> {
    try {
      await this.core.deleteNamespacedPod({ name: target.pod, namespace: target.namespace, dryRun: dryRunOf(opts), gracePeriodSeconds: 0 });
      return { changed: true, dryRun: opts.dryRun, notes: [`pod ${target.namespace}/${target.pod} deleted`] };
    } catch (err) {
      if ((err as { code?: number }).code === 404) return { changed: false, dryRun: opts.dryRun, notes: [`pod ${target.namespace}/${target.pod} was already gone`] };
      throw mapKubernetesError(err, `delete pod ${target.namespace}/${target.pod}`);
    }
  }

  /** The Deployment (else ReplicaSet) the pod belonged to, before or after preserve detached it. */
  private async workloadOf(target: PodRef): Promise<{ kind: 'Deployment' | 'ReplicaSet'; name: string }> {
    const pod = await this.readPod(target);
    const recorded = pod.metadata?.annotations?.[ORIGINAL_OWNER_ANNOTATION];
    const owner = pod.metadata?.ownerReferences?.find((o) => o.controller);
    const rsName = owner ? (owner.kind === 'ReplicaSet' ? owner.name : undefined) : recorded?.startsWith('ReplicaSet/') ? recorded.slice('ReplicaSet/'.length) : undefined;
    if (!rsName) throw new Unsupported(`pod ${target.namespace}/${target.pod} was not created by a ReplicaSet: nothing to scale`);
    const rs = await this.call(`get replicaset ${rsName}`, () => this.apps.readNamespacedReplicaSet({ name: rsName, namespace: target.namespace }));
    const deployment = rs.metadata?.ownerReferences?.find((o) => o.controller && o.kind === 'Deployment');
    return deployment ? { kind: 'Deployment', name: deployment.name } : { kind: 'ReplicaSet', name: rsName };
  }

  private readWorkload(target: PodRef, workload: { kind: 'Deployment' | 'ReplicaSet'; name: string }): Promise<{ metadata?: k8s.V1ObjectMeta; spec?: { replicas?: number } }> {
    const args = { name: workload.name, namespace: target.namespace };
    type Workload = { metadata?: k8s.V1ObjectMeta; spec?: { replicas?: number } };
    const read: () => Promise<Workload> = workload.kind === 'Deployment' ? () => this.apps.readNamespacedDeployment(args) : () => this.apps.readNamespacedReplicaSet(args);
    return this.call(`get ${workload.kind} ${workload.name}`, read);
  }

  private async scale(target: PodRef, workload: { kind: 'Deployment' | 'ReplicaSet'; name: string }, replicas: number, annotation: string | null, opts: MutationOptions): Promise<void> {
    const { name } = workload;
    const namespace = target.namespace;
    const dryRun = dryRunOf(opts);
    const body = { metadata: { annotations: { [SCALED_DOWN_ANNOTATION]: annotation } }, spec: { replicas } };
    if (workload.kind === 'Deployment') {
      await this.call(`patch deployments ${namespace}/${name}`, () => this.apps.patchNamespacedDeployment({ name, namespace, body, dryRun }, MERGE_PATCH));
    } else {
      await this.call(`patch replicasets ${namespace}/${name}`, () => this.apps.patchNamespacedReplicaSet({ name, namespace, body, dryRun }, MERGE_PATCH));
    }
  }

  async scaleToZero(target: PodRef, opts: MutationOptions): Promise<ActionOutcome> {
    const workload = await this.workloadOf(target);
    const current = await this.readWorkload(target, workload);
    const replicas = current.spec?.replicas ?? 1;
    if (replicas === 0) return { changed: false, dryRun: opts.dryRun, notes: [`${workload.kind} ${workload.name} was already at 0 replicas`] };
    await this.scale(target, workload, 0, `${opts.incidentId}:${replicas}`, opts);
    return { changed: true, dryRun: opts.dryRun, record: { workload, replicasBefore: replicas }, notes: [`${workload.kind} ${target.namespace}/${workload.name} scaled from ${replicas} to 0 (the suspect pod, detached, keeps running)`] };
  }

  async restoreScale(target: PodRef, opts: MutationOptions): Promise<ActionOutcome> {
    const workload = await this.workloadOf(target);
    const current = await this.readWorkload(target, workload);
    const [incident, before] = (current.metadata?.annotations?.[SCALED_DOWN_ANNOTATION] ?? '').split(':');
    // Only undo our own scale-down, and only to the size it had.
    if (incident !== opts.incidentId || !/^\d+$/.test(before ?? '')) {
      return { changed: false, dryRun: opts.dryRun, notes: [`${workload.kind} ${workload.name} was not scaled down by this incident; left as is`] };
    }
    await this.scale(target, workload, Number(before), null, opts);
    return { changed: true, dryRun: opts.dryRun, notes: [`${workload.kind} ${target.namespace}/${workload.name} scaled back to ${before}`] };
  }

  async capture(kind: 'filesystem' | 'memory' | 'logs' | 'network', target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
    switch (kind) {
      case 'logs': return this.captureLogs(target, opts);
      case 'filesystem': return captureFilesystem(this.collectorDeps, target, opts);
      case 'memory': return captureMemory(this.collectorDeps, target, opts);
      case 'network': return captureNetwork(this.collectorDeps, target, opts);
    }
  }

  /** Current and previous logs of every container, with timestamps, bounded per container. */
  private async captureLogs(target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
    const pod = await this.readPod(target);
    const limitBytes = Number(opts.params.maxBytesPerContainer ?? 64 * 1024 ** 2);
    const sinceSeconds = opts.params.sinceSeconds === undefined ? undefined : Number(opts.params.sinceSeconds);
    const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name);
    const statuses = new Map([...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].map((s) => [s.name, s]));
    const streams: CaptureStream[] = [];
    for (const container of containers) {
      const variants = [false, ...((statuses.get(container)?.restartCount ?? 0) > 0 ? [true] : [])];
      for (const previous of variants) {
        const name = `${container}${previous ? '.previous' : ''}.log`;
        const notes = [`bounded to ${limitBytes} bytes`];
        const body = boundNoted(limitBytes, notes, `logs of ${container}${previous ? ' (previous)' : ''}`);
        try {
          await this.logs.log(target.namespace, target.pod, container, body, { timestamps: true, previous, limitBytes, sinceSeconds });
        } catch (err) {
          body.destroy();
          const mapped = mapKubernetesError(err, `logs of ${container}`);
          if (isFailure(mapped, FailureType.PermissionDenied)) throw mapped;
          streams.push(jsonStream(`${name}.error.json`, 'kubernetes-api:pod-log', { error: mapped.message }, [`logs of ${container}${previous ? ' (previous)' : ''} unavailable: ${mapped.message}`]));
          continue;
        }
        streams.push({
          name, body, collector, contentType: 'text/plain',
          method: `kubernetes-api:pod-log timestamps=true previous=${previous} limitBytes=${limitBytes}`,
          notes,
        });
      }
    }
    const events = (await this.inspect(target, opts))[0]!;
    streams.push({ ...events, name: 'events-and-pod.json' });
    return streams;
  }
}
