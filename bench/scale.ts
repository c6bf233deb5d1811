/**
 * bench/scale: many incidents open at once on the embedded stack (Temporal dev server + versitygw) with
 * Holdfast as `npm start` runs it (dist/scripts/start.js: worker and API processes). No cluster: the
 * playbook has no cluster step (no preserve, capture or containment), so each incident is plan → page on
 * open → seal (a signed manifest into S3 with Object Lock) → escalation child (tier 1 paged, 1 h ack
 * timer) → waits for resolution, with every page going to a local recording webhook.
 *
 * Each round starts a fresh stack and sends, for N distinct pods (10 namespaces, 5 rules), an opening
 * Falco alert, an exact repeat of it (folded into a count) and a second alert with another rule, through
 * the API, `--connections` at a time. It then measures:
 *  - alerts refused (after retrying a 5xx up to 3 times);
 *  - first alert sent → incident sealed (the seal activity's completion in the history, server clock on
 *    this host), p50/p99, and the time until every incident is sealed;
 *  - lost or failed: incidents not sealed, not running while they wait, whose alert count is not 3 or
 *    distinct alerts not 2, whose seal failed, without exactly one opening and one escalation page at the
 *    webhook (measured once every escalation child has paged and waits); after resolving all of
 *    them through the API, any that did not complete as resolved or whose resolve page is missing;
 *  - RSS of the worker, the API, Temporal and versitygw at start, with all N open and sealed, and their
 *    peak (VmHWM); the Temporal SQLite database size;
 *  - history per incident (events and bytes, the server's own count) while it waits, and once resolved,
 *    plus its escalation child's.
 * Then prints how each figure grows from the first round to the last.
 *
 *   node dist/bench/scale.js [--rounds 50,200,500] [--connections 16] [--timeout-s 900]
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { silenceAwsSdkNodeWarning } from '../common/config';
import { startHoldfast, waitFor, type RunningHoldfast } from '../scripts/local-env';
import { startStack } from '../scripts/stack';
import { startRecordingServer, type RecordingServer } from '../test/helpers/recording-server';
import {
  alertsQuery,
  INCIDENT_WORKFLOW,
  statusQuery,
  type AlertRecord,
  type IncidentStatus,
} from '../workflows/definitions';
import { childProcess, Cleanup, formatMs, pool, processMemory, summarize, type Summary } from './measure';

const say = (line: string) => process.stdout.write(`${line}\n`);
const log = (line: string) => process.stderr.write(`${line}\n`);

const RULES = [
  'Terminal shell in container',
  'Write below etc',
  'Outbound connection to C2 server',
  'Drop and execute new binary in container',
  'Read sensitive file untrusted',
];
const NAMESPACES = 10;
/** Per pod: the opening alert, its exact repeat, and one distinct alert. */
const ALERTS_PER_INCIDENT = 3;
const DISTINCT_PER_INCIDENT = 2;

interface Pod {
  namespace: string;
  pod: string;
  rule: string;
  otherRule: string;
}

interface Opened {
  pod: Pod;
  sentAt: number;
  incidentId?: string;
  workflowId?: string;
  refused: string[];
}

interface HistorySize {
  events: number;
  bytes: number;
}

interface RoundResult {
  incidents: number;
  alertsSent: number;
  refused: number;
  retried: number;
  sendSeconds: number;
  sealed: number;
  allSealedSeconds?: number;
  toSealed: Summary;
  lost: string[];
  failed: string[];
  resolved: number;
  memory: Record<'worker' | 'api' | 'temporal' | 's3', { startMiB: number; openMiB: number; peakMiB: number }>;
  dbMiB: number;
  waiting: { incident: Summary; bytes: Summary; child: Summary; childBytes: Summary };
  closed: { incident: Summary; bytes: Summary };
  /** Where the incidents' time went (see Breakdown). */
  breakdown: string[];
  /** 1-minute load average when the alerts were sent and when all had sealed: the machine is shared. */
  load: [number, number];
  /** The API's answer to each alert (it answers once Temporal holds the alert). */
  answered: Summary;
}

