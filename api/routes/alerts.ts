import crypto from 'node:crypto';
import type { TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Alert } from '../../common/types';
import { HttpProblem } from '../errors';
import type { AlertIntake } from '../intake';
import type { ApiMetrics } from '../metrics';

/** What the intake routes need of an alert format (see alerts/format.ts). */
export interface AlertFormatLike {
  name: string;
  route: string;
  bodySchema: TSchema;
  grouped?: boolean;
  parse(body: unknown, ctx: { rawSha256: string; receivedAt: string; defaultCluster: string }): Alert[];
}

export interface AlertRouteDeps {
  intake: AlertIntake;
  metrics: ApiMetrics;
  formats: readonly AlertFormatLike[];
  defaultCluster: string;
}

interface IncidentAccepted {
  incidentId: string;
  workflowId: string;
  deduplicated: boolean;
}

/** A format's parse error that names the offending field: answered as 422. */
function asProblem(err: unknown): unknown {
  const e = err as { status?: number; field?: string; message?: string };
  if (e && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return new HttpProblem(
      e.status,
      e.status === 422 ? 'Unprocessable Content' : 'Bad Request',
      e.message,
      e.field ? { errors: [{ field: e.field, message: e.message }] } : {},
    );
  }
  return err;
}

/** One POST route per alert format; every route authorizes the intake role (or a webhook signature). */
export function alertRoutes(deps: AlertRouteDeps): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    for (const format of deps.formats) {
      app.post(
        format.route,
        {
          preHandler: app.requireRole('intake'),
          schema: { summary: `Accept a ${format.name} alert`, body: format.bodySchema },
        },
        async (request, reply) => {
          const timer = deps.metrics.intakeSeconds.startTimer({ source: format.name });
          const rawSha256 = crypto
            .createHash('sha256')
            .update(request.rawBody ?? Buffer.alloc(0))
            .digest('hex');
          let alerts: Alert[];
          try {
            alerts = format.parse(request.body, {
              rawSha256,
              receivedAt: new Date().toISOString(),
              defaultCluster: deps.defaultCluster,
            });
          } catch (err) {
            deps.metrics.alertsReceived.inc({ source: format.name, outcome: 'rejected' });
            throw asProblem(err);
          }
          const firing = alerts.filter((a) => a.status === 'firing');
          const resolved = alerts.filter((a) => a.status === 'resolved');
          let accepted: IncidentAccepted[];
          try {
            const results = await Promise.all(firing.map((alert) => deps.intake.accept(alert)));
            // A resolved alert never opens an incident: it is only recorded on an open one.
            await Promise.all(resolved.map((alert) => deps.intake.recordResolved(alert)));
            accepted = results.map((r) => ({
              incidentId: r.incidentId,
              workflowId: r.workflowId,
              deduplicated: r.deduplicated,
            }));
          } catch (err) {
            deps.metrics.alertsReceived.inc({ source: format.name, outcome: 'failed' }, alerts.length);
            request.log.error({ err }, 'could not hand alerts to Temporal');
            throw new HttpProblem(503, 'Service Unavailable', 'the workflow service is unavailable; retry later', {});
          } finally {
            timer();
          }
          for (const a of accepted)
            deps.metrics.alertsReceived.inc({
              source: format.name,
              outcome: a.deduplicated ? 'deduplicated' : 'accepted',
            });
          if (resolved.length > 0)
            deps.metrics.alertsReceived.inc({ source: format.name, outcome: 'resolved' }, resolved.length);

          // One incident per distinct pod: several alerts about one pod answer once.
          const unique = [...new Map(accepted.map((a) => [a.incidentId, a])).values()];
          if (format.grouped) return reply.code(202).send({ incidents: unique, resolved: resolved.length });
          if (unique.length === 0) return reply.code(202).send({ incidents: [], resolved: resolved.length });
          return reply.code(202).send(unique[0]);
        },
      );
    }
  };
}
