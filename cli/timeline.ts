/**
 * `holdfast incidents timeline <incidentId> [--format table|jsonl|timesketch|timesketch-csv] [--evidence DIR|FILE]`
 *
 * From the API (GET /v1/incidents/{id}/timeline), or offline from downloaded evidence (`--evidence`, a directory or
 * bundle; the manifest's artifacts are read, not verified: run `holdfast evidence verify` for that). Target text in
 * every row is already escaped and bounded by the builder (evidence/timeline.ts); the table also quotes it, so a
 * log line can never look like a row or a column of Holdfast's own.
 */
import fs from 'node:fs';
import { parseManifest } from '../evidence/manifest';
import { INCIDENT_ID_PATTERN } from '../evidence/names';
import { directoryReader, readBundle } from '../evidence/artifact-readers';
import {
  buildTimeline,
  DEFAULT_TIMELINE_LIMITS,
  scrubTimeline,
  type Timeline,
  type TimelineRow,
} from '../evidence/timeline';
import type { ApiClient } from './http';
import type { CliIo } from './main';

export const TIMELINE_FORMATS = ['table', 'jsonl', 'timesketch', 'timesketch-csv'] as const;
export type TimelineFormat = (typeof TIMELINE_FORMATS)[number];

/** The table: one line per row; target text JSON-quoted in the last column. */
export function renderTable(timeline: Timeline): string[] {
  const width = { at: 30, kind: 12, what: 30, source: 40 };
  const cell = (text: string, w: number) => (text.length > w ? `${text.slice(0, w - 1)}…` : text.padEnd(w));
  const lines = [
    `${cell('TIME (UTC)', width.at)} ${cell('KIND', width.kind)} ${cell('WHAT', width.what)} ${cell('SOURCE', width.source)} TEXT`,
  ];
  for (const r of timeline.rows) {
    // The builder escaped every control character already; quoting marks whose words these are.
    const text = r.origin === 'target' ? `"${r.text.replace(/"/g, '\\"')}"` : r.text;
    lines.push(
      `${cell(r.at, width.at)} ${cell(r.kind, width.kind)} ${cell(r.what, width.what)} ${cell(r.source, width.source)} ${text}`,
    );
  }
  if (timeline.rows.length === 0) lines.push('(no rows)');
  const omitted = Object.entries(timeline.omitted);
  const total = omitted.reduce((n, [, v]) => n + v, 0);
  lines.push(
    `${timeline.rows.length} row(s)${total ? `; ${total} left out by the bounds (${omitted.map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}; quoted text is the target's (escaped: \\\\ a backslash, \\uXXXX a control character)`,
  );
  for (const note of timeline.notes) lines.push(`note: ${note}`);
  return lines;
}

/** One JSON object per row (the rows as the builder made them), then one trailer with what was left out. */
export function renderJsonl(timeline: Timeline): string[] {
  return [
    ...timeline.rows.map((r) => JSON.stringify({ incidentId: timeline.incidentId, ...r })),
    JSON.stringify({
      incidentId: timeline.incidentId,
      trailer: true,
      rows: timeline.rows.length,
      omitted: timeline.omitted,
      notes: timeline.notes,
    }),
  ];
}

/** Timesketch's import fields (message, datetime, timestamp_desc) plus ours. */
function timesketchRecord(incidentId: string, r: TimelineRow): Record<string, string> {
  return {
    message: `[${r.kind}] ${r.text}`,
    datetime: r.at,
    timestamp_desc: r.what,
    incident_id: incidentId,
    artifact: r.source,
    kind: r.kind,
    origin: r.origin,
    ...Object.fromEntries(Object.entries(r.fields ?? {}).map(([k, v]) => [`holdfast_${k}`, v])),
  };
}

/** Timesketch JSONL: one event per line. */
export function renderTimesketch(timeline: Timeline): string[] {
  return timeline.rows.map((r) => JSON.stringify(timesketchRecord(timeline.incidentId, r)));
}

/** A CSV cell: quoted, quotes doubled, and a leading = + - @ neutralised so a spreadsheet never runs it. */
function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return `"${safe.replace(/"/g, '""')}"`;
}

