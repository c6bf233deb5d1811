import { Type } from '@sinclair/typebox';
import { changePod } from './contain';
import type { StepDefinition } from './types';

/**
 * Takes the whole workload down when every replica must be presumed compromised (a poisoned image):
 * scales the Deployment (or ReplicaSet) that owned the pod to zero. The detached suspect keeps running
 * for the investigation. Undo restores the size it had, and only if Holdfast made the change.
 */
export const scaleToZeroStep: StepDefinition = {
  name: 'scale-to-zero',
  kind: 'contain',
  description:
    "Scales the Deployment (else ReplicaSet) that owned the suspect pod to zero and records its size; undo scales it back. " +
    'Takes a service down: a playbook may use it only with approval: { required: true } and onTimeout: reject.',
  params: Type.Object({}),
  example: { approval: { required: true, timeout: '30m', onTimeout: 'reject' } },
  rbac: [
    { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    { apiGroups: ['apps'], resources: ['replicasets', 'deployments'], verbs: ['get', 'patch'] },
  ],
  timeouts: { startToCloseSeconds: 60, heartbeatSeconds: 0, maximumAttempts: 5 },
  needsPod: true,
  requiresApproval: true,
  run: (ctx) => changePod(ctx, (cluster, pod, opts) => cluster.scaleToZero(pod, opts), 'scale-to-zero.json'),
  undo: (ctx) => changePod(ctx, (cluster, pod, opts) => cluster.restoreScale(pod, opts)),
};
