import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { toActivityFailure } from '../../common/failures';
import type { NotifierLike } from '../../activities/notify';
import {
  NotifierConfigError,
  NotifierRejected,
  NotifierUnavailable,
  createNotifier,
  createNotifiers,
  notifierConfigsFrom,
  parseNotifierConfigs,
  type NotifierConfig,
} from '../../adapters/notifiers/registry';
import { verifyWebhookSignature, WEBHOOK_SCHEMA } from '../../adapters/notifiers/webhook';
import type { NotificationEvent, Notifier } from '../../common/ports';
import { envSecrets, loadConfig, type Env } from '../../common/config';
import { FakeNotifier } from '../fakes/notifier';
import { startRecordingServer, type RecordingServer } from '../helpers/recording-server';

const PD_KEY = 'R0UTINGKEY0123456789abcdef012345';
const OG_KEY = 'eb243592-faa2-4ba2-a551-1afdf565c889';
const HOOK_SECRET = 'whsec-very-secret-value-123';

function event(overrides: Partial<NotificationEvent> = {}): NotificationEvent {
  return {
    action: 'trigger',
    incidentId: 'inc-0f8e2c1a-5b6d-4e7f-8a9b-0c1d2e3f4a5b',
    dedupKey: 'inc-0f8e2c1a-5b6d-4e7f-8a9b-0c1d2e3f4a5b',
    title: 'Terminal shell in container on shop/web-7d9c6b5f4-x2x9q',
    severity: 'critical',
    summary: 'A shell was spawned in a container with an attached terminal (user=root command=bash -il)',
    tier: 1,
    target: { cluster: 'prod-eu-1', namespace: 'shop', pod: 'web-7d9c6b5f4-x2x9q', container: 'web' },
    links: {
      incident: 'https://holdfast.example.com/v1/incidents/inc-0f8e2c1a-5b6d-4e7f-8a9b-0c1d2e3f4a5b',
      history: 'https://holdfast.example.com/v1/incidents/inc-0f8e2c1a-5b6d-4e7f-8a9b-0c1d2e3f4a5b/history',
    },
    ...overrides,
  };
}

class RecordingLogger {
  readonly lines: Array<{ obj: object; msg: string }> = [];
  info(obj: object, msg: string): void {
    this.lines.push({ obj, msg });
  }
}

