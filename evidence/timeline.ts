/**
 * One chronology of an incident: alert occurrences, workflow steps and decisions (from the workflow's status or,
 * offline, the manifest), file changes (ctime/mtime from changed-files.json), container log lines and process
 * start times, each row naming the artifact it came from.
 *
 * Pure: everything comes in through `TimelineInput` and the `ArtifactReader` port (a directory, a bundle or the
 * S3 store behind it; a fake in tests). Everything read from the pod is the attacker's text: every row is bounded
 * (per source and in all, with counts of what was left out), every field is bounded, and control characters, escape
 * sequences and bidirectional overrides are turned into visible `\uXXXX` text before a row is made, so no
 * consumer (terminal, Timesketch, a spreadsheet) ever receives them. `origin` says whose words a row's text is.
 */
import type { EvidenceManifest } from '../common/types';
import { relativeArtifactPath } from './names';
import { sha256Hex } from './manifest';

/** What produced a row. */
export const TIMELINE_KINDS = [
  'alert',
  'step',
  'decision',
  'notification',
  'artifact',
  'seal',
  'file',
  'log',
  'process',
] as const;
export type TimelineKind = (typeof TIMELINE_KINDS)[number];

export interface TimelineRow {
  /** ISO 8601 UTC, with the precision the source gave (up to nanoseconds). */
  at: string;
  kind: TimelineKind;
  /** What the time is (Timesketch's timestamp_desc): `ctime`, `log line`, `step started`… */
  what: string;
  /** Where the row came from: an artifact's `<step>/<name>`, or `status` / `manifest`. */
  source: string;
  /** Whose words `text` is: `holdfast` (ours) or `target` (the pod's or an alert sender's: attacker-controlled). */
  origin: 'holdfast' | 'target';
  /** Bounded, control characters made visible. */
  text: string;
  /** A few more bounded, cleaned fields (path, container, pid, step…). */
  fields?: Record<string, string>;
}

export interface Timeline {
  incidentId: string;
  rows: TimelineRow[];
  /** Rows left out by the bounds, by source (`<step>/<name>`, or `all` for the overall bound). */
  omitted: Record<string, number>;
  /** What could not be read or placed, in Holdfast's words (bounded). */
  notes: string[];
}

/** One artifact, read whole or only its last bytes. */
export interface ArtifactBytes {
  bytes: Buffer;
  /** The artifact's full size: bytes.length < size means only part of it was read. */
  size: number;
}

/** The port the builder reads artifacts through: a directory, a bundle, the evidence store, or a fake. */
export interface ArtifactReader {
  /**
   * Up to `maxBytes` of the artifact at `<step>/<name>`: its first bytes, or with `tail` its last ones.
   * undefined when it is absent.
   */
  read(path: string, options: { maxBytes: number; tail?: boolean }): Promise<ArtifactBytes | undefined>;
}

/** A step as the workflow's status shows it (structurally a slice of StepStatus). */
export interface StatusStep {
  name: string;
  kind?: string;
  state?: string;
  startedAt?: string;
  endedAt?: string;
  error?: string;
  artifacts?: Array<{ key: string }>;
  decision?: { approved: boolean; by: string; role?: string; at: string; note?: string };
}

/** The slice of the workflow's status the timeline and the CASE export use (structurally IncidentStatus's). */
export interface TimelineStatus {
  incidentId: string;
  startedAt?: string;
  endedAt?: string;
  phase?: string;
  steps?: StatusStep[];
  notifications?: Array<{ action: string; notifier: string; step?: string; at: string; state: string }>;
}

/** The workflow's alert records (count and last occurrence), structurally AlertRecord's. */
export interface TimelineAlertRecord {
  alert: {
    id?: string;
    rule: string;
    source: string;
    severity?: string;
    summary?: string;
    observedAt?: string;
    receivedAt?: string;
  };
  count: number;
  lastSeenAt?: string;
}

export interface TimelineInput {
  incidentId: string;
  /** The sealed manifest (verified by whoever passes it); without it only the status is used. */
  manifest?: EvidenceManifest;
  status?: TimelineStatus;
  alerts?: TimelineAlertRecord[];
  /** Reads the manifest's artifacts; without it, no file, log or process rows. */
  reader?: ArtifactReader;
}

