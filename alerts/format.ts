import type { TSchema } from '@sinclair/typebox';
import type { Alert } from '../common/types';

/** What every parse gets besides the body. */
export interface ParseContext {
  /** SHA-256 (hex) of the exact request bytes. */
  rawSha256: string;
  /** ISO 8601 UTC. */
  receivedAt: string;
  /** Cluster name used when the alert does not say (already validated by configuration). */
  defaultCluster: string;
  /**
   * The clusters Holdfast serves (HOLDFAST_CLUSTERS): an alert naming another is refused (`unknown_cluster`),
   * since no worker could act on it. Unset: any valid name (tests of parsing alone).
   */
  knownClusters?: ReadonlySet<string>;
  /**
   * A format that carries several alerts (grouped) reports a bad entry here and goes on with the others, so
   * one bad entry does not lose the group; without it, the first bad entry refuses the whole body.
   */
  reject?: (problem: AlertRejected) => void;
}

/**
 * One alert format. Adding a format is one file in formats/ exporting one of these (made with
 * defineAlertFormat, which keeps the name's literal type) plus one line in registry.ts.
 * `bodySchema` is structural only (types, sizes) and feeds fastify validation (400) and /openapi.json;
 * `parse` applies the semantic rules (Kubernetes names, bounds) and throws AlertRejected (422).
 */
export interface AlertFormat<N extends string = string> {
  /**
   * Also the `source` of every alert it parses: the value playbooks match (`match.sources`), the incidents
   * list filters by (`?source=`) and metrics are labelled with.
   */
  name: N;
  /** POST route, e.g. '/v1/alerts/falco'. */
  route: string;
  description: string;
  bodySchema: TSchema;
  /** A valid body, for documentation and tests. */
  example: unknown;
  /**
   * One request carries a group of alerts (as Alertmanager's does): the answer is every incident and the
   * number of resolved alerts, `{incidents, resolved}`, rather than the one incident.
   */
  grouped?: boolean;
  parse(body: unknown, ctx: ParseContext): Alert[];
}

/** A format with its name as a literal type, so the registry can derive AlertSource from its list. */
export function defineAlertFormat<const N extends string>(format: AlertFormat<N>): AlertFormat<N> {
  return format;
}

/**
 * The alert is refused: a name fails Kubernetes validation or a field is missing, mistyped or too large.
 * `field` is the JSON pointer (RFC 6901) of the offending field in the request body. The message never
 * contains the offending value.
 */
export class AlertRejected extends Error {
  override name = 'AlertRejected';
  readonly status = 422 as const;
  /** The message without the field: what the answer lists next to the field. */
  readonly problem: string;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field || '/'}: ${message}`);
    this.problem = message;
  }

  /** A bounded reason for metrics labels and logs, classified from our own message (never the value). */
  get reason(): RejectionReason {
    return REASON_PATTERNS.find(([pattern]) => pattern.test(this.problem))?.[1] ?? 'invalid_value';
  }
}

/**
 * The alert is sound but names neither a pod nor a node: nothing to preserve, capture or contain. It is not
 * an error (an Alertmanager group often mixes service-level alerts with pod alerts): the answer lists it as
 * not actionable, the API logs it and counts it (`outcome="not_actionable"`), and no incident opens.
 */
export class AlertNotActionable extends AlertRejected {
  override name = 'AlertNotActionable';
}

export const REJECTION_REASONS = [
  'invalid_name',
  'missing_field',
  'wrong_type',
  'too_large',
  'invalid_time',
  'unsupported',
  'invalid_value',
  'not_actionable',
  'unknown_cluster',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

const REASON_PATTERNS: Array<[RegExp, RejectionReason]> = [
  [/names neither a pod/, 'not_actionable'],
  [/a cluster Holdfast does not serve/, 'unknown_cluster'],
  [/name is not valid|must not be empty/, 'invalid_name'],
  [/is required|non-empty|needs its/, 'missing_field'],
  [/must be (a string|an object|strings)|must be a number|values must be strings/, 'wrong_type'],
  [/at most/, 'too_large'],
  [/timestamp/, 'invalid_time'],
  [/only .*understood|must be 'GuardDuty/, 'unsupported'],
];