async function rejects<T extends Error>(p: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${type.name}`);
}

let server: RecordingServer;
before(async () => {
  server = await startRecordingServer();
});
after(async () => {
  await server.close();
});
beforeEach(() => {
  server.reset();
  server.setDefault({
    status: 202,
    body: '{"status":"success","message":"Event processed","dedup_key":"x"}',
    headers: { 'content-type': 'application/json' },
  });
});

describe('PagerDuty Events API v2', () => {
  const make = (env: Record<string, string> = { PD_KEY }) =>
    createNotifier(
      { type: 'pagerduty', name: 'pd', url: `${server.url}/v2/enqueue`, routingKeyEnv: 'PD_KEY' },
      { secret: envSecrets(env) },
    );

  test('trigger: documented fields, dedup_key = incident id, severity mapped, links', async () => {
    const result = await make().send(event(), { dryRun: false });
    assert.deepEqual({ status: result.status, httpStatus: result.httpStatus }, { status: 'sent', httpStatus: 202 });
    assert.equal(server.requests.length, 1);
    const req = server.requests[0];
    assert.ok(req);
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/v2/enqueue');
    assert.equal(req.headers['content-type'], 'application/json');
    const body = req.body as Record<string, unknown> & { payload: Record<string, unknown> };
    assert.equal(body.routing_key, PD_KEY);
    assert.equal(body.event_action, 'trigger');
    assert.equal(body.dedup_key, event().incidentId);
    assert.equal(body.payload.summary, event().title);
    assert.equal(body.payload.severity, 'critical');
    assert.equal(body.payload.source, 'prod-eu-1/shop/web-7d9c6b5f4-x2x9q/web');
    assert.equal(body.payload.component, 'web');
    assert.equal(body.payload.group, 'prod-eu-1/shop');
    assert.equal(body.payload.class, 'holdfast.incident');
    assert.deepEqual((body.payload.custom_details as Record<string, unknown>).tier, 1);
    assert.deepEqual(body.links, [
      { href: event().links.incident, text: 'Holdfast incident' },
      { href: event().links.history, text: 'Incident history' },
    ]);
    assert.equal(body.client_url, event().links.incident);
  });

  test('severities map to critical/error/warning/info and the summary is bounded to 1024', async () => {
    const n = make();
    for (const [sev, pd] of [
      ['critical', 'critical'],
      ['high', 'error'],
      ['medium', 'warning'],
      ['low', 'info'],
      ['info', 'info'],
    ] as const) {
      await n.send(event({ severity: sev, title: 'x'.repeat(5000) }), { dryRun: false });
      const body = server.requests.at(-1)?.body as { payload: { severity: string; summary: string } };
      assert.equal(body.payload.severity, pd);
      assert.equal([...body.payload.summary].length, 1024);
    }
  });

  test('resolve sends only routing_key, event_action and dedup_key', async () => {
    await make().send(event({ action: 'resolve' }), { dryRun: false });
    assert.deepEqual(server.requests[0]?.body, {
      routing_key: PD_KEY,
      dedup_key: event().dedupKey,
      event_action: 'resolve',
    });
  });

  test('a missing routing key env var fails at construction, naming the variable only', () => {
    assert.throws(
      () => make({}),
      (err: Error) =>
        err instanceof NotifierConfigError && /environment variable PD_KEY \(routingKey\) is not set/.test(err.message),
    );
  });
});

describe('Opsgenie Alert API', () => {
  const make = () =>
    createNotifier(
      { type: 'opsgenie', name: 'og', url: server.url, apiKeyEnv: 'OG_KEY', tags: ['k8s'] },
      { secret: envSecrets({ OG_KEY }) },
    );

  test('trigger: POST /v2/alerts with GenieKey, message ≤ 130, alias = incident id, priority, details, tags', async () => {
    await make().send(event({ severity: 'high', tier: 2, title: 'T'.repeat(300) }), { dryRun: false });
    const req = server.requests[0];
    assert.ok(req);
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/v2/alerts');
    assert.equal(req.headers.authorization, `GenieKey ${OG_KEY}`);
    const body = req.body as Record<string, unknown>;
    assert.equal([...(body.message as string)].length, 130);
    assert.equal(body.alias, event().incidentId);
    assert.equal(body.priority, 'P2');
    assert.equal(body.source, 'Holdfast');
    assert.equal(body.entity, 'prod-eu-1/shop/web-7d9c6b5f4-x2x9q/web');
    assert.match(body.description as string, /A shell was spawned/);
    assert.match(body.description as string, /Incident: https:\/\/holdfast\.example\.com\/v1\/incidents\//);
    assert.deepEqual(body.tags, ['holdfast', 'severity:high', 'tier:2', 'k8s']);
    const details = body.details as Record<string, unknown>;
    assert.equal(details.incidentId, event().incidentId);
    assert.equal(details.tier, '2');
    assert.equal(details.pod, 'web-7d9c6b5f4-x2x9q');
    for (const v of Object.values(details)) assert.equal(typeof v, 'string', 'Opsgenie details are string→string');
  });

  test('priorities P1–P5', async () => {
    const n = make();
    for (const [sev, p] of [
      ['critical', 'P1'],
      ['high', 'P2'],
      ['medium', 'P3'],
      ['low', 'P4'],
      ['info', 'P5'],
    ] as const) {
      await n.send(event({ severity: sev }), { dryRun: false });
      assert.equal((server.requests.at(-1)?.body as { priority: string }).priority, p);
    }
  });

  test('resolve closes by alias', async () => {
    await make().send(event({ action: 'resolve' }), { dryRun: false });
    const req = server.requests[0];
    assert.equal(req?.path, `/v2/alerts/${event().dedupKey}/close?identifierType=alias`);
    assert.equal(req?.headers.authorization, `GenieKey ${OG_KEY}`);
    assert.deepEqual(Object.keys(req?.body as object).sort(), ['note', 'source', 'user']);
  });
});

describe('Slack incoming webhook', () => {
  const make = () =>
    createNotifier(
      { type: 'slack', name: 'sec', urlEnv: 'SLACK_URL' },
      { secret: envSecrets({ SLACK_URL: `${server.url}/services/T000/B000/XXXXSECRET` }) },
    );

  test('trigger: text + Block Kit blocks with links to the incident', async () => {
    server.setDefault({ status: 200, body: 'ok' });
    const result = await make().send(event(), { dryRun: false });
    assert.equal(result.response, 'ok');
    const req = server.requests[0];
    assert.equal(req?.path, '/services/T000/B000/XXXXSECRET');
    const body = req?.body as { text: string; blocks: Array<Record<string, unknown>> };
    assert.match(body.text, /\[critical\] Terminal shell in container/);
    assert.deepEqual(
      body.blocks.map((b) => b.type),
      ['header', 'section', 'section', 'actions'],
    );
    const header = body.blocks[0] as { text: { type: string; text: string } };
    assert.equal(header.text.type, 'plain_text');
    assert.ok(header.text.text.length <= 150);
    const summary = body.blocks[2] as { text: { type: string; text: string } };
    assert.deepEqual(summary.text.type, 'plain_text');
    const actions = body.blocks[3] as { elements: Array<{ type: string; url: string; text: { text: string } }> };
    assert.deepEqual(
      actions.elements.map((e) => [e.type, e.text.text, e.url]),
      [
        ['button', 'Acknowledge', undefined],
        ['button', 'Open incident', event().links.incident],
        ['button', 'History', event().links.history],
      ],
    );
    // The Acknowledge button is answered by the API's Slack receiver: its value names the incident only.
    const ack = actions.elements[0] as unknown as { action_id: string; value: string };
    assert.equal(ack.action_id, 'holdfast.acknowledge');
    assert.deepEqual(JSON.parse(ack.value), { incident: event().incidentId });
  });

  test('an approval request carries Approve and Reject buttons for its step, then Acknowledge', async () => {
    server.setDefault({ status: 200, body: 'ok' });
    const approval = {
      step: 'isolate',
      approveCall: 'POST http://h/v1/incidents/x/approve',
      rejectCall: 'POST http://h/v1/incidents/x/reject',
      body: '{"step":"isolate"}',
      approveCommand: 'holdfast incidents approve x --step isolate',
      rejectCommand: 'holdfast incidents reject x --step isolate',
      timeoutSeconds: 3600,
      onTimeout: 'reject' as const,
    };
    await make().send(event({ action: 'approval', approval }), { dryRun: false });
    const body = server.requests.at(-1)?.body as { blocks: Array<{ type: string; elements?: unknown[] }> };
    const buttons = body.blocks.find((b) => b.type === 'actions')!.elements as Array<{
      action_id?: string;
      value?: string;
      style?: string;
    }>;
    assert.deepEqual(
      buttons.filter((b) => b.action_id).map((b) => [b.action_id, b.style, b.value && JSON.parse(b.value)]),
      [
        ['holdfast.approve', 'primary', { incident: event().incidentId, step: 'isolate' }],
        ['holdfast.reject', 'danger', { incident: event().incidentId, step: 'isolate' }],
        ['holdfast.acknowledge', undefined, { incident: event().incidentId }],
      ],
    );
  });

  test('attacker text cannot inject mentions or links', async () => {
    await make().send(
      event({
        title: 'pwned <!channel> <https://evil.example|click> & more',
        summary: '<!here> run <https://evil.example|this>',
      }),
      { dryRun: false },
    );
    const raw = server.requests[0]?.rawBody ?? '';
    assert.ok(!raw.includes('<!'), 'no raw mention');
    assert.ok(!raw.includes('<https://evil.example'), 'no raw link');
    const body = server.requests[0]?.body as {
      text: string;
      blocks: Array<{ type: string; text?: { type: string; text: string } }>;
    };
    assert.match(body.text, /&lt;!channel&gt;/);
    assert.match(body.text, /&amp; more/);
    const summary = body.blocks.find((b) => b.type === 'section' && b.text?.type === 'plain_text');
    assert.equal(summary?.text?.text, '&lt;!here&gt; run &lt;https://evil.example|this&gt;');
    for (const b of body.blocks) if (b.text?.type === 'mrkdwn') assert.ok(!/<![a-z]/.test(b.text.text));
  });

  test('resolve posts a resolved message', async () => {
    await make().send(event({ action: 'resolve' }), { dryRun: false });
    const body = server.requests[0]?.body as { text: string; blocks: Array<{ type: string; text?: { text: string } }> };
    assert.match(body.text, /^Resolved: /);
    assert.match(body.blocks[0]?.text?.text ?? '', /:white_check_mark: \*Resolved\*/);
  });

  test('404 no_service is a configuration error; the webhook URL never appears in errors', async () => {
    server.respondWith({ status: 404, body: 'no_service' });
    const err = await rejects(make().send(event(), { dryRun: false }), NotifierRejected);
    assert.equal(err.httpStatus, 404);
    assert.match(err.message, /^slack notifier "sec": HTTP 404: no_service$/);
    assert.ok(!err.message.includes('XXXXSECRET'));
  });
});

describe('signed webhook', () => {
  const make = () =>
    createNotifier(
      { type: 'webhook', name: 'soar', url: `${server.url}/hooks/holdfast`, secretEnv: 'HOOK_SECRET' },
      { secret: envSecrets({ HOOK_SECRET }) },
    );

  test('JSON body with an HMAC-SHA256 signature that verifies and a timestamp the signature covers', async () => {
    await make().send(event(), { dryRun: false });
    const req = server.requests[0];
    assert.ok(req);
    assert.equal(req.path, '/hooks/holdfast');
    const sig = req.headers['x-holdfast-signature'] as string;
    assert.match(sig, /^sha256=[0-9a-f]{64}$/);
    assert.equal(verifyWebhookSignature(HOOK_SECRET, req.rawBody, sig), true);
    assert.equal(verifyWebhookSignature('wrong-secret', req.rawBody, sig), false);
    assert.equal(
      verifyWebhookSignature(HOOK_SECRET, req.rawBody.replace('critical', 'low'), sig),
      false,
      'a tampered body fails',
    );
    const body = req.body as { schema: string; sentAt: string; event: NotificationEvent };
    assert.equal(body.schema, WEBHOOK_SCHEMA);
    assert.equal(String(Date.parse(body.sentAt) / 1000), req.headers['x-holdfast-timestamp']);
    assert.ok(Math.abs(Date.parse(body.sentAt) - Date.now()) < 60_000);
    assert.equal(req.headers['x-holdfast-event'], 'trigger');
    assert.equal(req.headers['idempotency-key'], `${event().dedupKey}:trigger`);
    assert.deepEqual(body.event, { ...event(), links: event().links });
  });

  test('resolve is the same document with action resolve, also signed', async () => {
    await make().send(event({ action: 'resolve' }), { dryRun: false });
    const req = server.requests[0];
    assert.equal((req?.body as { event: NotificationEvent }).event.action, 'resolve');
    assert.equal(req?.headers['x-holdfast-event'], 'resolve');
    assert.equal(
      verifyWebhookSignature(HOOK_SECRET, req?.rawBody ?? '', req?.headers['x-holdfast-signature'] as string),
      true,
    );
  });

  test('a webhook without a secret is refused at construction', () => {
    assert.throws(
      () => createNotifier({ type: 'webhook', name: 'soar', url: `${server.url}/x` }, { secret: envSecrets({}) }),
      /secret \(or secretEnv\) is required/,
    );
  });
});

describe('dry run', () => {
  test('no request is made; the preview and log show what would be sent, with secrets masked', async () => {
    const logger = new RecordingLogger();
    const env = { PD_KEY, OG_KEY, HOOK_SECRET, SLACK_URL: `${server.url}/services/T000/B000/XXXXSECRET` };
    const notifiers: Notifier[] = [
      createNotifier(
        { type: 'pagerduty', name: 'pd', url: `${server.url}/v2/enqueue`, routingKeyEnv: 'PD_KEY' },
        { secret: envSecrets(env), logger },
      ),
      createNotifier(
        { type: 'opsgenie', name: 'og', url: server.url, apiKeyEnv: 'OG_KEY' },
        { secret: envSecrets(env), logger },
      ),
      createNotifier({ type: 'slack', name: 'sec', urlEnv: 'SLACK_URL' }, { secret: envSecrets(env), logger }),
      createNotifier(
        { type: 'webhook', name: 'soar', url: `${server.url}/hooks`, secretEnv: 'HOOK_SECRET' },
        { secret: envSecrets(env), logger },
      ),
    ];
    for (const n of notifiers) {
      for (const action of ['trigger', 'resolve'] as const) {
        const result = await n.send(event({ action }), { dryRun: true });
        assert.equal(result.status, 'dry-run');
        assert.equal(result.httpStatus, undefined);
        assert.ok(result.preview);
        assert.equal(result.preview.method, 'POST');
      }
    }
    assert.equal(server.requests.length, 0, 'no HTTP request in dry run');
    assert.equal(logger.lines.length, 8);
    const logged = JSON.stringify(logger.lines);
    for (const secret of [PD_KEY, OG_KEY, HOOK_SECRET, 'XXXXSECRET'])
      assert.ok(!logged.includes(secret), 'no secret in the log');
    const pd = logger.lines[0]?.obj as {
      notifier: string;
      request: { body: { routing_key: string; dedup_key: string } };
    };
    assert.equal(pd.notifier, 'pd');
    assert.equal(pd.request.body.routing_key, '[redacted]');
    assert.equal(pd.request.body.dedup_key, event().dedupKey);
    const slack = logger.lines[4]?.obj as { request: { url: string } };
    assert.equal(slack.request.url, `${server.url}/[redacted]`);
    assert.equal(logger.lines[0]?.msg, 'dry run: notification not sent');
  });
});

describe('error classification', () => {
  const make = (timeoutMs?: number) =>
    createNotifier(
      { type: 'pagerduty', name: 'pd', url: `${server.url}/v2/enqueue`, routingKey: PD_KEY, timeoutMs },
      {},
    );

  test('4xx (400, 401, 403, 404, 413) → NotifierRejected, non-retryable for Temporal', async () => {
    for (const status of [400, 401, 403, 404, 413]) {
      server.respondWith({
        status,
        body: '{"status":"invalid event","message":"Event object is invalid","errors":["Length of \'routing_key\' is incorrect"]}',
      });
      const err = await rejects(make().send(event(), { dryRun: false }), NotifierRejected);
      assert.equal(err.httpStatus, status);
      assert.equal(err.nonRetryable, true);
      const failure = toActivityFailure(err);
      assert.ok(failure instanceof ApplicationFailure);
      assert.equal(failure.nonRetryable, true);
      assert.equal(failure.type, 'NotifierRejected');
    }
  });

  test('408, 429 and 5xx → NotifierUnavailable, retryable', async () => {
    for (const status of [408, 429, 500, 502, 503]) {
      server.respondWith({ status, body: 'try later' });
      const err = await rejects(make().send(event(), { dryRun: false }), NotifierUnavailable);
      assert.equal(err.httpStatus, status);
      assert.equal(toActivityFailure(err), err, 'passes through as a retryable error');
    }
  });

  test('a redirect is not followed (it could carry the key elsewhere) and is a configuration error', async () => {
    server.respondWith({ status: 302, headers: { location: 'http://127.0.0.1:1/steal' } });
    const err = await rejects(make().send(event(), { dryRun: false }), NotifierRejected);
    assert.match(err.message, /redirects are not followed/);
    assert.equal(server.requests.length, 1);
  });

  test('connection refused and timeouts → NotifierUnavailable', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = createNotifier(
      { type: 'pagerduty', name: 'pd', url: `http://127.0.0.1:${port}/v2/enqueue`, routingKey: PD_KEY },
      {},
    );
    const err = await rejects(refused.send(event(), { dryRun: false }), NotifierUnavailable);
    assert.match(err.message, /request failed: ECONNREFUSED/);
    server.respondWith({ status: 202, delayMs: 2000 });
    const started = Date.now();
    const slow = await rejects(make(200).send(event(), { dryRun: false }), NotifierUnavailable);
    assert.match(slow.message, /timed out after 200 ms/);
    assert.ok(Date.now() - started < 1500);
  });

  test('a caller abort (activity cancelled) stops the request', async () => {
    server.respondWith({ status: 202, delayMs: 2000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const err = await rejects(make().send(event(), { dryRun: false, signal: controller.signal }), NotifierUnavailable);
    assert.match(err.message, /cancelled/);
  });

  test('response bodies are bounded and secrets echoed by a vendor are masked', async () => {
    server.respondWith({ status: 400, body: `bad key ${PD_KEY} ` + 'z'.repeat(100_000) });
    const err = await rejects(make().send(event(), { dryRun: false }), NotifierRejected);
    assert.ok(!err.message.includes(PD_KEY));
    assert.ok(!(err.response ?? '').includes(PD_KEY));
    assert.ok(Buffer.byteLength(err.response ?? '') <= 2048 + 3);
    assert.ok(err.message.length < 700);
    server.setDefault({ status: 202, body: 'y'.repeat(50_000) });
    const ok = await make().send(event(), { dryRun: false });
    assert.ok(Buffer.byteLength(ok.response ?? '') <= 2048 + 3);
  });
});

