import crypto from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Alert } from '../../common/types';
import { HttpProblem } from '../errors';
import type { AlertIntake, IntakeRequest } from '../intake';
import type { AlertSpool } from '../spool';
import type { ApiMetrics } from '../metrics';

/** What the intake routes need of an alert format (see alerts/format.ts). */
export interface AlertFormatLike {
  name: string;
  route: string;
  bodySchema: TSchema;
  grouped?: boolean;
  parse(
    body: unknown,
    ctx: {
      rawSha256: string;
      receivedAt: string;
      defaultCluster: string;
      knownClusters?: ReadonlySet<string>;
      reject?: (problem: Error) => void;
    },
  ): Alert[];
}

export interface AlertRouteDeps {
  intake: AlertIntake;
  metrics: ApiMetrics;
  formats: readonly AlertFormatLike[];
  defaultCluster: string;
  /** The clusters served (HOLDFAST_CLUSTERS): an alert naming another is refused with 422. */
  knownClusters?: ReadonlySet<string>;
  /** How long an alert waits for Temporal before it is spooled, or answered 503 with Retry-After (default 5 s). */
  deliveryDeadlineMs?: number;
  /** Where alerts wait while Temporal cannot take them (HOLDFAST_SPOOL_DIR); without it, 503. */
  spool?: Pick<AlertSpool, 'inUse' | 'stalled' | 'append'>;
}

interface IncidentAccepted {
  incidentId: string;
  workflowId: string;
  deduplicated: boolean;
  /** A re-send of an alert instance whose incident a responder resolved: no new incident. */
  alreadyResolved?: boolean;
  /** Beyond the incident creation limits: recorded on the cluster's storm incident, which acts on nothing. */
  storm?: boolean;
}

/** How long an alert waits for Temporal before the sender is told to retry (503 with Retry-After). */
export const INTAKE_DEADLINE_MS = 5000;
const RETRY_AFTER_SECONDS = 10;

/** What the answer says of an accepted alert. */
function incidentOf(r: IncidentAccepted): IncidentAccepted {
  return {
    incidentId: r.incidentId,
    workflowId: r.workflowId,
    deduplicated: r.deduplicated,
    ...(r.alreadyResolved ? { alreadyResolved: true } : {}),
    ...(r.storm ? { storm: true } : {}),
  };
}

/** A refused or not-actionable entry as the answer lists it: where, what and a bounded reason. */
interface EntryProblem {
  field: string;
  message: string;
  reason: string;
}

/** A format's refusal of an entry or body (AlertRejected, duck-typed: the API does not import formats). */
interface Refusal {
  status: number;
  field: string;
  problem?: string;
  message: string;
  reason?: string;
  name?: string;
}

function isRefusal(err: unknown): err is Refusal {
  const e = err as Partial<Refusal> | undefined;
  return typeof e?.status === 'number' && e.status >= 400 && e.status < 500 && typeof e.field === 'string';
}

function entryProblem(err: Refusal): EntryProblem {
  return { field: err.field || '/', message: err.problem ?? err.message, reason: err.reason ?? 'invalid_value' };
}

function unprocessable(problems: EntryProblem[]): HttpProblem {
  const first = problems[0]!;
  return new HttpProblem(422, 'Unprocessable Content', `${first.field}: ${first.message}`, {
    errors: problems.map(({ field, message, reason }) => ({ field, message, reason })),
  });
}

/**
 * Resolves with the work, or rejects once the deadline passes, aborting `controller` so that alerts still
 * waiting in the intake are withdrawn (one already on its way may still land).
 */
