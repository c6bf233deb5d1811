/**
 * The notifier and alert-format registries: a throwaway notifier kind and a throwaway alert format, each
 * declared the way a new file would declare it, work end to end when added to a registry list, with no
 * other edit. Every list the rest of the code uses (known kinds, entry schemas, alert sources, route
 * table, playbook matcher, incidents filter) follows the list it is given.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { notifierEntry, notifierKind } from '../../adapters/notifiers/base';
import {
  NOTIFIER_KINDS,
  NotifierConfigError,
  NotifierConfigSchema,
  createNotifier,
  createNotifiers,
  parseNotifierConfigs,
} from '../../adapters/notifiers/registry';
import { parsePlaybooks, PlaybookError } from '../../activities/playbooks';
import { buildTarget, requireObject, requireString } from '../../alerts/parsing';
import {
  ALERT_FORMATS,
  ALERT_SOURCES,
  alertSources,
  defineAlertFormat,
  type AlertSource,
  type ParseContext,
} from '../../alerts/registry';
import type { IncidentFilters, IncidentsService } from '../../api/incidents';
import { AlertIntake, type IntakeSink } from '../../api/intake';
import { createApiMetrics } from '../../api/metrics';
import { alertRoutes, type AlertFormatLike } from '../../api/routes/alerts';
import { buildServer } from '../../api/server';
import type { NotificationEvent, NotificationResult, Notifier } from '../../common/ports';
import type { Alert } from '../../common/types';
import type { AlertBatch } from '../../workflows/definitions';

// ---- A throwaway notifier kind, as its own file would declare it. ----

const EchoConfigSchema = notifierEntry('echo', { channel: Type.String({ pattern: '^#[a-z-]{1,32}$' }) });

class EchoNotifier implements Notifier {
  readonly kind = 'echo';
  readonly sent: NotificationEvent[] = [];
  constructor(
    readonly name: string,
    readonly channel: string,
  ) {}
  async send(event: NotificationEvent, _opts: { dryRun: boolean }): Promise<NotificationResult> {
    this.sent.push(event);
    return { status: 'sent', httpStatus: 200 };
  }
}

const echoKind = notifierKind(EchoConfigSchema, (config) => new EchoNotifier(config.name, config.channel));

// ---- A throwaway alert format, as its own file would declare it. ----

const tetragonFormat = defineAlertFormat({
  name: 'tetragon',
  route: '/v1/alerts/tetragon',
  description: 'A throwaway format for the registry test',
  bodySchema: Type.Object({
    namespace: Type.String({ maxLength: 253 }),
    pod: Type.String({ maxLength: 253 }),
    policy: Type.String({ maxLength: 256 }),
  }),
  example: { namespace: 'shop', pod: 'web-1', policy: 'block-shells' },
  parse(body: unknown, ctx: ParseContext): Alert[] {
    const b = requireObject(body, '');
    const target = buildTarget(
      {
        scope: ctx,
        namespace: { value: b.namespace, field: '/namespace' },
        pod: { value: b.pod, field: '/pod' },
      },
      '/pod',
    );
    const policy = requireString(b.policy, '/policy', 256);
    return [
      {
        id: `tg-${crypto.createHash('sha256').update(`${target.namespace}/${target.pod}/${policy}`).digest('hex').slice(0, 16)}`,
        // Listed in ALERT_FORMATS, the format's name would be in AlertSource; here it is only in this test's list.
        source: 'tetragon' as AlertSource,
        rule: policy,
        severity: 'high',
        summary: `policy ${policy} fired`,
        observedAt: ctx.receivedAt,
        receivedAt: ctx.receivedAt,
        target,
        labels: {},
        status: 'firing',
        rawSha256: ctx.rawSha256,
      },
    ];
  },
});

const event: NotificationEvent = {
  action: 'trigger',
  incidentId: 'inc-1',
  title: 'Shell in web',
  severity: 'high',
  summary: 'a shell',
  tier: 1,
  target: { cluster: 'c', namespace: 'shop', pod: 'web-1' },
  links: { incident: 'https://holdfast.example.com/v1/incidents/inc-1' },
  dedupKey: 'inc-1',
};

describe('notifier registry', () => {
  const kinds = [...NOTIFIER_KINDS, echoKind] as const;

  test("each kind is listed once; its kind is its entry schema's type; the union schema has one member per kind", () => {
    const names = NOTIFIER_KINDS.map((k) => k.kind);
    assert.deepEqual(names, ['pagerduty', 'opsgenie', 'slack', 'webhook']);
    for (const k of NOTIFIER_KINDS) assert.equal(k.schema.properties.type.const, k.kind);
    assert.equal(NotifierConfigSchema.anyOf.length, NOTIFIER_KINDS.length);
  });

  test('a kind added to the list: its entries are validated by its own schema, built by its factory and send', async () => {
    const configs = parseNotifierConfigs(
      `
- { type: echo, name: sec-echo, channel: "#security" }
- { type: slack, name: sec-channel, urlEnv: SLACK_URL }
`,
      kinds,
    );
    const map = createNotifiers(
      configs,
      {
        secret: (name) =>
          (({ SLACK_URL: 'https://hooks.slack.com/services/T0/B0/abc' }) as Record<string, string>)[name],
      },
      kinds,
    );
    assert.deepEqual(
      [...map.values()].map((n) => n.kind),
      ['echo', 'slack'],
    );
    const echo = map.get('sec-echo');
    assert.ok(echo instanceof EchoNotifier);
    assert.equal(echo.channel, '#security');
    assert.deepEqual(await echo.send(event, { dryRun: false }), { status: 'sent', httpStatus: 200 });
    assert.equal(echo.sent[0]?.dedupKey, 'inc-1');

    // Its own schema, with the fields every entry shares.
    assert.throws(
      () => parseNotifierConfigs('- { type: echo, name: e, channel: security }', kinds),
      /invalid at \/0\/channel/,
    );
    assert.throws(
      () => parseNotifierConfigs('- { type: echo, name: e, channel: "#s", extra: 1 }', kinds),
      NotifierConfigError,
    );
    assert.throws(
      () => parseNotifierConfigs('- { type: echo, name: e, channel: "#s", timeoutMs: 5 }', kinds),
      /invalid at \/0\/timeoutMs/,
    );
    // The known kinds in messages follow the list.
    assert.throws(
      () => parseNotifierConfigs('- { type: teams, name: x }', kinds),
      /must be one of pagerduty, opsgenie, slack, webhook, echo$/,
    );
    assert.throws(
      () => createNotifier({ type: 'teams', name: 'x' } as never, {}, kinds),
      /known: pagerduty, opsgenie, slack, webhook, echo\)/,
    );
    assert.ok(createNotifier({ type: 'echo', name: 'e', channel: '#s' }, {}, kinds) instanceof EchoNotifier);
  });

  test("the default list is the registry's: the throwaway kind is unknown there", () => {
    assert.throws(
      () => parseNotifierConfigs('- { type: echo, name: e, channel: "#s" }'),
      /must be one of pagerduty, opsgenie, slack, webhook$/,
    );
  });
});

/** Stands in for Temporal: records delivered alerts. */
class RecordingSink implements IntakeSink {
  readonly delivered: Alert[] = [];
  async deliver(_workflowId: string, _target: unknown, batch: AlertBatch): Promise<string> {
    this.delivered.push(...batch.alerts.map((a) => a.alert));
    return crypto.randomUUID();
  }
  async signalOpen(): Promise<boolean> {
    return true;
  }
  async describeRun() {
    return { startedAt: new Date() };
  }
}

