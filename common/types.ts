/**
 * Types shared by api/, workflows/ and activities/. Pure data only: workflows import this file,
 * so nothing here may do I/O or read the clock, and imports from outside common/ are type-only.
 */
// The sources are the registered alert formats' names; the import is erased, so the parsers stay out of workflows.
import type { AlertSource } from '../alerts/registry';

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

const SEVERITY_RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
export function maxSeverity(a: Severity, b: Severity): Severity {
  return SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b;
}
export function severityAtLeast(value: Severity, minimum: Severity): boolean {
  return SEVERITY_RANK[value] >= SEVERITY_RANK[minimum];
}

/** What an alert is about. Names are validated against Kubernetes rules before they get here. */
export interface AlertTarget {
  cluster: string;
  namespace?: string;
  pod?: string;
  container?: string;
  /** For host rules with no pod: the node or host name the incident is keyed by. */
  node?: string;
}

/** One alert in Holdfast's own shape, whatever format it arrived in. */
export interface Alert {
  /** Stable id of this alert (Falco uuid, Alertmanager fingerprint+startsAt, GuardDuty finding id, or a hash). */
  id: string;
  source: AlertSource;
  /** Rule, alertname or finding type. */
  rule: string;
  severity: Severity;
  /** Attacker-influenced text, bounded in length; never used as a name, path or command. */
  summary: string;
  /** When the source says it happened (ISO 8601 UTC). */
  observedAt: string;
  /** When Holdfast received it (ISO 8601 UTC). */
  receivedAt: string;
  target: AlertTarget;
  labels: Record<string, string>;
  /** 'firing' unless an Alertmanager alert says 'resolved'. */
  status: 'firing' | 'resolved';
  /** SHA-256 (hex) of the raw request body this alert came from, for the evidence manifest. */
  rawSha256: string;
}

export interface PodRef {
  cluster: string;
  namespace: string;
  pod: string;
  container?: string;
}

/**
 * The one pod an incident is about: its UID (a pod recreated under the same name has another) and the node
 * it ran on, as the first step that touched it saw them. Later steps check it; undo uses it after the pod is gone.
 */
export interface PodPin {
  uid: string;
  node?: string;
}

/**
 * Whether a containment action is proven to hold, from inside the pod's network namespace: `effective` (a
 * peer known reachable before no longer is, and nothing still connects), `not effective` (a connection still
 * succeeds, or the pod is out of the action's reach, e.g. hostNetwork), `unverified` (nothing could prove it).
 */
export const CONTAINMENT_VERDICTS = ['effective', 'not effective', 'unverified'] as const;
export type ContainmentVerdict = (typeof CONTAINMENT_VERDICTS)[number];

/** A verdict and why, in Holdfast's own words (the full record is the containment-verification.json artifact). */
export interface ContainmentVerification {
  verdict: ContainmentVerdict;
  reason: string;
}

export interface CollectorInfo {
  name: string;
  version: string;
  imageDigest?: string;
}

/** An artifact that is safely in the evidence store. Only these references travel through workflow state. */
export interface ArtifactRef {
  name: string;
  key: string;
  versionId?: string;
  size: number;
  sha256: string;
  contentType: string;
  capturedAt: string;
  collector: CollectorInfo;
  method: string;
  notes: string[];
}

// ---- Evidence manifest. Its exact stored bytes are what manifest.sig signs. ----

export const MANIFEST_SCHEMA = 'holdfast.evidence-manifest/v1' as const;

export interface ManifestContainer {
  name: string;
  image?: string;
  /** sha256:… from the container status's imageID, when the runtime reported one. */
  imageDigest?: string;
}

/** The target as best known at sealing: from the alert, completed from the captured pod record. */
export interface ManifestTarget {
  cluster: string;
  namespace?: string;
  pod?: string;
  podUid?: string;
  node?: string;
  containers: ManifestContainer[];
  /** What could not be established about the target, and why. */
  notes: string[];
}

/** Every alert an incident received, as kept records plus those only counted (beyond its bounds). */
export interface AlertTally {
  received: number;
  /** Distinct alerts kept in full. */
  kept: number;
  /** Alerts (and their repeats) counted but not kept. */
  notKept: number;
}

export interface EvidenceManifest {
  schema: typeof MANIFEST_SCHEMA;
  incidentId: string;
  workflowId: string;
  runId: string;
  /** When the manifest was written (ISO 8601 UTC). */
  sealedAt: string;
  signing: { algorithm: 'Ed25519'; keyId: string; signatureFile: 'manifest.sig'; signedBytes: string };
  retention: { mode: 'GOVERNANCE' | 'COMPLIANCE'; days: number; legalHold: boolean };
  /** The alerts the incident kept; `alertTally` says how many arrived in all and how many were only counted. */
  alerts: Alert[];
  alertTally?: AlertTally;
  target: ManifestTarget;
  artifacts: ArtifactRef[];
  failures: Array<{ step: string; error: string }>;
}