async function withinDeadline<T>(work: Promise<T>, ms: number, controller: AbortController): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`Temporal did not take the alert within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
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
          const count = (outcome: string, n = 1, reason?: string) =>
            deps.metrics.alertsReceived.inc({ source: format.name, outcome, ...(reason ? { reason } : {}) }, n);
          const rawSha256 = crypto
            .createHash('sha256')
            .update(request.rawBody ?? Buffer.alloc(0))
            .digest('hex');
          // A grouped format reports each bad entry here and goes on with the others.
          const refused: Refusal[] = [];
          let alerts: Alert[];
          try {
            alerts = format.parse(request.body, {
              rawSha256,
              receivedAt: new Date().toISOString(),
              defaultCluster: deps.defaultCluster,
              ...(deps.knownClusters ? { knownClusters: deps.knownClusters } : {}),
              reject: (problem) => refused.push(problem as Refusal),
            });
          } catch (err) {
            if (!isRefusal(err)) throw err;
            refused.push(err);
            alerts = [];
          }
          const problems = refused.map(entryProblem);
          const notActionable = problems.filter((p) => p.reason === 'not_actionable');
          const rejected = problems.filter((p) => p.reason !== 'not_actionable');
          for (const p of rejected) count('rejected', 1, p.reason);
          if (notActionable.length > 0) count('not_actionable', notActionable.length);
          if (problems.length > 0)
            request.log.warn(
              { source: format.name, rejected, notActionable: notActionable.length, accepted: alerts.length },
              'alert entries refused or not actionable',
            );
          // Nothing usable and something wrong: refuse, listing every problem.
          if (alerts.length === 0 && rejected.length > 0) throw unprocessable(rejected);

          const firing = alerts.filter((a) => a.status === 'firing');
          const resolved = alerts.filter((a) => a.status === 'resolved');
          const partial = {
            ...(rejected.length > 0 ? { rejected } : {}),
            ...(notActionable.length > 0 ? { notActionable } : {}),
          };
          /**
           * Durable on local disk instead: delivered in order once Temporal is back (or, in a storm, as fast as
           * the incidents take them). `held`: the open incidents the alerts will join, when known (an undefined
           * one: its key's delivery failed meanwhile; the alert waits here all the same).
           */
          const spooled = async (
            waiting: Alert[] = alerts,
            held: ReadonlyArray<IncidentAccepted | undefined | Promise<IncidentAccepted | undefined>> = [],
          ) => {
            let named: Array<IncidentAccepted | undefined>;
            // The alerts are durable once appended; an incident's name waits for Temporal only up to the deadline.
            let timeout: NodeJS.Timeout | undefined;
            const unnamed = new Promise<undefined>((resolve) => {
              timeout = setTimeout(resolve, deps.deliveryDeadlineMs ?? INTAKE_DEADLINE_MS, undefined);
            });
            const names = held.map((h) => (h instanceof Promise ? Promise.race([h, unnamed]) : h));
            try {
              [, named] = await Promise.all([deps.spool!.append(waiting, request.rawBody), Promise.all(names)]);
            } catch (err) {
              count('failed', alerts.length);
              request.log.error({ err }, 'could not spool alerts');
              reply.header('Retry-After', String(RETRY_AFTER_SECONDS));
              throw new HttpProblem(503, 'Service Unavailable', 'the workflow service is unavailable; retry later', {});
            } finally {
              clearTimeout(timeout);
            }
            count('spooled', alerts.length);
            const known = named.filter((a): a is IncidentAccepted => a !== undefined);
            const incidents = [...new Map(known.map((a) => [a.incidentId, a])).values()];
            if (!format.grouped && incidents.length === 1)
              return reply.code(202).send({ ...incidents[0], spooled: true, ...partial });
            return reply.code(202).send({ incidents, resolved: resolved.length, spooled: true, ...partial });
          };
          /** The answer once Temporal holds every alert (or they folded into deliveries it holds). */
          const answered = (accepted: IncidentAccepted[]) => {
            timer();
            for (const a of accepted) count(a.storm ? 'storm' : a.deduplicated ? 'deduplicated' : 'accepted');
            if (resolved.length > 0) count('resolved', resolved.length);
            // One incident per distinct pod: several alerts about one pod answer once.
            const unique = [...new Map(accepted.map((a) => [a.incidentId, a])).values()];
            if (format.grouped || unique.length !== 1)
              return reply.code(202).send({ incidents: unique, resolved: resolved.length, ...partial });
            return reply.code(202).send({ ...unique[0], ...partial });
          };
          const repeatsOnly = resolved.length === 0 && firing.every((a) => deps.intake.answersAtOnce(a));
          // Exact repeats of delivered alerts are answered from memory (counts), unless Temporal is away: then
          // nothing is answered that is not on disk.
          if (repeatsOnly && !deps.spool?.stalled)
            return answered((await Promise.all(firing.map((alert) => deps.intake.accept(alert)))).map(incidentOf));
          if (deps.spool && alerts.length > 0) {
            // A storm: each alert's incident is open and busy taking deliveries, which Temporal paces per
            // incident (or its first delivery is on its way). The spool is the 202 point (written and fsynced,
            // one write for many requests) and the answer names those incidents; the alerts reach them in order
            // behind what already waits.
            // Temporal away: no delivery on its way will name an incident soon.
            const held = resolved.length === 0 && !deps.spool.stalled ? firing.map((a) => deps.intake.heldBy(a)) : [];
            const known = held.length > 0 && held.every((h) => h !== undefined);
            // Alerts already wait in the spool: later ones queue behind them, so delivery keeps arrival order.
            if (deps.spool.inUse || known) return await spooled(alerts, known ? held : []).finally(timer);
          }
          let accepted: IncidentAccepted[];
          const withdraw = new AbortController();
          // Each alert still waiting in the intake listens for the withdrawal (a group holds up to 1000).
          setMaxListeners(firing.length + 1, withdraw.signal);
          // Alerts Temporal already holds: only the others are spooled when the deadline passes.
          const taken = new Set<Alert>();
          const took = <T>(alert: Alert, work: Promise<T>) => work.then((r) => (taken.add(alert), r));
          // The incidents this request may open (its other new targets go to the storm incident), and its body.
          const intakeRequest: IntakeRequest = { opened: 0, ...(request.rawBody ? { rawBody: request.rawBody } : {}) };
          try {
            accepted = await withinDeadline(
              (async () => {
                const results = await Promise.all(
                  firing.map((alert) => took(alert, deps.intake.accept(alert, withdraw.signal, intakeRequest))),
                );
                // A resolved alert never opens an incident: it is only recorded on an open one.
                await Promise.all(resolved.map((alert) => took(alert, deps.intake.recordResolved(alert))));
                return results.map(incidentOf);
              })(),
              deps.deliveryDeadlineMs ?? INTAKE_DEADLINE_MS,
              withdraw,
            );
          } catch (err) {
            // If one on its way lands after all, its spooled copy is re-delivered as a re-send, not an occurrence.
            if (deps.spool) {
              request.log.debug({ err }, 'Temporal did not take the alerts in time: spooled');
              return await spooled(alerts.filter((a) => !taken.has(a))).finally(timer);
            }
            request.log.error({ err }, 'could not hand alerts to Temporal');
            timer();
            count('failed', alerts.length);
            reply.header('Retry-After', String(RETRY_AFTER_SECONDS));
            throw new HttpProblem(503, 'Service Unavailable', 'the workflow service is unavailable; retry later', {});
          }
          return answered(accepted);
        },
      );
    }
  };
}
