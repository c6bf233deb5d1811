/** The labels and annotations Holdfast puts on what it touches. */
export const QUARANTINE_LABEL = 'holdfast.io/quarantine';
export const INCIDENT_ANNOTATION = 'holdfast.io/incident';
export const ORIGINAL_LABELS_ANNOTATION = 'holdfast.io/original-labels';
export const CORDONED_BY_ANNOTATION = 'holdfast.io/cordoned-by';
/** On the pod: the ReplicaSet it was detached from, so a later step still finds its workload. */
export const ORIGINAL_OWNER_ANNOTATION = 'holdfast.io/original-owner';
/** On a workload Holdfast scaled to zero: `<incident id>:<replicas before>`. */
export const SCALED_DOWN_ANNOTATION = 'holdfast.io/scaled-down';
