import { Type } from '@sinclair/typebox';
import { ALERT_SOURCES } from '../../alerts/registry';
import { SEVERITIES } from '../../common/types';

const Name = Type.String({ pattern: '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$', maxLength: 253 });

export const IncidentIdParams = Type.Object({
  incidentId: Type.String({ pattern: '^inc-[0-9a-f-]{36}$', description: 'as returned when the alert was accepted' }),
});

/** `sources`: the values `?source=` accepts, the names of the accepted alert formats (the registry's unless given). */
export const listIncidentsQuery = (sources: readonly string[] = ALERT_SOURCES) =>
  Type.Object(
    {
      status: Type.Optional(Type.String({ pattern: '^[a-z-]{1,32}$' })),
      namespace: Type.Optional(Name),
      pod: Type.Optional(Name),
      cluster: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$' })),
      severity: Type.Optional(Type.Union(SEVERITIES.map((s) => Type.Literal(s)))),
      source: Type.Optional(Type.Union(sources.map((s) => Type.Literal(s)))),
      pageSize: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
      pageToken: Type.Optional(Type.String({ maxLength: 4096, pattern: '^[A-Za-z0-9_-]+$' })),
    },
    { additionalProperties: false },
  );

export const HistoryQuery = Type.Object(
  {
    pageSize: Type.Integer({ minimum: 1, maximum: 1000, default: 200 }),
    pageToken: Type.Optional(Type.String({ maxLength: 4096, pattern: '^[A-Za-z0-9_-]+$' })),
  },
  { additionalProperties: false },
);

export const IncidentAction = Type.Union([
  Type.Literal('acknowledge'),
  Type.Literal('approve'),
  Type.Literal('reject'),
  Type.Literal('resolve'),
  Type.Literal('cancel'),
]);

export const ActionParams = Type.Object({
  incidentId: IncidentIdParams.properties.incidentId,
  action: IncidentAction,
});

export const ActionBody = Type.Object(
  {
    /** The gated step, for approve/reject. */
    step: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' })),
    note: Type.Optional(Type.String({ maxLength: 2000 })),
    /** resolve only: undo containment (isolation, cordon); default from the playbook. */
    undoContainment: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const IncidentSummary = Type.Object({
  incidentId: Type.String(),
  workflowId: Type.String(),
  status: Type.String(),
  severity: Type.Optional(Type.String()),
  cluster: Type.Optional(Type.String()),
  namespace: Type.Optional(Type.String()),
  pod: Type.Optional(Type.String()),
  source: Type.Optional(Type.String()),
  startedAt: Type.Optional(Type.String()),
  closedAt: Type.Optional(Type.String()),
});

export const IncidentList = Type.Object({
  incidents: Type.Array(IncidentSummary),
  nextPageToken: Type.Optional(Type.String()),
});

export const IncidentDetail = Type.Object({
  status: Type.Unknown({ description: "the incident's state: phase, target, steps, notifications, evidence key" }),
  alerts: Type.Array(Type.Unknown(), { description: 'distinct alerts with their counts' }),
  running: Type.Boolean(),
  progress: Type.Array(Type.Object({ activity: Type.String(), details: Type.Unknown() }), {
    description: 'activities running now, with their last heartbeat (e.g. upload progress)',
  }),
  workflowId: Type.String({ description: "the incident's Temporal workflow id" }),
  runId: Type.String({
    description: 'its current run: the first run (whose id the incident id carries) unless it continued as new',
  }),
  temporalUiUrl: Type.Optional(
    Type.String({ description: 'the current run in the Temporal Web UI; only when HOLDFAST_TEMPORAL_UI_URL is set' }),
  ),
  nextIncidentId: Type.Optional(
    Type.String({
      description:
        'alerts that arrived while this incident closed (status.handedOver) opened this incident; absent until it is open',
    }),
  ),
});
