import { Type } from '@sinclair/typebox';
import { clusterCaptureStep } from './capture';

export const captureLogsStep = clusterCaptureStep({
  kind: 'logs',
  description: 'Current and previous logs of every container of the pod, with timestamps, and the pod events.',
  params: Type.Object({
    maxBytesPerContainer: Type.Integer({ minimum: 1, default: 64 * 1024 ** 2 }),
    sinceSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
  }),
  example: { maxBytesPerContainer: 16777216 },
  rbac: [
    { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
    { apiGroups: [''], resources: ['events'], verbs: ['list'] },
    { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get'] },
  ],
  timeouts: { startToCloseSeconds: 600, heartbeatSeconds: 60, maximumAttempts: 3 },
});
