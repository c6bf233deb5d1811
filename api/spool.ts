import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Connection } from '@temporalio/client';
import type { Alert } from '../common/types';
import { MAX_RAW_BYTES_PER_INCIDENT, type AlertIntake, type IntakeRequest } from './intake';

/**
 * A durable local spool for alerts that Temporal cannot take now (it is down or stalled), for senders that
 * never retry (Falcosidekick posts once): an alert is answered 202 only after it is written and fsynced
 * here, and is delivered in order once Temporal is back, also after this process was killed.
 *
 * Layout: `<dir>/spool-<12-digit sequence>.jsonl`, one alert per line. Appends go to the open segment and
 * are fsynced together (group commit). Draining first closes the open segment, then delivers closed
 * segments oldest first and deletes each once every alert in it was taken. A crash mid-segment delivers
 * that segment again: the incident tells a re-delivered alert by its sender id (a re-send, not an
 * occurrence). A torn last line (a crash during a write) was never answered 202 and is skipped.
 */
export interface SpoolOptions {
  dir: string;
  /** Refuse appends beyond this many bytes on disk (the answer is then 503): the disk is not unbounded. */
  maxBytes: number;
}

const SEGMENT_RE = /^spool-(\d{12})\.jsonl$/;
/** Spooled alerts parsed, or handed to the intake, between two turns of the event loop while a segment drains. */
const DRAIN_SLICE = 200;
/** How long the drainer waits for Temporal to answer before it counts as away for this attempt. */
const PROBE_DEADLINE_MS = 3000;

export class AlertSpool {
  private open?: { seq: number; fd: number };
  private bytes = 0;
  private queued: Array<{ lines: string; resolve: () => void; reject: (err: unknown) => void }> = [];
  private writing = false;
  private draining = false;
  /** Whether the last attempt to deliver spooled alerts failed (Temporal away). */
  private failing = false;

  private constructor(private readonly options: SpoolOptions) {}

  /** Opens the spool directory (0700), counting what an earlier process left to deliver. */
  static openDir(options: SpoolOptions): AlertSpool {
    fs.mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    const spool = new AlertSpool(options);
    for (const name of spool.segments()) spool.bytes += fs.statSync(path.join(options.dir, name)).size;
    return spool;
  }

  /** Whether alerts wait here: while they do, new alerts join them, so delivery keeps arrival order. */
  get inUse(): boolean {
    return this.bytes > 0 || this.queued.length > 0 || this.writing;
  }

  get pendingBytes(): number {
    return this.bytes;
  }

  /** How many more bytes of alerts the spool takes before it refuses them. */
  get roomBytes(): number {
    return Math.max(0, this.options.maxBytes - this.bytes);
  }

  /** Alerts wait here and the last attempt to deliver them failed: Temporal is away. */
  get stalled(): boolean {
    return this.bytes > 0 && this.failing;
  }

  /** The drainer reports each attempt, so readiness can tell a storm being buffered from Temporal away. */
  attempted(ok: boolean): void {
    this.failing = !ok;
  }

