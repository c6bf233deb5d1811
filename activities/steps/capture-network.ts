import { Type } from '@sinclair/typebox';
import { clusterCaptureStep } from './capture';
import { EPHEMERAL_RBAC } from './capture-filesystem';

export const captureNetworkStep = clusterCaptureStep({
  kind: 'network',
  description:
    'Sockets (tcp, tcp6, udp, unix) with their processes, interfaces, routes, DNS config and conntrack entries, raw and parsed, ' +
    'plus the NetworkPolicies, Services and EndpointSlices that concern the pod.',
  params: Type.Object({
    maxBytes: Type.Integer({ minimum: 1024, default: 64 * 1024 ** 2 }),
    packetCaptureSeconds: Type.Integer({ minimum: 0, maximum: 300, default: 0, description: 'A pcap of the pod network for this long (0: none). Containment waits for it.' }),
    packetCaptureMaxBytes: Type.Integer({ minimum: 1024, default: 64 * 1024 ** 2 }),
  }),
  example: { packetCaptureSeconds: 30, packetCaptureMaxBytes: 33554432 },
  rbac: [
    ...EPHEMERAL_RBAC,
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['list'] },
    { apiGroups: [''], resources: ['services'], verbs: ['list'] },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list'] },
  ],
  timeouts: { startToCloseSeconds: 600, heartbeatSeconds: 60, maximumAttempts: 3 },
});
