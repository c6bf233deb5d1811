/**
 * Shared helpers for alert formats: typed, bounded reads of an untrusted body that fail with the JSON
 * pointer of the field, target construction with Kubernetes name checks, and label bounding.
 */
import crypto from 'node:crypto';
import type { AlertTarget, Severity } from '../common/types';
import { boundedText, nameProblem, stripControlChars, type NameKind } from '../common/k8s-names';
import { AlertNotActionable, AlertRejected, type ParseContext } from './format';

export const LIMITS = {
  /** Alert.summary, UTF-8 bytes. */
  summaryBytes: 4096,
  /** Alert.rule, UTF-8 bytes. */
  ruleBytes: 256,
  labels: 64,
  labelKeyChars: 128,
  labelValueBytes: 1024,
  idChars: 128,
} as const;

/** RFC 6901 pointer from path segments. */
export function pointer(...segments: Array<string | number>): string {
  return segments.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function requireObject(value: unknown, field: string): Record<string, unknown> {
  if (!isObject(value)) throw new AlertRejected(field, 'must be an object');
  return value;
}

export function optionalObject(value: unknown, field: string): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  return requireObject(value, field);
}

/** A string field, or undefined when absent/null/empty. Wrong types and overlong values are refused. */
export function optionalString(value: unknown, field: string, maxChars = 65536): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new AlertRejected(field, 'must be a string');
  if (value.length > maxChars) throw new AlertRejected(field, `must be at most ${maxChars} characters`);
  return value;
}

export function requireString(value: unknown, field: string, maxChars = 65536): string {
  const s = optionalString(value, field, maxChars);
  if (s === undefined) throw new AlertRejected(field, 'is required');
  return s;
}

/** A Kubernetes name (or cluster name) when present; refused with 422 naming the field when invalid. */
export function optionalName(kind: NameKind, value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const problem = nameProblem(kind, value);
  if (problem) throw new AlertRejected(field, problem);
  return value as string;
}

export interface TargetInput {
  cluster?: { value: unknown; field: string };
  namespace?: { value: unknown; field: string };
  pod?: { value: unknown; field: string };
  container?: { value: unknown; field: string };
  node?: { value: unknown; field: string };
  /** The parse context: the default cluster, and the clusters served. */
  scope: Pick<ParseContext, 'defaultCluster' | 'knownClusters'>;
}

/**
 * Validates every name and returns the target. A pod needs its namespace; an alert with neither a pod
 * nor a node cannot be keyed to an incident: it is not actionable (AlertNotActionable, naming `missingField`).
 */
export function buildTarget(input: TargetInput, missingField: string): AlertTarget {
  const named = optionalName('cluster', input.cluster?.value, input.cluster?.field ?? '');
  const cluster = named ?? input.scope.defaultCluster;
  const clusterProblem = nameProblem('cluster', cluster);
  if (clusterProblem) throw new AlertRejected(input.cluster?.field ?? '', clusterProblem);
  // The alert's cluster is where the response acts: one no worker serves is refused, never acted on elsewhere.
  if (named && input.scope.knownClusters && !input.scope.knownClusters.has(named))
    throw new AlertRejected(input.cluster?.field ?? '', 'names a cluster Holdfast does not serve');
  const namespace = optionalName('namespace', input.namespace?.value, input.namespace?.field ?? '');
  const pod = optionalName('pod', input.pod?.value, input.pod?.field ?? '');
  const container = optionalName('container', input.container?.value, input.container?.field ?? '');
  const node = optionalName('node', input.node?.value, input.node?.field ?? '');
  if (pod && !namespace) throw new AlertRejected(input.namespace?.field ?? missingField, 'a pod needs its namespace');
  if (!pod && !node)
    throw new AlertNotActionable(missingField, 'the alert names neither a pod (namespace and pod) nor a node');
  const target: AlertTarget = { cluster };
  if (pod && namespace) {
    target.namespace = namespace;
    target.pod = pod;
    if (container) target.container = container;
  } else if (namespace) {
    target.namespace = namespace;
  }
  if (node) target.node = node;
  return target;
}

export function summaryText(text: string): string {
  return boundedText(text, LIMITS.summaryBytes);
}

export function ruleText(text: string): string {
  const r = boundedText(text, LIMITS.ruleBytes);
  return r === '' ? 'unknown' : r;
}

const LABEL_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._/:[\]-]*$/;

