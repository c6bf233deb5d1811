import crypto from 'node:crypto';

/** The labels and annotations Holdfast puts on what it touches. */
export const QUARANTINE_LABEL = 'holdfast.io/quarantine';
/** On the pod: the incident that last preserved or isolated it. On a quarantine policy: the incident that created it. */
export const INCIDENT_ANNOTATION = 'holdfast.io/incident';
/** On a quarantine policy: the ids of the incidents that rely on it, comma-separated, oldest first. */
export const RELIED_ON_BY_ANNOTATION = 'holdfast.io/relied-on-by';
/** On a quarantine policy: the UID of the pod it quarantines. */
export const POD_UID_ANNOTATION = 'holdfast.io/pod-uid';
export const ORIGINAL_LABELS_ANNOTATION = 'holdfast.io/original-labels';
/** On a node Holdfast cordoned: the incident that did. */
export const CORDONED_BY_ANNOTATION = 'holdfast.io/cordoned-by';
/** On the pod: the ReplicaSet it was detached from, so a later step still finds its workload. */
export const ORIGINAL_OWNER_ANNOTATION = 'holdfast.io/original-owner';
/** On the suspect pod, after Holdfast scaled its workload to zero: JSON `{incident, workload: {kind, name}, replicas}` (the size before). */
export const SCALED_DOWN_ANNOTATION = 'holdfast.io/scaled-down';

const digest = (text: string, chars: number) => crypto.createHash('sha256').update(text).digest('hex').slice(0, chars);

/**
 * The quarantine belongs to the pod, not to an incident: every incident about the same pod (its UID) sets
 * the same label value and finds the same policy, so a later incident can never relabel the pod out of an
 * earlier one's policy, and a pod recreated under the same name is not selected. Label values are ≤ 63 chars.
 */
export function quarantineValue(podUid: string): string {
  return `q-${digest(podUid, 16)}`;
}

/** The deny-all NetworkPolicy of the pod with this UID. */
export function quarantinePolicyName(podUid: string): string {
  return `holdfast-quarantine-${digest(podUid, 16)}`;
}

/** The name policies had when it derived from the pod's name (kept so their incidents can still undo them). */
export function legacyQuarantinePolicyName(pod: string): string {
  return `holdfast-quarantine-${digest(pod, 12)}`;
}

/** Incident ids are `inc-<run id>`: anything else found in an annotation is ignored, never acted on. */
const INCIDENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;

export function parseIncidentList(value: string | undefined): string[] {
  const ids = (value ?? '')
    .split(',')
    .map((id) => id.trim())
    .filter((id) => INCIDENT_ID.test(id));
  return [...new Set(ids)];
}

/**
 * Never truncated: dropping an id would let another incident's undo lift a quarantine that one still relies
 * on. Each id is ≤ 100 chars and one incident adds one, far below the 256 KiB annotation limit.
 */
export function formatIncidentList(ids: readonly string[]): string {
  return ids.join(',');
}
