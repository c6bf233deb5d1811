import { Type } from '@sinclair/typebox';
import { clusterCaptureStep } from './capture';

const EPHEMERAL_RBAC = [
  { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
  // the collector is added with PUT …/ephemeralcontainers; an exec websocket needs get (the upgrade
  // request) and create (Kubernetes ≥ 1.30 also checks it, and 1.34 refuses without get)
  { apiGroups: [''], resources: ['pods/ephemeralcontainers'], verbs: ['update'] },
  { apiGroups: [''], resources: ['pods/exec'], verbs: ['get', 'create'] },
];

export const captureFilesystemStep = clusterCaptureStep({
  kind: 'filesystem',
  description:
    "The target container's root filesystem as a tar stream (without /proc, /sys, /dev) read by the trusted collector, " +
    'plus the list of files changed or added since the image.',
  params: Type.Object({
    maxBytes: Type.Integer({ minimum: 1, default: 4 * 1024 ** 3, description: 'Stop (and say so in the manifest) past this many bytes.' }),
    excludes: Type.Array(Type.String({ pattern: '^/[A-Za-z0-9._/-]*$', maxLength: 256 }), { maxItems: 32, default: [] }),
    includeMounts: Type.Boolean({ default: false, description: 'Also cross into volumes, secrets and bind mounts (the default stays on the container root filesystem).' }),
    timeoutSeconds: Type.Integer({ minimum: 10, maximum: 7200, default: 1500 }),
    maxChangedEntries: Type.Integer({ minimum: 1, maximum: 1000000, default: 100000 }),
  }),
  example: { maxBytes: 1073741824, excludes: ['/var/cache'] },
  rbac: EPHEMERAL_RBAC,
  timeouts: { startToCloseSeconds: 1800, heartbeatSeconds: 60, maximumAttempts: 3 },
});

export { EPHEMERAL_RBAC };
