import type * as k8s from '@kubernetes/client-node';
import type { PodRef } from '../../common/types';
import { call } from './errors';
import type { Kube } from './kube';

export function readPod(kube: Kube, target: PodRef): Promise<k8s.V1Pod> {
  return call(`get pod ${target.namespace}/${target.pod}`, () =>
    kube.core.readNamespacedPod({ name: target.pod, namespace: target.namespace }),
  );
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