/** Timesketch CSV: message, datetime, timestamp_desc first, then our columns. */
export function renderTimesketchCsv(timeline: Timeline): string[] {
  const records = timeline.rows.map((r) => timesketchRecord(timeline.incidentId, r));
  const fixed = ['message', 'datetime', 'timestamp_desc', 'incident_id', 'artifact', 'kind', 'origin'];
  const extra = [...new Set(records.flatMap((r) => Object.keys(r)).filter((k) => !fixed.includes(k)))].sort();
  const columns = [...fixed, ...extra];
  return [columns.join(','), ...records.map((r) => columns.map((c) => csvCell(r[c] ?? '')).join(','))];
}

export function renderTimeline(timeline: Timeline, format: TimelineFormat): string[] {
  if (format === 'jsonl') return renderJsonl(timeline);
  if (format === 'timesketch') return renderTimesketch(timeline);
  if (format === 'timesketch-csv') return renderTimesketchCsv(timeline);
  return renderTable(timeline);
}

/** The timeline of downloaded evidence (a directory or a bundle), without the workflow's status. */
export async function offlineTimeline(target: string, incidentId?: string): Promise<Timeline> {
  const stat = fs.statSync(target, { throwIfNoEntry: false });
  if (!stat) throw new Error(`${target} does not exist`);
  const wanted = (name: string) =>
    name.endsWith('/changed-files.json') || name.endsWith('/processes.json')
      ? { maxBytes: DEFAULT_TIMELINE_LIMITS.jsonBytes }
      : name.startsWith('logs/') && name.endsWith('.log')
        ? { maxBytes: DEFAULT_TIMELINE_LIMITS.logBytes, tail: true }
        : undefined;
  let manifestBytes: Buffer | undefined;
  let reader;
  const problems: string[] = [];
  if (stat.isDirectory()) {
    reader = directoryReader(target);
    manifestBytes = (await reader.read('manifest.json', { maxBytes: 64 * 1024 * 1024 }))?.bytes;
  } else {
    const bundle = await readBundle(target, wanted);
    ({ manifestBytes, reader } = bundle);
    problems.push(...bundle.problems);
  }
  if (!manifestBytes) throw new Error(`${target} holds no manifest.json`);
  const manifest = parseManifest(manifestBytes);
  if (incidentId && manifest.incidentId !== incidentId)
    throw new Error(`${target} is the evidence of ${manifest.incidentId}, not ${incidentId}`);
  const timeline = await buildTimeline({ incidentId: manifest.incidentId, manifest, reader });
  timeline.notes.unshift(
    ...problems.map((p) => p.slice(0, 300)),
    'built from downloaded evidence, not verified here (holdfast evidence verify); workflow steps and decisions need the API',
  );
  return timeline;
}

/** `holdfast incidents timeline <incidentId>`. */
export async function incidentsTimeline(
  io: CliIo,
  api: () => ApiClient,
  options: { format?: string; evidence?: string; json?: boolean },
  positionals: string[],
): Promise<number> {
  const incidentId = positionals[0];
  if (!incidentId || !INCIDENT_ID_PATTERN.test(incidentId))
    throw new Error(
      `"${(incidentId ?? '').slice(0, 80)}" is not an incident id (lowercase letters, digits and dashes)`,
    );
  const format = (options.format ?? (options.json ? 'jsonl' : 'table')) as TimelineFormat;
  if (!TIMELINE_FORMATS.includes(format)) throw new Error(`--format must be one of ${TIMELINE_FORMATS.join(', ')}`);
  const timeline = options.evidence
    ? await offlineTimeline(options.evidence, incidentId)
    : scrubTimeline(await api().getJson<unknown>(`/v1/incidents/${incidentId}/timeline`));
  for (const line of renderTimeline(timeline, format)) io.stdout.write(`${line}\n`);
  return 0;
}
