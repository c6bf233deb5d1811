import crypto from 'node:crypto';
import { DEFAULT_INCIDENT_LIMITS, type IncidentLimits } from '../common/config';
import type { Alert, AlertTarget } from '../common/types';
import { incidentIdFromRunId, incidentWorkflowId, type AlertBatch, type IncomingAlert } from '../workflows/definitions';

/**
 * Alert intake between the HTTP routes and Temporal. Per incident key (workflow id):
 * - a distinct alert is answered only once Temporal has it (signal-with-start), so an accepted alert is
 *   never lost when this process dies;
 * - while one call for a key is in flight, new distinct alerts queue and leave together in the next call
 *   (group commit), so a storm becomes a few calls per incident, not one per alert;
 * - an identical alert (same fingerprint) seen again within `repeatWindowMs` of its delivery is answered
 *   at once and folded into a count sent after `repeatFlushMs`, then at doubling intervals up to
 *   `repeatFlushMaxMs` while the repeats go on: nothing distinct is ever dropped, only exact repeats are
 *   summarized, and a steady storm of repeats costs one signal per incident per `repeatFlushMaxMs`;
 * - deliveries to one incident draw on a token bucket: a burst of `deliveryBurst` goes at once, then one
 *   every `minDeliveryIntervalMs`, each at most `maxBatchBytes`: a short storm of distinct alerts is answered
 *   fast, a long one grows the incident's history at a bounded pace in bounded payloads.
 * Together they keep an incident's history within what continue-as-new can manage (see the workflow).
 */

export interface IntakeSink {
  /**
   * Signal-with-start: opens the incident if none is open for this key; returns the run that got the alerts.
   * `storm`: the key is a cluster's storm incident (alerts beyond the creation limits), which acts on nothing.
   */
  deliver(workflowId: string, target: AlertTarget, batch: AlertBatch, storm?: boolean): Promise<string>;
  /** Plain signal for repeat counts and resolved notices: never opens an incident. False if none is open. */
  signalOpen(workflowId: string, batch: AlertBatch): Promise<boolean>;
  /**
   * When a run started, and the incident it belongs to when that is not `inc-<runId>` (a run the incident
   * continued as new into carries its incident id).
   */
  describeRun(workflowId: string, runId: string): Promise<{ startedAt: Date; incidentId?: string }>;
  /**
   * When the key's latest incident is closed because a responder resolved it: its id, when, and the sender
   * ids of the alert instances it held (its memo). Undefined when it is open, or closed otherwise.
   */
  resolvedInstances?(workflowId: string): Promise<ResolvedInstances | undefined>;
  /**
   * resolvedInstances() and openRun() in one look at the key's latest run: before a key's first delivery it
   * tells whether that delivery opens the incident, so no second look is needed after it.
   */
  latest?(workflowId: string): Promise<LatestRun>;
  /** The key's open run and its incident, if one is running (an incident this process has not delivered to yet). */
  openRun?(workflowId: string): Promise<{ runId: string; incidentId: string } | undefined>;
}

export interface LatestRun {
  open?: { runId: string; incidentId: string };
  resolved?: ResolvedInstances;
}

export interface ResolvedInstances {
  incidentId: string;
  at: string;
  instances: string[];
}

/** How recent a delivery to a key's run must be for heldBy() to name that run's incident. */
const HELD_FRESH_MS = 5000;

/** How often the intake looks again whether a key's incident was resolved meanwhile. */
const RESOLVED_RECHECK_MS = 30_000;

