import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  makeContinueAsNewFunc,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type ChildWorkflowHandle,
  type WorkflowInfo,
} from '@temporalio/workflow';
import type { NamedActivities, NotifyEvent } from '../activities/contract';
import { incidentSummary, stormSummary } from '../common/incident-summary';
import { FailureType, NON_RETRYABLE, NOTIFY_NON_RETRYABLE, SEAL_NON_RETRYABLE } from '../common/failures';
import { DEFAULT_CONTAIN_AFTER_SECONDS, type IncidentPlan, type PlannedContainment } from '../common/plan';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes';
import { severityAtLeast, type ContainmentVerification } from '../common/types';
import {
  acknowledgeSignal,
  alertsQuery,
  alertsSignal,
  approveSignal,
  cancelSignal,
  ESCALATION_WORKFLOW,
  escalationReportSignal,
  incidentIdFromRunId,
  NEXT_INCIDENT_WORKFLOW,
  nextIncidentWorkflowId,
  rejectSignal,
  resolveSignal,
  statusQuery,
  stopEscalationSignal,
  type Actor,
  type IncidentInput,
  type IncidentStatus,
  type NotificationRecord,
  type StepStatus,
} from './definitions';
import type { EscalationInput, EscalationResult } from './escalation';
import type { nextIncidentWorkflow } from './next-incident';
import { IncidentState, type ContinuedIncident, type IncidentSnapshot } from './incident-state';
import { describeFailure, runStep } from './incident-steps';

const { planIncident } = proxyActivities<Pick<NamedActivities, 'planIncident'>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE] },
});
const { sealEvidence } = proxyActivities<Pick<NamedActivities, 'sealEvidence'>>({
  startToCloseTimeout: '2 minutes',
  // Sealing must eventually happen: keep retrying while S3 is down, but not forever.
  retry: {
    initialInterval: '2 seconds',
    maximumInterval: '1 minute',
    maximumAttempts: 30,
    nonRetryableErrorTypes: [...SEAL_NON_RETRYABLE],
  },
});
const { notify } = proxyActivities<Pick<NamedActivities, 'notify'>>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumAttempts: 8, nonRetryableErrorTypes: [...NOTIFY_NON_RETRYABLE] },
});

type EscalationWorkflow = (i: EscalationInput) => Promise<EscalationResult>;

/**
 * A waiting incident continues as new once Temporal suggests it (its history nears the server's limits) or,
 * failing that, at this many events: far below Temporal's default hard limit (51,200), which would end it.
 */
const MAX_HISTORY_EVENTS = 10_000;
const MIN_RUN_EVENTS = 20;
/** Sender ids a resolved incident remembers in its memo (bounded: the memo travels with every list call). */
const MAX_RESOLVED_INSTANCES = 200;
/** How long closing waits for the escalation child to confirm it stopped before resolving its pages. */
const ESCALATION_STOP_WAIT = '1 minute';
type PageEvent = EscalationInput['event'];
interface Escalation {
  child: ChildWorkflowHandle<EscalationWorkflow>;
  /** Every notifier the child paged, once it has ended. */
  paged: Promise<string[]>;
}

/** One run of the workflow: the incident's state plus the Temporal handles its phases share. */
interface Incident {
  readonly info: WorkflowInfo;
  readonly state: IncidentState;
  /** Preserve, capture and contain run in this scope: cancelling the incident cancels it. */
  readonly pipeline: CancellationScope;
  /** Set once the escalation child has started; an acknowledgement stops it. */
  escalation?: ChildWorkflowHandle<EscalationWorkflow>;
  /** Pages sent outside the escalation child (opening page, approval requests, containment findings): closing waits for them. */
  readonly pages: Array<Promise<void>>;
}

/**
 * One incident: plan → preserve → capture (in parallel) → contain (with approval gates) → seal →
 * escalate → wait for resolution. Tier 1 is paged once preserved (page on open) and asked as each gate
 * opens, without either waiting for the page; isolate is checked from inside the pod, and a verdict of not
 * effective is paged at once and repeated in every later page. Every step records its outcome; no failure
 * stops the incident from sealing what exists and escalating.
 *
 * The order of everything that reaches Temporal (activities, timers, the child, signals, search
 * attributes) is what running incidents replay against: the committed histories guard it.
 */
