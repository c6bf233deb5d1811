/**
 * Schemas shared by the alert intake routes. Each format's body schema lives next to its parser in
 * api/formats/<name>.ts; these are the common pieces and the responses.
 *
 * Body schemas are structural (types and generous size bounds, answered 400 by fastify). Kubernetes name
 * rules are applied by the format's parse() and answered 422 with the field's JSON pointer, so a bad pod
 * name is reported the same way whichever format carried it.
 */
import { Type } from '@sinclair/typebox';
import { SEVERITIES } from '../../common/types';

/** A name-ish string as it arrives (validated by parse, not here): only a size bound. */
export const RawName = Type.String({ maxLength: 1024 });
/** Free text an attacker may control; parse strips control characters and truncates. */
export const RawText = (maxLength: number, description?: string) => Type.String({ maxLength, ...(description ? { description } : {}) });
/** Timestamps as sources send them (RFC 3339, possibly with nanoseconds). */
export const RawTime = Type.String({ maxLength: 64 });

export const SeveritySchema = Type.Union(SEVERITIES.map((s) => Type.Literal(s)));

/** Labels a sender gives explicitly: at most 64 string values. */
export const LabelsSchema = Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 1024 }), { maxProperties: 64 });

export const AlertAcceptedResponse = Type.Object({
  incidentId: Type.String(),
  workflowId: Type.String(),
  deduplicated: Type.Boolean(),
});

export const AlertGroupAcceptedResponse = Type.Object({
  incidents: Type.Array(AlertAcceptedResponse),
  resolved: Type.Integer({ minimum: 0 }),
});

/** The 422 body (problem+json) when parse refuses an alert. */
export const AlertRejectedResponse = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Literal(422),
  detail: Type.Optional(Type.String()),
  errors: Type.Array(Type.Object({ field: Type.String({ description: 'JSON pointer into the request body' }), message: Type.String() })),
});
