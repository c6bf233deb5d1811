import assert from 'node:assert/strict';
import { test } from 'node:test';
import { run } from '../../cli/main';
import { loadCliConfig } from '../../common/config';
import type { IncidentStatus } from '../../workflows/definitions';
import { Capture } from '../helpers/capture';

// The responder verbs against an injected fetch: the exact request each sends and what a person reads.
const ID = 'inc-0f8e2c1a-5b6d-4e7f-8a9b-0c1d2e3f4a5b';

interface Sent {
  method: string;
  url: string;
  body?: unknown;
  authorization?: string;
}

async function cli(args: string[], answer: (req: Sent) => Response = () => json(202, { accepted: true })) {
  const sent: Sent[] = [];
  const fetchImpl = (async (url: URL | string, init?: RequestInit) => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const req: Sent = {
      method: init?.method ?? 'GET',
      url: String(url),
      ...(init?.body ? { body: JSON.parse(String(init.body)) } : {}),
      authorization: headers.authorization,
    };
    sent.push(req);
    return answer(req);
  }) as typeof fetch;
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await run(['--api', 'http://api.test', '--token', 'tok-123', ...args], {
    stdout,
    stderr: stderr as unknown as NodeJS.WriteStream,
    config: loadCliConfig({}),
    fetch: fetchImpl,
  });
  return { code, out: stdout.text, err: stderr.text, sent };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

test('approve posts {step, note} to /approve with the token and says what happened', async () => {
  const r = await cli(['incidents', 'approve', ID, '--step', 'isolate', '--note', 'go']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(r.sent, [
    {
      method: 'POST',
      url: `http://api.test/v1/incidents/${ID}/approve`,
      body: { step: 'isolate', note: 'go' },
      authorization: 'Bearer tok-123',
    },
  ]);
  assert.match(r.out, new RegExp(`${ID}: approve isolate accepted`));
  assert.match(r.out, /holdfast incidents show/);
});

test('reject, ack, resolve --undo and cancel each post to their route', async () => {
  const cases: Array<[string[], string, unknown]> = [
    [['reject', ID, '--step', 'cordon'], 'reject', { step: 'cordon' }],
    [['ack', ID], 'acknowledge', {}],
    [['resolve', ID, '--undo', '--note', 'clean'], 'resolve', { note: 'clean', undoContainment: true }],
    [['resolve', ID], 'resolve', {}],
    [['cancel', ID], 'cancel', {}],
  ];
  for (const [args, route, body] of cases) {
    const r = await cli(['incidents', ...args]);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
    assert.equal(r.sent.length, 1);
    assert.equal(r.sent[0]!.method, 'POST');
    assert.equal(r.sent[0]!.url, `http://api.test/v1/incidents/${ID}/${route}`);
    assert.deepEqual(r.sent[0]!.body, body, args.join(' '));
  }
});

test('usage errors exit 2 without calling the API', async () => {
  for (const args of [
    ['approve', ID],
    ['reject', ID, '--step', 'Isolate!'],
    ['ack', ID, '--step', 'isolate'],
    ['cancel', ID, '--undo'],
    ['approve', 'not an id', '--step', 'isolate'],
    ['show'],
  ]) {
    const r = await cli(['incidents', ...args]);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.sent.length, 0, args.join(' '));
    assert.match(r.err, /^holdfast: /);
  }
});

test('an API refusal is reported with its problem text, exit 2', async () => {
  const r = await cli(['incidents', 'approve', ID, '--step', 'isolate'], () =>
    json(409, { title: 'Conflict', detail: `incident ${ID} is already closed` }),
  );
  assert.equal(r.code, 2);
  assert.equal(r.err, `holdfast: 409 Conflict: incident ${ID} is already closed\n`);
});