export interface IntakeOptions {
  /** How long after its delivery an identical alert counts as a repeat. */
  repeatWindowMs: number;
  /** How soon the first repeat counts are sent to their incident (default: min(repeatWindowMs, 2 s)). */
  repeatFlushMs?: number;
  /** The longest interval between repeat flushes while repeats go on (default 60 s). */
  repeatFlushMaxMs?: number;
  /** Most alerts in one signal. */
  maxBatch: number;
  /** Most bytes of alerts (their JSON) in one signal, well under Temporal's blob limit (default 128 KiB). */
  maxBatchBytes?: number;
  /** Least time between two deliveries to the same incident once its burst is used; alerts arriving meanwhile go together (default 0). */
  minDeliveryIntervalMs?: number;
  /** Deliveries to one incident that may go without waiting; the bucket refills one per interval (default 1). */
  deliveryBurst?: number;
  /** Most Temporal calls in flight at once across all keys. */
  maxInFlight: number;
  /** Most incident keys tracked at once; the idle ones are forgotten first. */
  maxKeys: number;
  /**
   * For how long after a responder resolved an incident a re-send of one of its alert instances (same
   * sender id) is answered with that incident instead of opening a new one (default 0: off).
   */
  resolveSticksMs?: number;
  /**
   * How many incidents may open: per alert source and per namespace per minute (token buckets of that size),
   * and per request. An alert that would open one beyond them goes to its cluster's storm incident instead
   * (recorded, counted, paged once, never lost). Unset: no limit.
   */
  creation?: CreationLimits;
  onError?: (err: unknown, workflowId: string) => void;
}

export type CreationLimits = IncidentLimits;

/** One HTTP request, as the intake sees it: the incidents it opened so far, and its body as received. */
export interface IntakeRequest {
  /** Against CreationLimits.perRequest. */
  opened: number;
  /** The request body: each incident gets it once, with the first of its alerts, within MAX_RAW_BYTES_PER_INCIDENT. */
  rawBody?: Buffer;
}

/** The options the API runs with (api/main.ts); benches load the same. */
export const API_INTAKE_OPTIONS: IntakeOptions = {
  repeatWindowMs: 60_000,
  repeatFlushMs: 2000,
  repeatFlushMaxMs: 60_000,
  minDeliveryIntervalMs: 1000,
  deliveryBurst: 60,
  maxBatch: 200,
  maxInFlight: 64,
  maxKeys: 100_000,
  resolveSticksMs: 24 * 3600_000,
  creation: DEFAULT_INCIDENT_LIMITS,
};

export interface Accepted {
  workflowId: string;
  /** The incident's id (its first run's), whichever run took the alert. */
  incidentId: string;
  deduplicated: boolean;
  /** The alert re-sent an instance of an incident a responder resolved: it opened nothing. */
  alreadyResolved?: boolean;
  /** Opening an incident for it was beyond the creation limits: it went to the cluster's storm incident. */
  storm?: boolean;
}

/** A new alert on its way into a key: its fingerprint, its request's body, and the caller's signal to withdraw it. */
interface Arrival {
  alert: Alert;
  fingerprint: string;
  signal?: AbortSignal;
  rawBody?: Buffer;
}

interface Waiter {
  incoming: IncomingAlert;
  resolve: (accepted: Accepted) => void;
  reject: (err: unknown) => void;
}

/** Identical alerts folded since the last flush: new occurrences, and re-sends of an instance already seen. */
interface Repeat {
  count: number;
  resends: number;
  lastSeenAt: string;
  latest: Alert;
}
type TakenRepeat = Repeat & { fingerprint: string };

/** Sender ids remembered per recent fingerprint, to tell a re-send of an instance from a new occurrence. */
const MAX_RECENT_IDS = 64;

interface RecentDelivery {
  until: number;
  delivered: Promise<Accepted>;
  ids: Set<string>;
  /** Whether the delivery completed: repeats folded into it may only be sent to the incident after that. */
  done: boolean;
  /** Repeats folded into it while it was on its way: if it fails, their callers are told so, not counted. */
  folded: { count: number; resends: number };
}

