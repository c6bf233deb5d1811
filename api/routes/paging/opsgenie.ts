/**
 * Opsgenie outgoing webhook → Holdfast: POST /v1/paging/opsgenie, the URL of an Opsgenie Webhook integration
 * with its "Acknowledge" and "Close" actions forwarded. The body is Opsgenie's alert action data: `{action:
 * 'Acknowledge' | 'Close' | …, alert: {alertId, alias, username, userId, updatedAt, …}, source: {name, type},
 * integrationId, integrationName}`; `alert.alias` is the alias Holdfast's Opsgenie notifier sent, the Holdfast
 * incident id, and `alert.username` the person who acted.
 *
 * Opsgenie signs nothing; the integration's documented way to authenticate is custom headers, so the integration
 * carries `X-Holdfast-Opsgenie-Token: <HOLDFAST_OPSGENIE_WEBHOOK_TOKEN>` (compared in constant time; it travels in
 * the clear inside TLS, hence the API's HTTPS). Nothing dates a request, so replays are handled by idempotence:
 * the delivery id is the alert, the action and the alert's `updatedAt`, and the incident records a first
 * acknowledgement and resolution only.
 */
import { HttpProblem } from '../../errors';
import { OPSGENIE_TOKEN_HEADER, verifyToken } from '../../paging/signatures';
import {
  INCIDENT_ID,
  actAs,
  field,
  parseJson,
  actionNames,
  rawPostRoute,
  text,
  unauthorized,
  type PagingReceiver,
} from '../../paging/receiver';

const ACTIONS = actionNames([
  ['Acknowledge', 'acknowledge'],
  ['Close', 'resolve'],
]);
/** Opsgenie usernames are e-mail addresses; user and alert ids are UUIDs. */
const OG_USER = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
const OG_ID = /^[A-Za-z0-9-]{1,64}$/;
/** The user Holdfast's Opsgenie notifier closes alerts as (adapters/notifiers/opsgenie.ts). */
const HOLDFAST_USER = 'Holdfast';

export const opsgenieReceiver: PagingReceiver = {
  vendor: 'opsgenie',
  routes: rawPostRoute(
    '/v1/paging/opsgenie',
    'Opsgenie Webhook integration: Acknowledge / Close (X-Holdfast-Opsgenie-Token)',
    async (deps, request, reply, raw) => {
      const presented = request.headers[OPSGENIE_TOKEN_HEADER];
      if (typeof presented !== 'string') throw unauthorized(`${OPSGENIE_TOKEN_HEADER} is required`);
      if (!verifyToken(deps.settings.secret, presented)) throw unauthorized(`${OPSGENIE_TOKEN_HEADER} is not valid`);
      const body = parseJson(raw);
      const name = text(body, 'action');
      const action = ACTIONS(name);
      const incidentId = text(body, 'alert', 'alias');
      if (!action || incidentId === undefined || !INCIDENT_ID.test(incidentId))
        return reply.code(200).send({ ignored: true, reason: 'not an acknowledgement or close of a Holdfast alert' });
      const alertId = text(body, 'alert', 'alertId');
      const updatedAt = field(body, 'alert', 'updatedAt');
      if (
        alertId === undefined ||
        !OG_ID.test(alertId) ||
        (typeof updatedAt !== 'number' && typeof updatedAt !== 'string')
      )
        throw new HttpProblem(400, 'Bad Request', 'alert.alertId and alert.updatedAt are required');
      // Holdfast's own close (its notifier closes the alert as user "Holdfast"), come back: nothing to do.
      if (text(body, 'alert', 'username') === HOLDFAST_USER)
        return reply.code(200).send({ ignored: true, reason: "Holdfast's own action" });
      const answer = await actAs(
        deps,
        request,
        'opsgenie',
        { id: text(body, 'alert', 'username'), pattern: OG_USER },
        {
          incidentId,
          action,
          note: `${name} in Opsgenie`,
          delivery: [alertId, name!, String(updatedAt).slice(0, 40)],
        },
      );
      return reply.code(202).send(answer);
    },
  ),
};