export async function incidentWorkflow(input: IncidentInput): Promise<IncidentStatus> {
  if (input.continued) return await resumeIncident(input.continued);
  const incident = open(input);
  await awaitFirstAlert(incident, input);
  upsertIncidentSearchAttributes(incident);
  const plan = await planResponse(incident);
  await respond(incident, plan);
  if (targetNotFound(incident)) return await closeTargetNotFound(incident, plan);
  await seal(incident);
  const event = pageEvent(incident, plan);
  const paged = await escalateAndWait(incident, plan, event);
  await close(incident, plan, event, paged);
  rememberResolvedInstances(incident);
  await handOverLateAlerts(incident);
  return incident.state.finish();
}

/**
 * A later run of an incident that continued as new while it waited: it only waits on, then closes. Its
 * state, plan and page text come from the run before; the escalation child reports to whichever run is current.
 */
async function resumeIncident(continued: ContinuedIncident): Promise<IncidentStatus> {
  const { plan, event } = continued;
  const incident = open(continued.state);
  log.info('incident continued as new', { incidentId: incident.state.incidentId, runs: incident.state.status.runs });
  await waitOrContinue(incident, plan, event);
  // Resolved, cancelled or auto-closed: a new alert from now on is the next incident's.
  incident.state.beginClosing();
  await endEscalation(incident);
  await close(incident, plan, event, incident.state.escalation?.paged ?? []);
  rememberResolvedInstances(incident);
  await handOverLateAlerts(incident);
  return incident.state.finish();
}

/** The incident's state (new, or handed over by the run before), wired to search attributes, scope and escalation. */
function open(from: IncidentInput | IncidentSnapshot): Incident {
  const info = workflowInfo();
  const pipeline = new CancellationScope();
  const hooks = {
    now: () => new Date().toISOString(),
    onSeverityRaised: (severity: IncidentStatus['severity']) =>
      upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.severity, value: severity }]),
    onPhase: (phase: IncidentStatus['phase']) => {
      upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: phase }]);
      showDetails(incident.state);
    },
    onAcknowledged: (actor: Actor) => stopEscalation(incident, actor),
    onCancelled: () => pipeline.cancel(),
  };
  const incident: Incident = {
    info,
    pipeline,
    pages: [],
    state:
      'status' in from
        ? IncidentState.restore(from, hooks)
        : new IncidentState(incidentIdFromRunId(info.firstExecutionRunId), from, hooks),
  };
  // Incidents started before this replay keeping alerts that arrive while they close.
  incident.state.handsOverLateAlerts = patched('late-alerts-open-next-incident');
  // Last: a buffered signal (signal-with-start's opening alerts) is handled as soon as its handler is set.
  handleSignalsAndQueries(incident.state);
  showDetails(incident.state);
  return incident;
}

/**
 * The incident's line on its page in the Temporal UI, in every run: the static summary the API gives the
 * first run is not carried over by continue-as-new, so a waiting incident would lose it. The same line as
 * the summary (validated names, the rule in a code span, never the alert's free text), then the phase.
 * Current details are answered from memory to a query: they add no command to the history.
 */
function showDetails(state: IncidentState): void {
  const first = state.hasAlerts ? state.firstAlert.alert : undefined;
  const line = state.status.storm ? stormSummary(state.target.cluster) : incidentSummary(state.target, first);
  setCurrentDetails(`${line}\n\nphase: ${state.status.phase}`);
}

/**
 * New alerts that arrived while the incident was closing open the key's next incident, through a detached
 * child that waits until this run has closed (an alert delivered before that would land here again). Alerts
 * arriving while the child starts are handed over too; the status counts them all (`handedOver`).
 */
async function handOverLateAlerts({ state, info }: Incident): Promise<void> {
  state.beginClosing();
  for (let handed = 0, batch = 1; handed < state.lateAlerts.length; batch++) {
    const alerts = state.lateAlerts.slice(handed);
    handed += alerts.length;
    await startChild<typeof nextIncidentWorkflow>(NEXT_INCIDENT_WORKFLOW, {
      workflowId: nextIncidentWorkflowId(info.workflowId, info.runId, batch),
      args: [
        { key: state.status.key, target: state.target, taskQueue: info.taskQueue, afterRunId: info.runId, alerts },
      ],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      cancellationType: ChildWorkflowCancellationType.ABANDON,
    });
  }
  if (state.lateAlerts.length > 0)
    state.note(
      `${state.lateAlerts.length} alert(s) arrived while the incident was closing: they open the next incident`,
    );
}

