/**
 * What an incident knows, apart from Temporal: its alerts (identical ones folded into counts), the
 * record of every step, the evidence gathered so far and what people decided. The workflow drives it
 * and wires its hooks to search attributes and signals; unit tests drive it directly. Nothing here
 * may call Temporal, read the clock or do I/O: the workflow passes its deterministic clock in.
 */
import type { StepResult, StoredObject } from '../activities/contract';
import type { ApprovalGate, PlannedStep } from '../common/plan';
import { maxSeverity, type AlertTarget, type ArtifactRef, type PodPin, type Severity } from '../common/types';
import type {
  Actor,
  AlertBatch,
  AlertRecord,
  ApprovalDecision,
  IncidentPhase,
  IncidentStatus,
  IncomingAlert,
  NotificationRecord,
  ResolveRequest,
  StepStatus,
} from './definitions';
import type { EscalationResult } from './escalation';

/** An incident keeps at most this many distinct alerts; repeats beyond only raise counts. */
export const MAX_DISTINCT_ALERTS = 500;

export type Decision = NonNullable<StepStatus['decision']>;

/** A failure the sealed record lists: the step (`undo.<name>` for an undo) and what went wrong. */
export interface StepFailure {
  step: string;
  error: string;
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

  constructor(
    incidentId: string,
    input: { key: string; target: AlertTarget },
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
    };
    this.hasPod = Boolean(input.target.namespace && input.target.pod);
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

  /** Folds new alerts (identical ones by fingerprint) and the API's repeat counts into the incident. */
  attach(incoming: IncomingAlert[], repeats: NonNullable<AlertBatch['repeats']> = []): void {
    for (const { alert, fingerprint } of incoming) {
      this.status.alertCount += 1;
      const existing = this.alerts.find((r) => r.fingerprint === fingerprint);
      if (existing) {
        existing.count += 1;
        existing.lastSeenAt = alert.receivedAt;
      } else if (this.alerts.length < MAX_DISTINCT_ALERTS) {
        this.alerts.push({ alert, fingerprint, count: 1, lastSeenAt: alert.receivedAt });
      }
      const raised = maxSeverity(this.status.severity, alert.severity);
      if (raised !== this.status.severity) {
        this.status.severity = raised;
        this.hooks.onSeverityRaised?.(raised);
      }
    }
    // A repeat of an alert the incident does not keep (beyond the cap) still counts.
    for (const repeat of repeats) {
      const existing = this.alerts.find((r) => r.fingerprint === repeat.fingerprint);
      this.status.alertCount += repeat.count;
      if (existing) {
        existing.count += repeat.count;
        existing.lastSeenAt = repeat.lastSeenAt;
      }
    }
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

  sealed(record: StepStatus, manifest: StoredObject): void {
    record.state = 'succeeded';
    this.status.manifestKey = manifest.key;
    record.artifacts.push({ name: 'manifest.json', key: manifest.key, size: manifest.size, sha256: manifest.sha256 });
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
  succeed(record: StepStatus, result: Pick<StepResult, 'notes' | 'artifacts'> = { notes: [], artifacts: [] }): void {
    record.state = 'succeeded';
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
      this.decisions.set(decision.step, { approved, by: decision.by, at: this.hooks.now(), note: decision.note });
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
