/**
 * The ports activities depend on. Adapters (Kubernetes, S3, notifiers, signer) implement them and are
 * injected through createActivities(deps); tests substitute in-memory fakes from test/fakes/.
 */
import type { Readable } from 'node:stream';
import type {
  AlertTarget,
  ArtifactRef,
  CollectorInfo,
  ContainmentVerification,
  ControlSummary,
  IncomingAlert,
  PodPin,
  PodRef,
  Severity,
  TamperFinding,
} from './types';

export interface PutArtifactInput {
  incidentId: string;
  step: string;
  name: string;
  contentType: string;
  collector: CollectorInfo;
  method: string;
  notes?: string[];
  body: Readable;
  /** Called as bytes flow, so long uploads can heartbeat their progress. */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
}

export interface EvidenceStore {
  /** Streams the body into the store with Object Lock retention; returns its hash and size. */
  putArtifact(input: PutArtifactInput): Promise<ArtifactRef>;
  /** Reads an artifact back as a stream (bounded by the object's size). */
  getArtifact(key: string, versionId?: string): Promise<Readable>;
}

// ---- Cluster: everything Holdfast does to Kubernetes. The real adapter lives in adapters/kubernetes/. ----
// Captures and changes are named units (adapters/kubernetes/registry.ts): a new one needs no new method here.

export interface MutationOptions {
  /** Server-side dry run (dryRun=All): the API server validates the change but stores nothing. */
  dryRun: boolean;
  incidentId: string;
  /** The step's parameters; the adapter types them by the unit's schema, defaults applied. */
  params: Record<string, unknown>;
  /**
   * The pod this incident is pinned to: a pod change refuses (PodReplaced) a pod of that name with another
   * UID, and an undo finds what this incident created from it even once the pod is gone.
   */
  pod?: PodPin;
  signal?: AbortSignal;
}

/** One piece of evidence a capture produces, as a stream the evidence store consumes. */
export interface CaptureStream {
  name: string;
  body: Readable;
  contentType: string;
  method: string;
  collector: CollectorInfo;
  notes: string[];
  /**
   * How collecting this artifact was interfered with, in Holdfast's words; filled in as the stream runs (like
   * notes), read once it ended. The step turns them into the incident's tamper flags.
   */
  tamper?: TamperFinding[];
  /** The control sample's comparison (step `control`): the step result, the status and pages carry it. */
  control?: ControlSummary;
}

export interface CaptureOptions {
  incidentId: string;
  /** The step's parameters; the adapter types them by the unit's schema, defaults applied. */
  params: Record<string, unknown>;
  /** Dry run: read-only captures run; anything that would change the cluster (the collector) is only validated. */
  dryRun?: boolean;
  /** The pod this incident is pinned to: a capture refuses (PodReplaced) a pod of that name with another UID. */
  pod?: PodPin;
  signal?: AbortSignal;
}

/** What a change acts on: the suspect pod, or a node (cordon). */
export type ChangeTarget = { kind: 'pod'; pod: PodRef } | { kind: 'node'; node: string };

/** What a mutating step did, for the status and the manifest. */
export interface ActionOutcome {
  changed: boolean;
  dryRun: boolean;
  notes: string[];
  /** A JSON-able record of the change (objects created, labels set), stored as evidence. */
  record?: unknown;
  /** The pod the change acted on (pod actions): the incident pins it if nothing pinned it before. */
  pod?: PodPin;
}

export interface VerifyOptions extends MutationOptions {
  /** When the action was confirmed in place (epoch ms, the worker's clock): traffic after it was not cut. */
  appliedAt: number;
}

/** What checking a containment action found, and the record to keep as evidence. */
export interface ContainmentCheck extends ContainmentVerification {
  notes: string[];
  /** Stored under contain/ with the step's other evidence (so the signed manifest lists it). */
  artifact: { name: string; method: string; collector: CollectorInfo; record: unknown };
}

