import type { RbacRule } from '../units';

/** What a capture that runs in the collector needs, besides its own reads. */
export const COLLECTOR_RBAC: RbacRule[] = [
  { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
  // the collector is added with PUT …/ephemeralcontainers; an exec websocket needs get (the upgrade
  // request) and create (Kubernetes ≥ 1.30 also checks it, and 1.34 refuses without get)
  { apiGroups: [''], resources: ['pods/ephemeralcontainers'], verbs: ['update'] },
  { apiGroups: [''], resources: ['pods/exec'], verbs: ['get', 'create'] },
];
