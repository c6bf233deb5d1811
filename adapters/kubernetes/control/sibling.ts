import type * as k8s from '@kubernetes/client-node';
import { isDns1123Subdomain } from '../../../common/k8s-names';
import { digestOf } from '../collector/launcher';
import { call } from '../errors';
import type { Kube } from '../kube';
import {
  INCIDENT_ANNOTATION,
  ORIGINAL_LABELS_ANNOTATION,
  ORIGINAL_OWNER_ANNOTATION,
  QUARANTINE_LABEL,
} from '../labels';

/**
 * Which pod is the control: chosen by Holdfast from the API server's objects, never from alert text or
 * anything read inside a pod. A control is a pod of the same controller (by UID) and the same template
 * revision (pod-template-hash, or controller-revision-hash for StatefulSets and DaemonSets), running, ready, not
 * being deleted, not quarantined or preserved by any incident (it may itself be another incident's suspect),
 * with the same containers running the same image digests as the suspect. The newest such pod is preferred:
 * preserve's relabelling makes the ReplicaSet create a replacement, the cleanest sample there is.
 */

export const TEMPLATE_HASH_LABEL = 'pod-template-hash';
export const REVISION_HASH_LABEL = 'controller-revision-hash';

/** The suspect's controller and template revision, as the control must match them. */
export interface Template {
  kind: string;
  name: string;
  uid: string;
  /** The label naming the template revision, and its value on the suspect. */
  hashLabel: string;
  hash: string;
  /** How the controller selects its pods (to list candidates). */
  selector: Record<string, string>;
  /** Where it came from: the live owner reference, or preserve's record of it. */
  source: string;
}

export type ControlChoice =
  | { pod: k8s.V1Pod; notes: string[]; newerStarting?: boolean }
  | { skipped: string; notes: string[]; waitFor?: boolean };

/** Container name → image digest, as the kubelet reports it (undefined: a container without a digest). */
function digests(pod: k8s.V1Pod): Map<string, string | undefined> {
  const byName = new Map<string, string | undefined>();
  for (const c of pod.spec?.containers ?? []) byName.set(c.name, undefined);
  for (const s of pod.status?.containerStatuses ?? []) if (byName.has(s.name)) byName.set(s.name, digestOf(s.imageID));
  return byName;
}

const ready = (pod: k8s.V1Pod) =>
  pod.status?.phase === 'Running' &&
  (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') &&
  (pod.status.containerStatuses ?? []).every((s) => s.ready && s.state?.running);

const created = (pod: k8s.V1Pod) => new Date(pod.metadata?.creationTimestamp ?? 0).getTime();

/**
 * The control among `candidates` (pure: unit-tested). `waitFor` (no control yet) and `newerStarting` (a newer pod,
 * the replacement, still starting) say waiting a little may give a better one.
 */
export function chooseControl(suspect: k8s.V1Pod, template: Template, candidates: k8s.V1Pod[]): ControlChoice {
  const notes: string[] = [];
  const namespace = suspect.metadata?.namespace;
  const suspectDigests = digests(suspect);
  if ([...suspectDigests.values()].some((d) => d === undefined))
    return {
      skipped: 'the suspect has a container without an image digest: no control can be shown to match it',
      notes,
    };
  const same = candidates.filter(
    (pod) =>
      isDns1123Subdomain(pod.metadata?.name) &&
      pod.metadata?.namespace === namespace &&
      pod.metadata?.uid !== suspect.metadata?.uid &&
      !pod.metadata?.deletionTimestamp &&
      (pod.metadata?.ownerReferences ?? []).some((o) => o.controller && o.uid === template.uid) &&
      pod.metadata?.labels?.[template.hashLabel] === template.hash &&
      pod.metadata?.labels?.[QUARANTINE_LABEL] === undefined &&
      pod.metadata?.annotations?.[INCIDENT_ANNOTATION] === undefined,
  );
  if (same.length === 0)
    return {
      skipped: `no other pod of ${template.kind} ${template.name} with the suspect's template (${template.hashLabel}=${template.hash}) exists`,
      notes,
      waitFor: true,
    };
  const matching: k8s.V1Pod[] = [];
  let digestDiffers = 0;
  for (const pod of same) {
    const theirs = digests(pod);
    const equal =
      theirs.size === suspectDigests.size && [...suspectDigests].every(([name, digest]) => theirs.get(name) === digest);
    // A pod still pulling reports no digest yet: not "different", only not known yet.
    if (!equal && [...theirs.values()].every((d) => d !== undefined)) digestDiffers++;
    else if (equal) matching.push(pod);
  }
  const readyOnes = matching.filter(ready).sort((a, b) => created(b) - created(a));
  // Not ready yet (starting, or its digest not reported yet): may become the control if waited for.
  const starting = same.filter((p) => !ready(p));
  const newest = readyOnes[0];
  if (newest) {
    const newerStarting = starting.some((p) => created(p) > created(newest));
    return { pod: newest, notes, ...(newerStarting ? { newerStarting: true } : {}) };
  }
  if (digestDiffers > 0 && starting.length === 0)
    return {
      skipped: `${digestDiffers} pod(s) of ${template.kind} ${template.name} with the suspect's template run other image digests than the suspect: no control with the same images`,
      notes,
    };
  return {
    skipped: `no pod of ${template.kind} ${template.name} with the suspect's template and image digests is running and ready`,
    notes,
    waitFor: true,
  };
}

const SELECTOR_PART = /^[A-Za-z0-9]([-A-Za-z0-9_./]{0,252}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** A label selector string from matchLabels whose keys and values are valid (the API validated them; we check again). */
export function selectorOf(labels: Record<string, string>): string | undefined {
  const parts = Object.entries(labels);
  if (parts.length === 0 || parts.length > 32) return undefined;
  if (!parts.every(([k, v]) => SELECTOR_PART.test(k) && LABEL_VALUE.test(v))) return undefined;
  return parts.map(([k, v]) => `${k}=${v}`).join(',');
}

function parseLabels(value: string | undefined): Record<string, string> {
  if (!value || value.length > 64 * 1024) return {};
  try {
    const parsed: unknown = JSON.parse(value);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed).filter(([, v]) => typeof v === 'string')) as Record<
      string,
      string
    >;
  } catch {
    return {};
  }
}

