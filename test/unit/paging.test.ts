/**
 * Two-way paging without servers: each vendor's signature check against malicious inputs, the settings, and
 * the receivers through the real HTTP API (buildServer + the paging route groups, fastify inject) with a fake
 * PagingActions: who may act, what is refused before anything is acted on, and what a vendor sees.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import type { IncidentsService } from '../../api/incidents';
import { createApiMetrics } from '../../api/metrics';
import {
  PAGING_MAX_BODY_BYTES,
  actAs,
  deliveryRequestId,
  parseJson,
  rawPostRoute,
  type PagingReceiver,
} from '../../api/paging/receiver';
import {
  PAGERDUTY_MAX_SIGNATURES,
  SLACK_TOLERANCE_SECONDS,
  constantTimeEqual,
  pagerDutySignature,
  slackSignature,
  verifyPagerDuty,
  verifySlack,
  verifyToken,
} from '../../api/paging/signatures';
import { PAGING_RECEIVERS, pagingRoutes } from '../../api/routes/paging/registry';
import { buildServer } from '../../api/server';
import { ConfigError, loadConfig } from '../../common/config';
import { pagingSettings, type PagingSettings } from '../../common/paging-config';
import { FakePagingActions } from '../fakes/paging';
import {
  opsgenieAction,
  opsgenieRequest,
  pagingPeople,
  pagerDutyEvent,
  pagerDutyRequest,
  slackClick,
  slackRequest,
  type VendorRequest,
} from '../helpers/paging-requests';

const PD_SECRET = 'pd-secret-ChGmHSM9m5a3jgr9Wfsvr7K0';
const SLACK_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const OG_TOKEN = crypto.randomBytes(32).toString('hex');
const INCIDENT = 'inc-0b6c4a7e-2d1f-4c3b-9a8e-7f6d5c4b3a21';
const body = Buffer.from('{"event":{"id":"x"}}');

describe('signatures', () => {
  test('PagerDuty: one of several comma-separated v1 signatures matching is enough (secret rotation)', () => {
    const good = pagerDutySignature(PD_SECRET, body);
    const other = pagerDutySignature('the-old-secret-0123456789', body);
    assert.ok(verifyPagerDuty(PD_SECRET, good, body));
    assert.ok(verifyPagerDuty(PD_SECRET, `${other},${good}`, body));
    assert.ok(verifyPagerDuty(PD_SECRET, `${other}, ${good}`, body), 'spaces after commas');
    assert.ok(!verifyPagerDuty(PD_SECRET, other, body));
  });

  test('PagerDuty: malformed, truncated, upper-case, other-scheme, too many and oversized headers are refused', () => {
    const good = pagerDutySignature(PD_SECRET, body);
    const mac = good.slice(3);
    for (const header of [
      undefined,
      '',
      mac, // no scheme
      `v0=${mac}`,
      `v2=${mac}`,
      `v1=${mac.slice(0, 63)}`, // one short
      `v1=${mac}0`, // one long
      `v1=${mac.toUpperCase()}`,
      `v1=${mac.slice(0, 62)}zz`,
      `v1=${mac};`,
      ',,,',
      `${Array(PAGERDUTY_MAX_SIGNATURES).fill('v1=00').join(',')},${good}`, // the match hidden past the bound
      `v1=${'a'.repeat(100_000)}`,
    ])
      assert.equal(verifyPagerDuty(PD_SECRET, header, body), false, String(header).slice(0, 80));
    // The same signature over a body one byte different.
    assert.ok(!verifyPagerDuty(PD_SECRET, good, Buffer.concat([body, Buffer.from(' ')])));
  });

  test('Slack: v0 over "v0:<timestamp>:<body>", within five minutes either way', () => {
    const now = 1_700_000_000;
    const sign = (ts: number, b = body) => slackSignature(SLACK_SECRET, ts, b);
    assert.equal(verifySlack(SLACK_SECRET, String(now), sign(now), body, now), 'ok');
    assert.equal(verifySlack(SLACK_SECRET, String(now - 300), sign(now - 300), body, now), 'ok');
    assert.equal(verifySlack(SLACK_SECRET, String(now - 301), sign(now - 301), body, now), 'stale');
    assert.equal(verifySlack(SLACK_SECRET, String(now + 301), sign(now + 301), body, now), 'stale');
    // A timestamp changed after signing (to make a stale request fresh) no longer matches.
    assert.equal(verifySlack(SLACK_SECRET, String(now), sign(now - 3600), body, now), 'mismatch');
    assert.equal(verifySlack(SLACK_SECRET, String(now), sign(now, Buffer.from('x')), body, now), 'mismatch');
    assert.equal(verifySlack('another-secret-0123456789', String(now), sign(now), body, now), 'mismatch');
  });

  test('Slack: missing, malformed and oversized headers are refused before any MAC', () => {
    const now = 1_700_000_000;
    const good = slackSignature(SLACK_SECRET, now, body);
    assert.equal(verifySlack(SLACK_SECRET, undefined, good, body, now), 'unsigned');
    assert.equal(verifySlack(SLACK_SECRET, String(now), undefined, body, now), 'unsigned');
    for (const ts of ['', '-1', '1e9', `${now}.5`, ' 1700000000', '9'.repeat(13), `${now}\n`])
      assert.equal(verifySlack(SLACK_SECRET, ts, good, body, now), 'malformed', JSON.stringify(ts));
    for (const sig of [good.slice(3), `v1=${good.slice(3)}`, good.slice(0, -1), `${good}00`, good.toUpperCase()])
      assert.equal(verifySlack(SLACK_SECRET, String(now), sig, body, now), 'malformed', sig);
    assert.equal(verifySlack(SLACK_SECRET, String(now), `v0=${'a'.repeat(1 << 20)}`, body, now), 'malformed');
  });

  test('tokens and constant-time comparison: any length is compared without throwing', () => {
    assert.ok(verifyToken(OG_TOKEN, OG_TOKEN));
    for (const presented of [
      undefined,
      '',
      OG_TOKEN.slice(1),
      `${OG_TOKEN}x`,
      'x'.repeat(2000),
      OG_TOKEN.toUpperCase(),
    ])
      assert.equal(verifyToken(OG_TOKEN, presented), false);
    assert.ok(constantTimeEqual('abc', 'abc'));
    assert.ok(!constantTimeEqual('abc', 'abcd'));
    assert.ok(!constantTimeEqual('é', 'e'));
  });

  test('delivery request ids are UUID-shaped, stable, and differ per vendor and part', () => {
    const id = deliveryRequestId('pagerduty', 'e1');
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(id, deliveryRequestId('pagerduty', 'e1'));
    assert.notEqual(id, deliveryRequestId('opsgenie', 'e1'));
    // Parts are delimited: "a","bc" is not "ab","c".
    assert.notEqual(deliveryRequestId('slack', 'a', 'bc'), deliveryRequestId('slack', 'ab', 'c'));
  });
});

describe('paging settings', () => {
  test('a vendor is configured by its secret and its users; none configured: none', () => {
    assert.deepEqual(pagingSettings({}), {});
    assert.deepEqual(loadConfig({}, '/').api.paging, {});
    const settings = pagingSettings({
      HOLDFAST_SLACK_SIGNING_SECRET: SLACK_SECRET,
      HOLDFAST_SLACK_USERS: 'U012AB3CD=alice, W0ABC=bob',
      HOLDFAST_OPSGENIE_WEBHOOK_TOKEN: OG_TOKEN,
      HOLDFAST_OPSGENIE_USERS: 'alice@example.com=alice',
    });
    assert.deepEqual(
      [...settings.slack!.users],
      [
        ['U012AB3CD', 'alice'],
        ['W0ABC', 'bob'],
      ],
    );
    assert.equal(settings.opsgenie!.users.get('alice@example.com'), 'alice');
    assert.equal(settings.pagerduty, undefined);
  });

  test('mistakes stop the start, naming the variable and never the secret', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ HOLDFAST_SLACK_USERS: 'U1=alice' }, /HOLDFAST_SLACK_USERS is set but HOLDFAST_SLACK_SIGNING_SECRET is not/],
      [{ HOLDFAST_SLACK_SIGNING_SECRET: SLACK_SECRET }, /HOLDFAST_SLACK_USERS must map/],
      [{ HOLDFAST_PAGERDUTY_WEBHOOK_SECRET: 'short', HOLDFAST_PAGERDUTY_USERS: 'P1=a' }, /at least 16 bytes/],
      [{ HOLDFAST_OPSGENIE_WEBHOOK_TOKEN: 'x'.repeat(31), HOLDFAST_OPSGENIE_USERS: 'a@b=a' }, /at least 32 bytes/],
      [
        { HOLDFAST_PAGERDUTY_WEBHOOK_SECRET: PD_SECRET, HOLDFAST_PAGERDUTY_USERS: 'P1' },
        /is not <vendor user>=<person>/,
      ],
      [{ HOLDFAST_PAGERDUTY_WEBHOOK_SECRET: PD_SECRET, HOLDFAST_PAGERDUTY_USERS: 'P1=a b' }, /is not/],
      [{ HOLDFAST_PAGERDUTY_WEBHOOK_SECRET: PD_SECRET, HOLDFAST_PAGERDUTY_USERS: 'P1=a,P1=b' }, /mapped twice/],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => pagingSettings(env),
        (err: Error) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.message, message);
          assert.ok(!err.message.includes(PD_SECRET) && !err.message.includes(SLACK_SECRET));
          return true;
        },
      );
    }
  });
});

/** Never asked: the receivers act through PagingActions only. */
const noIncidents: IncidentsService = {
  list: () => Promise.reject(new Error('not used')),
  get: () => Promise.reject(new Error('not used')),
  history: () => Promise.reject(new Error('not used')),
  act: () => Promise.reject(new Error('not used')),
};

