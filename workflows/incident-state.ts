/**
 * What an incident knows, apart from Temporal: its alerts (identical ones folded into counts), the
 * record of every step, the evidence gathered so far and what people decided. The workflow drives it
 * and wires its hooks to search attributes and signals; unit tests drive it directly. Nothing here
 * may call Temporal, read the clock or do I/O: the workflow passes its deterministic clock in.
 */
import type { RawBody, SealResult, StepResult } from '../activities/contract';
import type { ApprovalGate, IncidentPlan, PlannedStep } from '../common/plan';
import {
  boundTamperFlags,
  maxSeverity,
  tamperPageLines,
  type AlertTarget,
  type ArtifactRef,
  type ContainmentVerification,
  type ControlSummary,
  type PodPin,
  type Severity,
  type TamperFlag,
} from '../common/types';
import type {
  Actor,
  AlertBatch,
  AlertRecord,
  ApprovalDecision,
  EscalationReport,
  IncidentPhase,
  IncidentStatus,
  IncomingAlert,
  NotificationRecord,
  ResolveRequest,
  StepStatus,
} from './definitions';
import { sealedManifestOf } from './definitions';
import type { EscalationInput, EscalationResult } from './escalation';

/** An incident keeps at most this many distinct alerts; repeats beyond only raise counts. */
export const MAX_DISTINCT_ALERTS = 500;
/**
 * ... and at most this many bytes of them (their JSON, UTF-8): what the incident keeps travels in every
 * plan, seal and continue-as-new payload, which Temporal refuses past its blob limit (2 MB by default).
 * Alerts beyond either bound are counted in `alertsNotKept`, never silently dropped from the tally.
 */
export const MAX_KEPT_ALERT_BYTES = 128 * 1024;
/** Sender ids remembered per distinct alert, to tell a re-send of an instance from a new occurrence. */
export const MAX_INSTANCE_IDS = 8;
/**
 * Request bodies kept byte for byte (base64 characters): sealed under intake/ as evidence. Beyond it a body
 * is known by its hash (each alert's rawSha256) and counted in the manifest's alertTally.bodiesNotKept.
 */
export const MAX_KEPT_BODY_BYTES = 128 * 1024;
/** Alerts that arrived while the incident was closing, handed to the next incident (beyond: kept here). */
export const MAX_HANDED_OVER_ALERTS = 200;

export type Decision = NonNullable<StepStatus['decision']>;

/** A failure the sealed record lists: the step (`undo.<name>` for an undo) and what went wrong. */
export interface StepFailure {
  step: string;
  error: string;
}

/** The escalation child as the incident knows it from the child's reports. */
export interface EscalationProgress {
  workflowId: string;
  /** Every notifier paged so far: each is told when the incident ends. */
  paged: string[];
  ended: boolean;
}

/** Everything an incident run knows, handed to its next run when it continues as new. */
export interface IncidentSnapshot {
  status: IncidentStatus;
  alerts: AlertRecord[];
  artifacts: ArtifactRef[];
  failures: StepFailure[];
  contained: PlannedStep[];
  decisions: Array<{ step: string; decision: Decision }>;
  pinned?: PodPin;
  acknowledgedBy?: Actor;
  escalation?: EscalationProgress;
  rawBodies?: RawBody[];
  bodiesNotKept?: number;
}

/** What the next run of a waiting incident resumes from: its state, its plan and what its pages say. */
export interface ContinuedIncident {
  state: IncidentSnapshot;
  plan: IncidentPlan;
  event: EscalationInput['event'];
}

export interface IncidentStateHooks {
  /** The time now as an ISO string; in a workflow, the deterministic workflow clock. */
  now: () => string;
  /** Called each time an alert raises the incident's severity (the workflow updates its search attribute). */
  onSeverityRaised?: (severity: Severity) => void;
  /** Called on every phase change, including a repeat of the current phase. */
  onPhase?: (phase: IncidentPhase) => void;
  /** Called on the first acknowledgement only (the workflow stops the escalation child). */
  onAcknowledged?: (actor: Actor) => void;
  /** Called on the first cancellation only (the workflow cancels the running response). */
  onCancelled?: (actor: Actor) => void;
}