interface KeyState {
  target: AlertTarget;
  /** The cluster's storm incident (see CreationLimits): it takes alerts of many targets and acts on none. */
  storm: boolean;
  /** This key may open an incident: it passed the creation limits (or it is a storm key). */
  admitted: boolean;
  /** Whether an incident turned out to be open for a key that was not admitted (asked once). */
  openCheck?: Promise<boolean>;
  /** Request bodies sent to this key's incident (by SHA-256), and their bytes, against MAX_RAW_BYTES_PER_INCIDENT. */
  bodies: { sent: Set<string>; bytes: number };
  pending: Waiter[];
  inFlight: boolean;
  /** The run that took the last delivery, and its incident. */
  run?: { runId: string; incidentId: string };
  /** When Temporal last took a delivery for this key (0: never): how fresh `run` is. */
  deliveredAt: number;
  /** When Temporal took the delivery before that one (0: none). */
  previousDeliveredAt: number;
  /** A look just before this delivery found no run open: the run it signals is one it started. */
  noRunOpen?: boolean;
  /** Callers told (heldBy) which run takes the delivery now on its way: undefined if it fails. */
  runWaiters: Array<(run: { runId: string; incidentId: string } | undefined) => void>;
  /** Fingerprints delivered recently, with the delivery they rode on and the sender ids seen for them. */
  recent: Map<string, RecentDelivery>;
  /** Repeats since the last flush, with the latest alert of each (to reopen if the incident closed). */
  repeats: Map<string, Repeat>;
  repeatTimer?: NodeJS.Timeout;
  /** The wait before the next repeat flush: doubles while repeats keep coming, back to the start when quiet. */
  repeatDelayMs: number;
  lastRepeatFlushAt: number;
  /** Deliveries this incident may make without waiting (a token bucket), as of `tokensAt`. */
  tokens: number;
  tokensAt: number;
  lastUsed: number;
  /** The key's last incident as resolved by a responder, while its instances still count as resolved. */
  resolved?: { incidentId: string; ids: Set<string>; until: number };
  resolvedCheckedAt: number;
}

const DEFAULT_MAX_BATCH_BYTES = 128 * 1024;
/**
 * Bytes of request bodies (as received) one incident is sent by this process: the first ones of a storm are
 * kept byte for byte as evidence; the rest are known by their SHA-256 (each alert's rawSha256) and counted.
 */
export const MAX_RAW_BYTES_PER_INCIDENT = 64 * 1024;
/** Creation buckets remembered (per source and per namespace); the least recently used are forgotten first. */
const MAX_CREATION_BUCKETS = 10_000;

/** The workflow id of a cluster's storm incident: one per cluster, apart from every pod's and node's. */
export function stormWorkflowId(cluster: string): string {
  return `incident/${cluster}/storm`;
}

interface Bucket {
  tokens: number;
  at: number;
}
const DEFAULT_REPEAT_FLUSH_MAX_MS = 60_000;

/** Identical alerts: same source, rule, severity, target and text; ids and timestamps differ between repeats. */
export function alertFingerprint(alert: Alert): string {
  const t = alert.target;
  return crypto
    .createHash('sha256')
    .update(
      [
        alert.source,
        alert.rule,
        alert.severity,
        alert.status,
        t.cluster,
        t.namespace ?? '',
        t.pod ?? '',
        t.container ?? '',
        t.node ?? '',
        alert.summary,
      ].join('\u0000'),
    )
    .digest('hex')
    .slice(0, 32);
}

export class AlertIntake {
  private readonly keys = new Map<string, KeyState>();
  private inFlight = 0;
  private readonly slotWaiters: Array<() => void> = [];
  private readonly sourceBuckets = new Map<string, Bucket>();
  private readonly namespaceBuckets = new Map<string, Bucket>();
  /**
   * Since the last delivery Temporal took (any key), one failed or a caller withdrew alerts that waited past
   * its deadline: Temporal is away or stalled, so nothing waits for a delivery on its way to name an incident.
   */
  private deliveriesStalled = false;
  private readonly keyed = new WeakMap<Alert, { workflowId: string; fingerprint: string }>();

  constructor(
    private readonly sink: IntakeSink,
    private readonly options: IntakeOptions,
  ) {}

  /**
   * Accepts one firing alert; resolves once it is durable in Temporal (or folded into one that is). Aborting
   * `signal` withdraws it if it has not left yet; one already on its way may still land.
   */
  accept(alert: Alert, signal?: AbortSignal, request?: IntakeRequest): Promise<Accepted> {
    const { workflowId, fingerprint } = this.keyOf(alert);
    const state = this.stateFor(workflowId, alert.target);
    const arrival: Arrival = { alert, fingerprint, signal, rawBody: request?.rawBody };
    // A repeat folds into its delivery wherever that went; a new alert for a key that may not open an
    // incident yet goes to the cluster's storm incident.
    if (!state.admitted && !this.isRepeat(state, fingerprint) && !this.admit(state, alert, request))
      return this.divert(workflowId, state, arrival);
    return this.enqueue(workflowId, state, arrival);
  }

