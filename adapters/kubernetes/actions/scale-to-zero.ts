import type * as k8s from '@kubernetes/client-node';
import { Type } from '@sinclair/typebox';
import { Unsupported } from '../../../common/failures';
import type { PodRef } from '../../../common/types';
import { call } from '../errors';
import { dryRunOf, MERGE_PATCH, type Kube } from '../kube';
import { ORIGINAL_OWNER_ANNOTATION, SCALED_DOWN_ANNOTATION } from '../labels';
import { readPinnedPod, readPod } from '../pods';
import { defineAction } from '../units';

type WorkloadRef = { kind: 'Deployment' | 'ReplicaSet'; name: string };

/** What the pod's SCALED_DOWN_ANNOTATION holds: the scale is changed through the scale subresource, which keeps no annotation of its own. */
interface ScaledDown {
  incident: string;
  workload: WorkloadRef;
  replicas: number;
}

/**
 * The Deployment (else ReplicaSet) the pod belonged to, before or after preserve detached it.
 */
async function workloadOf(kube: Kube, target: PodRef, pod: k8s.V1Pod): Promise<WorkloadRef> {
  const recorded = pod.metadata?.annotations?.[ORIGINAL_OWNER_ANNOTATION];
  const owner = pod.metadata?.ownerReferences?.find((o) => o.controller);
  const rsName = owner
    ? owner.kind === 'ReplicaSet'
      ? owner.name
      : undefined
    : recorded?.startsWith('ReplicaSet/')
      ? recorded.slice('ReplicaSet/'.length)
      : undefined;
  if (!rsName)
    throw new Unsupported(`pod ${target.namespace}/${target.pod} was not created by a ReplicaSet: nothing to scale`);
  const rs = await call(`get replicaset ${rsName}`, () =>
    kube.apps.readNamespacedReplicaSet({ name: rsName, namespace: target.namespace }),
  );
  const deployment = rs.metadata?.ownerReferences?.find((o) => o.controller && o.kind === 'Deployment');
  return deployment ? { kind: 'Deployment', name: deployment.name } : { kind: 'ReplicaSet', name: rsName };
}

/**
 * The scale subresource only: the containment identity can change a workload's size and nothing else of it
 * (patch on the workload could rewrite its pod template, which is code execution in the namespace).
 */
function readScale(kube: Kube, namespace: string, workload: WorkloadRef): Promise<k8s.V1Scale> {
  const args = { name: workload.name, namespace };
  return workload.kind === 'Deployment'
    ? call(`get deployments/scale ${namespace}/${workload.name}`, () => kube.apps.readNamespacedDeploymentScale(args))
    : call(`get replicasets/scale ${namespace}/${workload.name}`, () => kube.apps.readNamespacedReplicaSetScale(args));
}

/** Sets the size, conditional on the resourceVersion read (a concurrent change is a conflict, retried by the step). */
async function writeScale(
  kube: Kube,
  namespace: string,
  workload: WorkloadRef,
  current: k8s.V1Scale,
  replicas: number,
  run: { dryRun: boolean },
): Promise<void> {
  const body: k8s.V1Scale = {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: { name: workload.name, namespace, resourceVersion: current.metadata?.resourceVersion },
    spec: { replicas },
  };
  const args = { name: workload.name, namespace, body, dryRun: dryRunOf(run) };
  if (workload.kind === 'Deployment')
    await call(`update deployments/scale ${namespace}/${workload.name}`, () =>
      kube.apps.replaceNamespacedDeploymentScale(args),
    );
  else
    await call(`update replicasets/scale ${namespace}/${workload.name}`, () =>
      kube.apps.replaceNamespacedReplicaSetScale(args),
    );
}

/** The record on the pod, or undefined when it is absent or not ours to read (anyone who can patch the pod can write it). */
export function parseScaledDown(value: string | undefined): ScaledDown | undefined {
  if (!value || value.length > 1024) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  const r = parsed as { incident?: unknown; workload?: { kind?: unknown; name?: unknown }; replicas?: unknown };
  if (
    typeof r?.incident !== 'string' ||
    (r.workload?.kind !== 'Deployment' && r.workload?.kind !== 'ReplicaSet') ||
    typeof r.workload.name !== 'string' ||
    !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(r.workload.name) ||
    typeof r.replicas !== 'number' ||
    !Number.isSafeInteger(r.replicas) ||
    r.replicas < 1
  )
    return undefined;
  return { incident: r.incident, workload: { kind: r.workload.kind, name: r.workload.name }, replicas: r.replicas };
}