export interface TimelineLimits {
  /** All rows together; beyond it the earliest rows from the pod are left out first (counted in omitted.all). */
  rows: number;
  /** Rows from one artifact (log lines: the last ones are kept; file changes and processes: the first ones). */
  rowsPerSource: number;
  /** Characters of a row's text, and of each field. */
  text: number;
  field: number;
  /** Bytes read of a log (its tail) and of a JSON artifact (whole, or it is skipped with a note). */
  logBytes: number;
  jsonBytes: number;
  /** Log artifacts read. */
  logs: number;
  notes: number;
}

export const DEFAULT_TIMELINE_LIMITS: TimelineLimits = {
  rows: 10_000,
  rowsPerSource: 2_000,
  text: 300,
  field: 200,
  logBytes: 4 * 1024 * 1024,
  jsonBytes: 32 * 1024 * 1024,
  logs: 32,
  notes: 50,
};

// C0, DEL, C1, line/paragraph separators, bidirectional embeddings/overrides/isolates, BOM: never passed on.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

/**
 * Attacker text as it may travel: every unsafe character as visible `\uXXXX` and a backslash as `\\` (so an
 * escape the target typed cannot pass for one Holdfast wrote), bounded (… when cut).
 */
export function cleanText(value: unknown, max: number): string {
  const text = typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
  // Bound first (a huge line costs no more than `max`), then escape, then bound again (escapes lengthen it).
  const escaped = text
    .slice(0, max + 1)
    .replace(/\\/g, '\\\\')
    .replace(UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > max || text.length > max ? `${escaped.slice(0, max - 1)}…` : escaped;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A strict ISO 8601 time as UTC (`…Z`), its fraction kept to at most nine digits, with a sort key; undefined for
 * anything else (a forged or garbled time never becomes a row).
 */
export function normalizeTime(value: unknown): { at: string; key: string } | undefined {
  if (typeof value !== 'string' || value.length > 40) return undefined;
  const m = ISO.exec(value);
  if (!m) return undefined;
  const fraction = m[7] ?? '';
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8]}`);
  if (!Number.isFinite(ms) || ms < 0 || ms > Date.UTC(9999, 11, 31)) return undefined;
  const base = new Date(ms).toISOString().slice(0, 19);
  const at = `${base}${fraction ? `.${fraction.length < 3 ? fraction.padEnd(3, '0') : fraction}` : ''}Z`;
  return { at, key: `${base}.${fraction.padEnd(9, '0')}` };
}

interface Keyed extends TimelineRow {
  key: string;
  /** Ties at the same instant keep the order Holdfast's own rows were made in (steps in their order). */
  seq: number;
}

class Collector {
  readonly rows: Keyed[] = [];
  readonly omitted: Record<string, number> = {};
  readonly notes: string[] = [];
  private seq = 0;
  constructor(readonly limits: TimelineLimits) {}

  note(text: string): void {
    if (this.notes.length < this.limits.notes) this.notes.push(cleanText(text, 300));
    else this.omit('notes', 1);
  }

  omit(source: string, n: number): void {
    if (n > 0) this.omitted[source] = (this.omitted[source] ?? 0) + n;
  }

  /** A row, or nothing when its time is not a valid ISO time. */
  make(
    time: unknown,
    row: Omit<TimelineRow, 'at' | 'text' | 'fields'> & { text: unknown; fields?: Record<string, unknown> },
  ): Keyed | undefined {
    const t = normalizeTime(time);
    if (!t) return undefined;
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(row.fields ?? {}))
      if (v !== undefined && v !== null && v !== '') fields[k] = cleanText(v, this.limits.field);
    return {
      at: t.at,
      key: t.key,
      seq: this.seq++,
      kind: row.kind,
      what: row.what,
      source: cleanText(row.source, this.limits.field),
      origin: row.origin,
      text: cleanText(row.text, this.limits.text),
      ...(Object.keys(fields).length > 0 ? { fields } : {}),
    };
  }

  add(time: unknown, row: Parameters<Collector['make']>[1]): boolean {
    const made = this.make(time, row);
    if (made) this.rows.push(made);
    return Boolean(made);
  }
}

function alertRows(c: Collector, input: TimelineInput): void {
  const seen = new Set<string>();
  for (const alert of (input.manifest?.alerts ?? []).slice(0, 1000)) {
    if (!alert || typeof alert !== 'object') continue;
    if (alert.id) seen.add(String(alert.id));
    const fields = { rule: alert.rule, source: alert.source, severity: alert.severity, receivedAt: alert.receivedAt };
    c.add(alert.observedAt, {
      kind: 'alert',
      what: 'alert observed (sender clock)',
      source: 'manifest',
      origin: 'target',
      text: `${alert.rule}: ${alert.summary ?? ''}`,
      fields,
    });
    c.add(alert.receivedAt, {
      kind: 'alert',
      what: 'alert received',
      source: 'manifest',
      origin: 'target',
      text: alert.rule,
      fields: { rule: alert.rule, source: alert.source },
    });
  }
  for (const record of (input.alerts ?? []).slice(0, 1000)) {
    const a = record?.alert;
    if (!a) continue;
    if (!(a.id && seen.has(String(a.id)))) {
      c.add(a.observedAt, {
        kind: 'alert',
        what: 'alert observed (sender clock)',
        source: 'status',
        origin: 'target',
        text: `${a.rule}: ${a.summary ?? ''}`,
        fields: { rule: a.rule, source: a.source, severity: a.severity },
      });
    }
    // The last of several occurrences: the first is the alert's own row.
    if (record.count > 1 && record.lastSeenAt !== a.observedAt)
      c.add(record.lastSeenAt, {
        kind: 'alert',
        what: 'alert last occurrence',
        source: 'status',
        origin: 'target',
        text: `${a.rule} (${record.count} occurrences)`,
        fields: { rule: a.rule, occurrences: String(record.count) },
      });
  }
}

function statusRows(c: Collector, status: TimelineStatus): void {
  c.add(status.startedAt, {
    kind: 'step',
    what: 'incident opened',
    source: 'status',
    origin: 'holdfast',
    text: 'incident opened',
  });
  for (const step of (status.steps ?? []).slice(0, 200)) {
    const fields = { step: step.name, kind: step.kind };
    // A decision and the step it lets run share the workflow's clock: the decision goes first.
    if (step.decision)
      c.add(step.decision.at, {
        kind: 'decision',
        what: step.decision.approved ? 'approved' : 'rejected',
        source: 'status',
        origin: 'holdfast',
        text: `${step.name} ${step.decision.approved ? 'approved' : 'rejected'} by ${step.decision.by}${step.decision.role ? ` (${step.decision.role})` : ''}`,
        fields: { ...fields, by: step.decision.by, note: step.decision.note },
      });
    c.add(step.startedAt, {
      kind: 'step',
      what: 'step started',
      source: 'status',
      origin: 'holdfast',
      text: `${step.name} started`,
      fields,
    });
    c.add(step.endedAt, {
      kind: 'step',
      what: 'step ended',
      source: 'status',
      origin: 'holdfast',
      text: `${step.name} ${step.state ?? 'ended'}${step.error ? `: ${step.error}` : ''}`,
      fields,
    });
  }
  for (const n of (status.notifications ?? []).slice(0, 200))
    c.add(n.at, {
      kind: 'notification',
      what: 'page',
      source: 'status',
      origin: 'holdfast',
      text: `paged ${n.notifier} (${n.action}${n.step ? ` ${n.step}` : ''}): ${n.state}`,
    });
  c.add(status.endedAt, {
    kind: 'step',
    what: 'incident ended',
    source: 'status',
    origin: 'holdfast',
    text: `incident ${status.phase ?? 'ended'}`,
  });
}

/** Without the workflow's status (offline): each step's artifacts as stored, and the seal. */
function manifestRows(c: Collector, manifest: EvidenceManifest, withSteps: boolean): void {
  if (!withSteps) {
    const stored = manifest.artifacts.slice(0, c.limits.rowsPerSource);
    c.omit('manifest', manifest.artifacts.length - stored.length);
    for (const a of stored) {
      const path = relativeArtifactPath(manifest.incidentId, a.key) ?? a.key;
      c.add(a.capturedAt, {
        kind: 'artifact',
        what: 'artifact stored',
        source: path,
        origin: 'holdfast',
        text: `${path} stored (${a.size} bytes)`,
        fields: { step: path.split('/')[0], sha256: a.sha256 },
      });
    }
  }
  c.add(manifest.sealedAt, {
    kind: 'seal',
    what: 'sealed',
    source: 'manifest',
    origin: 'holdfast',
    text: 'evidence sealed (manifest signed)',
  });
}

interface Located {
  path: string;
  size: number;
  sha256: string;
}

/** Reads a JSON artifact whole (or notes why not): a partial or altered JSON artifact gives no rows. */
async function readJson(c: Collector, reader: ArtifactReader, artifact: Located): Promise<unknown> {
  if (artifact.size > c.limits.jsonBytes) {
    c.note(`${artifact.path}: ${artifact.size} bytes, more than the ${c.limits.jsonBytes} read: not in the timeline`);
    return undefined;
  }
  const got = await reader.read(artifact.path, { maxBytes: c.limits.jsonBytes });
  if (!got) {
    c.note(`${artifact.path}: not present in this evidence`);
    return undefined;
  }
  if (got.bytes.length !== artifact.size || sha256Hex(got.bytes) !== artifact.sha256) {
    c.note(`${artifact.path}: does not match the manifest's size and sha256: not in the timeline`);
    return undefined;
  }
  try {
    return JSON.parse(got.bytes.toString('utf8'));
  } catch {
    c.note(`${artifact.path}: not valid JSON: not in the timeline`);
    return undefined;
  }
}