test('show prints the incident, its steps and the commands for a waiting gate; server text is made safe', async () => {
  const status: IncidentStatus = {
    incidentId: ID,
    key: 'incident/prod/shop/web-1',
    phase: 'containing',
    severity: 'high',
    target: { cluster: 'prod', namespace: 'shop', pod: 'web-1', container: 'web' },
    playbook: 'default',
    dryRun: false,
    startedAt: '2026-01-01T00:00:00.000Z',
    alertCount: 3,
    steps: [
      { name: 'plan', kind: 'plan', state: 'succeeded', artifacts: [], notes: [] },
      { name: 'memory', kind: 'capture', state: 'failed', error: 'ptrace denied\u001b[31m', artifacts: [], notes: [] },
      { name: 'isolate', kind: 'contain', state: 'awaiting-approval', artifacts: [], notes: [] },
    ],
    notifications: [{ action: 'open', notifier: 'pd', at: '2026-01-01T00:00:01.000Z', state: 'sent' }],
    tamper: [{ step: 'memory', kind: 'collector-killed', detail: 'gcore of 1: killed by SIGKILL\u001b[2J' }],
  };
  const r = await cli(['incidents', 'show', ID], () =>
    json(200, {
      status,
      alerts: [{ alert: {}, count: 3 }],
      running: true,
      progress: [],
      workflowId: 'incident/prod/shop/web-1',
      runId: '11111111-2222-4333-8444-555555555555',
      temporalUiUrl:
        'http://127.0.0.1:8233/namespaces/holdfast/workflows/incident%2Fprod%2Fshop%2Fweb-1/1111/history\u001b]8;;',
    }),
  );
  assert.equal(r.code, 0, r.err);
  assert.equal(r.sent[0]!.url, `http://api.test/v1/incidents/${ID}`);
  assert.match(r.out, new RegExp(`^incident ${ID}  containing\\n`));
  assert.match(r.out, /target {5}prod\/shop\/web-1\/web/);
  assert.match(r.out, /\n {2}workflow {3}incident\/prod\/shop\/web-1 {3}run 11111111-2222-4333-8444-555555555555\n/);
  assert.match(
    r.out,
    /\n {2}temporal {3}http:\/\/127\.0\.0\.1:8233\/namespaces\/holdfast\/workflows\/incident%2Fprod%2Fshop%2Fweb-1\/1111\/history \]8;;\n/,
  );
  assert.match(r.out, /capture {3}memory {11}failed {13}ptrace denied \[31m/);
  assert.ok(!r.out.includes('\u001b'), 'no escape character reaches the terminal');
  assert.match(r.out, /paged pd \(open\): sent/);
  assert.match(r.out, /\n {2}TAMPER {5}memory collector-killed: gcore of 1: killed by SIGKILL \[2J\n/);
  assert.match(r.out, new RegExp(`waiting for approval: isolate\\n  holdfast incidents approve ${ID} --step isolate`));

  // An API without the run fields: nothing printed for them.
  const older = await cli(['incidents', 'show', ID], () =>
    json(200, { status, alerts: [], running: true, progress: [] }),
  );
  assert.equal(older.code, 0, older.err);
  assert.ok(!/ workflow | temporal /.test(older.out), older.out);

  // A closed incident that handed late alerts over names the incident holding them, once it is open.
  const NEXT = 'inc-99999999-2222-4333-8444-555555555555';
  const closed = { ...status, phase: 'resolved' as const, handedOver: 2 };
  const handedOver = await cli(['incidents', 'show', ID], () =>
    json(200, { status: closed, alerts: [], running: false, progress: [], nextIncidentId: NEXT }),
  );
  assert.match(
    handedOver.out,
    new RegExp(
      `\\n {2}next {7}2 alert\\(s\\) arrived while it closed: incident ${NEXT} holds them \\(holdfast incidents show ${NEXT}\\)\\n`,
    ),
  );
  const notYet = await cli(['incidents', 'show', ID], () =>
    json(200, { status: closed, alerts: [], running: false, progress: [] }),
  );
  assert.match(
    notYet.out,
    /next {7}2 alert\(s\) arrived while it closed: they open the next incident \(not open yet\)/,
  );

  const asJson = await cli(['incidents', 'show', ID, '--json'], () =>
    json(200, { status, alerts: [], running: true, progress: [] }),
  );
  assert.equal(JSON.parse(asJson.out).status.incidentId, ID);
});