/** Records the filters the incidents list is asked for. */
class FilterRecordingIncidents implements IncidentsService {
  readonly filters: IncidentFilters[] = [];
  async list(filters: IncidentFilters) {
    this.filters.push(filters);
    return { incidents: [] };
  }
  async get(): Promise<never> {
    throw new Error('not used');
  }
  async history(): Promise<never> {
    throw new Error('not used');
  }
  async act(): Promise<never> {
    throw new Error('not used');
  }
}

const TOKENS = new Map([
  ['intake-token-0123456789', 'intake' as const],
  ['responder-token-0123456789', 'responder' as const],
]);
const intakeAuth = { authorization: 'Bearer intake-token-0123456789' };
const responderAuth = { authorization: 'Bearer responder-token-0123456789' };

async function server(
  formats: readonly AlertFormatLike[],
  sink: IntakeSink,
  incidents: IncidentsService,
  sources?: readonly string[],
): Promise<FastifyInstance> {
  const metrics = createApiMetrics();
  const intake = new AlertIntake(sink, { repeatWindowMs: 0, maxBatch: 100, maxInFlight: 4, maxKeys: 1000 });
  return buildServer({
    logger: pino({ level: 'silent' }),
    readiness: {},
    tokens: TOKENS,
    incidents,
    metrics,
    routes: [alertRoutes({ intake, metrics, formats, defaultCluster: 'default-cluster' })],
    alertSources: sources,
  });
}