async function annotatePod(kube: Kube, target: PodRef, value: string | null, run: { dryRun: boolean }) {
  await call(`patch pod ${target.namespace}/${target.pod}`, () =>
    kube.core.patchNamespacedPod(
      {
        name: target.pod,
        namespace: target.namespace,
        body: { metadata: { annotations: { [SCALED_DOWN_ANNOTATION]: value } } },
        dryRun: dryRunOf(run),
      },
      MERGE_PATCH,
    ),
  );
}

/**
 * Takes the whole workload down when every replica must be presumed compromised (a poisoned image):
 * scales the Deployment (or ReplicaSet) that owned the pod to zero. The detached suspect keeps running
 * for the investigation. Undo restores the size it had, and only if Holdfast made the change.
 */
export const scaleToZeroAction = defineAction({
  name: 'scale-to-zero',
  kind: 'contain',
  target: 'pod',
  description:
    'Scales the Deployment (else ReplicaSet) that owned the suspect pod to zero and records its size; undo scales it back. ' +
    'Takes a service down: a playbook may use it only with approval: { required: true } and onTimeout: reject.',
  params: Type.Object({}),
  example: { approval: { required: true, timeout: '30m', onTimeout: 'reject' } },
  rbac: [
    // the pod (checked against the pin) carries the record of the change: the scale subresource keeps none
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] },
    { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get'] },
    { apiGroups: ['apps'], resources: ['deployments/scale', 'replicasets/scale'], verbs: ['get', 'update'] },
  ],
  timeouts: { startToCloseSeconds: 60, heartbeatSeconds: 0, maximumAttempts: 5 },
  requiresApproval: true,
  async apply(kube, target, _params, run) {
    const pod = await readPinnedPod(kube, target, run.pod);
    const workload = await workloadOf(kube, target, pod);
    const label = `${workload.kind} ${target.namespace}/${workload.name}`;
    const scale = await readScale(kube, target.namespace, workload);
    const replicas = scale.spec?.replicas ?? 0;
    const mine = parseScaledDown(pod.metadata?.annotations?.[SCALED_DOWN_ANNOTATION]);
    if (replicas === 0) {
      // A retry after the scale went through: still this incident's change.
      if (mine?.incident === run.incidentId && mine.workload.name === workload.name)
        return {
          changed: true,
          dryRun: run.dryRun,
          record: { workload, replicasBefore: mine.replicas },
          notes: [`${label} scaled from ${mine.replicas} to 0 (the suspect pod, detached, keeps running)`],
        };
      return { changed: false, dryRun: run.dryRun, notes: [`${label} was already at 0 replicas`] };
    }
    // Recorded first: if the scale fails, undo finds the workload not at 0 and leaves it alone.
    const record: ScaledDown = { incident: run.incidentId, workload, replicas };
    await annotatePod(kube, target, JSON.stringify(record), run);
    await writeScale(kube, target.namespace, workload, scale, 0, run);
    return {
      changed: true,
      dryRun: run.dryRun,
      record: { workload, replicasBefore: replicas },
      notes: [`${label} scaled from ${replicas} to 0 (the suspect pod, detached, keeps running)`],
    };
  },
  async undo(kube, target, _params, run) {
    const pod = await readPod(kube, target);
    const recorded = parseScaledDown(pod.metadata?.annotations?.[SCALED_DOWN_ANNOTATION]);
    // Only undo our own scale-down, and only to the size it had.
    if (recorded?.incident !== run.incidentId)
      return {
        changed: false,
        dryRun: run.dryRun,
        notes: [`the pod records no scale-down by this incident; nothing scaled back`],
      };
    const { workload, replicas } = recorded;
    const label = `${workload.kind} ${target.namespace}/${workload.name}`;
    const scale = await readScale(kube, target.namespace, workload);
    const now = scale.spec?.replicas ?? 0;
    if (now !== 0)
      return {
        changed: false,
        dryRun: run.dryRun,
        notes: [`${label} is at ${now} replicas: someone scaled it since this incident did; left as is`],
      };
    await writeScale(kube, target.namespace, workload, scale, replicas, run);
    await annotatePod(kube, target, null, run);
    return { changed: true, dryRun: run.dryRun, notes: [`${label} scaled back to ${replicas}`] };
  },
});