function handleSignalsAndQueries(state: IncidentState): void {
  setHandler(alertsSignal, (batch) => state.attach(batch.alerts, batch.repeats));
  setHandler(escalationReportSignal, (report) => state.escalationReported(report));
  setHandler(approveSignal, (decision) => state.decide(true, decision));
  setHandler(rejectSignal, (decision) => state.decide(false, decision));
  setHandler(acknowledgeSignal, (actor) => state.acknowledge(actor));
  setHandler(resolveSignal, (request) => state.resolve(request));
  setHandler(cancelSignal, (actor) => state.cancel(actor));
  setHandler(statusQuery, () => state.status);
  setHandler(alertsQuery, () => state.alerts);
}

/** signal-with-start delivers the opening alerts as a signal, processed as soon as the handler is set. */
async function awaitFirstAlert({ state }: Incident, input: IncidentInput): Promise<void> {
  state.attach(input.alerts);
  if (!(await condition(() => state.hasAlerts, '1 minute'))) {
    throw ApplicationFailure.nonRetryable('an incident needs at least one alert', FailureType.InvalidInput);
  }
  showDetails(state);
}

/** What the incident list filters on, set once the opening alert is known. */
function upsertIncidentSearchAttributes({ state }: Incident): void {
  const { target } = state;
  upsertSearchAttributes([
    { key: SEARCH_ATTRIBUTES.status, value: 'planning' },
    { key: SEARCH_ATTRIBUTES.severity, value: state.status.severity },
    { key: SEARCH_ATTRIBUTES.cluster, value: target.cluster },
    { key: SEARCH_ATTRIBUTES.source, value: state.firstAlert.alert.source },
    ...(target.namespace ? [{ key: SEARCH_ATTRIBUTES.namespace, value: target.namespace }] : []),
    ...(target.pod ? [{ key: SEARCH_ATTRIBUTES.pod, value: target.pod }] : []),
  ]);
}

async function planResponse({ state }: Incident): Promise<IncidentPlan> {
  const record = state.track('plan', 'plan');
  state.start(record);
  const plan = await planIncident({
    target: state.target,
    alerts: state.alerts.map((r) => r.alert),
    ...(state.status.storm ? { storm: true } : {}),
  });
  // The planner's own notes (a protected namespace, a storm) say what it changed in the playbook and why.
  const notes = [`playbook ${plan.playbook}${plan.dryRun ? ' (dry run)' : ''}`, ...(plan.notes ?? [])];
  state.succeed(record, { notes, artifacts: [] });
  state.end(record);
  state.planned(plan);
  log.info('incident planned', { incidentId: state.incidentId, playbook: plan.playbook, dryRun: plan.dryRun });
  return plan;
}

/** Preserve, capture, contain: the part of the response that cancelling the incident stops. */
async function respond(incident: Incident, plan: IncidentPlan): Promise<void> {
  try {
    await incident.pipeline.run(async () => {
      await preserve(incident, plan);
      if (targetNotFound(incident)) return;
      pageOnOpen(incident, plan);
      // Incidents started before the grace existed replay waiting for every capture before containing.
      if (!patched('containment-grace')) {
        await capture(incident, plan);
        await contain(incident, plan);
        return;
      }
      const captures = startCaptures(incident, plan);
      await captureGrace(incident, plan, captures);
      await contain(incident, plan);
      // The seal waits for every capture, as before.
      await captures.all;
    });
  } catch (err) {
    if (!isCancellation(err)) throw err;
    log.info('incident cancelled', { incidentId: incident.state.incidentId, by: incident.state.cancellation?.by });
  }
}

async function preserve({ state }: Incident, plan: IncidentPlan): Promise<void> {
  if (!plan.preserve) return;
  state.setPhase('preserving');
  await runStep(state, state.track(plan.preserve.name, 'preserve'), 'step', plan.preserve, plan);
}

/**
 * The alert named a pod that does not exist (a typo, or an attacker's invention meant to make Holdfast page
 * and write Object-Locked evidence for nothing). Incidents started before this replay the old path.
 */
function targetNotFound({ state }: Incident): boolean {
  return state.targetMissing && patched('target-not-found');
}

/**
 * Closes an incident whose pod does not exist: recorded (the preserve step says why), nothing captured,
 * contained or sealed, and paged only when the playbook asks (`pageIfTargetNotFound`).
 */