export class IncidentState {
  /** What the status query returns and the workflow ends with. */
  readonly status: IncidentStatus;
  /** Distinct alerts with their repeat counts; what the alerts query returns. */
  readonly alerts: AlertRecord[] = [];
  /** Every artifact the steps stored, in full, for the sealed record. */
  readonly artifacts: ArtifactRef[] = [];
  readonly failures: StepFailure[] = [];
  /** Containment actions that took effect, in order: closing undoes them in reverse. */
  readonly contained: PlannedStep[] = [];
  /** Whether the alert names a pod; pod steps are skipped for host-level alerts. */
  readonly hasPod: boolean;
  private readonly decisions = new Map<string, Decision>();
  /** The pod the incident is about, as the first step that reported it saw it; later steps check it. */
  private pinned?: PodPin;
  private acknowledgedBy?: Actor;
  private resolvedWith?: ResolveRequest;
  private cancelledBy?: Actor;
  /** UTF-8 bytes of the kept alerts' JSON, against MAX_KEPT_ALERT_BYTES. */
  private keptAlertBytes = 0;
  /** The alert request bodies kept as received (see MAX_KEPT_BODY_BYTES), and how many were not. */
  readonly rawBodies: RawBody[] = [];
  private keptBodyBytes = 0;
  bodiesNotKept = 0;
  /**
   * Set (by the workflow, from a patch) when alerts arriving while the incident closes go to the next incident;
   * incidents started before that replay keeping them.
   */
  handsOverLateAlerts = false;
  /** The incident is closing by itself (auto-close); a resolution or cancellation closes it too. */
  private closingByItself = false;
  /** New alerts that arrived while the incident was closing: the next incident's. */
  readonly lateAlerts: IncomingAlert[] = [];
  private escalationProgress?: EscalationProgress;

  constructor(
    incidentId: string,
    input: { key: string; target: AlertTarget; storm?: boolean },
    private readonly hooks: IncidentStateHooks,
  ) {
    // Key order is the status's JSON shape: keep it.
    this.status = {
      incidentId,
      key: input.key,
      phase: 'planning',
      severity: 'info',
      target: input.target,
      dryRun: false,
      startedAt: hooks.now(),
      steps: [],
      alertCount: 0,
      ...(input.storm ? { storm: true } : {}),
    };
    this.hasPod = Boolean(input.target.namespace && input.target.pod);
  }

  /** Everything this run knows, for the next run (continue-as-new). */
  snapshot(): IncidentSnapshot {
    return {
      status: this.status,
      alerts: this.alerts,
      artifacts: this.artifacts,
      failures: this.failures,
      contained: this.contained,
      decisions: [...this.decisions].map(([step, decision]) => ({ step, decision })),
      ...(this.pinned ? { pinned: this.pinned } : {}),
      ...(this.acknowledgedBy ? { acknowledgedBy: this.acknowledgedBy } : {}),
      ...(this.escalationProgress ? { escalation: this.escalationProgress } : {}),
      ...(this.rawBodies.length > 0 ? { rawBodies: this.rawBodies } : {}),
      ...(this.bodiesNotKept > 0 ? { bodiesNotKept: this.bodiesNotKept } : {}),
    };
  }

  /** The state a previous run handed over; hooks are not called for what already happened. */
  static restore(snapshot: IncidentSnapshot, hooks: IncidentStateHooks): IncidentState {
    const { status } = snapshot;
    const state = new IncidentState(status.incidentId, { key: status.key, target: status.target }, hooks);
    Object.assign(state.status, status);
    state.alerts.push(...snapshot.alerts);
    state.keptAlertBytes = snapshot.alerts.reduce((sum, r) => sum + recordBytes(r.alert, r.ids ?? []), 0);
    state.artifacts.push(...snapshot.artifacts);
    state.failures.push(...snapshot.failures);
    state.contained.push(...snapshot.contained);
    for (const { step, decision } of snapshot.decisions) state.decisions.set(step, decision);
    state.pinned = snapshot.pinned;
    state.acknowledgedBy = snapshot.acknowledgedBy;
    state.escalationProgress = snapshot.escalation;
    for (const body of snapshot.rawBodies ?? []) state.keepBody(body.sha256, body.base64);
    state.bodiesNotKept = snapshot.bodiesNotKept ?? 0;
    return state;
  }