  /**
   * An alert that may not open an incident: to the key's incident if one is open after all (this process did
   * not know it, e.g. after a restart), else to the cluster's storm incident.
   */
  private async divert(workflowId: string, state: KeyState, arrival: Arrival): Promise<Accepted> {
    const openRun = this.sink.openRun?.bind(this.sink);
    state.openCheck ??= openRun
      ? this.withSlot(() => openRun(workflowId)).then(
          (run) => {
            if (run && !state.run) state.run = run;
            if (run) state.admitted = true;
            return run !== undefined;
          },
          () => false,
        )
      : Promise.resolve(false);
    if ((await state.openCheck) && state.admitted) return this.enqueue(workflowId, state, arrival);
    const cluster = arrival.alert.target.cluster;
    const storm = this.stateFor(stormWorkflowId(cluster), { cluster }, true);
    const accepted = await this.enqueue(stormWorkflowId(cluster), storm, arrival);
    return { ...accepted, storm: true };
  }

  /**
   * The request body to send with this alert (base64): the first time this incident gets an alert of that
   * body, while what it was sent stays within MAX_RAW_BYTES_PER_INCIDENT. The others travel as their hash only.
   */
  private bodyToSend(state: KeyState, alert: Alert, rawBody: Buffer | undefined): string | undefined {
    if (!rawBody || state.bodies.sent.has(alert.rawSha256)) return undefined;
    if (state.bodies.bytes + rawBody.length > MAX_RAW_BYTES_PER_INCIDENT) return undefined;
    state.bodies.sent.add(alert.rawSha256);
    state.bodies.bytes += rawBody.length;
    return rawBody.toString('base64');
  }

  /** Its delivery failed: the body may go with the alert's retry. */
  private bodyNotSent(state: KeyState, alert: Alert, base64: string): void {
    if (!state.bodies.sent.delete(alert.rawSha256)) return;
    state.bodies.bytes -= Buffer.byteLength(base64, 'base64');
  }

  private isRepeat(state: KeyState, fingerprint: string): boolean {
    const recent = state.recent.get(fingerprint);
    return recent !== undefined && recent.until > Date.now();
  }

  /**
   * Whether a new alert for a key not known to have an incident may open one: the request, its source and its
   * namespace each have room. Either way it stays undecided for the next alert unless admitted.
   */
  private admit(state: KeyState, alert: Alert, request?: IntakeRequest): boolean {
    const limits = this.options.creation;
    if (!limits || state.storm) return (state.admitted = true);
    if (request && request.opened >= limits.perRequest) return false;
    const { cluster, namespace = '(host)' } = alert.target;
    const bySource = (take: boolean) =>
      takeToken(this.sourceBuckets, `${cluster}/${alert.source}`, limits.perSourcePerMinute, take);
    const byNamespace = (take: boolean) =>
      takeToken(this.namespaceBuckets, `${cluster}/${namespace}`, limits.perNamespacePerMinute, take);
    // Both must have room before either is spent.
    if (!bySource(false) || !byNamespace(false)) return false;
    bySource(true);
    byNamespace(true);
    if (request) request.opened += 1;
    return (state.admitted = true);
  }

