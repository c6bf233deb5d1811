/**
 * Responses of the alert intake routes. Each format's body schema lives next to its parser in
 * alerts/formats/<name>.ts, built from the pieces in alerts/schemas.ts.
 */
import { Type } from '@sinclair/typebox';

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
  errors: Type.Array(
    Type.Object({ field: Type.String({ description: 'JSON pointer into the request body' }), message: Type.String() }),
  ),
});