  get incidentId(): string {
    return this.status.incidentId;
  }

  get target(): AlertTarget {
    return this.status.target;
  }

  get pod(): PodPin | undefined {
    return this.pinned;
  }

  /** Pins the incident to the pod a step reported, unless already pinned: the first pod seen is the suspect. */
  pin(pod: PodPin | undefined): void {
    if (!this.pinned && pod?.uid) this.pinned = { uid: pod.uid, ...(pod.node ? { node: pod.node } : {}) };
  }

  // ---- alerts ----

  /**
   * Folds new alerts (identical ones by fingerprint) and the API's repeat counts into the incident. Every
   * alert counts in `alertCount`; one the incident cannot keep (over the count or byte bound) counts in
   * `alertsNotKept` too, so the kept records' counts plus `alertsNotKept` always add up to `alertCount`.
   */
  attach(incoming: IncomingAlert[], repeats: NonNullable<AlertBatch['repeats']> = []): void {
    for (const { alert, fingerprint, rawBody } of incoming) {
      const existing = this.alerts.find((r) => r.fingerprint === fingerprint);
      if (existing && (existing.ids ?? [existing.alert.id]).includes(alert.id)) {
        // The sender re-sent an instance the incident has (Alertmanager every repeat_interval): not news.
        this.resent(existing, 1, alert.receivedAt);
        continue;
      }
      // News for an incident that is closing: nobody would respond to it here; the next incident will.
      if (this.closing && this.handsOverLateAlerts && this.lateAlerts.length < MAX_HANDED_OVER_ALERTS) {
        this.lateAlerts.push({ alert, fingerprint, ...(rawBody !== undefined ? { rawBody } : {}) });
        this.status.handedOver = this.lateAlerts.length;
        continue;
      }
      if (rawBody !== undefined) this.keepBody(alert.rawSha256, rawBody);
      this.status.alertCount += 1;
      const bytes = existing ? 0 : recordBytes(alert, [alert.id]);
      if (existing) {
        existing.count += 1;
        existing.lastSeenAt = alert.receivedAt;
        this.rememberId(existing, alert.id);
      } else if (this.alerts.length < MAX_DISTINCT_ALERTS && this.keptAlertBytes + bytes <= MAX_KEPT_ALERT_BYTES) {
        this.alerts.push({ alert, fingerprint, count: 1, lastSeenAt: alert.receivedAt, ids: [alert.id] });
        this.keptAlertBytes += bytes;
      } else {
        this.notKept(1);
      }
      this.raiseSeverity(alert.severity);
    }
    for (const repeat of repeats) {
      const existing = this.alerts.find((r) => r.fingerprint === repeat.fingerprint);
      if (repeat.resends) this.resent(existing, repeat.resends, repeat.lastSeenAt);
      this.status.alertCount += repeat.count;
      if (existing) {
        existing.count += repeat.count;
        existing.lastSeenAt = repeat.lastSeenAt;
      } else {
        // A repeat of an alert the incident does not keep still counts.
        this.notKept(repeat.count);
      }
    }
  }

  /** A request body as received, once per hash, within MAX_KEPT_BODY_BYTES; beyond it only counted. */
  private keepBody(sha256: string, base64: string): void {
    if (typeof base64 !== 'string' || this.rawBodies.some((b) => b.sha256 === sha256)) return;
    if (this.keptBodyBytes + base64.length > MAX_KEPT_BODY_BYTES) {
      this.bodiesNotKept += 1;
      return;
    }
    this.rawBodies.push({ sha256, base64 });
    this.keptBodyBytes += base64.length;
  }

