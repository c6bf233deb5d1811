import crypto from 'node:crypto';

/** The labels and annotations Holdfast puts on what it touches. */
export const QUARANTINE_LABEL = 'holdfast.io/quarantine';
export const INCIDENT_ANNOTATION = 'holdfast.io/incident';
export const ORIGINAL_LABELS_ANNOTATION = 'holdfast.io/original-labels';
export const CORDONED_BY_ANNOTATION = 'holdfast.io/cordoned-by';
/** On the pod: the ReplicaSet it was detached from, so a later step still finds its workload. */
export const ORIGINAL_OWNER_ANNOTATION = 'holdfast.io/original-owner';
/** On a workload Holdfast scaled to zero: `<incident id>:<replicas before>`. */
export const SCALED_DOWN_ANNOTATION = 'holdfast.io/scaled-down';

/** Label values are ≤ 63 chars: the quarantine label carries a stable hash of the incident id. */
export function quarantineValue(incidentId: string): string {
  return `q-${crypto.createHash('sha256').update(incidentId).digest('hex').slice(0, 16)}`;
}
