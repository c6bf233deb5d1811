import { Type } from '@sinclair/typebox';
import { clusterCaptureStep } from './capture';
import { EPHEMERAL_RBAC } from './capture-filesystem';

export const captureMemoryStep = clusterCaptureStep({
  kind: 'memory',
  description:
    "Each process of the target container: its memory maps and readable regions as a core file gdb can open, streamed and hashed. " +
    'Optionally tries the kubelet checkpoint API first and records its exact refusal.',
  params: Type.Object({
    maxBytesPerProcess: Type.Integer({ minimum: 1, default: 2 * 1024 ** 3 }),
    maxProcesses: Type.Integer({ minimum: 1, maximum: 256, default: 32 }),
    timeoutSecondsPerProcess: Type.Integer({ minimum: 10, maximum: 3600, default: 600 }),
    tryCheckpoint: Type.Boolean({ default: false }),
  }),
  example: { maxBytesPerProcess: 536870912, maxProcesses: 16, tryCheckpoint: true },
  rbac: [...EPHEMERAL_RBAC, { apiGroups: [''], resources: ['nodes/proxy'], verbs: ['create'] }],
  timeouts: { startToCloseSeconds: 1800, heartbeatSeconds: 60, maximumAttempts: 3 },
});