  /** The record remembers the instance's id, within the byte bound (the occurrence counts either way). */
  private rememberId(record: AlertRecord, id: string): void {
    const ids = record.ids ?? [record.alert.id];
    const bytes = jsonBytes(id) + 1;
    if (this.keptAlertBytes + bytes > MAX_KEPT_ALERT_BYTES) return;
    ids.push(id);
    this.keptAlertBytes += bytes;
    if (ids.length > MAX_INSTANCE_IDS) this.keptAlertBytes -= jsonBytes(ids.shift()) + 1;
    record.ids = ids;
  }

  private resent(record: AlertRecord | undefined, resends: number, at: string): void {
    this.status.resends = (this.status.resends ?? 0) + resends;
    if (!record) return;
    record.resends = (record.resends ?? 0) + resends;
    record.lastSeenAt = at;
  }

  private notKept(count: number): void {
    this.status.alertsNotKept = (this.status.alertsNotKept ?? 0) + count;
  }

  private raiseSeverity(severity: Severity): void {
    const raised = maxSeverity(this.status.severity, severity);
    if (raised === this.status.severity) return;
    this.status.severity = raised;
    this.hooks.onSeverityRaised?.(raised);
  }

  /** The sender ids of the instances the incident kept, most recent last, at most `max`. */
  instanceIds(max: number): string[] {
    return [...new Set(this.alerts.flatMap((r) => r.ids ?? [r.alert.id]))].slice(-max);
  }

  get hasAlerts(): boolean {
    return this.alerts.length > 0;
  }

  /** The alert that opened the incident; it names the incident in pages and search attributes. */
  get firstAlert(): AlertRecord {
    const first = this.alerts[0];
    if (!first) throw new Error('the incident has no alert yet');
    return first;
  }

  // ---- phase and plan ----

  setPhase(phase: IncidentPhase): void {
    this.status.phase = phase;
    this.hooks.onPhase?.(phase);
  }

  planned(plan: { playbook: string; dryRun: boolean }): void {
    this.status.playbook = plan.playbook;
    this.status.dryRun = plan.dryRun;
  }

  /**
   * Containment starts before every capture ended (the grace ran out): the incident and each capture still
   * running say so, since those captures may hold state taken after isolation.
   */
  containedEarly(note: string, running: StepStatus[]): void {
    (this.status.notes ??= []).push(note);
    for (const record of running) record.notes.push(`${note}; this capture went on after containment started`);
  }

  /**
   * A containment action was checked from inside the pod. Not effective: the incident says so first among its
   * notes, and every later page carries it (containmentFindings). Unverified: said too, less loudly.
   */
  verified(record: StepStatus, verification: ContainmentVerification): void {
    record.verification = verification;
    // A dry run applies nothing, so nothing can be verified: only a pod out of reach (hostNetwork) is worth saying.
    if (verification.verdict === 'effective' || (verification.verdict === 'unverified' && this.status.dryRun)) return;
    const line =
      verification.verdict === 'not effective'
        ? `CONTAINMENT NOT EFFECTIVE (${record.name}): ${verification.reason}`
        : `containment not verified (${record.name}): ${verification.reason}`;
    const notes = (this.status.notes ??= []);
    if (verification.verdict === 'not effective') notes.unshift(line);
    else notes.push(line);
  }

  /** What pages must say about containment: each action found not effective, then each left unverified. */
  get containmentFindings(): string[] {
    const checked = this.status.steps.filter((s) => s.kind === 'contain' && s.verification);
    return [
      ...checked
        .filter((s) => s.verification!.verdict === 'not effective')
        .map((s) => `CONTAINMENT NOT EFFECTIVE (${s.name}): ${s.verification!.reason}`),
      ...checked
        .filter((s) => s.verification!.verdict === 'unverified' && !this.status.dryRun)
        .map((s) => `containment not verified (${s.name}): ${s.verification!.reason}`),
    ];
  }

