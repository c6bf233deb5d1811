import { Type } from '@sinclair/typebox';
import { changePod } from './contain';
import type { StepDefinition } from './types';

/** Destroys the suspect: only behind a human's approval (the playbook loader refuses it otherwise). */
export const deletePodStep: StepDefinition = {
  name: 'delete-pod',
  kind: 'contain',
  description:
    'Deletes the suspect pod once its evidence is captured (captures run before containment). Irreversible: ' +
    'a playbook may use it only with approval: { required: true } and onTimeout: reject.',
  params: Type.Object({}),
  example: { approval: { required: true, timeout: '30m', onTimeout: 'reject' } },
  rbac: [{ apiGroups: [''], resources: ['pods'], verbs: ['delete'] }],
  timeouts: { startToCloseSeconds: 60, heartbeatSeconds: 0, maximumAttempts: 5 },
  needsPod: true,
  requiresApproval: true,
  run: (ctx) => changePod(ctx, (cluster, pod, opts) => cluster.deletePod(pod, opts), 'delete-pod.json'),
};
