import type { TSchema } from '@sinclair/typebox';
import type { Alert } from '../../common/types';

/** What every parse gets besides the body. */
export interface ParseContext {
  /** SHA-256 (hex) of the exact request bytes. */
  rawSha256: string;
  /** ISO 8601 UTC. */
  receivedAt: string;
  /** Cluster name used when the alert does not say (already validated by configuration). */
  defaultCluster: string;
}

/**
 * One alert format. Adding a format is one file exporting one of these plus one line in registry.ts.
 * `bodySchema` is structural only (types, sizes) and feeds fastify validation (400) and /openapi.json;
 * `parse` applies the semantic rules (Kubernetes names, bounds) and throws AlertRejected (422).
 */
export interface AlertFormat {
  name: string;
  /** POST route, e.g. '/v1/alerts/falco'. */
  route: string;
  description: string;
  bodySchema: TSchema;
  /** A valid body, for documentation and tests. */
  example: unknown;
  parse(body: unknown, ctx: ParseContext): Alert[];
}

/**
 * The alert is refused: a name fails Kubernetes validation or a field is missing, mistyped or too large.
 * `field` is the JSON pointer (RFC 6901) of the offending field in the request body. The message never
 * contains the offending value.
 */
export class AlertRejected extends Error {
  override name = 'AlertRejected';
  readonly status = 422 as const;
  constructor(readonly field: string, message: string) {
    super(`${field || '/'}: ${message}`);
  }
}
