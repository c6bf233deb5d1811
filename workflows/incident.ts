import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { NamedActivities, StepActivity, StepActivityInput, StepActivityName, StepResult } from '../activities/contract';
import { FailureType, NON_RETRYABLE, NOTIFY_NON_RETRYABLE, SEAL_NON_RETRYABLE } from '../common/failures';
import type { IncidentPlan, PlannedStep } from '../common/plan';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes';
import { maxSeverity, type ArtifactRef } from '../common/types';
import {
  acknowledgeSignal,
  alertsQuery,
  alertsSignal,
  approveSignal,
  cancelSignal,
  ESCALATION_WORKFLOW,
  incidentIdFromRunId,
  rejectSignal,
  resolveSignal,
  statusQuery,
  stopEscalationSignal,
  type Actor,
  type AlertRecord,
  type ApprovalDecision,
  type IncidentInput,
  type IncidentPhase,
  type IncidentStatus,
  type IncomingAlert,
  type ResolveRequest,
  type StepStatus,
} from './definitions';
import type { EscalationInput, EscalationResult } from './escalation';

/** An incident keeps at most this many distinct alerts; repeats beyond only raise counts. */
const MAX_DISTINCT_ALERTS = 500;

const { planIncident } = proxyActivities<Pick<NamedActivities, 'planIncident'>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE] },
});
const { sealEvidence } = proxyActivities<Pick<NamedActivities, 'sealEvidence'>>({
  startToCloseTimeout: '2 minutes',
  // Sealing must eventually happen: keep retrying while S3 is down, but not forever.
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 30, nonRetryableErrorTypes: [...SEAL_NON_RETRYABLE] },
});
const { notify } = proxyActivities<Pick<NamedActivities, 'notify'>>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumAttempts: 8, nonRetryableErrorTypes: [...NOTIFY_NON_RETRYABLE] },
});

function stepActivity(kind: 'step' | 'undo', step: PlannedStep): StepActivity {
  const acts = proxyActivities<Record<StepActivityName, StepActivity>>({
    startToCloseTimeout: step.timeouts.startToCloseSeconds * 1000,
    ...(step.timeouts.heartbeatSeconds > 0 ? { heartbeatTimeout: step.timeouts.heartbeatSeconds * 1000 } : {}),
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: step.timeouts.maximumAttempts, nonRetryableErrorTypes: [...NON_RETRYABLE] },
  });
  return acts[`${kind}.${step.name}`]!;
}

/** The adapter's failure inside Temporal's wrappers (ActivityFailure → ApplicationFailure). */
function innermost(err: unknown): { type?: string; message?: string } | undefined {
  let current = err as { message?: string; cause?: unknown; type?: string } | undefined;
  let typed: typeof current;
  while (current) {
    if (current.type) typed = current;
    current = current.cause as typeof current;
  }
  return typed ?? (err as typeof current);
}

function describeFailure(err: unknown): string {
  const failure = innermost(err);
  return `${failure?.type ? `${failure.type}: ` : ''}${failure?.message ?? String(err)}`.slice(0, 1000);
}

function failureType(err: unknown): string | undefined {
  return innermost(err)?.type;
}

/**
 * One incident: plan → preserve → capture (in parallel) → contain (with approval gates) → seal →
 * escalate → wait for resolution. Every step records its outcome; no failure stops the incident
 * from sealing what exists and escalating.
 */