async function fileRows(c: Collector, reader: ArtifactReader, artifact: Located): Promise<void> {
  const report = (await readJson(c, reader, artifact)) as
    { entries?: unknown; complete?: unknown; changedEntries?: unknown } | undefined;
  if (!report || !Array.isArray(report.entries)) return;
  let rows = 0;
  let beyond = 0;
  for (const entry of report.entries as Array<Record<string, unknown>>) {
    if (!entry || typeof entry !== 'object') continue;
    const path = entry.path;
    const fields = { path, type: entry.type, mode: entry.mode, uid: entry.uid, size: entry.size };
    // ctime is the kernel's (cannot be set back by an unprivileged process); mtime is whatever the file claims.
    for (const [what, time] of [
      ['ctime (inode change)', entry.ctime],
      ['mtime (settable by the target)', entry.mtime],
    ] as const) {
      if (time === undefined) continue;
      if (rows >= c.limits.rowsPerSource) {
        beyond++;
        continue;
      }
      if (c.add(time, { kind: 'file', what, source: artifact.path, origin: 'target', text: path, fields })) rows++;
    }
  }
  c.omit(artifact.path, beyond);
  if (Number.isSafeInteger(report.changedEntries) && (report.changedEntries as number) > report.entries.length)
    c.note(
      `${artifact.path}: lists ${report.entries.length} of ${String(report.changedEntries)} changed entries (its own bound)`,
    );
}

