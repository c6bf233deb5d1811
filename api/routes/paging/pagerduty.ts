/**
 * PagerDuty Webhooks v3 → Holdfast: POST /v1/paging/pagerduty, a webhook subscription's endpoint. The body is
 * `{event: {id, event_type, resource_type, occurred_at, agent: {id, type: 'user_reference', summary, …},
 * data: {id, type: 'incident', incident_key, status, …}}}`, signed `X-PagerDuty-Signature: v1=<hex
 * HMAC-SHA256 of the body>` (several, comma-separated, while the secret rotates). The incident's
 * `incident_key` is the dedup key Holdfast's PagerDuty notifier sent: the Holdfast incident id.
 * `incident.acknowledged` acknowledges it, `incident.resolved` resolves it (containment undone as the
 * playbook says). Other event types, and incidents that are not Holdfast's, are answered 200 and ignored:
 * a subscription covers whole services. The event id is the delivery id: PagerDuty keeps it on retries.
 */
import { HttpProblem } from '../../errors';
import { verifyPagerDuty, PAGERDUTY_SIGNATURE_HEADER } from '../../paging/signatures';
import {
  INCIDENT_ID,
  actAs,
  parseJson,
  actionNames,
  rawPostRoute,
  text,
  unauthorized,
  type PagingReceiver,
} from '../../paging/receiver';

const ACTIONS = actionNames([
  ['incident.acknowledged', 'acknowledge'],
  ['incident.resolved', 'resolve'],
]);
/** PagerDuty object ids (users `PXPGF42`) and event ids (UUIDs). */
const PD_ID = /^[A-Za-z0-9-]{1,64}$/;

export const pagerdutyReceiver: PagingReceiver = {
  vendor: 'pagerduty',
  routes: rawPostRoute(
    '/v1/paging/pagerduty',
    'PagerDuty Webhooks v3: incident.acknowledged / incident.resolved (X-PagerDuty-Signature)',
    async (deps, request, reply, raw) => {
      const header = request.headers[PAGERDUTY_SIGNATURE_HEADER];
      if (typeof header !== 'string') throw unauthorized(`${PAGERDUTY_SIGNATURE_HEADER} is required`);
      if (!verifyPagerDuty(deps.settings.secret, header, raw))
        throw unauthorized('no PagerDuty signature matches the body');
      const body = parseJson(raw);
      const eventType = text(body, 'event', 'event_type');
      const action = ACTIONS(eventType);
      const incidentId = text(body, 'event', 'data', 'incident_key');
      if (!action || incidentId === undefined || !INCIDENT_ID.test(incidentId))
        return reply
          .code(200)
          .send({ ignored: true, reason: 'not an acknowledgement or resolution of a Holdfast incident' });
      const eventId = text(body, 'event', 'id');
      if (eventId === undefined || !PD_ID.test(eventId))
        throw new HttpProblem(400, 'Bad Request', 'event.id is missing');
      const agentType = text(body, 'event', 'agent', 'type');
      const agent = text(body, 'event', 'agent', 'id');
      // A service or integration acting (e.g. Holdfast's own resolve, echoed back) is nobody to record.
      if (agentType !== 'user_reference' || agent === undefined || !PD_ID.test(agent))
        return reply.code(200).send({ ignored: true, reason: 'not done by a PagerDuty user' });
      const answer = await actAs(
        deps,
        request,
        'pagerduty',
        { id: agent, pattern: PD_ID },
        { incidentId, action, note: `${eventType} in PagerDuty`, delivery: [eventId] },
      );
      return reply.code(202).send(answer);
    },
  ),
};
