import type * as k8s from '@kubernetes/client-node';
import { Type } from '@sinclair/typebox';
import type { PodRef } from '../../../common/types';
import { call, mapKubernetesError } from '../errors';
import { dryRunOf, MERGE_PATCH, type Kube } from '../kube';
import {
  formatIncidentList,
  INCIDENT_ANNOTATION,
  legacyQuarantinePolicyName,
  parseIncidentList,
  POD_UID_ANNOTATION,
  QUARANTINE_LABEL,
  quarantinePolicyName,
  quarantineValue,
  RELIED_ON_BY_ANNOTATION,
} from '../labels';
import { COLLECTOR_RBAC } from '../collector/rbac';
import { pinOf, readPinnedPod, readPod } from '../pods';
import { defineAction, type UnitRun } from '../units';
import { verifyIsolation } from '../verify/isolation';

/** Optimistic concurrency: a policy another incident changes meanwhile is read again, this many times. */
const ATTEMPTS = 5;

const codeOf = (err: unknown) => (err as { code?: number }).code;

function denyAllSpec(value: string): k8s.V1NetworkPolicySpec {
  return {
    podSelector: { matchLabels: { [QUARANTINE_LABEL]: value } },
    policyTypes: ['Ingress', 'Egress'],
    ingress: [],
    egress: [],
  };
}

/** Whether the live spec denies everything to and from exactly the pods with this quarantine value. */
function isDenyAll(spec: k8s.V1NetworkPolicySpec | undefined, value: string): boolean {
  const labels = spec?.podSelector?.matchLabels ?? {};
  return (
    Object.keys(labels).length === 1 &&
    labels[QUARANTINE_LABEL] === value &&
    (spec?.podSelector?.matchExpressions ?? []).length === 0 &&
    (spec?.policyTypes ?? []).includes('Ingress') &&
    (spec?.policyTypes ?? []).includes('Egress') &&
    (spec?.ingress ?? []).length === 0 &&
    (spec?.egress ?? []).length === 0
  );
}

/** Who relies on a policy; a policy from before the list existed is relied on by the incident that created it. */
function reliedOnBy(policy: k8s.V1NetworkPolicy): string[] {
  const annotations = policy.metadata?.annotations ?? {};
  return parseIncidentList(annotations[RELIED_ON_BY_ANNOTATION] ?? annotations[INCIDENT_ANNOTATION]);
}

async function readPolicy(kube: Kube, namespace: string, name: string): Promise<k8s.V1NetworkPolicy | undefined> {
  try {
    return await kube.networking.readNamespacedNetworkPolicy({ name, namespace });
  } catch (err) {
    if (codeOf(err) === 404) return undefined;
    throw mapKubernetesError(err, `get NetworkPolicy ${namespace}/${name}`);
  }
}

interface Ensured {
  policy: k8s.V1NetworkPolicy;
  created: boolean;
  /** The policy's spec no longer denied all to this pod's label and was restored. */
  repaired: boolean;
  /** The incident that created the quarantine this one adopted. */
  adoptedFrom?: string;
}

/**
 * The pod's quarantine policy, read live every time: created if missing; if present, this incident joins
 * the incidents relying on it and a spec that no longer denies all to exactly this label is restored.
 * A 409 is never taken as success: the policy is read again and checked.
 */
async function ensurePolicy(kube: Kube, target: PodRef, uid: string, run: UnitRun): Promise<Ensured> {
  const namespace = target.namespace;
  const name = quarantinePolicyName(uid);
  const value = quarantineValue(uid);
  const dryRun = dryRunOf(run);
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const existing = await readPolicy(kube, namespace, name);
    if (!existing) {
      const body: k8s.V1NetworkPolicy = {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: {
          name,
          namespace,
          labels: { 'app.kubernetes.io/managed-by': 'holdfast' },
          annotations: {
            [INCIDENT_ANNOTATION]: run.incidentId,
            [RELIED_ON_BY_ANNOTATION]: formatIncidentList([run.incidentId]),
            [POD_UID_ANNOTATION]: uid,
          },
        },
        spec: denyAllSpec(value),
      };
      try {
        const policy = await kube.networking.createNamespacedNetworkPolicy({ namespace, body, dryRun });
        return { policy, created: true, repaired: false };
      } catch (err) {
        if (codeOf(err) !== 409) throw mapKubernetesError(err, `create NetworkPolicy ${namespace}/${name}`);
        continue; // created meanwhile: read it and check it
      }
    }
    const creator = existing.metadata?.annotations?.[INCIDENT_ANNOTATION];
    const adoptedFrom = creator && creator !== run.incidentId ? creator : undefined;
    const relying = reliedOnBy(existing);
    const selects = isDenyAll(existing.spec, value);
    if (selects && relying.includes(run.incidentId))
      return { policy: existing, created: false, repaired: false, adoptedFrom };
    const body: k8s.V1NetworkPolicy = {
      ...existing,
      metadata: {
        ...existing.metadata,
        annotations: {
          ...existing.metadata?.annotations,
          [RELIED_ON_BY_ANNOTATION]: formatIncidentList([
            ...relying.filter((id) => id !== run.incidentId),
            run.incidentId,
          ]),
          [POD_UID_ANNOTATION]: uid,
        },
      },
      spec: selects ? existing.spec : denyAllSpec(value),
    };
    try {
      // A replace carries the resourceVersion read: a concurrent change makes it 409, and we read again.
      const policy = await kube.networking.replaceNamespacedNetworkPolicy({ name, namespace, body, dryRun });
      return { policy, created: false, repaired: !selects, adoptedFrom };
    } catch (err) {
      if (codeOf(err) !== 409) throw mapKubernetesError(err, `update NetworkPolicy ${namespace}/${name}`);
    }
  }
  throw new Error(`NetworkPolicy ${namespace}/${name} kept changing while isolating; retrying`);
}