  private enqueue(
    workflowId: string,
    state: KeyState,
    { alert, fingerprint, signal, rawBody }: Arrival,
  ): Promise<Accepted> {
    const now = Date.now();
    if (state.recent.size > 1000) {
      for (const [fp, entry] of state.recent) if (entry.until <= now) state.recent.delete(fp);
    }
    const recent = state.recent.get(fingerprint);
    if (recent && recent.until > now) {
      const repeat = state.repeats.get(fingerprint) ?? {
        count: 0,
        resends: 0,
        lastSeenAt: alert.receivedAt,
        latest: alert,
      };
      // The same instance again (Alertmanager re-sends every repeat_interval) is a notification, not an occurrence.
      const resend = recent.ids.has(alert.id);
      if (resend) repeat.resends += 1;
      else {
        repeat.count += 1;
        if (recent.ids.size < MAX_RECENT_IDS) recent.ids.add(alert.id);
      }
      if (!recent.done) recent.folded[resend ? 'resends' : 'count'] += 1;
      repeat.lastSeenAt = alert.receivedAt;
      repeat.latest = alert;
      state.repeats.set(fingerprint, repeat);
      this.scheduleRepeats(workflowId, state);
      return recent.delivered.then((accepted) => ({ ...accepted, deduplicated: true }));
    }
    const body = this.bodyToSend(state, alert, rawBody);
    const delivered = new Promise<Accepted>((resolve, reject) => {
      const waiter: Waiter = { incoming: { alert, fingerprint, ...(body ? { rawBody: body } : {}) }, resolve, reject };
      state.pending.push(waiter);
      // Withdrawn (the caller spooled it instead) while still waiting here: it will not also be delivered.
      signal?.addEventListener(
        'abort',
        () => {
          this.deliveriesStalled = true;
          const index = state.pending.indexOf(waiter);
          if (index < 0) return;
          state.pending.splice(index, 1);
          reject(new Error('withdrawn before delivery'));
        },
        { once: true },
      );
    });
    const entry: RecentDelivery = {
      until: now + this.options.repeatWindowMs,
      delivered,
      ids: new Set([alert.id]),
      done: false,
      folded: { count: 0, resends: 0 },
    };
    state.recent.set(fingerprint, entry);
    delivered.then(
      () => {
        entry.done = true;
      },
      () => {
        // A failed (or withdrawn) delivery must not make later identical alerts look delivered, and the
        // repeats folded into it failed with it: their callers retry or spool them, so they are not counted here.
        if (state.recent.get(fingerprint) === entry) state.recent.delete(fingerprint);
        if (body) this.bodyNotSent(state, alert, body);
        const repeat = state.repeats.get(fingerprint);
        if (!repeat) return;
        repeat.count = Math.max(0, repeat.count - entry.folded.count);
        repeat.resends = Math.max(0, repeat.resends - entry.folded.resends);
        if (repeat.count === 0 && repeat.resends === 0) state.repeats.delete(fingerprint);
      },
    );
    void this.pump(workflowId, state);
    return delivered;
  }

  /**
   * Whether accept() would answer this alert from memory, without waiting for Temporal: a repeat of an
   * alert whose delivery completed (it is folded into a count).
   */
  answersAtOnce(alert: Alert): boolean {
    const { workflowId, fingerprint } = this.keyOf(alert);
    const state = this.keys.get(workflowId);
    const recent = state?.recent.get(fingerprint);
    return recent !== undefined && recent.done && recent.until > Date.now();
  }

  /**
   * The open incident a new alert would join while its key is in a storm, when this process knows it or is
   * about to: Temporal took alerts for it moments ago (or a delivery to it is on its way: then the answer
   * comes with that delivery), its key was admitted, and no resolve sticks on it. Undefined otherwise (a
   * first alert, a quiet key, a storm key, a resolve): then the alert's own delivery tells.
   */
  heldBy(alert: Alert): Accepted | Promise<Accepted | undefined> | undefined {
    const workflowId = this.keyOf(alert).workflowId;
    const state = this.keys.get(workflowId);
    const now = Date.now();
    if (!state || !state.admitted || state.storm) return undefined;
    if (state.resolved && state.resolved.until > now) return undefined;
    const held = (run: { incidentId: string }) => ({ workflowId, incidentId: run.incidentId, deduplicated: true });
    // Only a run Temporal took alerts for moments ago: one that closed since must not be named.
    if (state.run && now - state.deliveredAt <= HELD_FRESH_MS && this.storming(state)) return held(state.run);
    // A delivery is on its way (the key's first, or after a quiet spell): its answer names the run, unless
    // deliveries fail (Temporal away): then it would only say so, late.
    if (state.inFlight && !this.deliveriesStalled)
      return new Promise((resolve) => state.runWaiters.push((run) => resolve(run ? held(run) : undefined)));
    return undefined;
  }

  /**
   * Whether deliveries to the key come faster than one at a time: one is on its way or waiting, or it took
   * two within HELD_FRESH_MS. A quiet key's next alert is one signal, and Temporal's answer is certain.
   */
  private storming(state: KeyState): boolean {
    return state.inFlight || state.pending.length > 0 || Date.now() - state.previousDeliveredAt <= HELD_FRESH_MS;
  }

