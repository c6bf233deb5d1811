/**
 * Pieces the formats' body schemas share. Body schemas are structural (types and generous size bounds,
 * answered 400 by fastify). Kubernetes name rules are applied by the format's parse() and answered 422
 * with the field's JSON pointer, so a bad pod name is reported the same way whichever format carried it.
 */
import { Type } from '@sinclair/typebox';
import { SEVERITIES } from '../common/types';

/** A name-ish string as it arrives (validated by parse, not here): only a size bound. */
export const RawName = Type.String({ maxLength: 1024 });
/** Free text an attacker may control; parse strips control characters and truncates. */
export const RawText = (maxLength: number, description?: string) =>
  Type.String({ maxLength, ...(description ? { description } : {}) });
/** Timestamps as sources send them (RFC 3339, possibly with nanoseconds). */
export const RawTime = Type.String({ maxLength: 64 });

export const SeveritySchema = Type.Union(SEVERITIES.map((s) => Type.Literal(s)));

/** Labels a sender gives explicitly: at most 64 string values. */
export const LabelsSchema = Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 1024 }), {
  maxProperties: 64,
});
