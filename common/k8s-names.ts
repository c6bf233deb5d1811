/**
 * Kubernetes name rules and bounded-text helpers. Pure (no I/O, no clock): usable from api/, activities/
 * and the workflow sandbox alike.
 *
 * Everything an alert says is attacker-influenced. Names that pass these checks contain only
 * [a-z0-9.-] (cluster: [A-Za-z0-9._-]) and cannot hold "/", "..", spaces, quotes, "$" or control
 * characters, so they are safe in workflow ids, labels and object keys. They still never reach a shell.
 */

export const DNS1123_LABEL_MAX = 63;
export const DNS1123_SUBDOMAIN_MAX = 253;
export const CLUSTER_NAME_MAX = 100;

const LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CLUSTER_RE = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,99}$/;

/** RFC 1123 label as Kubernetes checks it (namespaces, container names): at most 63, [a-z0-9-], alphanumeric ends. */
export function isDns1123Label(value: unknown): value is string {
  return typeof value === 'string' && value.length <= DNS1123_LABEL_MAX && LABEL_RE.test(value);
}

/** RFC 1123 subdomain as Kubernetes checks it (pod and node names): at most 253, dot-separated labels. */
export function isDns1123Subdomain(value: unknown): value is string {
  return typeof value === 'string' && value.length <= DNS1123_SUBDOMAIN_MAX && SUBDOMAIN_RE.test(value);
}

/** Holdfast's conservative cluster name: 1–100 of [A-Za-z0-9._-], alphanumeric first, no "..". */
export function isClusterName(value: unknown): value is string {
  return typeof value === 'string' && CLUSTER_RE.test(value) && !value.includes('..');
}

export type NameKind = 'cluster' | 'namespace' | 'pod' | 'container' | 'node';

const RULES: Record<NameKind, { check: (v: unknown) => boolean; rule: string }> = {
  cluster: {
    check: isClusterName,
    rule: `1-${CLUSTER_NAME_MAX} characters of [A-Za-z0-9._-] starting with a letter or digit`,
  },
  namespace: {
    check: isDns1123Label,
    rule: `an RFC 1123 label (lowercase alphanumerics and '-', at most ${DNS1123_LABEL_MAX})`,
  },
  pod: {
    check: isDns1123Subdomain,
    rule: `an RFC 1123 subdomain (lowercase alphanumerics, '-' and '.', at most ${DNS1123_SUBDOMAIN_MAX})`,
  },
  container: {
    check: isDns1123Label,
    rule: `an RFC 1123 label (lowercase alphanumerics and '-', at most ${DNS1123_LABEL_MAX})`,
  },
  node: {
    check: isDns1123Subdomain,
    rule: `an RFC 1123 subdomain (lowercase alphanumerics, '-' and '.', at most ${DNS1123_SUBDOMAIN_MAX})`,
  },
};

/**
 * Why `value` is not a valid name of this kind, or undefined when it is. The message never echoes the
 * value (it is attacker text).
 */
export function nameProblem(kind: NameKind, value: unknown): string | undefined {
  if (typeof value !== 'string') return `${kind} must be a string`;
  if (value.length === 0) return `${kind} must not be empty`;
  const rule = RULES[kind];
  return rule.check(value) ? undefined : `${kind} name is not valid: it must be ${rule.rule}`;
}

export function isValidName(kind: NameKind, value: unknown): value is string {
  return nameProblem(kind, value) === undefined;
}

// ---- Bounded text ----

/**
 * C0 controls, DEL, C1 controls, line/paragraph separators, bidi overrides/isolates and zero-width
 * joiners/BOM: anything that can forge a new log line, reorder text on screen or hide characters.
 */
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff]/g;

/** Replaces control and invisible formatting characters with a space and collapses runs of spaces. */
export function stripControlChars(text: string): string {
  return text.replace(CONTROL_RE, ' ').replace(/ {2,}/g, ' ').trim();
}

function utf8Length(ch: string): number {
  const cp = ch.codePointAt(0) ?? 0;
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/** UTF-8 byte length without Buffer (which the workflow sandbox lacks). */
export function utf8ByteLength(text: string): number {
  let n = 0;
  for (const ch of text) n += utf8Length(ch);
  return n;
}

/** Truncates to at most `maxBytes` of UTF-8, never splitting a character; marks a cut with "…". */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length * 4 <= maxBytes || utf8ByteLength(text) <= maxBytes) return text;
  const budget = maxBytes - 3; // "…" is 3 bytes
  let bytes = 0;
  let out = '';
  for (const ch of text) {
    const n = utf8Length(ch);
    if (bytes + n > budget) break;
    bytes += n;
    out += ch;
  }
  return out + '…';
}

/** Control characters stripped, then bounded to `maxBytes` of UTF-8. */
export function boundedText(text: string, maxBytes: number): string {
  return truncateUtf8(stripControlChars(text), maxBytes);
}