  /**
   * Evidence collection was interfered with: the findings join the status's tamper list (each once, bounded)
   * and every later page and the sealed manifest carry them.
   */
  tampered(flags: TamperFlag[] | undefined): void {
    if (!flags || flags.length === 0) return;
    this.status.tamper = boundTamperFlags([...(this.status.tamper ?? []), ...flags]);
  }

  /**
   * The control sample compared the suspect with a clean sibling (or says why it could not): its summary, counts
   * in Holdfast's words, is the first of the incident's notes and is in every later page.
   */
  controlCompared(control: ControlSummary): void {
    this.status.control = {
      summary: control.summary.slice(0, 500),
      ...(control.control ? { control: control.control } : {}),
      ...(control.skipped ? { skipped: true } : {}),
      ...(control.counts ? { counts: control.counts } : {}),
    };
    (this.status.notes ??= []).unshift(this.controlFindings[0]!);
  }

  /** What pages must say about the control sample: one line, once compared or skipped. */
  get controlFindings(): string[] {
    const control = this.status.control;
    if (!control) return [];
    return [
      control.skipped ? control.summary : `compared with the control ${control.control?.pod ?? ''}: ${control.summary}`,
    ];
  }

  /** What pages must say about interference: "evidence collection was interfered with: …", a few lines at most. */
  get tamperFindings(): string[] {
    return tamperPageLines(this.status.tamper ?? []);
  }

  /** Whether any containment action was found not effective. */
  get containmentNotEffective(): boolean {
    return this.status.steps.some((s) => s.kind === 'contain' && s.verification?.verdict === 'not effective');
  }

  /** The seal wrote the manifest and its signature: their exact versions are what the evidence route serves. */
  sealed(record: StepStatus, result: SealResult): void {
    const { manifest } = result;
    record.state = 'succeeded';
    this.status.manifestKey = manifest.key;
    this.status.sealed = sealedManifestOf(result);
    record.artifacts.push({ name: 'manifest.json', key: manifest.key, size: manifest.size, sha256: manifest.sha256 });
    // A TSA that failed or was slow did not block the seal; the status says so (the manifest too).
    if (result.timestampNote) record.notes.push(result.timestampNote.slice(0, 400));
  }

  // ---- steps ----

  /** Adds a pending step to the status; the returned record is updated in place as the step runs. */
  track(name: string, kind: StepStatus['kind']): StepStatus {
    const step: StepStatus = { name, kind, state: 'pending', artifacts: [], notes: [] };
    this.status.steps.push(step);
    return step;
  }

  /** False for a pod step on a host-level incident: it is skipped without running or asking anyone. */
  applies(step: Pick<PlannedStep, 'needsPod'>): boolean {
    return !(step.needsPod && !this.hasPod);
  }

  start(record: StepStatus): void {
    record.state = 'running';
    record.startedAt = this.hooks.now();
  }

  /** The step worked: its notes and artifacts join the record, its artifacts the sealed evidence. */
  succeed(
    record: StepStatus,
    result: Pick<StepResult, 'notes' | 'artifacts' | 'tamper' | 'control'> = { notes: [], artifacts: [] },
  ): void {
    record.state = 'succeeded';
    this.tampered(result.tamper);
    if (result.control) this.controlCompared(result.control);
    // Nothing to compare with (no controller, no sibling on the same digests): skipped, its record still sealed.
    if (result.control?.skipped) record.state = 'skipped';
    record.notes.push(...result.notes);
    record.artifacts.push(...result.artifacts.map(({ name, key, size, sha256 }) => ({ name, key, size, sha256 })));
    this.artifacts.push(...result.artifacts);
  }

  /**
   * The step failed. `failure` is the name the sealed record lists it under; steps whose failure is
   * not part of the evidence (seal, escalate) pass none.
   */
  fail(record: StepStatus, error: string, failure?: string): void {
    record.error = error;
    record.state = 'failed';
    if (failure !== undefined) this.failures.push({ step: failure, error });
  }