interface Released {
  changed: boolean;
  note: string;
  missing?: boolean;
}

/**
 * This incident stops relying on the policy; the policy is deleted only once no incident relies on it.
 * An incident closed without undo stays on the list (its decision to keep the quarantine stands), so a
 * later incident's undo never lifts it.
 */
async function releasePolicy(kube: Kube, namespace: string, name: string, run: UnitRun): Promise<Released> {
  const dryRun = dryRunOf(run);
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const existing = await readPolicy(kube, namespace, name);
    if (!existing)
      return { changed: false, missing: true, note: `NetworkPolicy ${namespace}/${name} was already gone` };
    const relying = reliedOnBy(existing);
    if (!relying.includes(run.incidentId))
      return {
        changed: false,
        note: `NetworkPolicy ${namespace}/${name} is not relied on by this incident; left as is`,
      };
    const rest = relying.filter((id) => id !== run.incidentId);
    try {
      if (rest.length > 0) {
        const body: k8s.V1NetworkPolicy = {
          ...existing,
          metadata: {
            ...existing.metadata,
            annotations: { ...existing.metadata?.annotations, [RELIED_ON_BY_ANNOTATION]: formatIncidentList(rest) },
          },
        };
        await kube.networking.replaceNamespacedNetworkPolicy({ name, namespace, body, dryRun });
        return {
          changed: false,
          note: `NetworkPolicy ${namespace}/${name} left in place: still relied on by ${rest.join(', ')}`,
        };
      }
      // The resourceVersion precondition: an incident adopting it meanwhile makes this 409, and we read again.
      await kube.networking.deleteNamespacedNetworkPolicy({
        name,
        namespace,
        dryRun,
        body: { preconditions: { resourceVersion: existing.metadata?.resourceVersion } },
      });
      return { changed: true, note: `deleted NetworkPolicy ${namespace}/${name}` };
    } catch (err) {
      if (codeOf(err) === 404) return { changed: false, note: `NetworkPolicy ${namespace}/${name} was already gone` };
      if (codeOf(err) !== 409) throw mapKubernetesError(err, `release NetworkPolicy ${namespace}/${name}`);
    }
  }
  throw new Error(`NetworkPolicy ${namespace}/${name} kept changing while releasing it; retrying`);
}