/**
 * Reads and captures run as the capture identity, changes and their reverts as the containment
 * identity (see SplitCluster); each names the unit it runs.
 */
export interface Cluster {
  /** Pod, owner chain, node, containers with image digests, recent events: a JSON document. */
  inspect(target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]>;
  /** Runs the capture unit `name` (filesystem, memory, logs, network, …). */
  capture(name: string, target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]>;
  /** Runs the action unit `name` (preserve, isolate, cordon, scale-to-zero, delete-pod, …). */
  change(name: string, target: ChangeTarget, opts: MutationOptions): Promise<ActionOutcome>;
  /** Undoes what `change(name)` did for this incident (only actions that can be undone). */
  revert(name: string, target: ChangeTarget, opts: MutationOptions): Promise<ActionOutcome>;
  /**
   * Checks that the action `name`, just applied, holds (only actions that can be checked): from inside the
   * pod's network namespace for isolate. Runs as the capture identity: it execs in the collector.
   */
  verify(name: string, target: ChangeTarget, opts: VerifyOptions): Promise<ContainmentCheck>;
  /**
   * The pod's UID and node, read now. Given the incident's pin, a pod of that name with another UID is
   * refused with PodReplaced.
   */
  pinPod(target: PodRef, pin?: PodPin): Promise<PodPin>;
}

// ---- Evidence sealing and investigator access (adapters/s3/, evidence/, activities/seal.ts) ----

/** An object as the evidence store holds it. */
export interface StoredObjectInfo {
  key: string;
  versionId?: string;
  size: number;
  /** From the object's metadata when it carries one (single-part objects, manifests, signatures). */
  sha256?: string;
  contentType?: string;
  metadata: Record<string, string>;
  retention?: { mode: string; retainUntil?: string; legalHold: boolean };
}

/** Writes a small object (manifest, signature, public key, custody entry) under retention, in one request. */
export interface SmallObjectWriter {
  putSmallObject(
    key: string,
    body: Buffer,
    contentType: string,
    metadata?: Record<string, string>,
  ): Promise<StoredObjectInfo>;
}

/** Read side of the evidence store, for sealing and investigator access. */
export interface EvidenceReader {
  head(key: string, versionId?: string): Promise<StoredObjectInfo>;
  open(
    key: string,
    versionId?: string,
  ): Promise<{ body: Readable; size: number; versionId?: string; metadata: Record<string, string> }>;
  readSmall(
    key: string,
    versionId: string | undefined,
    maxBytes: number,
  ): Promise<{ bytes: Buffer; versionId?: string; metadata: Record<string, string> }>;
  /** A time-limited GET URL (at most 15 minutes). */
  presignGet(key: string, versionId: string | undefined, expiresInSeconds: number): Promise<string>;
}

export interface PublicKeyInfo {
  keyId: string;
  algorithm: 'Ed25519';
  /** SubjectPublicKeyInfo, PEM. */
  publicKeyPem: string;
}

/**
 * An RFC 3161 time-stamping authority (adapters/tsa): sends a DER TimeStampReq, answers the DER TimeStampResp as
 * received (bounded). Sealing goes on without it when it fails or is slow.
 */
export interface TimestampAuthority {
  /** Where it is, for the record: scheme, host and path, never credentials. */
  readonly name: string;
  timestamp(request: Uint8Array, signal?: AbortSignal): Promise<Buffer>;
}

/** Signs manifests. The file-based Ed25519 signer is the embedded default; a KMS can implement this later. */
export interface Signer {
  readonly keyId: string;
  readonly algorithm: 'Ed25519';
  /** Signs exactly these bytes (Ed25519, pure: no pre-hash); returns the raw 64-byte signature. */
  sign(data: Uint8Array): Promise<Buffer>;
  /** The public keys investigators may verify with (current first). */
  publicKeys(): PublicKeyInfo[];
}