async function closeTargetNotFound(incident: Incident, plan: IncidentPlan): Promise<IncidentStatus> {
  const { state } = incident;
  state.beginClosing();
  const { namespace, pod } = state.target;
  state.note(`target not found: pod ${namespace}/${pod} does not exist; nothing was captured, contained or sealed`);
  if (plan.pageIfTargetNotFound) {
    sendToTierOne(incident, plan, {
      ...pageEvent(incident, plan),
      action: 'open',
      tier: 1,
      details: [`the pod ${namespace}/${pod} does not exist: the incident was closed without a response`],
    });
    await Promise.allSettled(incident.pages);
  }
  await handOverLateAlerts(incident);
  return state.finish();
}

/**
 * Tier 1 hears of the incident now, not after captures, gates and the seal: for playbooks that say so,
 * or by default once the incident is high or critical. The escalation's first page later updates the same
 * vendor alert (same dedup key). Not awaited: captures start at once.
 */
function pageOnOpen(incident: Incident, plan: IncidentPlan): void {
  // Incidents started before this existed replay without the page.
  if (!patched('page-on-open')) return;
  const { state } = incident;
  const wanted = plan.pageOnOpen ?? severityAtLeast(state.status.severity, 'high');
  if (!wanted || state.acknowledged || state.cancellation) return;
  sendToTierOne(incident, plan, {
    ...pageEvent(incident, plan),
    action: 'open',
    tier: 1,
    details: openingDetails(state, plan),
  });
}

/** "What Holdfast is doing", in Holdfast's own words: only playbook names, durations and step outcomes. */
function openingDetails(state: IncidentState, plan: IncidentPlan): string[] {
  const lines = [`playbook ${plan.playbook}${plan.dryRun ? ' (dry run: nothing in the cluster is changed)' : ''}`];
  const preserved = state.status.steps.find((s) => s.kind === 'preserve');
  if (preserved?.state === 'succeeded') lines.push(`preserved pod ${state.target.namespace}/${state.target.pod}`);
  else if (preserved?.state === 'failed')
    lines.push(`preserving the pod failed: ${preserved.error ?? 'unknown error'}`);
  const captures = plan.captures.filter((c) => state.applies(c)).map((c) => c.name);
  if (captures.length > 0) lines.push(`capturing ${captures.join(', ')}`);
  const contain = plan.containment
    .filter((c) => state.applies(c))
    .map((c) =>
      c.approval.required
        ? `${c.name} (asks tier 1 for approval; without an answer in ${c.approval.timeoutSeconds}s: ${c.approval.onTimeout})`
        : c.name,
    );
  if (contain.length > 0) lines.push(`then containing: ${contain.join(', ')}`);
  lines.push('then sealing the evidence and paging tier by tier until someone acknowledges');
  return lines;
}

/** How to approve or reject a gate, as the API call and the CLI command, to tier 1 as soon as the gate opens. */
function requestApproval(incident: Incident, plan: IncidentPlan, action: PlannedContainment): void {
  // Incidents started before this existed replay without the request.
  if (!patched('approval-requests')) return;
  const { incidentId } = incident.state;
  const base = `${plan.apiBaseUrl}/v1/incidents/${incidentId}`;
  sendToTierOne(
    incident,
    plan,
    {
      ...pageEvent(incident, plan),
      action: 'approval',
      tier: 1,
      approval: {
        step: action.name,
        timeoutSeconds: action.approval.timeoutSeconds,
        onTimeout: action.approval.onTimeout,
        approveCall: `POST ${base}/approve`,
        rejectCall: `POST ${base}/reject`,
        body: JSON.stringify({ step: action.name }),
        approveCommand: `holdfast incidents approve ${incidentId} --step ${action.name}`,
        rejectCommand: `holdfast incidents reject ${incidentId} --step ${action.name}`,
      },
    },
    action.name,
  );
}

/**
 * Sends one event to each tier-1 notifier without waiting: a page in flight never holds the response. It
 * survives cancelling the incident, which is told to the same notifiers when it closes.
 */
function sendToTierOne(incident: Incident, plan: IncidentPlan, event: NotifyEvent, step?: string): void {
  const { state } = incident;
  for (const notifier of plan.escalation.tiers[0]?.notifiers ?? []) {
    const record = state.notifying(event.action as NotificationRecord['action'], notifier, step);
    const sent = CancellationScope.nonCancellable(() => notify({ notifier, dryRun: plan.dryRun, event }));
    incident.pages.push(
      sent.then(
        () => state.notified(record),
        (err: unknown) => state.notified(record, describeFailure(err)),
      ),
    );
  }
}