  /**
   * The pod the alert names does not exist: the step is skipped with the reason, and the incident closes as
   * "target not found" once the workflow sees it (nothing to capture, contain or seal).
   */
  targetNotFound(record: StepStatus, error: string): void {
    this.notApplicable(record, error);
    this.status.outcome = 'target-not-found';
  }

  /** Resolved, cancelled or closing by itself: from now on a new alert is the next incident's. */
  get closing(): boolean {
    return this.closingByItself || this.resolution !== undefined || this.cancellation !== undefined;
  }

  beginClosing(): void {
    this.closingByItself = true;
  }

  get targetMissing(): boolean {
    return this.status.outcome === 'target-not-found';
  }

  /** Something the incident as a whole has to say, in Holdfast's own words. */
  note(text: string): void {
    (this.status.notes ??= []).push(text);
  }

  /** The step found nothing to do (not a failure): skipped, with the reason kept as its error. */
  notApplicable(record: StepStatus, error: string): void {
    record.error = error;
    record.state = 'skipped';
  }

  skip(record: StepStatus, note: string): void {
    record.state = 'skipped';
    record.notes.push(note);
  }

  end(record: StepStatus): void {
    record.endedAt = this.hooks.now();
  }

  /** The escalation child's outcome: one note per page; any failed page fails the step. */
  escalated(
    record: StepStatus,
    result: Pick<EscalationResult, 'pages' | 'acknowledgedBy'>,
    tiersConfigured: boolean,
  ): void {
    record.state = result.pages.some((p) => !p.ok) ? 'failed' : 'succeeded';
    record.notes.push(
      ...result.pages.map((p) => `tier ${p.tier} ${p.notifier}: ${p.ok ? 'paged' : `failed (${p.error})`}`),
    );
    if (!tiersConfigured) record.notes.push('no escalation tiers configured');
    if (result.acknowledgedBy) record.notes.push(`acknowledged by ${result.acknowledgedBy}`);
  }

  /** The escalation child started; it reports its pages with `escalationReported`. */
  escalationStarted(workflowId: string): void {
    this.escalationProgress = { workflowId, paged: [], ended: false };
  }

  get escalation(): EscalationProgress | undefined {
    return this.escalationProgress;
  }

  /**
   * A report from the escalation child: each page becomes a note on the escalate step as it goes out (not
   * only once the child ends), a failed page fails the step, and the end settles it.
   */
  escalationReported(report: EscalationReport): void {
    const progress = this.escalationProgress;
    if (!progress || progress.ended || report.incidentId !== this.incidentId) return;
    const record = this.escalateRecord();
    for (const page of report.pages.slice(0, 100)) {
      if (!progress.paged.includes(page.notifier)) progress.paged.push(page.notifier);
      record?.notes.push(`tier ${page.tier} ${page.notifier}: ${page.ok ? 'paged' : `failed (${page.error})`}`);
      if (!page.ok && record) record.state = 'failed';
    }
    if (!report.ended) return;
    progress.ended = true;
    if (!record) return;
    if (record.state === 'running') record.state = 'succeeded';
    if (report.ended.acknowledgedBy) record.notes.push(`acknowledged by ${report.ended.acknowledgedBy}`);
    record.endedAt = this.hooks.now();
  }

  private escalateRecord(): StepStatus | undefined {
    return this.status.steps.filter((s) => s.kind === 'escalate').at(-1);
  }

  /** The escalation child was told to stop but did not report its end in time. */
  escalationUnconfirmed(note: string): void {
    const record = this.escalateRecord();
    record?.notes.push(note);
    if (this.escalationProgress) this.escalationProgress.ended = true;
  }

  // ---- pages outside the escalation ----

  /** A page to one notifier is on its way; the record is updated when it is sent or has failed. */
  notifying(action: NotificationRecord['action'], notifier: string, step?: string): NotificationRecord {
    const record: NotificationRecord = {
      action,
      notifier,
      ...(step ? { step } : {}),
      at: this.hooks.now(),
      state: 'sending',
    };
    (this.status.notifications ??= []).push(record);
    return record;
  }

