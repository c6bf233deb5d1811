import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { temporalUiLink, type IncidentsService } from '../incidents';
import { HttpProblem } from '../errors';
import {
  ActionBody,
  ActionParams,
  HistoryQuery,
  IncidentDetail,
  IncidentIdParams,
  IncidentList,
  listIncidentsQuery,
} from '../schemas/incidents';

/** Where incidents can be looked at in the Temporal Web UI. */
export interface TemporalUi {
  /** Base URL, without a trailing slash. */
  url: string;
  namespace: string;
}

/**
 * Responder API: list and read incidents from Temporal, and act on them through signals. `alertSources`:
 * what the list's `?source=` accepts (default: every registered alert format's name). `temporalUi`: when
 * set, an incident links to its current run there.
 */
export function incidentRoutes(
  incidents: IncidentsService,
  alertSources?: readonly string[],
  temporalUi?: TemporalUi,
): FastifyPluginAsyncTypebox {
  return async (app) => {
    const read = { preHandler: app.requireRole('responder', 'investigator') };

    app.get(
      '/v1/incidents',
      {
        ...read,
        schema: {
          summary: 'List incidents (newest first)',
          querystring: listIncidentsQuery(alertSources),
          response: { 200: IncidentList },
        },
      },
      async (request) => {
        const { pageSize, pageToken, ...filters } = request.query;
        return incidents.list(filters, pageSize, pageToken);
      },
    );

    app.get(
      '/v1/incidents/:incidentId',
      {
        ...read,
        schema: {
          summary: 'An incident: each step, its alerts, upload progress, its Temporal workflow and run',
          params: IncidentIdParams,
          response: { 200: IncidentDetail },
        },
      },
      async (request) => {
        const detail = await incidents.get(request.params.incidentId);
        return temporalUi
          ? {
              ...detail,
              temporalUiUrl: temporalUiLink(temporalUi.url, temporalUi.namespace, detail.workflowId, detail.runId),
            }
          : detail;
      },
    );

    app.get(
      '/v1/incidents/:incidentId/history',
      {
        ...read,
        schema: {
          summary: "The incident workflow's event history (paginated)",
          params: IncidentIdParams,
          querystring: HistoryQuery,
        },
      },
      async (request) => incidents.history(request.params.incidentId, request.query.pageSize, request.query.pageToken),
    );

    app.post(
      '/v1/incidents/:incidentId/:action',
      {
        preHandler: app.requireRole('responder'),
        schema: {
          summary: 'acknowledge | approve | reject | resolve | cancel',
          params: ActionParams,
          body: ActionBody,
        },
      },
      async (request, reply) => {
        const { incidentId, action } = request.params;
        const body = request.body ?? {};
        if ((action === 'approve' || action === 'reject') && !body.step) {
          throw new HttpProblem(400, 'Bad Request', `${action} needs "step": the gated step (e.g. "isolate")`, {
            errors: [{ field: 'body/step', message: 'required' }],
          });
        }
        const { name, role } = request.principal!;
        // The person whose token was used, never a name from the body: decisions are recorded as theirs.
        await incidents.act(incidentId, action, { ...body, by: name, role });
        request.log.info({ incidentId, action, by: name, role }, 'incident action');
        return reply.code(202).send({ incidentId, action, accepted: true });
      },
    );
  };
}
