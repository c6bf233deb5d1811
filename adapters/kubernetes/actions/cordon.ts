import { Type } from '@sinclair/typebox';
import { call } from '../errors';
import { dryRunOf, MERGE_PATCH } from '../kube';
import { CORDONED_BY_ANNOTATION } from '../labels';
import { defineAction } from '../units';

/** Cordon only (spec.unschedulable): never drain, which would evict the evidence. */
export const cordonAction = defineAction({
  name: 'cordon',
  kind: 'contain',
  target: 'node',
  description: 'Marks the node unschedulable so nothing new lands next to the suspect workload. Never drains.',
  params: Type.Object({}),
  example: {},
  rbac: [
    { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
    // the pod's own node (spec.nodeName), read and checked against the pin before cordoning (Cluster.pinPod)
    { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
  ],
  timeouts: { startToCloseSeconds: 30, heartbeatSeconds: 0, maximumAttempts: 5 },
  async apply(kube, node, _params, run) {
    const current = await call(`get node ${node}`, () => kube.core.readNode({ name: node }));
    // The node is recorded (here and in the incident's pin) so undo finds it after the pod is gone.
    const record = { node, ...(run.pod ? { podUid: run.pod.uid } : {}) };
    if (current.spec?.unschedulable) {
      return { changed: false, dryRun: run.dryRun, record, notes: [`node ${node} was already cordoned`] };
    }
    await call(`cordon node ${node}`, () =>
      kube.core.patchNode(
        {
          name: node,
          dryRun: dryRunOf(run),
          body: {
            spec: { unschedulable: true },
            metadata: { annotations: { [CORDONED_BY_ANNOTATION]: run.incidentId } },
          },
        },
        MERGE_PATCH,
      ),
    );
    return { changed: true, dryRun: run.dryRun, record, notes: [`node ${node} cordoned (not drained)`] };
  },
  async undo(kube, node, _params, run) {
    const current = await call(`get node ${node}`, () => kube.core.readNode({ name: node }));
    // Only undo our own cordon: a node someone else cordoned stays cordoned.
    if (current.metadata?.annotations?.[CORDONED_BY_ANNOTATION] !== run.incidentId) {
      return {
        changed: false,
        dryRun: run.dryRun,
        notes: [`node ${node} was not cordoned by this incident; left as is`],
      };
    }
    await call(`uncordon node ${node}`, () =>
      kube.core.patchNode(
        {
          name: node,
          dryRun: dryRunOf(run),
          body: { spec: { unschedulable: false }, metadata: { annotations: { [CORDONED_BY_ANNOTATION]: null } } },
        },
        MERGE_PATCH,
      ),
    );
    return { changed: true, dryRun: run.dryRun, notes: [`node ${node} uncordoned`] };
  },
});