  notified(record: NotificationRecord, error?: string): void {
    record.state = error === undefined ? 'sent' : 'failed';
    if (error !== undefined) record.error = error;
  }

  /** Every notifier told about this incident outside the escalation: each is told when it ends. */
  get notifiedOutsideEscalation(): string[] {
    return [...new Set((this.status.notifications ?? []).map((n) => n.notifier))];
  }

  // ---- decisions ----

  /** Approve or reject a gated step; the first decision for a step wins. */
  decide(approved: boolean, decision: ApprovalDecision): void {
    if (!this.decisions.has(decision.step)) {
      this.decisions.set(decision.step, {
        approved,
        by: decision.by,
        ...(decision.role ? { role: decision.role } : {}),
        at: this.hooks.now(),
        note: decision.note,
      });
    }
  }

  hasDecision(step: string): boolean {
    return this.decisions.has(step);
  }

  decisionFor(step: string): Decision | undefined {
    return this.decisions.get(step);
  }

  /** What applies when nobody decided within the gate's timeout. */
  timeoutDecision(gate: Pick<ApprovalGate, 'timeoutSeconds' | 'onTimeout'>): Decision {
    return {
      approved: gate.onTimeout === 'approve',
      by: 'timeout',
      at: this.hooks.now(),
      note: `no decision within ${gate.timeoutSeconds}s`,
    };
  }

  /** A gated step waits for a person (or the gate's timeout). */
  awaitApproval(record: StepStatus): void {
    record.state = 'awaiting-approval';
  }

  /** Puts the decision on the step; a rejection skips it. Returns whether the step may run. */
  applyDecision(record: StepStatus, decision: Decision): boolean {
    record.decision = decision;
    if (decision.approved) return true;
    this.skip(record, `rejected by ${decision.by}`);
    return false;
  }

  // ---- acknowledgement, resolution, cancellation: the first of each wins ----

  acknowledge(actor: Actor): void {
    if (this.acknowledgedBy) return;
    this.acknowledgedBy = actor;
    this.status.acknowledgedBy = actor.by;
    this.hooks.onAcknowledged?.(actor);
  }

  resolve(request: ResolveRequest): void {
    this.resolvedWith ??= request;
  }

  cancel(actor: Actor): void {
    if (this.cancelledBy) return;
    this.cancelledBy = actor;
    this.hooks.onCancelled?.(actor);
  }

  get acknowledged(): Actor | undefined {
    return this.acknowledgedBy;
  }

  get resolution(): ResolveRequest | undefined {
    return this.resolvedWith;
  }

  get cancellation(): Actor | undefined {
    return this.cancelledBy;
  }

  /** Who ended the incident: a resolution wins over a cancellation; undefined when it closed by itself. */
  get closedBy(): string | undefined {
    return this.resolution?.by ?? this.cancellation?.by;
  }

  /** Undo containment only when someone ended the incident; their choice wins over the playbook's. */
  shouldUndoContainment(playbookDefault: boolean): boolean {
    const undo = this.resolution?.undoContainment ?? playbookDefault;
    return undo && (this.resolution !== undefined || this.cancellation !== undefined);
  }

  /** Records who ended the incident, moves to its final phase and returns the final status. */
  finish(): IncidentStatus {
    this.status.resolvedBy = this.closedBy;
    this.setPhase(this.resolution ? 'resolved' : this.cancellation ? 'cancelled' : 'closed');
    this.status.endedAt = this.hooks.now();
    return this.status;
  }
}

/** What a kept record costs against MAX_KEPT_ALERT_BYTES: its alert and the instance ids it remembers. */
function recordBytes(alert: unknown, ids: string[]): number {
  return jsonBytes(alert) + ids.reduce((sum, id) => sum + jsonBytes(id) + 1, 0);
}

/** UTF-8 length of a value's JSON, without TextEncoder (not every workflow sandbox has it). */
function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value);
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4;
      i += 1;
    } else bytes += 3;
  }
  return bytes;
}
