import { Type } from '@sinclair/typebox';
import { TIMELINE_KINDS } from '../../evidence/timeline';

/** One row: bounded, control characters already escaped by the builder (evidence/timeline.ts). */
export const TimelineRowSchema = Type.Object({
  at: Type.String({ maxLength: 40, description: 'ISO 8601 UTC, up to nanoseconds' }),
  kind: Type.Union(TIMELINE_KINDS.map((k) => Type.Literal(k))),
  what: Type.String({ maxLength: 60, description: "what the time is (Timesketch's timestamp_desc)" }),
  source: Type.String({ maxLength: 201, description: 'the artifact (<step>/<name>), or status / manifest' }),
  origin: Type.Union([Type.Literal('holdfast'), Type.Literal('target')], {
    description: 'whose words `text` is: target text is attacker-controlled',
  }),
  text: Type.String({ maxLength: 301 }),
  fields: Type.Optional(Type.Record(Type.String({ maxLength: 40 }), Type.String({ maxLength: 201 }))),
});

export const TimelineResponse = Type.Object({
  incidentId: Type.String(),
  rows: Type.Array(TimelineRowSchema, { maxItems: 10_000 }),
  omitted: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
    description: 'rows left out by the bounds, by source (`all`: the overall bound)',
  }),
  notes: Type.Array(Type.String({ maxLength: 300 }), { maxItems: 50 }),
});