/** Every capture, to its end, before anything else (incidents started before the containment grace). */
async function capture(incident: Incident, plan: IncidentPlan): Promise<void> {
  await startCaptures(incident, plan).all;
}

interface RunningCaptures {
  /** Settles once every capture has ended; rejects only on cancellation. */
  all: Promise<unknown>;
  /** The captures' status records, in plan order. */
  records: StepStatus[];
  /** Whether each capture has ended (run, failed or skipped), in plan order. */
  ended: boolean[];
}

/** Captures only read: run them side by side; one failing never stops the others. Not awaited here. */
function startCaptures({ state }: Incident, plan: IncidentPlan): RunningCaptures {
  state.setPhase('capturing');
  const records = plan.captures.map((step) => state.track(step.name, 'capture'));
  const ended = records.map(() => false);
  const all = Promise.all(
    plan.captures.map((step, i) =>
      runStep(state, records[i]!, 'step', step, plan).finally(() => {
        ended[i] = true;
      }),
    ),
  );
  // Awaited after containment: a cancellation meanwhile must not count as unhandled.
  all.catch(() => undefined);
  return { all, records, ended };
}

/**
 * Volatile state (connections, memory) is captured before isolation, but an attacker who can stop the
 * collector's tar or gdb must not keep the pod on the network: containment waits for the captures at most
 * the playbook's grace, then proceeds while they go on, and the status says so.
 */
async function captureGrace({ state }: Incident, plan: IncidentPlan, captures: RunningCaptures): Promise<void> {
  const graceSeconds = plan.containAfterSeconds ?? DEFAULT_CONTAIN_AFTER_SECONDS;
  if (plan.containment.length === 0) return;
  if (await condition(() => captures.ended.every(Boolean), graceSeconds * 1000)) return;
  const running = captures.records.filter((_, i) => !captures.ended[i]);
  const names = running.map((r) => r.name);
  state.containedEarly(
    `containment started after the ${graceSeconds} s grace while ${names.join(', ')} ${names.length === 1 ? 'was' : 'were'} still running`,
    running,
  );
}

/** Containment actions one after another, each behind its approval gate if it has one. */
async function contain(incident: Incident, plan: IncidentPlan): Promise<void> {
  const { state } = incident;
  state.setPhase('containing');
  for (const action of plan.containment) {
    const record = state.track(action.name, 'contain');
    if (state.resolution) {
      state.skip(record, 'incident resolved before containment');
      continue;
    }
    // A step that cannot apply (no pod) is skipped by runStep without asking anyone.
    if (action.approval.required && state.applies(action) && !(await approved(incident, plan, record, action)))
      continue;
    const result = await runStep(state, record, 'step', action, plan);
    if (!result) continue;
    state.contained.push(action);
    if (result.verification) containmentChecked(incident, plan, record, action, result.verification);
  }
}

/**
 * A containment action was checked from inside the pod. Not effective means the attacker keeps the network:
 * tier 1 hears it at once, not after the captures and the seal, acknowledged or not (it is new, and changes what
 * they must do), and every later page repeats it (pageEvent).
 */
function containmentChecked(
  incident: Incident,
  plan: IncidentPlan,
  record: StepStatus,
  action: PlannedContainment,
  verification: ContainmentVerification,
): void {
  const { state } = incident;
  state.verified(record, verification);
  if (verification.verdict !== 'not effective' || state.cancellation) return;
  // Incidents started before the check existed replay without this page.
  if (!patched('containment-verification')) return;
  sendToTierOne(incident, plan, { ...pageEvent(incident, plan), action: 'containment', tier: 1 }, action.name);
}

/** Waits for a decision on a gated action, or applies the gate's default when none comes in time. */
async function approved(
  incident: Incident,
  plan: IncidentPlan,
  record: StepStatus,
  action: PlannedContainment,
): Promise<boolean> {
  const { state } = incident;
  state.awaitApproval(record);
  if (!state.hasDecision(action.name)) requestApproval(incident, plan, action);
  const decided = await condition(() => state.hasDecision(action.name), action.approval.timeoutSeconds * 1000);
  return state.applyDecision(
    record,
    decided ? state.decisionFor(action.name)! : state.timeoutDecision(action.approval),
  );
}