async function processRows(c: Collector, reader: ArtifactReader, artifact: Located): Promise<void> {
  const report = (await readJson(c, reader, artifact)) as { processes?: unknown } | undefined;
  if (!report || !Array.isArray(report.processes)) return;
  let rows = 0;
  let beyond = 0;
  let undated = 0;
  for (const p of report.processes as Array<Record<string, unknown>>) {
    if (!p || typeof p !== 'object') continue;
    if (p.startedAt === undefined) {
      undated++;
      continue;
    }
    if (rows >= c.limits.rowsPerSource) {
      beyond++;
      continue;
    }
    const text = typeof p.cmdline === 'string' && p.cmdline ? p.cmdline : p.comm;
    if (
      c.add(p.startedAt, {
        kind: 'process',
        what: 'process started',
        source: artifact.path,
        origin: 'target',
        text,
        fields: { pid: p.pid, ppid: p.ppid, uid: p.uid, comm: p.comm, exe: p.exe },
      })
    )
      rows++;
  }
  c.omit(artifact.path, beyond);
  if (undated > 0)
    c.note(
      `${artifact.path}: ${undated} process(es) without a start time (collected before start times were recorded)`,
    );
}

/** `<RFC 3339 time> <text>`: what the kubelet prefixes each line with (timestamps=true). */
const LOG_LINE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) ?(.*)$/s;

async function logRows(c: Collector, reader: ArtifactReader, artifact: Located): Promise<void> {
  const got = await reader.read(artifact.path, { maxBytes: c.limits.logBytes, tail: true });
  if (!got) {
    c.note(`${artifact.path}: not present in this evidence`);
    return;
  }
  const partial = got.bytes.length < got.size;
  const text = got.bytes.toString('utf8');
  let lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  // Read from the middle: the first line is cut; the earlier bytes are counted, not read.
  if (partial) {
    lines = lines.slice(1);
    c.note(`${artifact.path}: only its last ${got.bytes.length} of ${got.size} bytes were read`);
  }
  const container = artifact.path
    .split('/')
    .pop()!
    .replace(/(\.previous)?\.log$/, '');
  const kept = lines.slice(-c.limits.rowsPerSource);
  const dropped = lines.length - kept.length;
  let untimed = 0;
  for (const line of kept) {
    const m = LOG_LINE.exec(line);
    if (
      !m ||
      !c.add(m[1], {
        kind: 'log',
        what: 'log line',
        source: artifact.path,
        origin: 'target',
        text: m[2],
        fields: { container },
      })
    )
      untimed++;
  }
  c.omit(artifact.path, dropped);
  if (untimed > 0) c.note(`${artifact.path}: ${untimed} line(s) without a valid timestamp left out`);
}