const containersOf = (spec?: k8s.V1PodSpec) => JSON.stringify((spec?.containers ?? []).map((c) => [c.name, c.image]));

/**
 * The suspect's controller and template revision, or why there is none. Preserve relabels a ReplicaSet's pod
 * out of it (the controller then drops its owner reference), so for a detached pod the ReplicaSet comes from
 * preserve's own annotations. Anyone able to patch the pod could forge those: the ReplicaSet they name is only
 * taken when its template has the suspect's pod-template-hash and exactly the suspect's containers and images,
 * so a forged name can only lead to a pod of the same template (and the digests are compared again per pod).
 */
export async function templateOf(kube: Kube, suspect: k8s.V1Pod): Promise<Template | { none: string }> {
  const namespace = suspect.metadata!.namespace!;
  const labels = suspect.metadata?.labels ?? {};
  const owner = suspect.metadata?.ownerReferences?.find((o) => o.controller);
  if (owner && (owner.kind === 'StatefulSet' || owner.kind === 'DaemonSet')) {
    const hash = labels[REVISION_HASH_LABEL];
    if (!hash || !LABEL_VALUE.test(hash))
      return { none: `${owner.kind} ${owner.name}: the pod has no ${REVISION_HASH_LABEL} label` };
    return {
      kind: owner.kind,
      name: owner.name,
      uid: owner.uid,
      hashLabel: REVISION_HASH_LABEL,
      hash,
      selector: { [REVISION_HASH_LABEL]: hash },
      source: 'the live owner reference',
    };
  }
  if (owner && owner.kind !== 'ReplicaSet')
    return {
      none: `controlled by ${owner.kind} ${owner.name}: only ReplicaSet, StatefulSet and DaemonSet pods have siblings from one template`,
    };
  let rsName = owner?.name;
  let source = 'the live owner reference';
  if (!rsName) {
    const recorded = suspect.metadata?.annotations?.[ORIGINAL_OWNER_ANNOTATION];
    const match = recorded?.match(/^ReplicaSet\/(.+)$/);
    if (!match || !isDns1123Subdomain(match[1])) return { none: 'the pod has no controller' };
    rsName = match[1];
    source = `preserve's record (${ORIGINAL_OWNER_ANNOTATION})`;
  }
  const rs = await call(`get replicaset ${namespace}/${rsName}`, () =>
    kube.apps.readNamespacedReplicaSet({ name: rsName, namespace }),
  );
  const original = { ...parseLabels(suspect.metadata?.annotations?.[ORIGINAL_LABELS_ANNOTATION]), ...labels };
  const hash = labels[TEMPLATE_HASH_LABEL] ?? original[TEMPLATE_HASH_LABEL];
  const rsHash = rs.spec?.template?.metadata?.labels?.[TEMPLATE_HASH_LABEL];
  if (!hash || hash !== rsHash || !LABEL_VALUE.test(hash))
    return { none: `ReplicaSet ${rsName} (from ${source}) does not carry the suspect's ${TEMPLATE_HASH_LABEL}` };
  if (owner?.uid !== undefined && owner.uid !== rs.metadata?.uid)
    return { none: `ReplicaSet ${rsName} is not the one that owns the pod (another object under its name)` };
  if (containersOf(rs.spec?.template?.spec) !== containersOf(suspect.spec))
    return { none: `ReplicaSet ${rsName}'s template has other containers or images than the suspect` };
  const selector = rs.spec?.selector?.matchLabels ?? {};
  if (!rs.metadata?.uid || !selectorOf(selector))
    return { none: `ReplicaSet ${rsName} has no usable matchLabels selector` };
  return {
    kind: 'ReplicaSet',
    name: rsName,
    uid: rs.metadata.uid,
    hashLabel: TEMPLATE_HASH_LABEL,
    hash,
    selector,
    source,
  };
}

/** Pods listed per attempt at most: a template's siblings, not a namespace's pods. */
export const MAX_CANDIDATES = 200;

export async function listCandidates(kube: Kube, namespace: string, template: Template): Promise<k8s.V1Pod[]> {
  const labelSelector = selectorOf(template.selector)!;
  const list = await call(`list pods ${namespace} (${labelSelector})`, () =>
    kube.core.listNamespacedPod({ namespace, labelSelector, limit: MAX_CANDIDATES }),
  );
  return list.items;
}