  /** Records a resolved alert on the open incident for its target; never opens one. */
  async recordResolved(alert: Alert): Promise<{ workflowId: string; attached: boolean }> {
    const { workflowId, fingerprint } = this.keyOf(alert);
    const attached = await this.withSlot(() => this.sink.signalOpen(workflowId, { alerts: [{ alert, fingerprint }] }));
    return { workflowId, attached };
  }

  /** Sends outstanding repeat counts now (used at shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.keys.entries()].map(([workflowId, state]) => this.sendRepeats(workflowId, state)));
  }

  /** The alert's incident key and fingerprint, computed once per alert (routes ask several questions of one). */
  private keyOf(alert: Alert): { workflowId: string; fingerprint: string } {
    let keyed = this.keyed.get(alert);
    if (!keyed) {
      keyed = { workflowId: incidentWorkflowId(alert.target), fingerprint: alertFingerprint(alert) };
      this.keyed.set(alert, keyed);
    }
    return keyed;
  }

  get trackedKeys(): number {
    return this.keys.size;
  }

  private stateFor(workflowId: string, target: AlertTarget, storm = false): KeyState {
    let state = this.keys.get(workflowId);
    if (!state) {
      if (this.keys.size >= this.options.maxKeys) this.evictIdle();
      state = {
        target,
        storm,
        admitted: storm || !this.options.creation,
        bodies: { sent: new Set(), bytes: 0 },
        pending: [],
        inFlight: false,
        recent: new Map(),
        repeats: new Map(),
        repeatDelayMs: this.firstRepeatDelayMs,
        lastRepeatFlushAt: 0,
        tokens: this.options.deliveryBurst ?? 1,
        tokensAt: Date.now(),
        lastUsed: Date.now(),
        deliveredAt: 0,
        previousDeliveredAt: 0,
        runWaiters: [],
        resolvedCheckedAt: 0,
      };
      this.keys.set(workflowId, state);
    }
    state.lastUsed = Date.now();
    return state;
  }

