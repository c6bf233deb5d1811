/**
 * Slack interactivity → Holdfast: POST /v1/paging/slack, the Slack app's Interactivity Request URL. Holdfast's
 * Slack messages carry buttons (adapters/notifiers/slack.ts): Acknowledge, and Approve / Reject while a gate
 * waits, each with action_id `holdfast.<action>` and value `{"incident":"inc-…","step":"…"}`. A click arrives as
 * `application/x-www-form-urlencoded` with one field, `payload`, the JSON of a `block_actions` interaction
 * (`{type, user: {id, username, team_id}, actions: [{action_id, value, action_ts}], response_url, …}`), signed
 * `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<X-Slack-Request-Timestamp>:<body>">` with the app's signing
 * secret; a timestamp more than 5 minutes from the clock is refused. The Slack user must be mapped to a
 * responder (HOLDFAST_SLACK_USERS). The click's `action_ts` makes its delivery id: a replayed click lands once.
 */
import { HttpProblem } from '../../errors';
import {
  SLACK_SIGNATURE_HEADER,
  SLACK_TIMESTAMP_HEADER,
  SLACK_TOLERANCE_SECONDS,
  verifySlack,
} from '../../paging/signatures';
import {
  INCIDENT_ID,
  STEP_NAME,
  actAs,
  field,
  actionNames,
  rawPostRoute,
  text,
  unauthorized,
  type PagingReceiver,
} from '../../paging/receiver';

/** The action ids the Slack notifier puts on its buttons; the value they carry is `{incident, step?}`. */
const ACTIONS = actionNames([
  ['holdfast.acknowledge', 'acknowledge'],
  ['holdfast.approve', 'approve'],
  ['holdfast.reject', 'reject'],
]);
/** Slack user ids: `U…` or `W…` (Enterprise Grid), upper-case letters and digits. */
const SLACK_USER = /^[UW][A-Z0-9]{2,31}$/;
const ACTION_TS = /^[0-9]{1,12}\.[0-9]{1,9}$/;

const VERDICTS = {
  unsigned: `${SLACK_SIGNATURE_HEADER} and ${SLACK_TIMESTAMP_HEADER} are required`,
  malformed: `${SLACK_SIGNATURE_HEADER} must be v0=<64 hex> with ${SLACK_TIMESTAMP_HEADER}: <unix seconds>`,
  stale: `the request's timestamp is more than ${SLACK_TOLERANCE_SECONDS} s from now`,
  mismatch: 'the Slack signature does not match the body',
} as const;

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export const slackReceiver: PagingReceiver = {
  vendor: 'slack',
  routes: rawPostRoute(
    '/v1/paging/slack',
    'Slack interactivity: the Approve / Reject / Acknowledge buttons (X-Slack-Signature)',
    async (deps, request, reply, raw) => {
      const verdict = verifySlack(
        deps.settings.secret,
        single(request.headers[SLACK_TIMESTAMP_HEADER]),
        single(request.headers[SLACK_SIGNATURE_HEADER]),
        raw,
        Math.floor(deps.now() / 1000),
      );
      if (verdict !== 'ok') throw unauthorized(VERDICTS[verdict]);
      const form = new URLSearchParams(raw.toString('utf8'));
      let payload: unknown;
      try {
        payload = JSON.parse(form.get('payload') ?? '');
      } catch {
        throw new HttpProblem(400, 'Bad Request', 'the body carries no payload= JSON');
      }
      const actions = field(payload, 'actions');
      if (text(payload, 'type') !== 'block_actions' || !Array.isArray(actions) || actions.length !== 1)
        return reply.code(200).send({ ignored: true, reason: 'not one Holdfast button' });
      const click: unknown = actions[0];
      const actionId = text(click, 'action_id');
      const action = ACTIONS(actionId);
      if (!action) return reply.code(200).send({ ignored: true, reason: 'not a Holdfast button' });
      let value: unknown;
      try {
        value = JSON.parse(text(click, 'value') ?? '');
      } catch {
        throw new HttpProblem(400, 'Bad Request', "the button's value is not Holdfast's");
      }
      const incidentId = text(value, 'incident');
      const step = text(value, 'step');
      const actionTs = text(click, 'action_ts');
      if (incidentId === undefined || !INCIDENT_ID.test(incidentId))
        throw new HttpProblem(400, 'Bad Request', "the button's value names no Holdfast incident");
      if (action !== 'acknowledge' && (step === undefined || !STEP_NAME.test(step)))
        throw new HttpProblem(400, 'Bad Request', `${action} needs the gated step`);
      if (actionTs === undefined || !ACTION_TS.test(actionTs))
        throw new HttpProblem(400, 'Bad Request', 'action_ts is missing');
      const answer = await actAs(
        deps,
        request,
        'slack',
        { id: text(payload, 'user', 'id'), pattern: SLACK_USER },
        {
          incidentId,
          action,
          ...(action === 'acknowledge' ? {} : { step }),
          note: `${action} button in Slack`,
          delivery: [text(payload, 'user', 'id')!, actionId!, incidentId, step ?? '', actionTs],
        },
      );
      return reply.code(200).send(answer);
    },
  ),
};