export function isLabelKey(key: string): boolean {
  return key.length <= LIMITS.labelKeyChars && LABEL_KEY_RE.test(key);
}

/** A label value as text: scalars only, control characters stripped, bounded. */
export function labelValue(value: unknown): string | undefined {
  if (typeof value === 'string') return boundedText(value, LIMITS.labelValueBytes);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/**
 * Labels derived from a vendor payload: `first` entries win, then the rest in key order; keys that do
 * not look like label keys and non-scalar values are skipped; at most LIMITS.labels entries.
 */
export function collectLabels(
  first: Record<string, unknown>,
  rest: Record<string, unknown> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  let count = 0;
  const add = (key: string, value: unknown) => {
    if (count >= LIMITS.labels || !isLabelKey(key) || Object.prototype.hasOwnProperty.call(out, key)) return;
    const v = labelValue(value);
    if (v === undefined) return;
    out[key] = v;
    count += 1;
  };
  for (const [k, v] of Object.entries(first)) add(k, v);
  for (const k of Object.keys(rest).sort()) add(k, rest[k]);
  return out;
}

/**
 * Labels a sender gave explicitly (generic format): every key and value must be valid, else 422 naming it.
 */
export function strictLabels(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  const obj = requireObject(value, field);
  const keys = Object.keys(obj);
  if (keys.length > LIMITS.labels) throw new AlertRejected(field, `at most ${LIMITS.labels} labels`);
  const out: Record<string, string> = {};
  for (const key of keys) {
    if (!isLabelKey(key))
      throw new AlertRejected(
        field + pointer(key),
        `label keys are 1-${LIMITS.labelKeyChars} characters of [A-Za-z0-9._/:-]`,
      );
    const v = obj[key];
    if (typeof v !== 'string') throw new AlertRejected(field + pointer(key), 'label values must be strings');
    if (v.length > LIMITS.labelValueBytes)
      throw new AlertRejected(field + pointer(key), `label values are at most ${LIMITS.labelValueBytes} characters`);
    out[key] = stripControlChars(v);
  }
  return out;
}

/** ISO 8601 UTC from a timestamp string, or undefined when absent or unparseable. */
export function isoTime(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 64) return undefined;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) return undefined;
  return new Date(ms).toISOString();
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:@-]*$/;

/** A sender-provided id: refused unless it is 1-128 of [A-Za-z0-9._:@-]. */
export function optionalId(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || value.length > LIMITS.idChars || !ID_RE.test(value)) {
    throw new AlertRejected(field, `must be 1-${LIMITS.idChars} characters of [A-Za-z0-9._:@-]`);
  }
  return value;
}

/** A stable id from the parts that identify an alert (not from the raw bytes, which vary with formatting). */
export function hashId(prefix: string, parts: Array<string | undefined>): string {
  const h = crypto
    .createHash('sha256')
    .update(parts.map((p) => p ?? '').join('\u0000'))
    .digest('hex');
  return `${prefix}-${h.slice(0, 32)}`;
}

export function severityFromWord(word: string | undefined, fallback: Severity): Severity {
  switch ((word ?? '').trim().toLowerCase()) {
    case 'critical':
    case 'crit':
    case 'emergency':
    case 'alert':
    case 'fatal':
    case 'page':
    case 'p1':
      return 'critical';
    case 'high':
    case 'error':
    case 'err':
    case 'major':
    case 'p2':
      return 'high';
    case 'medium':
    case 'warning':
    case 'warn':
    case 'moderate':
    case 'p3':
      return 'medium';
    case 'low':
    case 'minor':
    case 'notice':
    case 'p4':
      return 'low';
    case 'info':
    case 'informational':
    case 'information':
    case 'none':
    case 'debug':
    case 'p5':
      return 'info';
    default:
      return fallback;
  }
}

/**
 * Parses each entry of a multi-alert body. With `ctx.reject`, a refused entry is reported there and the
 * others go on; without it, the first refused entry refuses the body (as a single-alert format does).
 */
export function parseEach<T, R>(
  entries: readonly T[],
  reject: ((problem: AlertRejected) => void) | undefined,
  parseOne: (entry: T, index: number) => R,
): R[] {
  const parsed: R[] = [];
  entries.forEach((entry, i) => {
    try {
      parsed.push(parseOne(entry, i));
    } catch (err) {
      if (!(err instanceof AlertRejected) || !reject) throw err;
      reject(err);
    }
  });
  return parsed;
}