function falcoAlert(pod: Pod, rule: string) {
  return {
    uuid: crypto.randomUUID(),
    rule,
    priority: 'Critical',
    source: 'syscall',
    time: new Date().toISOString(),
    output: `${rule} (pod ${pod.namespace}/${pod.pod})`,
    output_fields: { 'k8s.ns.name': pod.namespace, 'k8s.pod.name': pod.pod, 'container.name': 'app' },
  };
}

async function postAlert(
  holdfast: RunningHoldfast,
  body: unknown,
  counters: { retried: number; answeredMs: number[] },
): Promise<{ ok: true; incidentId: string; workflowId: string } | { ok: false; why: string }> {
  let why = '';
  for (let attempt = 0; attempt < 4; attempt++) {
    if (attempt > 0) {
      counters.retried++;
      await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
    const sent = Date.now();
    const res = await fetch(`${holdfast.url}/v1/alerts/falco`, {
      method: 'POST',
      headers: { authorization: `Bearer ${holdfast.tokens.intake}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    }).catch((err: unknown) => err as Error);
    counters.answeredMs.push(Date.now() - sent);
    if (res instanceof Error) {
      why = res.message;
      continue;
    }
    if (res.status === 202) {
      const { incidentId, workflowId } = (await res.json()) as { incidentId: string; workflowId: string };
      return { ok: true, incidentId, workflowId };
    }
    why = `${res.status} ${(await res.text()).slice(0, 200)}`;
    // Like Alertmanager: a 4xx is final, a 5xx is retried.
    if (res.status < 500) break;
  }
  return { ok: false, why };
}

/** The server's count of a task queue's incidents in a state (visibility; the dev server's is immediate). */
async function countIncidents(client: Client, taskQueue: string, extra: string): Promise<number> {
  const { count } = await client.workflowService.countWorkflowExecutions({
    namespace: client.options.namespace,
    query: `WorkflowType = "${INCIDENT_WORKFLOW}" AND TaskQueue = "${taskQueue}" AND ${extra}`,
  });
  return Number(count ?? 0);
}

async function historySize(handle: WorkflowHandle): Promise<HistorySize> {
  const d = await handle.describe();
  return { events: d.historyLength, bytes: d.historySize ?? NaN };
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const eventMs = (e: HistoryEvent) => Number(e.eventTime!.seconds) * 1000 + (e.eventTime!.nanos ?? 0) / 1e6;

/** When the seal activity completed, by the server's event clock (ms since epoch), if it has. */
function sealedAt(events: HistoryEvent[]): number | undefined {
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'sealEvidence');
  if (!scheduled) return undefined;
  const done = events.find(
    (e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === scheduled.eventId?.toString(),
  );
  return done ? eventMs(done) : undefined;
}

/**
 * Where an incident's time went, from its history: per workflow task and per activity type, the wait in the
 * task queue (scheduled → started: until a worker poll took it; a backlog shows here) and the run (started
 * → closed: from that poll to the worker's answer, including any wait inside the worker), plus attempts
 * beyond the first and timeouts.
 */
class Breakdown {
  private readonly waits = new Map<string, number[]>();
  private readonly runs = new Map<string, number[]>();
  private readonly retries = new Map<string, number>();
  private readonly timeouts = new Map<string, number>();

  add(events: HistoryEvent[]): void {
    const byId = new Map(events.map((e) => [e.eventId?.toString(), e]));
    const kind = (scheduledId: unknown) => {
      const s = byId.get(String(scheduledId));
      return s?.workflowTaskScheduledEventAttributes
        ? 'workflow task'
        : (s?.activityTaskScheduledEventAttributes?.activityType?.name ?? 'unknown');
    };
    const push = (map: Map<string, number[]>, key: string, ms: number) => map.set(key, [...(map.get(key) ?? []), ms]);
    for (const e of events) {
      const wfStarted = e.workflowTaskStartedEventAttributes;
      const actStarted = e.activityTaskStartedEventAttributes;
      const started = wfStarted ?? actStarted;
      if (started) {
        const scheduled = byId.get(started.scheduledEventId?.toString());
        if (scheduled) push(this.waits, kind(started.scheduledEventId), eventMs(e) - eventMs(scheduled));
        if ((actStarted?.attempt ?? 1) > 1) {
          const k = kind(started.scheduledEventId);
          this.retries.set(k, (this.retries.get(k) ?? 0) + actStarted!.attempt! - 1);
        }
      }
      const closed =
        e.workflowTaskCompletedEventAttributes ??
        e.workflowTaskFailedEventAttributes ??
        e.workflowTaskTimedOutEventAttributes ??
        e.activityTaskCompletedEventAttributes ??
        e.activityTaskFailedEventAttributes ??
        e.activityTaskTimedOutEventAttributes;
      if (closed) {
        const startedEvent = byId.get(closed.startedEventId?.toString());
        const k = kind(closed.scheduledEventId);
        if (startedEvent) push(this.runs, k, eventMs(e) - eventMs(startedEvent));
        if (e.workflowTaskTimedOutEventAttributes || e.activityTaskTimedOutEventAttributes)
          this.timeouts.set(k, (this.timeouts.get(k) ?? 0) + 1);
      }
    }
  }

  lines(): string[] {
    return [...this.waits.keys()].sort().map((k) => {
      const wait = summarize(this.waits.get(k) ?? []);
      const run = summarize(this.runs.get(k) ?? []);
      const extra = [
        this.retries.get(k) && `${this.retries.get(k)} retries`,
        this.timeouts.get(k) && `${this.timeouts.get(k)} timeouts`,
      ].filter(Boolean);
      return `${k} (${wait.n}): queued ${formatMs(wait)}; ran ${formatMs(run)}${extra.length ? `; ${extra.join(', ')}` : ''}`;
    });
  }
}

function dbSizeMiB(dir: string): number {
  let bytes = 0;
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      bytes += fs.statSync(path.join(dir, `temporal.sqlite${suffix}`)).size;
    } catch {
      // No WAL yet.
    }
  }
  return bytes / 1024 / 1024;
}

async function runRound(n: number, connections: number, timeoutMs: number, cleanup: Cleanup): Promise<RoundResult> {
  const mark = cleanup.mark;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-bench-scale-'));
  cleanup.add('remove the work directory', () => fs.rmSync(work, { recursive: true, force: true }));
  try {
    const serversDir = path.join(work, 'servers');
    const stack = await startStack({ dataDir: serversDir, namespace: 'holdfast', bucket: 'holdfast-evidence', log });
    cleanup.add('stop Temporal and S3', () => stack.stop());
    // Opening page, escalation page and resolve page per incident, with room to spare.
    const hook: RecordingServer = await startRecordingServer({ maxRequests: n * 10 + 100 });
    cleanup.add('stop the recording webhook', () => hook.close());
    const playbooks = path.join(work, 'playbooks.yaml');
    fs.writeFileSync(
      playbooks,
      [
        'notifiers:',
        `  - { name: hook, type: webhook, url: "${hook.url}/hook", secret: "${crypto.randomBytes(16).toString('hex')}" }`,
        'playbooks:',
        '  - name: bench-scale',
        '    preserve: false',
        '    capture: []',
        '    contain: []',
        '    pageOnOpen: true',
        '    escalation: { tiers: [{ notifiers: [hook], ackTimeout: 1h }] }',
        '',
      ].join('\n'),
    );
    const taskQueue = `bench-scale-${crypto.randomBytes(3).toString('hex')}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...stack.env,
      HOLDFAST_PLAYBOOKS: playbooks,
      HOLDFAST_CLUSTER_NAME: 'bench',
      // A capacity bench: every one of its N pods must get its own incident, so no creation limit applies.
      HOLDFAST_INCIDENTS_PER_SOURCE_PER_MINUTE: '1000000',
      HOLDFAST_INCIDENTS_PER_NAMESPACE_PER_MINUTE: '1000000',
      HOLDFAST_INCIDENTS_PER_REQUEST: '10000',
      HOLDFAST_LOG_LEVEL: 'warn',
      HOLDFAST_TASK_QUEUE: taskQueue,
    };
    // No Kubernetes at all: nothing in this playbook needs it.
    for (const name of ['KUBECONFIG', 'KUBERNETES_SERVICE_HOST']) delete env[name];
    const holdfast = await startHoldfast({ dataDir: path.join(work, 'holdfast'), env });
    cleanup.add('stop Holdfast', () => holdfast.stop());
    const pids = {
      worker: childProcess(holdfast.pid, 'worker/main.js'),
      api: childProcess(holdfast.pid, 'api/main.js'),
      temporal: stack.pids.temporal,
      s3: stack.pids.s3,
    };
    const memory = () =>
      Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processMemory(pid)])) as Record<
        keyof typeof pids,
        ReturnType<typeof processMemory>
      >;
    const atStart = memory();
    const connection = await Connection.connect({ address: stack.temporalAddress });
    cleanup.add('close the Temporal connection', () => connection.close());
    const client = new Client({ connection, namespace: 'holdfast' });

    // ---- open N incidents at once ----
    const run = crypto.randomBytes(2).toString('hex');
    const pods: Pod[] = Array.from({ length: n }, (_, i) => ({
      namespace: `team-${i % NAMESPACES}`,
      pod: `svc${i % 7}-${run}-${i}`,
      rule: RULES[i % RULES.length]!,
      otherRule: RULES[(i + 1) % RULES.length]!,
    }));
    const counters = { retried: 0, answeredMs: [] as number[] };
    const loadAtSend = os.loadavg()[0]!;
    log(`[bench] round ${n}: sending ${n * ALERTS_PER_INCIDENT} alerts about ${n} pods, ${connections} at a time`);
    const sendStarted = Date.now();
    const opened = await pool(pods, connections, async (pod): Promise<Opened> => {
      const first = falcoAlert(pod, pod.rule);
      const sentAt = Date.now();
      const result: Opened = { pod, sentAt, refused: [] };
      const answer = await postAlert(holdfast, first, counters);
      if (!answer.ok) {
        result.refused.push(`opening alert: ${answer.why}`);
        return result;
      }
      result.incidentId = answer.incidentId;
      result.workflowId = answer.workflowId;
      // The same alert again (another uuid, as a sender re-firing it) and a distinct one, side by side.
      const more = await Promise.all([
        postAlert(holdfast, { ...first, uuid: crypto.randomUUID() }, counters),
        postAlert(holdfast, falcoAlert(pod, pod.otherRule), counters),
      ]);
      for (const [i, a] of more.entries()) {
        if (!a.ok) result.refused.push(`${i === 0 ? 'repeat' : 'second alert'}: ${a.why}`);
        else if (a.incidentId !== answer.incidentId)
          result.refused.push(`${i === 0 ? 'repeat' : 'second alert'} opened another incident ${a.incidentId}`);
      }
      return result;
    });
    const sendSeconds = (Date.now() - sendStarted) / 1000;
    const refused = opened.flatMap((o) => o.refused.map((r) => `${o.pod.namespace}/${o.pod.pod}: ${r}`));
    const incidents = opened.filter((o) => o.incidentId);

    // ---- until every incident has sealed (or the bound) ----
    let sealedCount = 0;
    const deadline = Date.now() + timeoutMs;
    let lastLog = 0;
    while (Date.now() < deadline) {
      sealedCount = await countIncidents(client, taskQueue, `HoldfastStatus = "escalating"`).catch(() => sealedCount);
      if (sealedCount >= incidents.length) break;
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        log(
          `[bench]   ${sealedCount}/${incidents.length} sealed after ${Math.round((Date.now() - sendStarted) / 1000)} s`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    // Quiescent before measuring: every sealed incident's escalation child has paged tier 1 and waits.
    const escalationPages = () =>
      new Set(
        hook.requests
          .map((r) => (r.body as { event?: { incidentId?: string; action?: string } } | undefined)?.event)
          .filter((e) => e?.action === 'trigger')
          .map((e) => e!.incidentId),
      ).size;
    await waitFor(
      'every escalation page',
      Math.max(30_000, deadline - Date.now()),
      async () => escalationPages() >= sealedCount,
      250,
    ).catch(() => undefined);
    const open = memory();
    const loadAtSealed = os.loadavg()[0]!;
    const dbMiB = dbSizeMiB(serversDir);

    // ---- each incident, as the server and the worker see it ----
    const lost: string[] = refused.filter((r) => r.includes('opening alert'));
    const failed: string[] = refused.filter((r) => !r.includes('opening alert'));
    const toSealed: number[] = [];
    const sealTimes: number[] = [];
    const waiting: HistorySize[] = [];
    const children: HistorySize[] = [];
    const breakdown = new Breakdown();
    await pool(incidents, 8, async (o) => {
      const name = `${o.incidentId} (${o.pod.namespace}/${o.pod.pod})`;
      const runId = o.incidentId!.replace(/^inc-/, '');
      const handle = client.workflow.getHandle(o.workflowId!, runId);
      try {
        const description = await handle.describe();
        if (description.status.name !== 'RUNNING') {
          failed.push(`${name}: ${description.status.name} while it should wait for resolution`);
          return;
        }
        const events = (await handle.fetchHistory()).events ?? [];
        breakdown.add(events);
        const at = sealedAt(events);
        if (at === undefined) {
          lost.push(`${name}: not sealed within the bound`);
          return;
        }
        toSealed.push(at - o.sentAt);
        sealTimes.push(at);
        // The repeat reaches the incident as a count when the API flushes its repeats (every 2 s).
        const status = await waitFor(`${name}'s ${ALERTS_PER_INCIDENT} alerts`, 15_000, async () => {
          const s = await handle.query(statusQuery);
          return s.alertCount >= ALERTS_PER_INCIDENT ? s : undefined;
        }).catch(() => handle.query(statusQuery));
        const alerts: AlertRecord[] = await handle.query(alertsQuery);
        const problems = [
          status.alertCount !== ALERTS_PER_INCIDENT && `alert count ${status.alertCount}`,
          alerts.length !== DISTINCT_PER_INCIDENT && `${alerts.length} distinct alerts`,
          status.steps.some((s) => s.state === 'failed') &&
            `failed steps ${status.steps.filter((s) => s.state === 'failed').map((s) => `${s.name}: ${s.error}`)}`,
          !status.manifestKey && 'no manifest',
          status.notifications?.filter((p) => p.action === 'open' && p.state === 'sent').length !== 1 &&
            `opening page ${JSON.stringify(status.notifications)}`,
        ].filter(Boolean);
        if (problems.length > 0) failed.push(`${name}: ${problems.join('; ')}`);
        waiting.push({ events: description.historyLength, bytes: description.historySize ?? NaN });
        children.push(
          await historySize(client.workflow.getHandle(`${o.workflowId}/escalation/${runId}`)).catch(() => ({
            events: NaN,
            bytes: NaN,
          })),
        );
      } catch (err) {
        failed.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    const pagesFor = (incidentId: string, action: string) =>
      hook.requests.filter((r) => {
        const e = (r.body as { event?: { incidentId?: string; action?: string } } | undefined)?.event;
        return e?.incidentId === incidentId && e.action === action;
      }).length;
    for (const o of incidents) {
      const opening = pagesFor(o.incidentId!, 'open');
      if (opening !== 1) failed.push(`${o.incidentId}: ${opening} opening pages reached the webhook`);
      const escalation = pagesFor(o.incidentId!, 'trigger');
      if (escalation !== 1) failed.push(`${o.incidentId}: ${escalation} escalation pages reached the webhook`);
    }

    // ---- resolve every incident through the API; each must complete as resolved ----
    log(`[bench] round ${n}: resolving ${incidents.length} incidents`);
    await pool(incidents, connections, async (o) => {
      const res = await fetch(`${holdfast.url}/v1/incidents/${o.incidentId}/resolve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${holdfast.tokens.responder}`, 'content-type': 'application/json' },
        body: JSON.stringify({ note: 'bench' }),
        signal: AbortSignal.timeout(30_000),
      }).catch((err: unknown) => err as Error);
      if (res instanceof Error || res.status !== 202)
        failed.push(`${o.incidentId}: resolve refused: ${res instanceof Error ? res.message : res.status}`);
    });
    await waitFor(
      'every incident to close',
      Math.max(60_000, deadline - Date.now()),
      async () => (await countIncidents(client, taskQueue, 'ExecutionStatus = "Running"')) === 0,
      500,
    ).catch((err: unknown) => failed.push(String(err)));
    const closed: HistorySize[] = [];
    let resolved = 0;
    await pool(incidents, 8, async (o) => {
      const handle = client.workflow.getHandle(o.workflowId!, o.incidentId!.replace(/^inc-/, ''));
      try {
        const d = await handle.describe();
        closed.push({ events: d.historyLength, bytes: d.historySize ?? NaN });
        if (d.status.name !== 'COMPLETED') {
          failed.push(`${o.incidentId}: ${d.status.name} after resolve`);
          return;
        }
        const final = (await handle.result()) as IncidentStatus;
        if (final.phase !== 'resolved') failed.push(`${o.incidentId}: closed as ${final.phase}`);
        else resolved++;
        if (pagesFor(o.incidentId!, 'resolve') < 1) failed.push(`${o.incidentId}: no resolve page`);
      } catch (err) {
        failed.push(`${o.incidentId}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    const peak = memory();
    const mem = (name: keyof typeof pids) => ({
      startMiB: atStart[name]?.rssMiB ?? NaN,
      openMiB: open[name]?.rssMiB ?? NaN,
      peakMiB: peak[name]?.peakMiB ?? NaN,
    });
    const firstSent = Math.min(...incidents.map((o) => o.sentAt));
    return {
      incidents: n,
      alertsSent: n * ALERTS_PER_INCIDENT,
      refused: refused.length,
      retried: counters.retried,
      sendSeconds,
      sealed: toSealed.length,
      allSealedSeconds:
        toSealed.length === incidents.length && incidents.length > 0
          ? (Math.max(...sealTimes) - firstSent) / 1000
          : undefined,
      toSealed: summarize(toSealed),
      lost,
      failed,
      resolved,
      memory: { worker: mem('worker'), api: mem('api'), temporal: mem('temporal'), s3: mem('s3') },
      dbMiB,
      waiting: {
        incident: summarize(waiting.map((h) => h.events)),
        bytes: summarize(waiting.map((h) => h.bytes)),
        child: summarize(children.map((h) => h.events)),
        childBytes: summarize(children.map((h) => h.bytes)),
      },
      closed: { incident: summarize(closed.map((h) => h.events)), bytes: summarize(closed.map((h) => h.bytes)) },
      breakdown: breakdown.lines(),
      load: [loadAtSend, loadAtSealed],
      answered: summarize(counters.answeredMs),
    };
  } finally {
    await cleanup.runSince(mark);
  }
}

function report(r: RoundResult): void {
  const m = r.memory;
  const mib = (x: number) => x.toFixed(0);
  say(
    `[bench] ${r.incidents} concurrent incidents (${r.alertsSent} alerts sent in ${r.sendSeconds.toFixed(1)} s, ` +
      `API answered in ${formatMs(r.answered)}; load average ${r.load[0].toFixed(1)} at the start, ${r.load[1].toFixed(1)} once sealed):`,
  );
  say(
    `[bench]   none failed or lost: ${r.lost.length === 0 && r.failed.length === 0 ? 'yes' : 'NO'} ` +
      `(lost ${r.lost.length}, failed ${r.failed.length}, alerts refused ${r.refused}, retried ${r.retried}, ` +
      `sealed ${r.sealed}/${r.incidents}, resolved ${r.resolved}/${r.incidents})`,
  );
  for (const line of [...r.lost, ...r.failed].slice(0, 10)) say(`[bench]     ${line}`);
  say(
    `[bench]   all sealed ${r.allSealedSeconds === undefined ? 'NOT within the bound' : `${r.allSealedSeconds.toFixed(1)} s`} after the first alert; ` +
      `alert → sealed ${formatMs(r.toSealed)}`,
  );
  say(
    `[bench]   RSS MiB start → all open → peak: worker ${mib(m.worker.startMiB)} → ${mib(m.worker.openMiB)} → ${mib(m.worker.peakMiB)}; ` +
      `API ${mib(m.api.startMiB)} → ${mib(m.api.openMiB)} → ${mib(m.api.peakMiB)}; ` +
      `Temporal ${mib(m.temporal.startMiB)} → ${mib(m.temporal.openMiB)} → ${mib(m.temporal.peakMiB)}; ` +
      `versitygw ${mib(m.s3.startMiB)} → ${mib(m.s3.openMiB)} → ${mib(m.s3.peakMiB)}; Temporal SQLite ${r.dbMiB.toFixed(1)} MiB`,
  );
  say(
    `[bench]   history per incident while waiting: ${r.waiting.incident.p50} events (max ${r.waiting.incident.max}), ` +
      `${(r.waiting.bytes.p50 / 1024).toFixed(1)} KiB (max ${(r.waiting.bytes.max / 1024).toFixed(1)}); ` +
      `its escalation child ${r.waiting.child.p50} events, ${(r.waiting.childBytes.p50 / 1024).toFixed(1)} KiB; ` +
      `once resolved ${r.closed.incident.p50} events (max ${r.closed.incident.max}), ${(r.closed.bytes.p50 / 1024).toFixed(1)} KiB (max ${(r.closed.bytes.max / 1024).toFixed(1)})`,
  );
  say('[bench]   where the time went until sealed (history event times; count in parentheses):');
  for (const line of r.breakdown) say(`[bench]     ${line}`);
}

function growth(rounds: RoundResult[]): void {
  if (rounds.length < 2) return;
  const base = rounds[0]!;
  const x = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || !Number.isFinite(a / b) ? 'n/a' : `×${(a / b).toFixed(2)}`;
  say(`[bench] growth against ${base.incidents} incidents:`);
  say(
    '[bench]   incidents | all sealed s | alert→sealed p99 ms | worker MiB open (per incident KiB) | Temporal MiB open (per incident KiB) | SQLite MiB | history events/bytes per incident',
  );
  for (const r of rounds) {
    const perIncident = (open: number, start: number) => (((open - start) * 1024) / r.incidents).toFixed(0);
    say(
      `[bench]   ${String(r.incidents).padStart(9)} | ${(r.allSealedSeconds?.toFixed(1) ?? 'n/a').padStart(6)} ${x(r.allSealedSeconds, base.allSealedSeconds)} | ` +
        `${String(Math.round(r.toSealed.p99)).padStart(6)} ${x(r.toSealed.p99, base.toSealed.p99)} | ` +
        `${r.memory.worker.openMiB.toFixed(0)} ${x(r.memory.worker.openMiB, base.memory.worker.openMiB)} (${perIncident(r.memory.worker.openMiB, r.memory.worker.startMiB)}) | ` +
        `${r.memory.temporal.openMiB.toFixed(0)} ${x(r.memory.temporal.openMiB, base.memory.temporal.openMiB)} (${perIncident(r.memory.temporal.openMiB, r.memory.temporal.startMiB)}) | ` +
        `${r.dbMiB.toFixed(1)} ${x(r.dbMiB, base.dbMiB)} | ` +
        `${r.closed.incident.p50}/${r.closed.bytes.p50} ${x(r.closed.bytes.p50, base.closed.bytes.p50)}`,
    );
  }
  const last = rounds.at(-1)!;
  say(
    `[bench]   ${base.incidents} → ${last.incidents} incidents (×${(last.incidents / base.incidents).toFixed(0)}): ` +
      `time to seal all ${x(last.allSealedSeconds, base.allSealedSeconds)}, worker RSS ${x(last.memory.worker.openMiB, base.memory.worker.openMiB)}, ` +
      `Temporal RSS ${x(last.memory.temporal.openMiB, base.memory.temporal.openMiB)}, history bytes per incident ${x(last.closed.bytes.p50, base.closed.bytes.p50)}`,
  );
}

async function main(): Promise<number> {
  silenceAwsSdkNodeWarning();
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '50,200,500' },
      connections: { type: 'string', default: '16' },
      'timeout-s': { type: 'string', default: '900' },
    },
  });
  const rounds = values.rounds
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((v) => Number.isInteger(v) && v > 0);
  if (rounds.length === 0) throw new Error('--rounds: a comma-separated list of incident counts, e.g. 50,200,500');
  const connections = Math.max(1, Number(values.connections) || 16);
  const timeoutMs = Math.max(60, Number(values['timeout-s']) || 900) * 1000;
  const cleanup = new Cleanup(log);
  const results: RoundResult[] = [];
  try {
    for (const n of rounds) {
      const result = await runRound(n, connections, timeoutMs, cleanup);
      report(result);
      results.push(result);
    }
    growth(results);
  } finally {
    await cleanup.run();
  }
  return results.every((r) => r.lost.length === 0 && r.failed.length === 0) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[bench] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