/** One access to an incident's evidence: who, when, what, from where. */
export interface CustodyEntry {
  incidentId: string;
  at: string;
  who: { name: string; role: string; via: string };
  action: 'evidence.read' | 'evidence.bundle' | 'evidence.legal-hold';
  /** The objects handed out (keys and versions). */
  objects: Array<{ key: string; versionId?: string }>;
  from: { ip: string; userAgent?: string };
  outcome: 'granted' | 'failed';
  detail?: string;
}

/** Append-only custody log: S3 has no append, so each access is its own small locked object. */
export interface CustodyLog {
  append(entry: CustodyEntry): Promise<{ key: string; versionId?: string }>;
}

// ---- Notifiers (adapters/notifiers/). Structurally what activities/notify.ts calls (NotifierLike). ----

/** What a notifier is told. The dedup key (the incident id) lets the vendor fold repeats and resolve. */
/**
 * What a notification is: `trigger` an escalation page, `resolve` the end, `open` the first page as the
 * incident opens, `approval` a containment gate waiting for a person, `containment` a containment action
 * proven not effective (the pod still reaches the network). Every kind but `resolve` raises or updates the
 * vendor's alert under the same dedup key.
 */
export type NotificationAction = 'trigger' | 'resolve' | 'open' | 'approval' | 'containment';

/** How to decide a gate: Holdfast-built text (the API base URL, the incident id, a validated step name). */
export interface ApprovalRequest {
  step: string;
  timeoutSeconds: number;
  onTimeout: 'approve' | 'reject';
  /** e.g. `POST https://holdfast.example/v1/incidents/inc-…/approve` */
  approveCall: string;
  rejectCall: string;
  /** The JSON body both calls take, e.g. `{"step":"isolate"}`. */
  body: string;
  /** e.g. `holdfast incidents approve inc-… --step isolate` */
  approveCommand: string;
  rejectCommand: string;
}

export interface NotificationEvent {
  action: NotificationAction;
  incidentId: string;
  title: string;
  severity: Severity;
  /** Attacker-influenced alert text: each notifier bounds and escapes it for its vendor. */
  summary: string;
  /** Escalation tier being paged (1 = first). */
  tier: number;
  target: AlertTarget;
  links: { incident: string; history?: string };
  dedupKey: string;
  /**
   * Holdfast's own lines, bounded by each notifier: on `open` what it is doing; on any page once a containment
   * check found the action not effective or unproven, that finding.
   */
  details?: string[];
  /** `approval`: the gate and how to decide it. */
  approval?: ApprovalRequest;
}

export interface NotificationResult {
  status: 'sent' | 'dry-run';
  httpStatus?: number;
  /** The vendor's answer, bounded (at most 2 KiB) and with configured secrets masked. */
  response?: string;
  /** Dry run: the request that would have been sent, secrets masked. */
  preview?: { method: string; url: string; headers: Record<string, string>; body: unknown };
}

export interface Notifier {
  /** 'pagerduty' | 'opsgenie' | 'slack' | 'webhook' | … */
  readonly kind: string;
  /** The configured name the workflow refers to (e.g. 'pd-primary'). */
  readonly name: string;
  /**
   * Sends one event. Throws NotifierRejected (non-retryable: the vendor refused the request, 4xx other
   * than 408/429) or NotifierUnavailable (retryable: network, timeout, 408, 429, 5xx).
   */
  send(event: NotificationEvent, opts: { dryRun: boolean; signal?: AbortSignal }): Promise<NotificationResult>;
}

/**
 * Opens incidents and hands them alerts (signal-with-start on Temporal): the API's intake does it as alerts
 * arrive; an activity does it for alerts that arrived while an incident was closing (they open the next one).
 */
export interface IncidentStarter {
  /** The alerts go to the key's running incident, or open one on `taskQueue`; returns the run that got them. */
  deliver(workflowId: string, taskQueue: string, target: AlertTarget, alerts: IncomingAlert[]): Promise<string>;
  /** The run of the key's incident while one is running; undefined when none is. */
  runningRun(workflowId: string): Promise<string | undefined>;
}
