import { Type } from '@sinclair/typebox';
import { call } from '../errors';
import { dryRunOf, MERGE_PATCH } from '../kube';
import {
  INCIDENT_ANNOTATION,
  ORIGINAL_LABELS_ANNOTATION,
  ORIGINAL_OWNER_ANNOTATION,
  QUARANTINE_LABEL,
  quarantineValue,
} from '../labels';
import { ownerChain, pinOf, readPinnedPod } from '../pods';
import { defineAction } from '../units';

const POD_KEEP_ANNOTATIONS = {
  'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false',
  'karpenter.sh/do-not-disrupt': 'true',
};
const NODE_KEEP_ANNOTATIONS = {
  'cluster-autoscaler.kubernetes.io/scale-down-disabled': 'true',
  'karpenter.sh/do-not-disrupt': 'true',
};

/**
 * First and fast: make sure nothing replaces, evicts or scales the pod away. The record of the pod is
 * read first, as the capture identity, by the preserve step (Cluster.inspect).
 */
export const preserveAction = defineAction({
  name: 'preserve',
  kind: 'preserve',
  target: 'pod',
  description:
    'Records the pod, its owner chain, node, containers (image digests) and recent events; annotates pod and node so ' +
    'autoscalers keep them; relabels the pod out of its controller (which replaces it) and adds quarantine labels.',
  params: Type.Object({
    recordOnly: Type.Optional(
      Type.Boolean({
        description:
          'Only record the pod (set by the plan in a protected namespace): no annotation, relabelling or quarantine',
      }),
    ),
  }),
  example: {},
  rbac: [
    // the record of the pod (read with the capture identity)
    { apiGroups: [''], resources: ['pods'], verbs: ['get'], identity: 'capture' },
    { apiGroups: [''], resources: ['events'], verbs: ['list'], identity: 'capture' },
    { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get'], identity: 'capture' },
    // annotate, relabel out of the ReplicaSet (its selector is read first), keep the node
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] },
    { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get'] },
    { apiGroups: [''], resources: ['nodes'], verbs: ['patch'] },
  ],
  timeouts: { startToCloseSeconds: 30, heartbeatSeconds: 0, maximumAttempts: 5 },
  async apply(kube, target, _params, run) {
    // Pinned: the pod this incident is about, by UID; a pod recreated under its name is refused.
    const pod = await readPinnedPod(kube, target, run.pod);
    const pin = pinOf(pod);
    const notes: string[] = [];
    const labels = { ...(pod.metadata?.labels ?? {}) };
    const chain = await ownerChain(kube, pod).catch(() => []);
    // Detach from the ReplicaSet by removing the labels its selector matches: the controller releases
    // the pod and starts a replacement, while this pod (and its evidence) stays running.
    const detached: Record<string, string | null> = {};
    const owner = pod.metadata?.ownerReferences?.find((o) => o.controller);
    if (owner?.kind === 'ReplicaSet') {
      const rs = await call(`get replicaset ${owner.name}`, () =>
        kube.apps.readNamespacedReplicaSet({ name: owner.name, namespace: target.namespace }),
      );
      for (const key of Object.keys(rs.spec?.selector?.matchLabels ?? {})) if (key in labels) detached[key] = null;
      if (rs.spec?.selector?.matchExpressions?.length)
        notes.push('the ReplicaSet selector has matchExpressions: only matchLabels keys were removed');
      notes.push(
        `detached from ReplicaSet ${owner.name} by removing labels ${Object.keys(detached).join(', ') || '(none)'}`,
      );
    } else if (owner) {
      notes.push(`controlled by ${owner.kind} ${owner.name}: not detached (only ReplicaSet-owned pods are relabelled)`);
    }
    // The quarantine belongs to the pod (its UID): an incident about a pod already quarantined adopts it.
    const quarantine = quarantineValue(pin.uid);
    const alreadyPreserved = labels[QUARANTINE_LABEL] === quarantine;
    const previous = pod.metadata?.annotations?.[INCIDENT_ANNOTATION];
    const adoptedFrom = alreadyPreserved && previous && previous !== run.incidentId ? previous : undefined;
    if (adoptedFrom) notes.push(`the pod was already preserved and quarantined by incident ${adoptedFrom}: adopted`);
    const originalLabels = pod.metadata?.annotations?.[ORIGINAL_LABELS_ANNOTATION] ?? JSON.stringify(labels);
    // The live owner reference wins over an annotation (which anyone able to patch the pod could have set).
    const originalOwner = owner
      ? `${owner.kind}/${owner.name}`
      : pod.metadata?.annotations?.[ORIGINAL_OWNER_ANNOTATION];
    const patch = {
      metadata: {
        // Immutable: the API server refuses the patch if the name now belongs to a recreated pod.
        uid: pin.uid,
        labels: { ...detached, [QUARANTINE_LABEL]: quarantine },
        annotations: {
          ...POD_KEEP_ANNOTATIONS,
          [INCIDENT_ANNOTATION]: run.incidentId,
          [ORIGINAL_LABELS_ANNOTATION]: originalLabels,
          ...(originalOwner ? { [ORIGINAL_OWNER_ANNOTATION]: originalOwner } : {}),
        },
      },
    };
    await call(`patch pod ${target.namespace}/${target.pod}`, () =>
      kube.core.patchNamespacedPod(
        { name: target.pod, namespace: target.namespace, body: patch, dryRun: dryRunOf(run) },
        MERGE_PATCH,
      ),
    );
    const node = pod.spec?.nodeName;
    if (node) {
      await call(`patch node ${node}`, () =>
        kube.core.patchNode(
          { name: node, body: { metadata: { annotations: NODE_KEEP_ANNOTATIONS } }, dryRun: dryRunOf(run) },
          MERGE_PATCH,
        ),
      );
      notes.push(`node ${node} annotated against scale-down and disruption`);
    }
    return {
      changed: !alreadyPreserved,
      dryRun: run.dryRun,
      notes,
      pod: pin,
      record: { pod: target, uid: pin.uid, patch, node, owners: chain, ...(adoptedFrom ? { adoptedFrom } : {}) },
    };
  },
});