/** Whatever happened before, seal what exists: a partial incident still gets a signed record. */
async function seal({ state, info }: Incident): Promise<void> {
  await CancellationScope.nonCancellable(async () => {
    state.setPhase('sealing');
    const record = state.track('seal', 'seal');
    state.start(record);
    try {
      const sealed = await sealEvidence({
        incidentId: state.incidentId,
        workflowId: info.workflowId,
        runId: info.runId,
        alerts: state.alerts.map((r) => r.alert),
        alertTally: {
          received: state.status.alertCount,
          kept: state.alerts.length,
          notKept: state.status.alertsNotKept ?? 0,
          ...(state.rawBodies.length > 0 || state.bodiesNotKept > 0 ? { bodiesNotKept: state.bodiesNotKept } : {}),
        },
        ...(state.rawBodies.length > 0 ? { rawBodies: state.rawBodies } : {}),
        target: state.target,
        artifacts: state.artifacts,
        failures: state.failures,
        tamper: state.status.tamper ?? [],
        // For the attestation's predicate: each step's name, state, times and decision (its artifacts are the subjects).
        steps: state.status.steps.map(({ name, kind, state: s, startedAt, endedAt, decision }) => ({
          name,
          kind,
          state: s,
          startedAt,
          endedAt,
          decision,
        })),
      });
      state.sealed(record, sealed);
    } catch (err) {
      state.fail(record, describeFailure(err));
    } finally {
      state.end(record);
    }
  });
}

/**
 * What every page says: named after the opening alert, at the severity reached by now, and, once a containment
 * check found an action not effective or unproven, that finding (in the title too when not effective), and
 * once evidence collection was interfered with, "evidence collection was interfered with: …".
 */
function pageEvent({ state }: Incident, plan: IncidentPlan): PageEvent {
  const { incidentId, severity } = state.status;
  const { alert } = state.firstAlert;
  // Interference with evidence collection is said in every page sent after it was found.
  const findings = [...state.containmentFindings, ...state.controlFindings, ...state.tamperFindings];
  return {
    incidentId,
    title: `[${severity}] ${state.containmentNotEffective ? 'CONTAINMENT NOT EFFECTIVE: ' : ''}${
      state.status.storm ? 'Alert storm: incidents beyond the creation limits' : alert.rule
    }`.slice(0, 200),
    ...(findings.length > 0 ? { details: findings } : {}),
    severity,
    summary: alert.summary.slice(0, 1000),
    target: state.target,
    links: {
      incident: `${plan.apiBaseUrl}/v1/incidents/${incidentId}`,
      history: `${plan.apiBaseUrl}/v1/incidents/${incidentId}/history`,
    },
    dedupKey: incidentId,
  };
}

/** Unless cancelled: page until someone acknowledges, then wait for the end. Returns the notifiers paged. */
async function escalateAndWait(incident: Incident, plan: IncidentPlan, event: PageEvent): Promise<string[]> {
  const { state } = incident;
  if (state.cancellation) return [];
  // Incidents started before this replay the escalation as an awaited child and wait without continuing.
  if (patched('continue-as-new')) return await escalateAndWaitResumable(incident, plan, event);
  // Acknowledged before the escalation: starting the child would page tier 1 again before it could be
  // stopped (its first task runs before the stop signal reaches it). Older incidents keep starting it.
  if (state.acknowledged && patched('no-escalation-after-ack')) {
    acknowledgedBeforeEscalation(state);
    await waitForResolution(state, plan);
    return [];
  }
  const { child, paged } = await escalate(incident, plan, event);
  await waitForResolution(state, plan);
  if (!state.acknowledged)
    void child.signal(stopEscalationSignal, { by: state.closedBy ?? 'auto-close' }).catch(() => undefined);
  return await paged;
}

/**
 * The escalation child reports each page to the incident by workflow id and outlives this run (ABANDON), so
 * the incident can continue as new while it waits, however long that is and however many alerts arrive.
 */
async function escalateAndWaitResumable(incident: Incident, plan: IncidentPlan, event: PageEvent): Promise<string[]> {
  const { state } = incident;
  if (state.acknowledged) acknowledgedBeforeEscalation(state);
  else await startEscalation(incident, plan, event);
  await waitOrContinue(incident, plan, event);
  // Resolved, cancelled or auto-closed: a new alert from now on is the next incident's.
  incident.state.beginClosing();
  await endEscalation(incident);
  return state.escalation?.paged ?? [];
}