export async function incidentWorkflow(input: IncidentInput): Promise<IncidentStatus> {
  const info = workflowInfo();
  const incidentId = incidentIdFromRunId(info.firstExecutionRunId);
  const records: AlertRecord[] = [];
  const status: IncidentStatus = {
    incidentId,
    key: input.key,
    phase: 'planning',
    severity: 'info',
    target: input.target,
    dryRun: false,
    startedAt: new Date().toISOString(),
    steps: [],
    alertCount: 0,
  };

  const attach = (incoming: IncomingAlert[], repeats: Array<{ fingerprint: string; count: number; lastSeenAt: string }> = []) => {
    for (const { alert, fingerprint } of incoming) {
      status.alertCount += 1;
      const existing = records.find((r) => r.fingerprint === fingerprint);
      if (existing) {
        existing.count += 1;
        existing.lastSeenAt = alert.receivedAt;
      } else if (records.length < MAX_DISTINCT_ALERTS) {
        records.push({ alert, fingerprint, count: 1, lastSeenAt: alert.receivedAt });
      }
      const raised = maxSeverity(status.severity, alert.severity);
      if (raised !== status.severity) {
        status.severity = raised;
        upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.severity, value: raised }]);
      }
    }
    for (const repeat of repeats) {
      const existing = records.find((r) => r.fingerprint === repeat.fingerprint);
      status.alertCount += repeat.count;
      if (existing) {
        existing.count += repeat.count;
        existing.lastSeenAt = repeat.lastSeenAt;
      }
    }
  };

  const decisions = new Map<string, { approved: boolean; by: string; at: string; note?: string }>();
  let acknowledged: Actor | undefined;
  let resolution: ResolveRequest | undefined;
  let cancellation: Actor | undefined;
  let escalation: ChildWorkflowHandle<(i: EscalationInput) => Promise<EscalationResult>> | undefined;
  const pipeline = new CancellationScope();

  setHandler(alertsSignal, (batch) => attach(batch.alerts, batch.repeats));
  const decide = (approved: boolean) => (decision: ApprovalDecision) => {
    if (!decisions.has(decision.step)) decisions.set(decision.step, { approved, by: decision.by, at: new Date().toISOString(), note: decision.note });
  };
  setHandler(approveSignal, decide(true));
  setHandler(rejectSignal, decide(false));
  setHandler(acknowledgeSignal, (actor) => {
    if (acknowledged) return;
    acknowledged = actor;
    status.acknowledgedBy = actor.by;
    void escalation?.signal(stopEscalationSignal, actor).catch(() => undefined);
  });
  setHandler(resolveSignal, (request) => {
    resolution ??= request;
  });
  setHandler(cancelSignal, (actor) => {
    if (cancellation) return;
    cancellation = actor;
    pipeline.cancel();
  });
  setHandler(statusQuery, () => status);
  setHandler(alertsQuery, () => records);

  // signal-with-start delivers the opening alerts as a signal, processed as soon as the handler is set.
  attach(input.alerts);
  if (!(await condition(() => records.length > 0, '1 minute'))) {
    throw ApplicationFailure.nonRetryable('an incident needs at least one alert', FailureType.InvalidInput);
  }
  const first = records[0]!;

  const setPhase = (phase: IncidentPhase) => {
    status.phase = phase;
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: phase }]);
  };
  const now = () => new Date().toISOString();
  const track = (name: string, kind: StepStatus['kind']): StepStatus => {
    const step: StepStatus = { name, kind, state: 'pending', artifacts: [], notes: [] };
    status.steps.push(step);
    return step;
  };
  const hasPod = Boolean(input.target.namespace && input.target.pod);
  const artifacts: ArtifactRef[] = [];
  const failures: Array<{ step: string; error: string }> = [];

  /** Runs one step activity and records what happened; never throws except on cancellation. */
  const runStep = async (record: StepStatus, kind: 'step' | 'undo', step: PlannedStep, plan: IncidentPlan): Promise<StepResult | undefined> => {
    if (step.needsPod && !hasPod) {
      record.state = 'skipped';
      record.notes.push('this incident has no pod (host-level alert)');
      return undefined;
    }
    record.state = 'running';
    record.startedAt = now();
    const stepInput: StepActivityInput = { incidentId, target: input.target, dryRun: plan.dryRun, params: step.params };
    try {
      const result = await stepActivity(kind, step)(stepInput);
      record.state = 'succeeded';
      record.notes.push(...result.notes);
      record.artifacts.push(...result.artifacts.map(({ name, key, size, sha256 }) => ({ name, key, size, sha256 })));
      artifacts.push(...result.artifacts);
      return result;
    } catch (err) {
      if (isCancellation(err)) {
        record.state = 'skipped';
        record.notes.push('cancelled');
        throw err;
      }
      const message = describeFailure(err);
      record.error = message;
      if (failureType(err) === FailureType.StepNotApplicable) {
        record.state = 'skipped';
      } else {
        record.state = 'failed';
        failures.push({ step: `${kind === 'undo' ? 'undo.' : ''}${step.name}`, error: message });
      }
      return undefined;
    } finally {
      record.endedAt = now();
    }
  };

  upsertSearchAttributes([
    { key: SEARCH_ATTRIBUTES.status, value: 'planning' },
    { key: SEARCH_ATTRIBUTES.severity, value: status.severity },
    { key: SEARCH_ATTRIBUTES.cluster, value: input.target.cluster },
    { key: SEARCH_ATTRIBUTES.source, value: first.alert.source },
    ...(input.target.namespace ? [{ key: SEARCH_ATTRIBUTES.namespace, value: input.target.namespace }] : []),
    ...(input.target.pod ? [{ key: SEARCH_ATTRIBUTES.pod, value: input.target.pod }] : []),
  ]);

  const planRecord = track('plan', 'plan');
  planRecord.state = 'running';
  planRecord.startedAt = now();
  const plan = await planIncident({ target: input.target, alerts: records.map((r) => r.alert) });
  planRecord.state = 'succeeded';
  planRecord.endedAt = now();
  planRecord.notes.push(`playbook ${plan.playbook}${plan.dryRun ? ' (dry run)' : ''}`);
  status.playbook = plan.playbook;
  status.dryRun = plan.dryRun;
  log.info('incident planned', { incidentId, playbook: plan.playbook, dryRun: plan.dryRun });

  const contained: PlannedStep[] = [];
  try {
    await pipeline.run(async () => {
      if (plan.preserve) {
        setPhase('preserving');
        await runStep(track(plan.preserve.name, 'preserve'), 'step', plan.preserve, plan);
      }

      setPhase('capturing');
      // Captures only read: run them side by side; one failing never stops the others.
      const captureRecords = plan.captures.map((step) => track(step.name, 'capture'));
      await Promise.all(plan.captures.map((step, i) => runStep(captureRecords[i]!, 'step', step, plan)));

      setPhase('containing');
      for (const action of plan.containment) {
        const record = track(action.name, 'contain');
        if (resolution) {
          record.state = 'skipped';
          record.notes.push('incident resolved before containment');
          continue;
        }
        if (action.approval.required && !(action.needsPod && !hasPod)) {
          record.state = 'awaiting-approval';
          const decided = await condition(() => decisions.has(action.name), action.approval.timeoutSeconds * 1000);
          const decision = decided
            ? decisions.get(action.name)!
            : { approved: action.approval.onTimeout === 'approve', by: 'timeout', at: now(), note: `no decision within ${action.approval.timeoutSeconds}s` };
          record.decision = decision;
          if (!decision.approved) {
            record.state = 'skipped';
            record.notes.push(`rejected by ${decision.by}`);
            continue;
          }
        }
        const result = await runStep(record, 'step', action, plan);
        if (result) contained.push(action);
      }
    });
  } catch (err) {
    if (!isCancellation(err)) throw err;
    log.info('incident cancelled', { incidentId, by: cancellation?.by });
  }

  // Whatever happened above, seal what exists: a partial incident still gets a signed record.
  await CancellationScope.nonCancellable(async () => {
    setPhase('sealing');
    const record = track('seal', 'seal');
    record.state = 'running';
    record.startedAt = now();
    try {
      const sealed = await sealEvidence({
        incidentId,
        workflowId: info.workflowId,
        runId: info.runId,
        alerts: records.map((r) => r.alert),
        target: input.target,
        artifacts,
        failures,
      });
      record.state = 'succeeded';
      status.manifestKey = sealed.manifest.key;
      record.artifacts.push({ name: 'manifest.json', key: sealed.manifest.key, size: sealed.manifest.size, sha256: sealed.manifest.sha256 });
    } catch (err) {
      record.state = 'failed';
      record.error = describeFailure(err);
    } finally {
      record.endedAt = now();
    }
  });

  const event = {
    incidentId,
    title: `[${status.severity}] ${first.alert.rule}`.slice(0, 200),
    severity: status.severity,
    summary: first.alert.summary.slice(0, 1000),
    target: input.target,
    links: { incident: `${plan.apiBaseUrl}/v1/incidents/${incidentId}`, history: `${plan.apiBaseUrl}/v1/incidents/${incidentId}/history` },
    dedupKey: incidentId,
  };

  let paged: string[] = [];
  if (!cancellation) {
    setPhase(acknowledged ? 'acknowledged' : 'escalating');
    const record = track('escalate', 'escalate');
    record.state = 'running';
    record.startedAt = now();
    escalation = await startChild<(i: EscalationInput) => Promise<EscalationResult>>(ESCALATION_WORKFLOW, {
      workflowId: `${info.workflowId}/escalation/${info.runId}`,
      args: [{ tiers: plan.escalation.tiers, repeatLastTier: plan.escalation.repeatLastTier, event, dryRun: plan.dryRun }],
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
    });
    if (acknowledged) await escalation.signal(stopEscalationSignal, acknowledged);
    const escalationDone = escalation.result().then((result) => {
      paged = result.paged;
      record.state = result.pages.some((p) => !p.ok) ? 'failed' : 'succeeded';
      record.notes.push(...result.pages.map((p) => `tier ${p.tier} ${p.notifier}: ${p.ok ? 'paged' : `failed (${p.error})`}`));
      if (plan.escalation.tiers.length === 0) record.notes.push('no escalation tiers configured');
      if (result.acknowledgedBy) record.notes.push(`acknowledged by ${result.acknowledgedBy}`);
    }, (err: unknown) => {
      record.state = 'failed';
      record.error = describeFailure(err);
    }).finally(() => {
      record.endedAt = now();
    });

    const autoCloseMs = plan.autoCloseAfterHours > 0 ? plan.autoCloseAfterHours * 3600_000 : undefined;
    await condition(() => resolution !== undefined || cancellation !== undefined || acknowledged !== undefined, autoCloseMs);
    if (acknowledged && !resolution && !cancellation) {
      setPhase('acknowledged');
      await condition(() => resolution !== undefined || cancellation !== undefined, autoCloseMs);
    }
    if (!acknowledged) void escalation.signal(stopEscalationSignal, { by: resolution?.by ?? (cancellation as Actor | undefined)?.by ?? 'auto-close' }).catch(() => undefined);
    await escalationDone;
  }

  // Closing: undo containment when asked, tell every paged notifier the incident is over.
  await CancellationScope.nonCancellable(async () => {
    const undo = resolution?.undoContainment ?? plan.undoContainmentOnResolve;
    if (undo && (resolution || cancellation)) {
      for (const action of contained.slice().reverse()) {
        await runStep(track(action.name, 'undo'), 'undo', action, plan);
      }
    }
    await Promise.allSettled(paged.map((notifier) =>
      notify({ notifier, dryRun: plan.dryRun, event: { ...event, action: 'resolve', tier: 0 } })));
  });

  status.resolvedBy = resolution?.by ?? cancellation?.by;
  setPhase(resolution ? 'resolved' : cancellation ? 'cancelled' : 'closed');
  status.endedAt = now();
  return status;
}
