import type * as k8s from '@kubernetes/client-node';
import { PodReplaced } from '../../common/failures';
import type { PodPin, PodRef } from '../../common/types';
import { call } from './errors';
import type { Kube } from './kube';

export function readPod(kube: Kube, target: PodRef): Promise<k8s.V1Pod> {
  return call(`get pod ${target.namespace}/${target.pod}`, () =>
    kube.core.readNamespacedPod({ name: target.pod, namespace: target.namespace }),
  );
}

/**
 * The pod by name, refused (PodReplaced, non-retryable) when the incident is pinned to another UID: a
 * StatefulSet recreates a deleted pod under the same name, and that new pod is not the suspect.
 */
export async function readPinnedPod(kube: Kube, target: PodRef, pin: PodPin | undefined): Promise<k8s.V1Pod> {
  const pod = await readPod(kube, target);
  if (pin && pod.metadata?.uid !== pin.uid) throw podReplaced(target, pin, pod);
  return pod;
}

export function podReplaced(target: PodRef, pin: PodPin, now?: k8s.V1Pod): PodReplaced {
  const created = now?.metadata?.creationTimestamp;
  const current = now
    ? `now uid ${now.metadata?.uid ?? '?'}${created ? ` (created ${new Date(created).toISOString()})` : ''}`
    : 'now another pod';
  return new PodReplaced(
    `pod ${target.namespace}/${target.pod} is ${current}, not the pod this incident is about (uid ${pin.uid}): ` +
      'it was deleted and recreated under the same name; nothing was done to the new pod',
  );
}

/** A pod's UID and node, as a pin. */
export function pinOf(pod: k8s.V1Pod): PodPin {
  const uid = pod.metadata?.uid;
  if (!uid) throw new Error('the API server returned a pod without a uid');
  return { uid, ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}) };
}

export interface Owner {
  kind: string;
  name: string;
  uid?: string;
}

/** The controller chain above the pod (ReplicaSet → Deployment …), read-only. */
export async function ownerChain(kube: Kube, pod: k8s.V1Pod): Promise<Owner[]> {
  const chain: Owner[] = [];
  const namespace = pod.metadata!.namespace!;
  let owners = pod.metadata?.ownerReferences ?? [];
  for (let depth = 0; depth < 4 && owners.length > 0; depth++) {
    const owner = owners.find((o) => o.controller) ?? owners[0]!;
    chain.push({ kind: owner.kind, name: owner.name, uid: owner.uid });
    if (owner.kind === 'ReplicaSet') {
      const rs = await kube.apps.readNamespacedReplicaSet({ name: owner.name, namespace }).catch(() => undefined);
      owners = rs?.metadata?.ownerReferences ?? [];
    } else {
      break;
    }
  }
  return chain;
}
