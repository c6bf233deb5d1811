import type * as k8s from '@kubernetes/client-node';
import type { CaptureStream } from '../../common/ports';
import type { PodRef } from '../../common/types';
import { call } from './errors';
import type { Kube } from './kube';
import { ownerChain, readPod } from './pods';
import { jsonStream } from './streams';

/** Pod, owner chain, node, containers with image digests, recent events: one JSON document. */
export async function inspectPod(kube: Kube, target: PodRef): Promise<CaptureStream[]> {
  const pod = await readPod(kube, target);
  const owners = await ownerChain(kube, pod).catch(() => []);
  const events = await call('list events', () =>
    kube.core.listNamespacedEvent({
      namespace: target.namespace,
      fieldSelector: `involvedObject.uid=${pod.metadata?.uid}`,
      limit: 500,
    }),
  ).catch(() => ({ items: [] as k8s.CoreV1Event[] }));
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
    ...(pod.status?.ephemeralContainerStatuses ?? []),
  ];
  const record = {
    pod: {
      namespace: target.namespace,
      name: target.pod,
      uid: pod.metadata?.uid,
      node: pod.spec?.nodeName,
      podIP: pod.status?.podIP,
      phase: pod.status?.phase,
      labels: pod.metadata?.labels,
      annotations: pod.metadata?.annotations,
    },
    owners,
    containers: statuses.map((s) => ({
      name: s.name,
      image: s.image,
      imageID: s.imageID,
      containerID: s.containerID,
      restartCount: s.restartCount,
      ready: s.ready,
      state: s.state,
    })),
    events: events.items.map((e) => ({
      type: e.type,
      reason: e.reason,
      message: e.message?.slice(0, 2000),
      count: e.count,
      firstTimestamp: e.firstTimestamp,
      lastTimestamp: e.lastTimestamp ?? e.eventTime,
    })),
    manifest: pod,
  };
  return [jsonStream('pod.json', 'kubernetes-api:get-pod', record)];
}