/** Builds the timeline. Never throws on hostile content: what cannot be used is noted. */
export async function buildTimeline(input: TimelineInput, limits: Partial<TimelineLimits> = {}): Promise<Timeline> {
  const c = new Collector({ ...DEFAULT_TIMELINE_LIMITS, ...limits });
  alertRows(c, input);
  if (input.status) statusRows(c, input.status);
  const manifest = input.manifest;
  if (manifest) manifestRows(c, manifest, Boolean(input.status?.steps?.length));
  else c.note('no sealed evidence: only the workflow status is in this timeline');

  if (manifest && input.reader) {
    const located = manifest.artifacts.flatMap((a) => {
      const path = relativeArtifactPath(manifest.incidentId, a.key);
      return path ? [{ path, size: a.size, sha256: a.sha256 }] : [];
    });
    const logs = located.filter((a) => a.path.startsWith('logs/') && a.path.endsWith('.log'));
    for (const a of located.filter((x) => x.path.endsWith('/changed-files.json'))) await fileRows(c, input.reader, a);
    for (const a of located.filter((x) => x.path.endsWith('/processes.json'))) await processRows(c, input.reader, a);
    for (const a of logs.slice(0, c.limits.logs)) await logRows(c, input.reader, a);
    if (logs.length > c.limits.logs)
      c.note(`${logs.length - c.limits.logs} log artifact(s) beyond ${c.limits.logs} not read`);
  } else if (manifest) c.note('artifacts not read: no file, log or process rows');

  const sorted = c.rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.seq - b.seq));
  let rows = sorted;
  if (sorted.length > c.limits.rows) {
    // Holdfast's own rows are few and bounded: keep them all; leave out the earliest rows from the pod first.
    const ours = sorted.filter((r) => r.origin === 'holdfast').length;
    let dropTarget = sorted.length - c.limits.rows;
    const before = dropTarget;
    rows = sorted.filter((r) => {
      if (r.origin === 'target' && dropTarget > 0) {
        dropTarget--;
        return false;
      }
      return true;
    });
    c.omit('all', before - dropTarget);
    if (ours > c.limits.rows) {
      c.omit('all', rows.length - c.limits.rows);
      rows = rows.slice(-c.limits.rows);
    }
  }
  return {
    incidentId: input.incidentId,
    rows: rows.map(({ key: _key, seq: _seq, ...row }) => row),
    omitted: c.omitted,
    notes: c.notes,
  };
}

/**
 * A timeline as received from elsewhere (the API's answer, a file): only well-formed rows, every string bounded
 * and any unsafe character replaced, so a renderer can trust what it prints. A no-op on the builder's own output.
 */
export function scrubTimeline(value: unknown, limits: Partial<TimelineLimits> = {}): Timeline {
  const l = { ...DEFAULT_TIMELINE_LIMITS, ...limits };
  const v = (value ?? {}) as Partial<Timeline>;
  const s = (x: unknown, max: number) =>
    String(x ?? '')
      .replace(UNSAFE, '?')
      .slice(0, max);
  const rows: TimelineRow[] = [];
  for (const r of Array.isArray(v.rows) ? v.rows.slice(0, l.rows) : []) {
    if (!r || typeof r !== 'object' || !normalizeTime(r.at) || !(TIMELINE_KINDS as readonly string[]).includes(r.kind))
      continue;
    const fields = Object.entries(r.fields && typeof r.fields === 'object' ? r.fields : {})
      .slice(0, 20)
      .map(([k, x]) => [s(k, 40), s(x, l.field + 1)]);
    rows.push({
      at: normalizeTime(r.at)!.at,
      kind: r.kind,
      what: s(r.what, 60),
      source: s(r.source, l.field + 1),
      origin: r.origin === 'holdfast' ? 'holdfast' : 'target',
      text: s(r.text, l.text + 1),
      ...(fields.length ? { fields: Object.fromEntries(fields) } : {}),
    });
  }
  const omitted: Record<string, number> = {};
  for (const [k, n] of Object.entries(v.omitted && typeof v.omitted === 'object' ? v.omitted : {}).slice(0, 100))
    if (Number.isSafeInteger(n) && n > 0) omitted[s(k, l.field)] = n;
  return {
    incidentId: s(v.incidentId, 128),
    rows,
    omitted,
    notes: (Array.isArray(v.notes) ? v.notes : []).slice(0, l.notes).map((n) => s(n, 300)),
  };
}