  private evictIdle(): void {
    const idle = [...this.keys.entries()]
      .filter(([, s]) => !s.inFlight && s.pending.length === 0 && s.repeats.size === 0)
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [key] of idle.slice(0, Math.max(1, Math.floor(this.options.maxKeys / 10)))) this.keys.delete(key);
  }

  private async withSlot<T>(fn: () => Promise<T>): Promise<T> {
    while (this.inFlight >= this.options.maxInFlight)
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    this.inFlight += 1;
    try {
      return await fn();
    } finally {
      this.inFlight -= 1;
      this.slotWaiters.shift()?.();
    }
  }

  private async pump(workflowId: string, state: KeyState): Promise<void> {
    if (state.inFlight) return;
    state.inFlight = true;
    try {
      while (state.pending.length > 0) {
        await this.deliveryToken(state);
        const batch = await this.withoutResolvedInstances(workflowId, state, this.nextBatch(state));
        if (batch.length === 0) continue;
        const repeats = this.takeRepeats(state);
        const sentAt = Date.now();
        try {
          const runId = await this.withSlot(() =>
            this.sink.deliver(
              workflowId,
              state.target,
              { alerts: batch.map((w) => w.incoming), repeats: repeats.map(({ latest: _, ...r }) => r) },
              state.storm,
            ),
          );
          let existed = state.run?.runId === runId;
          const started = state.noRunOpen === true;
          state.noRunOpen = false;
          if (!existed && started) {
            state.run = { runId, incidentId: incidentIdFromRunId(runId) };
          } else if (!existed) {
            // A run we did not start (it existed before this call), or the open incident's next run.
            const run = await this.sink.describeRun(workflowId, runId).catch(() => undefined);
            // Allow for clock differences between this process and the server.
            existed = run !== undefined && run.startedAt.getTime() < sentAt - 500;
            state.run = { runId, incidentId: run?.incidentId ?? incidentIdFromRunId(runId) };
          }
          const { incidentId } = state.run!;
          state.previousDeliveredAt = state.deliveredAt;
          state.deliveredAt = Date.now();
          this.deliveriesStalled = false;
          for (const waiter of batch) waiter.resolve({ workflowId, incidentId, deduplicated: existed });
          for (const told of state.runWaiters.splice(0)) told(state.run);
        } catch (err) {
          state.noRunOpen = false;
          this.deliveriesStalled = true;
          this.restoreRepeats(state, repeats);
          this.options.onError?.(err, workflowId);
          for (const waiter of batch) waiter.reject(err);
          for (const told of state.runWaiters.splice(0)) told(undefined);
        }
      }
    } finally {
      state.inFlight = false;
      // Nothing went (every alert was a re-send of a resolved incident's instance): nothing to name.
      for (const told of state.runWaiters.splice(0)) told(undefined);
    }
  }

  /** Waits until the incident's bucket has a delivery to spend, then spends it. */
  private async deliveryToken(state: KeyState): Promise<void> {
    const intervalMs = this.options.minDeliveryIntervalMs ?? 0;
    if (intervalMs <= 0) return;
    const burst = Math.max(1, this.options.deliveryBurst ?? 1);
    const refill = () => {
      const now = Date.now();
      state.tokens = Math.min(burst, state.tokens + (now - state.tokensAt) / intervalMs);
      state.tokensAt = now;
    };
    refill();
    if (state.tokens < 1) {
      await new Promise((resolve) => setTimeout(resolve, Math.ceil((1 - state.tokens) * intervalMs)));
      refill();
    }
    state.tokens = Math.max(0, state.tokens - 1);
  }

  /**
   * Answers the alerts that re-send an instance of the key's resolved incident with that incident (they
   * open nothing: a resolve sticks), and returns the others. Looks the key up when this process has not
   * delivered to it yet, and again every RESOLVED_RECHECK_MS.
   */
  private async withoutResolvedInstances(workflowId: string, state: KeyState, batch: Waiter[]): Promise<Waiter[]> {
    const sticksMs = this.options.resolveSticksMs ?? 0;
    if (sticksMs <= 0 || (!this.sink.resolvedInstances && !this.sink.latest)) return batch;
    const now = Date.now();
    if (state.run === undefined || now - state.resolvedCheckedAt > RESOLVED_RECHECK_MS) {
      state.resolvedCheckedAt = now;
      const firstLook = state.run === undefined;
      const look: LatestRun | undefined = await (
        this.sink.latest
          ? this.sink.latest(workflowId)
          : this.sink.resolvedInstances!(workflowId).then((resolved) => (resolved ? { resolved } : {}))
      ).catch(() => undefined);
      if (firstLook && look && this.sink.latest) {
        // An open run this process did not deliver to yet (a restart, another replica), or none.
        if (look.open) state.run = look.open;
        else state.noRunOpen = true;
      }
      const found = look?.resolved;
      const until = found ? Date.parse(found.at) + sticksMs : 0;
      state.resolved =
        found && until > now ? { incidentId: found.incidentId, ids: new Set(found.instances), until } : undefined;
    }
    const resolved = state.resolved;
    if (!resolved || resolved.until <= now) return batch;
    const fresh: Waiter[] = [];
    for (const waiter of batch) {
      if (!resolved.ids.has(waiter.incoming.alert.id)) {
        fresh.push(waiter);
        continue;
      }
      // Not a delivery later alerts may fold into: a new instance of the same alert must open an incident.
      state.recent.delete(waiter.incoming.fingerprint);
      waiter.resolve({ workflowId, incidentId: resolved.incidentId, deduplicated: true, alreadyResolved: true });
    }
    return fresh;
  }

  /** The oldest pending alerts, at most maxBatch of them and maxBatchBytes of JSON (always at least one). */
  private nextBatch(state: KeyState): Waiter[] {
    const limit = this.options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    let bytes = 0;
    let count = 0;
    for (const waiter of state.pending) {
      if (count >= this.options.maxBatch) break;
      bytes += Buffer.byteLength(JSON.stringify(waiter.incoming));
      if (count > 0 && bytes > limit) break;
      count += 1;
    }
    return state.pending.splice(0, count);
  }

  /** Repeat counts ready to send: not those folded into a delivery still on its way (it might fail). */
  private takeRepeats(state: KeyState): TakenRepeat[] {
    const taken: TakenRepeat[] = [];
    for (const [fingerprint, r] of state.repeats) {
      const recent = state.recent.get(fingerprint);
      if (recent && !recent.done) continue;
      taken.push({ fingerprint, ...r });
      state.repeats.delete(fingerprint);
    }
    return taken;
  }

  private restoreRepeats(state: KeyState, repeats: TakenRepeat[]): void {
    for (const r of repeats) {
      const current = state.repeats.get(r.fingerprint);
      state.repeats.set(r.fingerprint, {
        count: (current?.count ?? 0) + r.count,
        resends: (current?.resends ?? 0) + r.resends,
        lastSeenAt: current?.lastSeenAt ?? r.lastSeenAt,
        latest: current?.latest ?? r.latest,
      });
    }
  }

  private get firstRepeatDelayMs(): number {
    return this.options.repeatFlushMs ?? Math.min(this.options.repeatWindowMs, 2000);
  }

  private scheduleRepeats(workflowId: string, state: KeyState): void {
    if (state.repeatTimer) return;
    // Quiet for a while since the last flush: the next repeats are news, send them soon again.
    if (Date.now() - state.lastRepeatFlushAt > 2 * state.repeatDelayMs) state.repeatDelayMs = this.firstRepeatDelayMs;
    state.repeatTimer = setTimeout(() => {
      state.repeatTimer = undefined;
      state.lastRepeatFlushAt = Date.now();
      state.repeatDelayMs = Math.min(
        state.repeatDelayMs * 2,
        Math.max(this.options.repeatFlushMaxMs ?? DEFAULT_REPEAT_FLUSH_MAX_MS, this.firstRepeatDelayMs),
      );
      void this.sendRepeats(workflowId, state);
    }, state.repeatDelayMs);
    state.repeatTimer.unref();
  }

  private async sendRepeats(workflowId: string, state: KeyState): Promise<void> {
    // Counts ride along with the next delivery; a plain signal now could race the incident's start.
    if (state.inFlight || state.pending.length > 0) return this.scheduleRepeats(workflowId, state);
    const repeats = this.takeRepeats(state);
    if (!repeats || repeats.length === 0) return;
    try {
      const open = await this.withSlot(() =>
        this.sink.signalOpen(workflowId, { alerts: [], repeats: repeats.map(({ latest: _, ...r }) => r) }),
      );
      if (!open) {
        // The incident closed meanwhile: these alerts are news again, so they open a new incident (within the limits).
        state.recent.clear();
        state.run = undefined;
        state.admitted = state.storm || !this.options.creation;
        // Re-sends of an instance the closed incident already had are not news: a resolve sticks.
        for (const r of repeats.filter((repeat) => repeat.count > 0)) {
          const reopened = this.accept(r.latest);
          reopened.catch((err: unknown) => this.options.onError?.(err, workflowId));
        }
      }
    } catch (err) {
      this.restoreRepeats(state, repeats);
      this.scheduleRepeats(workflowId, state);
      this.options.onError?.(err, workflowId);
    }
  }
}

/**
 * Takes a token from the named bucket (`perMinute` deep, refilled evenly over a minute) if `take`, else only
 * tells whether one is there. Buckets beyond MAX_CREATION_BUCKETS are forgotten oldest first (a full bucket).
 */
function takeToken(buckets: Map<string, Bucket>, name: string, perMinute: number, take: boolean): boolean {
  const now = Date.now();
  let bucket = buckets.get(name);
  if (!bucket) {
    if (buckets.size >= MAX_CREATION_BUCKETS) buckets.delete(buckets.keys().next().value!);
    bucket = { tokens: perMinute, at: now };
  }
  bucket.tokens = Math.min(perMinute, bucket.tokens + ((now - bucket.at) * perMinute) / 60_000);
  bucket.at = now;
  // Re-inserted: the map's order is least recently used first.
  buckets.delete(name);
  buckets.set(name, bucket);
  if (bucket.tokens < 1) return false;
  if (take) bucket.tokens -= 1;
  return true;
}
