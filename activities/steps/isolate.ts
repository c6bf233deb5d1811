import { Type } from '@sinclair/typebox';
import { changePod } from './contain';
import type { StepDefinition } from './types';

export const isolateStep: StepDefinition = {
  name: 'isolate',
  kind: 'contain',
  description:
    "A deny-all (Ingress + Egress) NetworkPolicy selecting only this pod's quarantine label, idempotent by name. " +
    'Whether established connections are cut depends on the CNI; the evidence says so.',
  params: Type.Object({}),
  example: {},
  rbac: [
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['create', 'delete'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['patch'] },
  ],
  timeouts: { startToCloseSeconds: 30, heartbeatSeconds: 0, maximumAttempts: 5 },
  needsPod: true,
  run: (ctx) => changePod(ctx, (cluster, pod, opts) => cluster.isolate(pod, opts), 'isolate.json'),
  undo: (ctx) => changePod(ctx, (cluster, pod, opts) => cluster.unisolate(pod, opts)),
};