describe('configuration and registry', () => {
  test('YAML list → notifiers keyed by name; secrets from env', () => {
    const configs = parseNotifierConfigs(`
- { type: pagerduty, name: pd-primary, routingKeyEnv: PD_KEY }
- { type: opsgenie, name: og, apiKeyEnv: OG_KEY, url: "https://api.eu.opsgenie.com", responders: [{ type: team, name: secops }] }
- { type: slack, name: sec-channel, urlEnv: SLACK_URL }
- { type: webhook, name: soar, url: "https://soar.example.com/hooks/holdfast", secretEnv: HOOK_SECRET }
`);
    const map = createNotifiers(configs, {
      secret: envSecrets({ PD_KEY, OG_KEY, HOOK_SECRET, SLACK_URL: 'https://hooks.slack.com/services/T0/B0/abc' }),
    });
    assert.deepEqual([...map.keys()], ['pd-primary', 'og', 'sec-channel', 'soar']);
    assert.deepEqual(
      [...map.values()].map((n) => n.kind),
      ['pagerduty', 'opsgenie', 'slack', 'webhook'],
    );
    // What activities/notify.ts consumes.
    const asActivityInput: ReadonlyMap<string, NotifierLike> = map;
    assert.equal(asActivityInput.size, 4);
  });

  test('from the environment: HOLDFAST_NOTIFIERS inline or HOLDFAST_NOTIFIERS_FILE', () => {
    const notifierConfigsFromEnv = (env: Env, readFile?: (file: string) => string) =>
      notifierConfigsFrom(loadConfig(env).notifiers, readFile);
    assert.deepEqual(notifierConfigsFromEnv({}), []);
    const inline = notifierConfigsFromEnv({ HOLDFAST_NOTIFIERS: '[{"type":"slack","name":"s","urlEnv":"SLACK_URL"}]' });
    assert.deepEqual(inline, [{ type: 'slack', name: 's', urlEnv: 'SLACK_URL' }]);
    const read: string[] = [];
    const fromFile = notifierConfigsFromEnv({ HOLDFAST_NOTIFIERS_FILE: '/etc/holdfast/notifiers.yaml' }, (f) => {
      read.push(f);
      return '- { type: webhook, name: soar, url: "https://soar.example.com/h", secretEnv: S }';
    });
    assert.deepEqual(read, ['/etc/holdfast/notifiers.yaml']);
    assert.equal(fromFile[0]?.type, 'webhook');
    assert.throws(
      () => notifierConfigsFromEnv({ HOLDFAST_NOTIFIERS: '[]', HOLDFAST_NOTIFIERS_FILE: '/x' }),
      /not both/,
    );
    assert.throws(
      () => notifierConfigsFromEnv({ HOLDFAST_NOTIFIERS_FILE: '/nonexistent/holdfast-notifiers.yaml' }),
      /cannot be read: ENOENT/,
    );
  });

  test('invalid configuration is reported without values', () => {
    assert.throws(
      () => parseNotifierConfigs('- { type: teams, name: x }'),
      /invalid at \/0\/type: must be one of pagerduty, opsgenie, slack, webhook/,
    );
    assert.throws(() => parseNotifierConfigs('{ type: pagerduty }'), /must be a list/);
    assert.throws(() => parseNotifierConfigs('- { type: pagerduty, name: "Bad Name" }'), /invalid at \/0\/name/);
    assert.throws(
      () => parseNotifierConfigs('- { type: pagerduty, name: pd, routingKey: k, extra: 1 }'),
      NotifierConfigError,
    );
    assert.deepEqual(parseNotifierConfigs(''), []);
    const dup: NotifierConfig[] = [
      { type: 'pagerduty', name: 'a', routingKey: PD_KEY },
      { type: 'pagerduty', name: 'a', routingKey: PD_KEY },
    ];
    assert.throws(() => createNotifiers(dup), /configured twice/);
    assert.throws(
      () => createNotifier({ type: 'pagerduty', name: 'a', routingKey: PD_KEY, routingKeyEnv: 'X' }),
      /not both/,
    );
    assert.throws(
      () => createNotifier({ type: 'pagerduty', name: 'a', routingKey: PD_KEY, url: 'file:///etc/passwd' }),
      /must be http\(s\)/,
    );
    assert.throws(
      () => createNotifier({ type: 'webhook', name: 'a', url: 'https://user:pw@x.example/', secret: 's3cret' }),
      /must not carry credentials/,
    );
    assert.throws(
      () => createNotifier({ type: 'nope', name: 'a' } as unknown as NotifierConfig),
      /unknown type "nope"/,
    );
  });

  test('an invalid dedup key is refused before any request', async () => {
    const n = createNotifier({ type: 'pagerduty', name: 'pd', url: `${server.url}/v2/enqueue`, routingKey: PD_KEY });
    await assert.rejects(n.send(event({ dedupKey: 'x'.repeat(256) }), { dryRun: false }), NotifierConfigError);
    await assert.rejects(n.send(event({ dedupKey: '../../v2/alerts' }), { dryRun: false }), NotifierConfigError);
    assert.equal(server.requests.length, 0);
  });
});

describe('fake notifier', () => {
  test('counts sends and can fail retryably or not', async () => {
    const fake = new FakeNotifier('pd');
    const asPort: Notifier = fake;
    const asActivityInput: NotifierLike = fake;
    assert.ok(asPort && asActivityInput);
    await fake.send(event(), { dryRun: false });
    await fake.send(event({ action: 'resolve' }), { dryRun: true });
    assert.equal(fake.count, 2);
    assert.equal(fake.countOf('trigger', event().dedupKey), 1);
    assert.equal(fake.countOf('resolve'), 1);
    assert.equal(fake.sends[1]?.dryRun, true);
    fake.failNext('retryable');
    fake.failNext('rejected');
    await assert.rejects(fake.send(event(), { dryRun: false }), NotifierUnavailable);
    await assert.rejects(fake.send(event(), { dryRun: false }), NotifierRejected);
    assert.equal(fake.count, 2);
  });
});
