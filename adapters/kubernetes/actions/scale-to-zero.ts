import type * as k8s from '@kubernetes/client-node';
import { Type } from '@sinclair/typebox';
import { Unsupported } from '../../../common/failures';
import type { PodRef } from '../../../common/types';
import { call } from '../errors';
import { dryRunOf, MERGE_PATCH, type Kube } from '../kube';
import { ORIGINAL_OWNER_ANNOTATION, SCALED_DOWN_ANNOTATION } from '../labels';
import { readPinnedPod } from '../pods';
import { defineAction, type UnitRun } from '../units';

type WorkloadRef = { kind: 'Deployment' | 'ReplicaSet'; name: string };
type Workload = { metadata?: k8s.V1ObjectMeta; spec?: { replicas?: number } };

/**
 * The Deployment (else ReplicaSet) the pod belonged to, before or after preserve detached it; the pod
 * checked against the incident's pin when given (undo passes none: it restores only what it recorded).
 */
async function workloadOf(kube: Kube, target: PodRef, pin?: UnitRun['pod']): Promise<WorkloadRef> {
  const pod = await readPinnedPod(kube, target, pin);
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

function readWorkload(kube: Kube, target: PodRef, workload: WorkloadRef): Promise<Workload> {
  const args = { name: workload.name, namespace: target.namespace };
  const read: () => Promise<Workload> =
    workload.kind === 'Deployment'
      ? () => kube.apps.readNamespacedDeployment(args)
      : () => kube.apps.readNamespacedReplicaSet(args);
  return call(`get ${workload.kind} ${workload.name}`, read);
}

async function scale(
  kube: Kube,
  target: PodRef,
  workload: WorkloadRef,
  replicas: number,
  annotation: string | null,
  run: UnitRun,
): Promise<void> {
  const { name } = workload;
  const namespace = target.namespace;
  const dryRun = dryRunOf(run);
  const body = { metadata: { annotations: { [SCALED_DOWN_ANNOTATION]: annotation } }, spec: { replicas } };
  if (workload.kind === 'Deployment') {
    await call(`patch deployments ${namespace}/${name}`, () =>
      kube.apps.patchNamespacedDeployment({ name, namespace, body, dryRun }, MERGE_PATCH),
    );
  } else {
    await call(`patch replicasets ${namespace}/${name}`, () =>
      kube.apps.patchNamespacedReplicaSet({ name, namespace, body, dryRun }, MERGE_PATCH),
    );
  }
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
    { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    { apiGroups: ['apps'], resources: ['replicasets', 'deployments'], verbs: ['get', 'patch'] },
  ],
  timeouts: { startToCloseSeconds: 60, heartbeatSeconds: 0, maximumAttempts: 5 },
  requiresApproval: true,
  async apply(kube, target, _params, run) {
    const workload = await workloadOf(kube, target, run.pod);
    const current = await readWorkload(kube, target, workload);
    const replicas = current.spec?.replicas ?? 1;
    if (replicas === 0)
      return {
        changed: false,
        dryRun: run.dryRun,
        notes: [`${workload.kind} ${workload.name} was already at 0 replicas`],
      };
    await scale(kube, target, workload, 0, `${run.incidentId}:${replicas}`, run);
    return {
      changed: true,
      dryRun: run.dryRun,
      record: { workload, replicasBefore: replicas },
      notes: [
        `${workload.kind} ${target.namespace}/${workload.name} scaled from ${replicas} to 0 (the suspect pod, detached, keeps running)`,
      ],
    };
  },
  async undo(kube, target, _params, run) {
    const workload = await workloadOf(kube, target);
    const current = await readWorkload(kube, target, workload);
    const [incident, before] = (current.metadata?.annotations?.[SCALED_DOWN_ANNOTATION] ?? '').split(':');
    // Only undo our own scale-down, and only to the size it had.
    if (incident !== run.incidentId || !/^\d+$/.test(before ?? '')) {
      return {
        changed: false,
        dryRun: run.dryRun,
        notes: [`${workload.kind} ${workload.name} was not scaled down by this incident; left as is`],
      };
    }
    await scale(kube, target, workload, Number(before), null, run);
    return {
      changed: true,
      dryRun: run.dryRun,
      notes: [`${workload.kind} ${target.namespace}/${workload.name} scaled back to ${before}`],
    };
  },
});
