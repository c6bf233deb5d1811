import type { IncidentPlan, PlannedContainment } from '../common/plan';
import type { AlertTarget } from '../common/types';

/**
 * What a plan may do where, applied when it is made (so it lands in the workflow history with the plan):
 * a response aimed at a protected namespace must not become the outage, and a storm of alerts must not
 * become a storm of responses.
 */

/** How long a forced approval waits when the playbook set none: long enough for a human to be paged. */
const PROTECTED_APPROVAL_SECONDS = 15 * 60;

export interface ProtectedNamespacePolicy {
  namespaces: readonly string[];
  /** The playbook turned memory capture on in protected namespaces (`inProtectedNamespaces.captureMemory`). */
  captureMemory: boolean;
}

export function isProtected(target: AlertTarget, namespaces: readonly string[]): boolean {
  return target.namespace !== undefined && namespaces.includes(target.namespace);
}

/**
 * The plan for a target in a protected namespace (kube-system, Holdfast's own, …): every containment waits
 * for a human and a silence means no, memory capture is off unless the playbook turns it on, and preserve
 * only records (relabelling a system pod out of its controller changes the system). Captures of the
 * filesystem, logs and network still run. The plan says what it changed and why.
 */
export function protectPlan(plan: IncidentPlan, target: AlertTarget, policy: ProtectedNamespacePolicy): IncidentPlan {
  if (!isProtected(target, policy.namespaces)) return plan;
  const changes: string[] = [];
  const containment = plan.containment.map((action): PlannedContainment => {
    if (action.approval.required && action.approval.onTimeout === 'reject') return action;
    return {
      ...action,
      approval: {
        required: true,
        timeoutSeconds: action.approval.required ? action.approval.timeoutSeconds : PROTECTED_APPROVAL_SECONDS,
        onTimeout: 'reject',
      },
    };
  });
  if (containment.length > 0) changes.push('every containment action needs an approval (no answer means reject)');
  const captures = policy.captureMemory ? plan.captures : plan.captures.filter((step) => step.name !== 'memory');
  if (captures.length < plan.captures.length)
    changes.push('memory capture is off (the playbook can turn it on: inProtectedNamespaces.captureMemory)');
  // The control sample adds the collector to a sibling pod: a protected namespace's other pods stay untouched.
  const withoutControl = captures.filter((step) => step.name !== 'control');
  if (withoutControl.length < captures.length)
    changes.push('no control sample (it would add the collector to another pod of the namespace)');
  const preserve = plan.preserve ? { ...plan.preserve, params: { ...plan.preserve.params, recordOnly: true } } : null;
  if (preserve) changes.push('preserve records the pod without relabelling or annotating it');
  return {
    ...plan,
    preserve,
    captures: withoutControl,
    containment,
    notes: [
      ...(plan.notes ?? []),
      `namespace ${target.namespace} is protected: ${changes.join('; ') || 'nothing in the plan needed changing'}`,
    ],
  };
}

/**
 * The plan of a cluster's storm incident (alerts beyond the incident creation limits, about many targets):
 * nothing is preserved, captured or contained; the alerts are kept and counted, sealed, and tier 1 of the
 * matching playbook is paged once (no later tiers, no repeats) until someone acknowledges.
 */
export function stormPlan(plan: IncidentPlan): IncidentPlan {
  const first = plan.escalation.tiers[0];
  return {
    ...plan,
    preserve: null,
    captures: [],
    containment: [],
    escalation: { tiers: first ? [first] : [], repeatLastTier: 0 },
    undoContainmentOnResolve: false,
    pageOnOpen: false,
    notes: [
      ...(plan.notes ?? []),
      'storm: alerts beyond the incident creation limits (per source, per namespace, per request) are ' +
        'recorded here, counted and paged once; nothing is done to their targets',
    ],
  };
}