  /**
   * Resolves once the alerts are on disk (fsynced); rejects when the spool is full or the disk fails. The
   * request body they came in is kept with them (up to MAX_RAW_BYTES_PER_INCIDENT), so it reaches their
   * incidents as evidence when they are delivered, as if they had not waited.
   */
  append(alerts: Alert[], rawBody?: Buffer): Promise<void> {
    const body =
      rawBody && rawBody.length <= MAX_RAW_BYTES_PER_INCIDENT && alerts.length > 0
        ? `${JSON.stringify({ [BODY_LINE]: rawBody.toString('base64') })}\n`
        : '';
    const lines = body + alerts.map((a) => `${JSON.stringify(a)}\n`).join('');
    if (this.bytes + Buffer.byteLength(lines) > this.options.maxBytes)
      return Promise.reject(new Error(`the alert spool is full (${this.options.maxBytes} bytes)`));
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ lines, resolve, reject });
      void this.writeQueued();
    });
  }

  /**
   * Delivers every spooled alert, oldest first, with `deliver` (the intake); a segment is deleted once all
   * its alerts were taken. Stops at the first failure (Temporal still away) and returns the count delivered.
   */
  async drain(deliver: (alerts: Alert[], bodies: ReadonlyMap<string, Buffer>) => Promise<void>): Promise<number> {
    if (this.draining) return 0;
    this.draining = true;
    let delivered = 0;
    try {
      await this.closeOpenSegment();
      // Appends meanwhile open a new segment, delivered by the next drain.
      for (const name of this.segments()) {
        const file = path.join(this.options.dir, name);
        const { alerts, bodies } = await readSegment(file);
        await deliver(alerts, bodies);
        const size = fs.statSync(file).size;
        fs.unlinkSync(file);
        this.bytes -= size;
        delivered += alerts.length;
      }
      syncDir(this.options.dir);
      return delivered;
    } finally {
      this.draining = false;
    }
  }

  private segments(): string[] {
    const open = this.open ? segmentName(this.open.seq) : undefined;
    return fs
      .readdirSync(this.options.dir)
      .filter((name) => SEGMENT_RE.test(name) && name !== open)
      .sort();
  }

  /** One write and one fsync for every append queued meanwhile. */
  private async writeQueued(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.queued.length > 0) {
        const batch = this.queued.splice(0);
        try {
          const { fd } = this.openSegment();
          const data = batch.map((b) => b.lines).join('');
          fs.writeSync(fd, data);
          await new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
          this.bytes += Buffer.byteLength(data);
          for (const b of batch) b.resolve();
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private openSegment(): { seq: number; fd: number } {
    if (this.open) return this.open;
    const last = this.segmentsOnDisk().at(-1);
    const seq = last ? Number(SEGMENT_RE.exec(last)![1]) + 1 : 1;
    const fd = fs.openSync(path.join(this.options.dir, segmentName(seq)), 'a', 0o600);
    syncDir(this.options.dir);
    this.open = { seq, fd };
    return this.open;
  }

  private segmentsOnDisk(): string[] {
    return fs
      .readdirSync(this.options.dir)
      .filter((name) => SEGMENT_RE.test(name))
      .sort();
  }

  /** Later appends start a new segment; this one can be delivered once its writes are on disk. */
  private async closeOpenSegment(): Promise<void> {
    while (this.writing || this.queued.length > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    if (!this.open) return;
    fs.closeSync(this.open.fd);
    this.open = undefined;
  }
}

function segmentName(seq: number): string {
  return `spool-${String(seq).padStart(12, '0')}.jsonl`;
}

/** A spool line that holds the request body of the alerts after it (base64), not an alert. */
const BODY_LINE = 'holdfastRequestBody';

/**
 * The alerts of a segment, and the request bodies they came in, by SHA-256 (their rawSha256). Parsed in
 * slices between turns of the event loop: a segment written during a storm holds thousands of alerts, and
 * requests arriving meanwhile must not wait behind it.
 */
async function readSegment(file: string): Promise<{ alerts: Alert[]; bodies: Map<string, Buffer> }> {
  const alerts: Alert[] = [];
  const bodies = new Map<string, Buffer>();
  const lines = (await fs.promises.readFile(file, 'utf8')).split('\n');
  for (const [i, line] of lines.entries()) {
    if (i % DRAIN_SLICE === DRAIN_SLICE - 1) await new Promise((resolve) => setImmediate(resolve));
    if (line.length === 0) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      // A write cut short by a crash: its sender never got a 202.
      continue;
    }
    const body = entry[BODY_LINE];
    if (typeof body !== 'string') {
      alerts.push(entry as unknown as Alert);
      continue;
    }
    const bytes = Buffer.from(body, 'base64');
    bodies.set(crypto.createHash('sha256').update(bytes).digest('hex'), bytes);
  }
  return { alerts, bodies };
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Every `intervalMs`, while alerts wait in the spool and Temporal answers, delivers them through the intake
 * (firing ones open or join incidents, resolved ones are recorded), oldest first.
 */
export function drainSpool(
  spool: AlertSpool,
  intake: Pick<AlertIntake, 'accept' | 'recordResolved'>,
  connection: Pick<Connection, 'workflowService' | 'withDeadline'>,
  namespace: string,
  log: { info: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void },
  intervalMs = 2000,
): { stop: () => void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    // While a drain gets alerts through, the next one starts at once: under a storm the spool is the buffer.
    let busy = false;
    if (spool.pendingBytes > 0) {
      try {
        // Bounded: a Temporal that accepts connections but never answers (stalled) is away too, and /readyz says so.
        await connection.withDeadline(Date.now() + PROBE_DEADLINE_MS, () =>
          connection.workflowService.describeNamespace({ namespace }),
        );
        const delivered = await spool.drain(async (alerts, bodies) => {
          // Alerts of one request share its body (and its limit on the incidents it may open), as they would have.
          const requests = new Map<string, IntakeRequest>();
          const requestOf = (a: Alert) => {
            let request = requests.get(a.rawSha256);
            if (!request) {
              const rawBody = bodies.get(a.rawSha256);
              request = { opened: 0, ...(rawBody ? { rawBody } : {}) };
              requests.set(a.rawSha256, request);
            }
            return request;
          };
          const taken: Array<Promise<unknown>> = [];
          for (const [i, a] of alerts.entries()) {
            const take = a.status === 'resolved' ? intake.recordResolved(a) : intake.accept(a, undefined, requestOf(a));
            // Handled now: one that fails while later slices are handed over must not go unhandled meanwhile.
            take.catch(() => undefined);
            taken.push(take);
            // A long segment is handed over in slices, so requests arriving meanwhile are not held up behind it.
            if (i % DRAIN_SLICE === DRAIN_SLICE - 1) await new Promise((resolve) => setImmediate(resolve));
          }
          await Promise.all(taken);
        });
        busy = delivered > 0;
        spool.attempted(true);
        if (delivered > 0) log.info({ delivered, pendingBytes: spool.pendingBytes }, 'spooled alerts delivered');
      } catch (err) {
        spool.attempted(false);
        log.warn({ err: String(err), pendingBytes: spool.pendingBytes }, 'spooled alerts wait: Temporal still away');
      }
    }
    if (!stopped) timer = setTimeout(() => void tick(), busy ? 0 : intervalMs);
  };
  timer = setTimeout(() => void tick(), 0);
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