async function startEscalation(incident: Incident, plan: IncidentPlan, event: PageEvent): Promise<void> {
  const { state, info } = incident;
  state.setPhase('escalating');
  const record = state.track('escalate', 'escalate');
  state.start(record);
  if (plan.escalation.tiers.length === 0) record.notes.push('no escalation tiers configured');
  const workflowId = `${info.workflowId}/escalation/${info.runId}`;
  await startChild<EscalationWorkflow>(ESCALATION_WORKFLOW, {
    workflowId,
    args: [
      {
        tiers: plan.escalation.tiers,
        repeatLastTier: plan.escalation.repeatLastTier,
        event,
        dryRun: plan.dryRun,
        reportTo: info.workflowId,
      },
    ],
    // The child must outlive this run when the incident continues as new; closing stops it by signal.
    parentClosePolicy: ParentClosePolicy.ABANDON,
    cancellationType: ChildWorkflowCancellationType.ABANDON,
  });
  state.escalationStarted(workflowId);
  // Acknowledged while the child was being started: the signal handler had nothing to stop yet.
  if (state.acknowledged) stopEscalation(incident, state.acknowledged);
}

/** Tells the escalation child to stop paging, whether this run or an earlier one started it. */
function stopEscalation(incident: Incident, actor: Actor): void {
  if (incident.escalation) {
    void incident.escalation.signal(stopEscalationSignal, actor).catch(() => undefined);
    return;
  }
  const progress = incident.state.escalation;
  if (!progress || progress.ended) return;
  void getExternalWorkflowHandle(progress.workflowId)
    .signal(stopEscalationSignal, actor)
    .catch(() => undefined);
}

/** Before the resolve pages: the child stops and confirms, so no page of its arrives after them. */
async function endEscalation(incident: Incident): Promise<void> {
  const { state } = incident;
  const progress = state.escalation;
  if (!progress || progress.ended) return;
  if (!state.acknowledged) stopEscalation(incident, { by: state.closedBy ?? 'auto-close' });
  if (!(await condition(() => progress.ended, ESCALATION_STOP_WAIT)))
    state.escalationUnconfirmed(`the escalation did not confirm it stopped within ${ESCALATION_STOP_WAIT}`);
}

/**
 * Until resolved, cancelled or auto-closed (counted from the incident's start, across runs). When the
 * history grows too long meanwhile, the incident continues as new with its state, keeping its id and pages.
 */
async function waitOrContinue(incident: Incident, plan: IncidentPlan, event: PageEvent): Promise<void> {
  const { state } = incident;
  const closed = () => state.resolution !== undefined || state.cancellation !== undefined;
  const autoCloseAt =
    plan.autoCloseAfterHours > 0 ? Date.parse(state.status.startedAt) + plan.autoCloseAfterHours * 3600_000 : undefined;
  for (;;) {
    if (closed()) return;
    if (state.acknowledged && state.status.phase !== 'acknowledged') state.setPhase('acknowledged');
    if (historyTooLong()) await continueIncident(incident, plan, event);
    const remainingMs = autoCloseAt === undefined ? undefined : autoCloseAt - Date.now();
    if (remainingMs !== undefined && remainingMs <= 0) return;
    const acknowledgedBefore = state.acknowledged !== undefined;
    const woke = await condition(
      () => closed() || (state.acknowledged !== undefined) !== acknowledgedBefore || historyTooLong(),
      remainingMs,
    );
    if (!woke) return;
  }
}

function historyTooLong(): boolean {
  const info = workflowInfo();
  // A run that has hardly begun never continues: its input alone must not make runs follow each other in a loop.
  if (info.historyLength < MIN_RUN_EVENTS) return false;
  return info.continueAsNewSuggested || info.historyLength >= MAX_HISTORY_EVENTS;
}

/** Hands the incident to a new run: same workflow id and incident id, same pages, a fresh history. */
async function continueIncident(incident: Incident, plan: IncidentPlan, event: PageEvent): Promise<never> {
  const { state, info } = incident;
  // Pages on their way (opening page, approval requests) are recorded before the state is handed over.
  await Promise.allSettled(incident.pages);
  state.status.runs = (state.status.runs ?? 1) + 1;
  log.info('incident continues as new', {
    incidentId: state.incidentId,
    historyLength: info.historyLength,
    runs: state.status.runs,
  });
  const next = makeContinueAsNewFunc<typeof incidentWorkflow>({
    // The API finds a later run's incident id here: its own run id is not the incident's.
    memo: { incident: { incidentId: state.incidentId, startedAt: state.status.startedAt } },
    typedSearchAttributes: workflowInfo().typedSearchAttributes,
  });
  return await next({
    key: state.status.key,
    target: state.target,
    alerts: [],
    continued: { state: state.snapshot(), plan, event },
  });
}