describe('alert format registry', () => {
  const formats = [...ALERT_FORMATS, tetragonFormat];
  const sources = alertSources(formats);
  const sink = new RecordingSink();
  const incidents = new FilterRecordingIncidents();
  let app: FastifyInstance;
  let registryOnly: FastifyInstance;
  before(async () => {
    app = await server(formats, sink, incidents, sources);
    registryOnly = await server(ALERT_FORMATS, new RecordingSink(), new FilterRecordingIncidents());
  });
  after(async () => {
    await app.close();
    await registryOnly.close();
  });

  test("the sources are the formats' names, and every registered format's alerts carry its name as source", () => {
    assert.deepEqual(
      ALERT_SOURCES,
      ALERT_FORMATS.map((f) => f.name),
    );
    assert.deepEqual(sources, [...ALERT_SOURCES, 'tetragon']);
    const ctx: ParseContext = {
      rawSha256: 'a'.repeat(64),
      receivedAt: '2026-11-28T15:00:00.000Z',
      defaultCluster: 'dc',
    };
    for (const f of ALERT_FORMATS) {
      for (const alert of f.parse(f.example, ctx)) assert.equal(alert.source, f.name, `${f.name}'s alerts`);
    }
  });

  test('a format added to the list is served by the alert routes and documented in /openapi.json', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/alerts/tetragon',
      payload: tetragonFormat.example as object,
      headers: intakeAuth,
    });
    assert.equal(res.statusCode, 202, res.body);
    assert.match(res.json().incidentId, /^inc-/);
    assert.equal(sink.delivered.at(-1)?.source, 'tetragon');
    assert.deepEqual(sink.delivered.at(-1)?.target, { cluster: 'default-cluster', namespace: 'shop', pod: 'web-1' });
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/alerts/tetragon',
      payload: { namespace: 'shop', pod: 'Web_1', policy: 'p' },
      headers: intakeAuth,
    });
    assert.equal(bad.statusCode, 422);
    assert.equal(bad.json().errors[0].field, '/pod');
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    assert.equal(doc.paths['/v1/alerts/tetragon'].post.summary, 'Accept a tetragon alert');
    assert.equal(
      (
        await registryOnly.inject({
          method: 'POST',
          url: '/v1/alerts/tetragon',
          payload: tetragonFormat.example as object,
          headers: intakeAuth,
        })
      ).statusCode,
      404,
    );
  });

  test("its source is accepted by the incidents list's ?source= filter", async () => {
    const res = await app.inject({ url: '/v1/incidents?source=tetragon', headers: responderAuth });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(incidents.filters.at(-1)?.source, 'tetragon');
    assert.equal((await app.inject({ url: '/v1/incidents?source=falco', headers: responderAuth })).statusCode, 200);
    assert.equal((await app.inject({ url: '/v1/incidents?source=nope', headers: responderAuth })).statusCode, 400);
    assert.equal(
      (await registryOnly.inject({ url: '/v1/incidents?source=tetragon', headers: responderAuth })).statusCode,
      400,
    );
  });

  test("its source is accepted by the playbooks' match.sources, and the playbook selects its alerts", () => {
    const yaml = `
playbooks:
  - name: tetragon-only
    match: { sources: [tetragon] }
    capture: [logs]
  - name: others
    capture: [filesystem]
`;
    const opts = { apiBaseUrl: 'http://holdfast.test' };
    const playbooks = parsePlaybooks(yaml, 'registries.yaml', { ...opts, alertSources: sources });
    const [alert] = tetragonFormat.parse(tetragonFormat.example, {
      rawSha256: 'b'.repeat(64),
      receivedAt: '2026-11-28T15:00:00.000Z',
      defaultCluster: 'c',
    });
    assert.ok(alert);
    assert.equal(playbooks.select(alert, alert.target).playbook, 'tetragon-only');
    const [falco] = ALERT_FORMATS[0].parse(ALERT_FORMATS[0].example, {
      rawSha256: 'b'.repeat(64),
      receivedAt: '2026-11-28T15:00:00.000Z',
      defaultCluster: 'c',
    });
    assert.ok(falco);
    assert.equal(playbooks.select(falco, falco.target).playbook, 'others');
    // Every source at once fits (the bound follows the list), and the registry's own list refuses the throwaway.
    assert.doesNotThrow(() =>
      parsePlaybooks(`playbooks:\n  - name: all\n    match: { sources: [${sources.join(', ')}] }\n`, 'all.yaml', {
        ...opts,
        alertSources: sources,
      }),
    );
    assert.throws(
      () => parsePlaybooks(yaml, 'registries.yaml', opts),
      (err: Error) => err instanceof PlaybookError && /\/playbooks\/0\/match\/sources\/0/.test(err.message),
    );
  });
});
