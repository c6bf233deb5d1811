import crypto from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { Type } from '@sinclair/typebox';
import { call, mapKubernetesError } from '../errors';
import { dryRunOf, MERGE_PATCH } from '../kube';
import { INCIDENT_ANNOTATION, QUARANTINE_LABEL, quarantineValue } from '../labels';
import { defineAction } from '../units';

function policyName(pod: string): string {
  return `holdfast-quarantine-${crypto.createHash('sha256').update(pod).digest('hex').slice(0, 12)}`;
}

export const isolateAction = defineAction({
  name: 'isolate',
  kind: 'contain',
  target: 'pod',
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
  async apply(kube, target, _params, run) {
    const quarantine = quarantineValue(run.incidentId);
    // The label is what the policy selects; preserve usually set it already, this makes isolate standalone.
    await call(`label pod ${target.namespace}/${target.pod}`, () =>
      kube.core.patchNamespacedPod(
        {
          name: target.pod,
          namespace: target.namespace,
          dryRun: dryRunOf(run),
          body: {
            metadata: {
              labels: { [QUARANTINE_LABEL]: quarantine },
              annotations: { [INCIDENT_ANNOTATION]: run.incidentId },
            },
          },
        },
        MERGE_PATCH,
      ),
    );
    const policy: k8s.V1NetworkPolicy = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: policyName(target.pod),
        namespace: target.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'holdfast' },
        annotations: { [INCIDENT_ANNOTATION]: run.incidentId },
      },
      spec: {
        podSelector: { matchLabels: { [QUARANTINE_LABEL]: quarantine } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [],
        egress: [],
      },
    };
    let changed = true;
    try {
      await kube.networking.createNamespacedNetworkPolicy({
        namespace: target.namespace,
        body: policy,
        dryRun: dryRunOf(run),
      });
    } catch (err) {
      if ((err as { code?: number }).code !== 409)
        throw mapKubernetesError(err, `create NetworkPolicy ${policy.metadata!.name}`);
      changed = false;
    }
    return {
      changed,
      dryRun: run.dryRun,
      record: policy,
      notes: [
        `deny-all NetworkPolicy ${target.namespace}/${policy.metadata!.name} selects ${QUARANTINE_LABEL}=${quarantine}`,
        'whether already-established connections are cut depends on the CNI / policy enforcer',
      ],
    };
  },
  async undo(kube, target, _params, run) {
    const name = policyName(target.pod);
    try {
      await kube.networking.deleteNamespacedNetworkPolicy({ name, namespace: target.namespace, dryRun: dryRunOf(run) });
      return { changed: true, dryRun: run.dryRun, notes: [`deleted NetworkPolicy ${target.namespace}/${name}`] };
    } catch (err) {
      if ((err as { code?: number }).code === 404)
        return { changed: false, dryRun: run.dryRun, notes: [`NetworkPolicy ${name} was already gone`] };
      throw mapKubernetesError(err, `delete NetworkPolicy ${name}`);
    }
  },
});