export const isolateAction = defineAction({
  name: 'isolate',
  kind: 'contain',
  target: 'pod',
  description:
    "A deny-all (Ingress + Egress) NetworkPolicy selecting only this pod's quarantine label, one per pod UID and " +
    'shared by every incident about that pod; read back and checked on every run. Undo removes it only once no ' +
    'incident relies on it. Then verified from inside the pod (containment-verification.json): new connections to ' +
    'peers the pod had reached must fail and established ones must fall quiet; a hostNetwork pod, or a CNI that ' +
    'does not enforce the policy, makes the verdict "not effective" and the incident pages with it.',
  params: Type.Object({
    verify: Type.Boolean({
      default: true,
      description:
        "After isolating, prove it from the collector in the pod's network namespace (adds the collector if no capture did).",
    }),
    probeSeconds: Type.Integer({
      minimum: 1,
      maximum: 10,
      default: 3,
      description:
        'Connect timeout of each probe (at most 6 peers, side by side; one that still connects is tried again after 2, 3 and 5 s).',
    }),
  }),
  example: { probeSeconds: 3 },
  rbac: [
    {
      apiGroups: ['networking.k8s.io'],
      resources: ['networkpolicies'],
      verbs: ['get', 'create', 'update', 'delete'],
    },
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] },
    // The check runs as the capture identity: the containment identity never execs into pods.
    ...COLLECTOR_RBAC.map((rule) => ({ ...rule, identity: 'capture' as const })),
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list'], identity: 'capture' },
  ],
  // The policy takes a second; the check at most a minute to add a collector, then usually under 10 s of probes
  // (bounded at about a minute when every probe connects and each round runs to its limits).
  timeouts: { startToCloseSeconds: 180, heartbeatSeconds: 0, maximumAttempts: 5 },
  async apply(kube, target, _params, run) {
    const pod = await readPinnedPod(kube, target, run.pod);
    const pin = pinOf(pod);
    const value = quarantineValue(pin.uid);
    const notes: string[] = [];
    const labelled = pod.metadata?.labels?.[QUARANTINE_LABEL] === value;
    if (!labelled) {
      // The label is what the policy selects; preserve usually set it already, this makes isolate standalone.
      // The UID in the patch makes it fail, rather than label a pod recreated since the read.
      await call(`label pod ${target.namespace}/${target.pod}`, () =>
        kube.core.patchNamespacedPod(
          {
            name: target.pod,
            namespace: target.namespace,
            dryRun: dryRunOf(run),
            body: {
              metadata: {
                uid: pin.uid,
                labels: { [QUARANTINE_LABEL]: value },
                annotations: { [INCIDENT_ANNOTATION]: run.incidentId },
              },
            },
          },
          MERGE_PATCH,
        ),
      );
      notes.push(`labelled the pod ${QUARANTINE_LABEL}=${value}`);
    }
    const ensured = await ensurePolicy(kube, target, pin.uid, run);
    const name = ensured.policy.metadata?.name ?? quarantinePolicyName(pin.uid);
    if (ensured.created) notes.push(`created deny-all NetworkPolicy ${target.namespace}/${name}`);
    if (ensured.adoptedFrom)
      notes.push(
        `the pod was already quarantined by incident ${ensured.adoptedFrom}: adopted its NetworkPolicy ${name}`,
      );
    if (ensured.repaired) notes.push(`NetworkPolicy ${name} no longer denied all to the pod: restored deny-all`);
    if (!run.dryRun) {
      // Proof, not trust: the pod as it is now carries the label the live policy selects.
      const now = await readPinnedPod(kube, target, pin);
      const selector = ensured.policy.spec?.podSelector?.matchLabels ?? {};
      const selected = Object.entries(selector).every(([k, v]) => now.metadata?.labels?.[k] === v);
      if (!selected || !isDenyAll(ensured.policy.spec, value))
        throw new Error(`NetworkPolicy ${name} does not select pod ${target.namespace}/${target.pod} as it is now`);
    }
    notes.push(
      `deny-all NetworkPolicy ${target.namespace}/${name} selects ${QUARANTINE_LABEL}=${value}, relied on by ` +
        `${reliedOnBy(ensured.policy).join(', ') || run.incidentId}`,
      'whether already-established connections are cut depends on the CNI / policy enforcer',
    );
    return {
      changed: ensured.created || ensured.repaired || !labelled,
      dryRun: run.dryRun,
      pod: pin,
      record: {
        podUid: pin.uid,
        label: { [QUARANTINE_LABEL]: value },
        createdBy: ensured.policy.metadata?.annotations?.[INCIDENT_ANNOTATION],
        ...(ensured.adoptedFrom ? { adoptedFrom: ensured.adoptedFrom } : {}),
        reliedOnBy: reliedOnBy(ensured.policy),
        repaired: ensured.repaired,
        policy: ensured.policy,
      },
      notes,
    };
  },
  verify(kube, target, params, run, appliedAt) {
    return verifyIsolation(kube, target, params, run, appliedAt);
  },
  async undo(kube, target, _params, run) {
    // The pin names the pod even once it is gone or replaced; incidents from before pinning read the live pod.
    const uid =
      run.pod?.uid ??
      (await readPod(kube, target).then(
        (p) => p.metadata?.uid,
        () => undefined,
      ));
    const released: Released[] = [];
    if (uid) released.push(await releasePolicy(kube, target.namespace, quarantinePolicyName(uid), run));
    // A policy named after the pod, from before quarantines were per UID: only its creator's undo finds itself listed.
    const legacy = await releasePolicy(kube, target.namespace, legacyQuarantinePolicyName(target.pod), run);
    if (!legacy.missing || released.length === 0) released.push(legacy);
    return {
      changed: released.some((r) => r.changed),
      dryRun: run.dryRun,
      notes: released.map((r) => r.note),
    };
  },
});