describe('paging receivers over HTTP', () => {
  const { settings, tokens } = pagingPeople({ pagerduty: PD_SECRET, slack: SLACK_SECRET, opsgenie: OG_TOKEN });
  let actions: FakePagingActions;
  let app: FastifyInstance;
  let now = Date.now();

  const build = (paging: PagingSettings) =>
    buildServer({
      logger: pino({ level: 'silent' }),
      readiness: {},
      tokens,
      incidents: noIncidents,
      metrics: createApiMetrics(),
      routes: pagingRoutes(paging, { actions, tokens, now: () => now }),
    });

  before(async () => {
    actions = new FakePagingActions();
    app = await build(settings);
  });
  after(async () => app?.close());
  beforeEach(() => {
    actions.acts.length = 0;
    now = Date.now();
  });

  /** The vendor's answer to a request that acted: what was done, and by whom. */
  const applied = (response: LightMyRequestResponse, status: number, action: string, by: string) => {
    assert.equal(response.statusCode, status, response.body);
    assert.deepEqual(response.json(), { incidentId: INCIDENT, action, by, outcome: 'applied' });
  };
  const send = (url: string, request: VendorRequest) =>
    app.inject({ method: 'POST', url, headers: request.headers, payload: request.body });

  test('PagerDuty: incident.acknowledged and incident.resolved act as the mapped person; a redelivery lands once', async () => {
    const ack = pagerDutyRequest(pagerDutyEvent('incident.acknowledged', INCIDENT, 'PXPGF42', 'ev-1'), PD_SECRET);
    const first = await send('/v1/paging/pagerduty', ack);
    applied(first, 202, 'acknowledge', 'pagerduty:PXPGF42→alice');
    assert.equal((await send('/v1/paging/pagerduty', ack)).json().outcome, 'already');
    const resolved = pagerDutyRequest(
      pagerDutyEvent('incident.resolved', INCIDENT, 'PXPGF42', 'ev-2'),
      'rotated-out-secret-0123456789',
      PD_SECRET,
    );
    assert.equal((await send('/v1/paging/pagerduty', resolved)).statusCode, 202);
    assert.deepEqual(
      actions.acts.map((a) => [a.action, a.incidentId, a.request.by, a.request.role]),
      [
        ['acknowledge', INCIDENT, 'pagerduty:PXPGF42→alice', 'responder'],
        ['resolve', INCIDENT, 'pagerduty:PXPGF42→alice', 'responder'],
      ],
    );
  });

  test('PagerDuty: unsigned, mis-signed and tampered are 401; unmapped or non-responder users 403; nothing acted on', async () => {
    const event = pagerDutyEvent('incident.acknowledged', INCIDENT, 'PXPGF42');
    const signed = pagerDutyRequest(event, PD_SECRET);
    const unsigned = { body: signed.body, headers: { 'content-type': 'application/json' } };
    const misSigned = pagerDutyRequest(event, 'not-the-secret-0123456789');
    const tampered = {
      body: Buffer.from(signed.body.toString().replace('PXPGF42', 'PBOBBOB')),
      headers: signed.headers,
    };
    for (const request of [unsigned, misSigned, tampered]) {
      const response = await send('/v1/paging/pagerduty', request);
      assert.equal(response.statusCode, 401, response.body);
      assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
    }
    for (const agent of ['PUNKNOWN', 'PBOBBOB']) {
      const response = await send(
        '/v1/paging/pagerduty',
        pagerDutyRequest(pagerDutyEvent('incident.acknowledged', INCIDENT, agent), PD_SECRET),
      );
      assert.equal(response.statusCode, 403, response.body);
    }
    assert.deepEqual(actions.acts, []);
  });

  test("PagerDuty: other event types, other incidents and a service's own actions are 200 and ignored", async () => {
    const other = pagerDutyEvent('incident.triggered', INCIDENT, 'PXPGF42');
    const notOurs = pagerDutyEvent('incident.acknowledged', 'baf7cf21b1da41b4b0221008339ff357', 'PXPGF42');
    const byService = pagerDutyEvent('incident.resolved', INCIDENT, 'PIJ90N7');
    (byService.event as { agent: { type: string } }).agent.type = 'service_reference';
    const inherited = pagerDutyEvent('constructor', INCIDENT, 'PXPGF42');
    for (const payload of [other, notOurs, byService, inherited]) {
      const response = await send('/v1/paging/pagerduty', pagerDutyRequest(payload, PD_SECRET));
      assert.equal(response.statusCode, 200, response.body);
      assert.equal(response.json().ignored, true);
    }
    assert.deepEqual(actions.acts, []);
  });

  test('Slack: Approve as the mapped person; the replayed click lands once; stale, mis-signed, unsigned 401; unknown 403', async () => {
    const click = slackClick('U012AB3CD', 'holdfast.approve', { incident: INCIDENT, step: 'isolate' });
    const ok = await send('/v1/paging/slack', slackRequest(click, SLACK_SECRET, now));
    applied(ok, 200, 'approve', 'slack:U012AB3CD→alice');
    assert.equal((await send('/v1/paging/slack', slackRequest(click, SLACK_SECRET, now))).json().outcome, 'already');

    const stale = slackRequest(click, SLACK_SECRET, now - (SLACK_TOLERANCE_SECONDS + 1) * 1000);
    const misSigned = slackRequest(click, 'not-the-signing-secret-012345', now);
    const unsigned = { body: misSigned.body, headers: { 'content-type': 'application/x-www-form-urlencoded' } };
    for (const request of [stale, misSigned, unsigned])
      assert.equal((await send('/v1/paging/slack', request)).statusCode, 401);
    for (const user of ['U0UNKNOWN', 'U0BOB']) {
      const other = slackClick(user, 'holdfast.approve', { incident: INCIDENT, step: 'isolate' });
      const response = await send('/v1/paging/slack', slackRequest(other, SLACK_SECRET, now));
      assert.equal(response.statusCode, 403, response.body);
    }
    assert.deepEqual(
      actions.acts.map((a) => [a.action, a.request.step, a.request.by]),
      [['approve', 'isolate', 'slack:U012AB3CD→alice']],
    );
  });

  test("Slack: a button that is not Holdfast's is ignored; a forged value naming no incident or step is 400", async () => {
    for (const actionId of ['WaXA', '__proto__', 'constructor']) {
      const link = slackClick('U012AB3CD', actionId, { incident: INCIDENT });
      assert.equal((await send('/v1/paging/slack', slackRequest(link, SLACK_SECRET, now))).json().ignored, true);
    }
    const forged: Array<Record<string, string>> = [
      { incident: '../../etc' },
      { incident: INCIDENT, step: 'Isolate; rm' },
      { incident: INCIDENT },
    ];
    for (const value of forged) {
      const click = slackClick('U012AB3CD', 'holdfast.reject', value);
      assert.equal((await send('/v1/paging/slack', slackRequest(click, SLACK_SECRET, now))).statusCode, 400);
    }
    assert.deepEqual(actions.acts, []);
  });

  test('Opsgenie: Acknowledge and Close with the integration header; a wrong or missing token is 401; unknown user 403', async () => {
    const ack = opsgenieAction('Acknowledge', INCIDENT, 'alice@example.com', 1420452224764002);
    const ok = await send('/v1/paging/opsgenie', opsgenieRequest(ack, OG_TOKEN));
    assert.equal(ok.statusCode, 202, ok.body);
    assert.equal(ok.json().by, 'opsgenie:alice@example.com→alice');
    assert.equal((await send('/v1/paging/opsgenie', opsgenieRequest(ack, OG_TOKEN))).json().outcome, 'already');
    const close = opsgenieAction('Close', INCIDENT, 'alice@example.com');
    assert.equal((await send('/v1/paging/opsgenie', opsgenieRequest(close, OG_TOKEN))).statusCode, 202);
    const wrong = opsgenieRequest(
      ack,
      OG_TOKEN.replace(/.$/, (c) => (c === '0' ? '1' : '0')),
    );
    assert.equal((await send('/v1/paging/opsgenie', wrong)).statusCode, 401);
    assert.equal(
      (await send('/v1/paging/opsgenie', { body: wrong.body, headers: { 'content-type': 'application/json' } }))
        .statusCode,
      401,
    );
    // Holdfast's own close, come back from Opsgenie: nobody to record, nothing to do.
    const echo = await send(
      '/v1/paging/opsgenie',
      opsgenieRequest(opsgenieAction('Close', INCIDENT, 'Holdfast'), OG_TOKEN),
    );
    assert.equal(echo.statusCode, 200);
    assert.equal(echo.json().ignored, true);
    const stranger = opsgenieAction('Acknowledge', INCIDENT, 'mallory@example.com');
    assert.equal((await send('/v1/paging/opsgenie', opsgenieRequest(stranger, OG_TOKEN))).statusCode, 403);
    assert.deepEqual(
      actions.acts.map((a) => a.action),
      ['acknowledge', 'resolve'],
    );
  });

  test('oversized bodies are 413 before any check; a vendor without its secret has no route (404)', async () => {
    const huge = Buffer.alloc(PAGING_MAX_BODY_BYTES + 1, 0x61);
    for (const url of ['/v1/paging/pagerduty', '/v1/paging/slack', '/v1/paging/opsgenie']) {
      const response = await app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json' },
        payload: huge,
      });
      assert.equal(response.statusCode, 413, url);
    }
    const none = await build({ slack: settings.slack! });
    try {
      const pd = pagerDutyRequest(pagerDutyEvent('incident.acknowledged', INCIDENT, 'PXPGF42'), PD_SECRET);
      assert.equal(
        (await none.inject({ method: 'POST', url: '/v1/paging/pagerduty', headers: pd.headers, payload: pd.body }))
          .statusCode,
        404,
      );
      assert.equal((await none.inject({ method: 'POST', url: '/v1/paging/opsgenie', payload: '{}' })).statusCode, 404);
    } finally {
      await none.close();
    }
    assert.deepEqual(actions.acts, []);
  });

  test('a vendor added to the receivers list is served once its settings exist; /openapi.json lists every receiver', async () => {
    const acme: PagingReceiver = {
      vendor: 'acme',
      routes: rawPostRoute('/v1/paging/acme', 'Acme pages', async (deps, request, reply, raw) => {
        if (request.headers['x-acme-token'] !== deps.settings.secret) throw new Error('unsigned');
        const answer = await actAs(
          deps,
          request,
          'acme',
          { id: (parseJson(raw) as { user?: string }).user, pattern: /^[a-z]+$/ },
          { incidentId: INCIDENT, action: 'acknowledge', note: 'acme', delivery: ['1'] },
        );
        return reply.code(202).send(answer);
      }),
    };
    const acmeSettings = { acme: { secret: 'acme-secret-0123456789', users: new Map([['al', 'alice']]) } };
    const withAcme = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: {},
      tokens,
      incidents: noIncidents,
      metrics: createApiMetrics(),
      routes: pagingRoutes(acmeSettings, { actions, tokens, now: () => now }, [...PAGING_RECEIVERS, acme]),
    });
    try {
      const response = await withAcme.inject({
        method: 'POST',
        url: '/v1/paging/acme',
        headers: { 'x-acme-token': 'acme-secret-0123456789', 'content-type': 'text/plain' },
        payload: '{"user":"al"}',
      });
      assert.equal(response.statusCode, 202, response.body);
      assert.equal(response.json().by, 'acme:al→alice');
      // The registry's own vendors are not configured here: not served.
      assert.equal((await withAcme.inject({ method: 'POST', url: '/v1/paging/slack' })).statusCode, 404);
    } finally {
      await withAcme.close();
    }
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    for (const receiver of PAGING_RECEIVERS)
      assert.ok(doc.paths[`/v1/paging/${receiver.vendor}`]?.post?.summary, receiver.vendor);
  });

  test("the paging routes' raw-body parser stays theirs: the API's JSON routes still parse JSON", async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/incidents/inc-1/acknowledge',
      headers: { authorization: 'Bearer responder-alice-0123456789', 'content-type': 'application/json' },
      payload: '{not json',
    });
    assert.equal(response.statusCode, 400);
    assert.match(response.json().detail, /not valid JSON/);
  });
});
