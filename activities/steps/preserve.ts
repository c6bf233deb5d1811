import { Type } from '@sinclair/typebox';
import { storeCaptures, jsonCapture } from './store';
import { podOf, type StepDefinition } from './types';

/** First and fast: record what the pod is, then make sure nothing replaces, evicts or scales it away. */
export const preserveStep: StepDefinition = {
  name: 'preserve',
  kind: 'preserve',
  description:
    'Records the pod, its owner chain, node, containers (image digests) and recent events; annotates pod and node so ' +
    'autoscalers keep them; relabels the pod out of its controller (which replaces it) and adds quarantine labels.',
  params: Type.Object({}),
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
  needsPod: true,
  async run(ctx) {
    const pod = podOf(ctx.target);
    const inspection = await ctx.deps.cluster.inspect(pod, { incidentId: ctx.incidentId, params: ctx.params, signal: ctx.signal });
    const outcome = await ctx.deps.cluster.preserve(pod, { dryRun: ctx.dryRun, incidentId: ctx.incidentId, signal: ctx.signal });
    const artifacts = await storeCaptures(ctx, 'preserve', [
      ...inspection,
      jsonCapture('preserve-actions.json', 'kubernetes-api', { dryRun: outcome.dryRun, changed: outcome.changed, record: outcome.record }, outcome.notes),
    ]);
    return { artifacts, notes: outcome.notes, changed: outcome.changed };
  },
};