/**
 * A responder resolved the incident: its memo keeps the sender ids of the alert instances it held, so the
 * API does not open a new incident when a sender re-sends one of them (Alertmanager, every repeat_interval,
 * while the alert still fires). Incidents started before this replay without it.
 */
function rememberResolvedInstances({ state }: Incident): void {
  if (!state.resolution || !patched('resolved-instances')) return;
  upsertMemo({
    incident: { incidentId: state.incidentId, startedAt: state.status.startedAt },
    resolved: {
      at: new Date().toISOString(),
      by: state.resolution.by,
      instances: state.instanceIds(MAX_RESOLVED_INSTANCES),
    },
  });
}

function acknowledgedBeforeEscalation(state: IncidentState): void {
  state.setPhase('acknowledged');
  const record = state.track('escalate', 'escalate');
  state.skip(record, `acknowledged by ${state.acknowledged!.by} before the escalation: nobody is paged again`);
  state.end(record);
}

/**
 * Starts the escalation child, which pages tier by tier until stopped. `paged` settles when the
 * child ends, with every notifier it paged, after the escalate step has recorded the outcome.
 */
async function escalate(incident: Incident, plan: IncidentPlan, event: PageEvent): Promise<Escalation> {
  const { state, info } = incident;
  state.setPhase(state.acknowledged ? 'acknowledged' : 'escalating');
  const record = state.track('escalate', 'escalate');
  state.start(record);
  const child = await startChild<EscalationWorkflow>(ESCALATION_WORKFLOW, {
    workflowId: `${info.workflowId}/escalation/${info.runId}`,
    args: [
      { tiers: plan.escalation.tiers, repeatLastTier: plan.escalation.repeatLastTier, event, dryRun: plan.dryRun },
    ],
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
  incident.escalation = child;
  // Acknowledged before the child existed: the signal handler had nothing to stop.
  if (state.acknowledged) await child.signal(stopEscalationSignal, state.acknowledged);
  const paged = child
    .result()
    .then(
      (result) => {
        state.escalated(record, result, plan.escalation.tiers.length > 0);
        return result.paged;
      },
      (err: unknown) => {
        state.fail(record, describeFailure(err));
        return [];
      },
    )
    .finally(() => {
      state.end(record);
    });
  return { child, paged };
}

/** Until resolved or cancelled (an acknowledgement only changes the phase), or the playbook's auto-close. */
async function waitForResolution(state: IncidentState, plan: IncidentPlan): Promise<void> {
  const autoCloseMs = plan.autoCloseAfterHours > 0 ? plan.autoCloseAfterHours * 3600_000 : undefined;
  await condition(
    () => state.resolution !== undefined || state.cancellation !== undefined || state.acknowledged !== undefined,
    autoCloseMs,
  );
  if (state.acknowledged && !state.resolution && !state.cancellation) {
    state.setPhase('acknowledged');
    await condition(() => state.resolution !== undefined || state.cancellation !== undefined, autoCloseMs);
  }
}

/** Closing, even if the workflow is cancelled: undo containment when asked, tell every paged notifier it is over. */
async function close(incident: Incident, plan: IncidentPlan, event: PageEvent, paged: string[]): Promise<void> {
  const { state } = incident;
  await CancellationScope.nonCancellable(async () => {
    if (state.shouldUndoContainment(plan.undoContainmentOnResolve)) {
      for (const action of state.contained.slice().reverse()) {
        await runStep(state, state.track(action.name, 'undo'), 'undo', action, plan);
      }
    }
    // A page still on its way must not arrive after the resolve; its notifiers are resolved too.
    await Promise.allSettled(incident.pages);
    const told = [...new Set([...paged, ...state.notifiedOutsideEscalation])];
    await Promise.allSettled(
      told.map((notifier) =>
        notify({ notifier, dryRun: plan.dryRun, event: { ...event, action: 'resolve', tier: 0 } }),
      ),
    );
  });
}
