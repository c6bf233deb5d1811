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

/** An alert plus the fingerprint the API computed for it (identical alerts share one). */
export interface IncomingAlert {
  alert: Alert;
  fingerprint: string;
  /**
   * The request body the alert came in, exactly as received (base64; its SHA-256 is `alert.rawSha256`): sent
   * with the first alert of that body for the incident, while the API's per-incident byte bound allows.
   */
  rawBody?: string;
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

// ---- Control sample: the suspect compared with a clean sibling from the same template (step `control`). ----

/**
 * What the status and pages show of the control sample: counts in Holdfast's own words, never a name read from
 * a pod (those are only in the `control/diff.json` artifact, JSON-escaped). `skipped` says why nothing was compared.
 */
export interface ControlSummary {
  /** "3 files added, 1 binary changed, 1 outbound connection not in the control", or why it was skipped. */
  summary: string;
  /** The sibling compared with (a name and UID from the API server, validated); absent when skipped. */
  control?: { pod: string; uid: string };
  skipped?: boolean;
  counts?: Record<string, number>;
}

// ---- Tamper flags: a process in the target interfered with evidence collection. ----

/**
 * How the collection was interfered with: a collector command stopped (SIGSTOP) or killed (a signal), its
 * output incomplete (no end marker or trailer), a collector that ended without Holdfast retiring it, or
 * collector output holding a section marker it did not write (a forgery, kept as content, never obeyed), or
 * processes of one container that see different roots (a chroot into a decoy tree).
 */
export const TAMPER_KINDS = [
  'collector-stalled',
  'collector-killed',
  'output-incomplete',
  'collector-vanished',
  'section-forged',
  'root-inconsistent',
] as const;
export type TamperKind = (typeof TAMPER_KINDS)[number];

/** One finding: the step that found it, its kind, and Holdfast's own words (target text only JSON-quoted). */
export interface TamperFlag {
  step: string;
  kind: TamperKind;
  detail: string;
}

/** What a capture reports before the step names it. */
export type TamperFinding = Omit<TamperFlag, 'step'>;

/** Bounds on tamper flags wherever they travel (step results, status, manifest, pages). */
export const TAMPER_LIMITS = { flags: 50, detail: 300, step: 128 } as const;

/**
 * Target-owned text inside a tamper detail: JSON-quoted (so it reads as a quotation, control characters
 * escaped) and bounded; never spliced raw.
 */
export function quoteTargetText(text: string, max = 80): string {
  return JSON.stringify(text.slice(0, max)) + (text.length > max ? '…' : '');
}

/**
 * Tamper flags as they may be kept: well-formed, known kinds, control characters replaced, bounded in length
 * and count, each (kind, detail) once. Accepts anything (old manifests, activity results) and never throws.
 */
export function boundTamperFlags(value: unknown, max: number = TAMPER_LIMITS.flags): TamperFlag[] {
  if (!Array.isArray(value)) return [];
  const clean = (v: unknown, n: number) =>
    String(v ?? '')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ')
      .slice(0, n);
  const out: TamperFlag[] = [];
  const seen = new Set<string>();
  for (const item of value as Array<Partial<TamperFlag> | undefined>) {
    if (out.length >= max) break;
    if (!item || typeof item !== 'object' || !(TAMPER_KINDS as readonly string[]).includes(String(item.kind))) continue;
    const flag: TamperFlag = {
      step: clean(item.step, TAMPER_LIMITS.step) || 'unknown',
      kind: item.kind as TamperKind,
      detail: clean(item.detail, TAMPER_LIMITS.detail),
    };
    const key = `${flag.kind}\u0000${flag.detail}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(flag);
  }
  return out;
}

/** The page's line for each flag (at most `max`, then how many more): "evidence collection was interfered with: …". */
export function tamperPageLines(flags: TamperFlag[], max = 5): string[] {
  const lines = flags
    .slice(0, max)
    .map((f) => `evidence collection was interfered with (${f.step}, ${f.kind}): ${f.detail}`);
  if (flags.length > max)
    lines.push(`evidence collection was interfered with: ${flags.length - max} more finding(s) in the incident status`);
  return lines;
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
  /**
   * Request bodies the incident received but did not keep byte for byte (beyond its bound); the kept ones are
   * artifacts under `intake/`, named by their SHA-256. Absent from incidents sealed before bodies were kept.
   */
  bodiesNotKept?: number;
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
  /**
   * How evidence collection was interfered with (a stopped or killed collector, incomplete output, a forged
   * section). Absent in manifests sealed before tamper flags existed; empty when nothing was found.
   */
  tamper?: TamperFlag[];
  /**
   * The in-toto attestation (DSSE envelope) of the same artifacts and its RFC 3161 timestamp, by their exact
   * stored versions and SHA-256. Absent from manifests sealed before they existed.
   */
  attestation?: ManifestAttestation;
}

/** A stored object the manifest binds by version and SHA-256. */
export interface BoundObject {
  key: string;
  versionId?: string;
  size: number;
  sha256: string;
}

export interface ManifestAttestation extends BoundObject {
  file: 'attestation.dsse.json';
  statementType: string;
  payloadType: string;
  predicateType: string;
  timestamp: ManifestTimestamp;
}

/** The RFC 3161 timestamp of the envelope, or why there is none (sealing never waits for a TSA). */
export type ManifestTimestamp =
  | (BoundObject & {
      obtained: true;
      file: 'attestation.tsr';
      tsa: string;
      over: string;
      genTime: string;
      policy: string;
      serialNumber: string;
      nonce: string;
    })
  | { obtained: false; tsa?: string; reason: string };
