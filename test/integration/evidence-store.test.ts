/**
 * The evidence store, sealing, investigator API and CLI on the real S3 server (versitygw with Object
 * Lock, started by `npm test`).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import {
  DeleteObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectRetentionCommand,
  GetObjectTaggingCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import Fastify, { type FastifyInstance } from 'fastify';
import { createEvidenceReadServices } from '../../evidence';
import { createEvidenceServices, type EvidenceServices } from '../../worker/evidence';
import { trustSigner } from '../../evidence/trusted-keys';
import { sealedManifestOf } from '../../workflows/definitions';
import type { SealResult } from '../../activities/contract';
import { parseManifest } from '../../evidence/manifest';
import { createS3Client } from '../../adapters/s3/client';
import { authPlugin } from '../../api/auth';
import { problemErrorHandler } from '../../api/errors';
import { evidenceRoutes } from '../../api/routes/evidence';
import { keysRoutes } from '../../api/routes/keys';
import { loadConfig } from '../../common/config';
import type { Alert, ArtifactRef } from '../../common/types';
import { missingServers, testConfig } from '../helpers/env';
import { runCli } from '../helpers/capture';

const skip = missingServers();
const MiB = 1024 * 1024;

/** Deterministic pseudo-random bytes, generated in chunks (never the whole artifact in memory). */
export function generated(size: number, seed: string, chunk = MiB): Readable {
  let produced = 0;
  let counter = 0;
  return new Readable({
    read() {
      if (produced >= size) return void this.push(null);
      const n = Math.min(chunk, size - produced);
      const block = Buffer.alloc(n);
      for (let off = 0; off < n; off += 32) {
        crypto.createHash('sha256').update(`${seed}:${counter++}`).digest().copy(block, off);
      }
      produced += n;
      this.push(block);
    },
  });
}

async function sha256Of(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = crypto.createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

const lockedRefusal = (err: Error) => /AccessDenied|locked|retention|WORM/i.test(`${err.name} ${err.message}`);

const cli = runCli;

describe('evidence on the real S3 server (Object Lock)', { skip }, () => {
  const config = testConfig('evidence-unused');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-evidence-it-'));
  const apiDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-evidence-it-api-'));
  const incidentId = `inc-test-shop-web-${crypto.randomBytes(4).toString('hex')}`;
  const INVESTIGATOR = `inv-${crypto.randomBytes(16).toString('hex')}`;
  const CUSTODIAN = `cus-${crypto.randomBytes(16).toString('hex')}`;
  let s3: S3Client;
  let services: EvidenceServices;
  let app: FastifyInstance;
  let api: string;
  let sealedResult: SealResult | undefined;

  before(async () => {
    s3 = createS3Client(config.s3);
    services = createEvidenceServices(
      { ...config, dataDir, evidence: loadConfig({ HOLDFAST_EVIDENCE_URL_SECONDS: '600' }).evidence },
      s3,
    );
    // The API as on another host: its own data dir, no private key; its trusted keys are provisioned for it.
    trustSigner(path.join(apiDataDir, 'trusted-keys.pem'), services.signer);
    const reading = createEvidenceReadServices(
      { ...config, dataDir: apiDataDir, evidence: loadConfig({ HOLDFAST_EVIDENCE_URL_SECONDS: '600' }).evidence },
      s3,
    );
    app = Fastify();
    app.setErrorHandler(problemErrorHandler);
    await app.register(authPlugin, {
      tokens: new Map([
        [INVESTIGATOR, 'investigator' as const],
        [CUSTODIAN, 'custodian' as const],
      ]),
    });
    await app.register(
      evidenceRoutes({
        reader: reading.store,
        custody: reading.custody,
        // What the incident's workflow records when it seals (IncidentStatus.sealed).
        sealRecords: async (id) => (id === incidentId && sealedResult ? sealedManifestOf(sealedResult) : undefined),
        legalHolds: reading.store,
        urlExpirySeconds: reading.settings.urlExpirySeconds,
      }),
    );
    await app.register(keysRoutes(reading.keys));
    // Stand-in for the incidents endpoint (another issue), in its documented shape, for the CLI.
    app.get('/v1/incidents', async () => ({
      incidents: [
        {
          incidentId,
          workflowId: `incident-${incidentId}`,
          status: 'sealed',
          severity: 'critical',
          cluster: 'test',
          namespace: 'shop',
          pod: 'web',
          source: 'falco',
          startedAt: '2026-11-28T15:00:00.000Z',
        },
      ],
      nextPageToken: 'abc',
    }));
    api = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  after(async () => {
    await app?.close();
    s3?.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(apiDataDir, { recursive: true, force: true });
  });

  const refs: ArtifactRef[] = [];

  test('a 20 MiB streamed artifact goes up multipart with the right hash, metadata, tag and lock; its deletion is refused', async () => {
    const expected = await sha256Of(generated(20 * MiB, 'big'));
    const progress: number[] = [];
    const rssBefore = process.memoryUsage().rss;
    const ref = await services.store.putArtifact({
      incidentId,
      step: 'filesystem',
      name: 'rootfs.tar',
      contentType: 'application/x-tar',
      collector: { name: 'holdfast-collector', version: '1.2.3', imageDigest: `sha256:${'d'.repeat(64)}` },
      method: 'tar of /proc/<pid>/root',
      notes: ['/proc/kcore skipped'],
      body: generated(20 * MiB, 'big'),
      onProgress: (bytes) => progress.push(bytes),
    });
    assert.ok(process.memoryUsage().rss - rssBefore < 200 * MiB, 'memory stays bounded');
    refs.push(ref);
    assert.equal(ref.key, `incidents/${incidentId}/filesystem/rootfs.tar`);
    assert.equal(ref.size, 20 * MiB);
    assert.equal(ref.sha256, expected.sha256);
    assert.ok(ref.versionId);
    assert.match(ref.capturedAt, /^\d{4}-\d\d-\d\dT.*Z$/);
    assert.deepEqual(ref.notes, ['/proc/kcore skipped']);
    assert.equal(progress.at(-1), 20 * MiB);
    assert.ok(progress.length > 5, 'progress reported while streaming');

    const back = await services.store.open(ref.key, ref.versionId);
    assert.deepEqual(await sha256Of(back.body), expected);
    const head = await services.store.head(ref.key, ref.versionId);
    assert.equal(head.metadata['captured-at'], ref.capturedAt);
    assert.equal(head.metadata['collector-name'], 'holdfast-collector');
    assert.equal(head.metadata['collector-version'], '1.2.3');
    assert.equal(head.metadata['collector-image-digest'], encodeURIComponent(`sha256:${'d'.repeat(64)}`));
    assert.equal(head.retention?.mode, config.retention.mode);
    const tags = await s3.send(
      new GetObjectTaggingCommand({ Bucket: config.s3.bucket, Key: ref.key, VersionId: ref.versionId }),
    );
    assert.equal(tags.TagSet?.find((t) => t.Key === 'sha256')?.Value, expected.sha256);

    const retention = await s3.send(
      new GetObjectRetentionCommand({ Bucket: config.s3.bucket, Key: ref.key, VersionId: ref.versionId }),
    );
    assert.equal(retention.Retention?.Mode, config.retention.mode);
    const until = retention.Retention!.RetainUntilDate!.getTime();
    assert.ok(
      Math.abs(until - (Date.now() + config.retention.days * 86_400_000)) < 10 * 60_000,
      'retention days from configuration',
    );
    await assert.rejects(
      s3.send(new DeleteObjectCommand({ Bucket: config.s3.bucket, Key: ref.key, VersionId: ref.versionId })),
      lockedRefusal,
    );
  });

  test('chunks that straddle part boundaries (cut into views for lib-storage) are stored byte for byte', async () => {
    const size = 13 * MiB + 12_345;
    const expected = await sha256Of(generated(size, 'odd', 700_001));
    const ref = await services.store.putArtifact({
      incidentId,
      step: 'filesystem',
      name: 'odd-chunks.bin',
      contentType: 'application/octet-stream',
      collector: { name: 'c', version: '1' },
      method: 'm',
      body: generated(size, 'odd', 700_001),
    });
    assert.equal(ref.size, size);
    assert.equal(ref.sha256, expected.sha256);
    const back = await services.store.open(ref.key, ref.versionId);
    assert.deepEqual(await sha256Of(back.body), expected);
  });

  test('a small artifact goes up in one PutObject whose metadata carries its sha256', async () => {
    const podRecord = {
      pod: { uid: 'b1c2d3e4-0000-4000-8000-000000000001', node: 'worker-1', namespace: 'shop', name: 'web' },
      containers: [{ name: 'web', image: 'shop/web:1.0', imageID: `docker.io/shop/web@sha256:${'e'.repeat(64)}` }],
    };
    const body = Buffer.from(JSON.stringify(podRecord));
    const ref = await services.store.putArtifact({
      incidentId,
      step: 'preserve',
      name: 'pod.json',
      contentType: 'application/json',
      collector: { name: 'holdfast-kubernetes-api', version: '0.1.0' },
      method: 'kubernetes-api:get-pod',
      body: Readable.from([body]),
    });
    refs.push(ref);
    const head = await services.store.head(ref.key, ref.versionId);
    assert.equal(head.sha256, crypto.createHash('sha256').update(body).digest('hex'));
    assert.equal(head.sha256, ref.sha256);
    assert.equal(head.size, body.length);
  });

  test('a failing stream aborts its multipart upload: no object, no pending upload', async () => {
    let sent = 0;
    const failing = new Readable({
      read() {
        sent += MiB;
        if (sent > 14 * MiB) this.destroy(new Error('collector died'));
        else this.push(Buffer.alloc(MiB, 7));
      },
    });
    await assert.rejects(
      services.store.putArtifact({
        incidentId,
        step: 'memory',
        name: 'core.1',
        contentType: 'application/octet-stream',
        collector: { name: 'c', version: '1' },
        method: 'm',
        body: failing,
      }),
      /collector died/,
    );
    assert.equal(
      await services.store.abortIncompleteUploads(`incidents/${incidentId}/`),
      0,
      'the store aborted its own upload',
    );
    const listed = await s3.send(
      new ListObjectsV2Command({ Bucket: config.s3.bucket, Prefix: `incidents/${incidentId}/memory/` }),
    );
    assert.equal(listed.KeyCount ?? 0, 0);
  });

  let manifestVersion: string | undefined;

  test('sealing writes a signed, locked manifest with the target completed from the pod record', async () => {
    const alert: Alert = {
      id: 'falco-1',
      source: 'falco',
      rule: 'Terminal shell in container',
      severity: 'critical',
      summary: 'shell in web',
      observedAt: '2026-11-28T15:00:00.000Z',
      receivedAt: '2026-11-28T15:00:01.000Z',
      target: { cluster: 'test', namespace: 'shop', pod: 'web' },
      labels: {},
      status: 'firing',
      rawSha256: 'f'.repeat(64),
    };
    const result = await services.sealEvidence({
      incidentId,
      workflowId: `incident-${incidentId}`,
      runId: crypto.randomUUID(),
      alerts: [alert],
      target: { cluster: 'test', namespace: 'shop', pod: 'web', container: 'web' },
      artifacts: refs,
      failures: [{ step: 'memory', error: 'collector died' }],
    });
    manifestVersion = result.manifest.versionId;
    sealedResult = result;
    assert.equal(result.keyId, services.signer.keyId);
    assert.equal(
      fs.statSync(path.join(dataDir, 'signing-key.pem')).mode & 0o777,
      0o600,
      'key generated on first start, private',
    );
    const stored = await services.store.readSmall(result.manifest.key, result.manifest.versionId, 1e7);
    const manifest = parseManifest(stored.bytes);
    assert.equal(manifest.target.podUid, 'b1c2d3e4-0000-4000-8000-000000000001');
    assert.equal(manifest.target.node, 'worker-1');
    assert.deepEqual(manifest.target.containers, [
      { name: 'web', image: 'shop/web:1.0', imageDigest: `sha256:${'e'.repeat(64)}` },
    ]);
    assert.deepEqual(
      manifest.artifacts.map((a) => a.name),
      ['rootfs.tar', 'pod.json'],
    );
    assert.deepEqual(manifest.failures, [{ step: 'memory', error: 'collector died' }]);
    for (const obj of [result.manifest, result.signature]) {
      const retention = await s3.send(
        new GetObjectRetentionCommand({ Bucket: config.s3.bucket, Key: obj.key, VersionId: obj.versionId }),
      );
      assert.equal(retention.Retention?.Mode, config.retention.mode);
      await assert.rejects(
        s3.send(new DeleteObjectCommand({ Bucket: config.s3.bucket, Key: obj.key, VersionId: obj.versionId })),
        lockedRefusal,
      );
    }
  });

  test('CLI: evidence get -o DIR downloads everything, verify with the key holds; one changed byte, a changed manifest or a wrong key fails and names it', async () => {
    const dir = path.join(dataDir, 'evidence');
    const keyFile = path.join(dataDir, 'holdfast.pub.pem');
    fs.writeFileSync(keyFile, services.signer.publicKeys()[0]!.publicKeyPem);
    const common = ['--api', api, '--token', INVESTIGATOR];

    const listed = await cli(['incidents', 'list', ...common]);
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, new RegExp(`${incidentId}\\s+sealed\\s+critical\\s+test/shop/web`));
    assert.match(listed.out, /--page-token abc/);

    assert.equal(
      (await cli(['evidence', 'get', incidentId, '-o', dir, '--api', api, '--token', 'wrong-token-wrong-token'])).code,
      2,
    );
    const got = await cli(['evidence', 'get', incidentId, '-o', dir, ...common]);
    assert.equal(got.code, 0, got.out + got.err);
    assert.equal(got.err, '', 'no progress bar when stderr is not a TTY');
    assert.ok(fs.existsSync(path.join(dir, 'filesystem', 'rootfs.tar')));
    assert.equal(fs.statSync(path.join(dir, 'filesystem', 'rootfs.tar')).size, 20 * MiB);

    const ok = await cli(['evidence', 'verify', dir, '--key', keyFile]);
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /VERIFIED: signature and all 2 artifact/);
    assert.match(ok.out, /supplied independently/);

    const noKey = await cli(['evidence', 'verify', dir]);
    assert.equal(noKey.code, 3);
    assert.match(noKey.out, /not independently supplied/);

    const fetched = await cli(['evidence', 'verify', dir, '--fetch-key', '--json', ...common]);
    assert.equal(fetched.code, 0, fetched.out);
    const fetchedReport = JSON.parse(fetched.out);
    assert.equal(fetchedReport.keySource, 'server');
    assert.equal(
      fetchedReport.suppliedKeyId,
      services.signer.keyId,
      'the API (without the private key) serves the configured key',
    );
    assert.equal(
      fs.existsSync(path.join(apiDataDir, 'signing-key.pem')),
      false,
      'the API never generates a signing key',
    );
    assert.match(fetchedReport.keyNote, /NOT independently supplied/);

    const wrongKey = path.join(dataDir, 'other.pub.pem');
    fs.writeFileSync(wrongKey, crypto.generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
    const wrong = await cli(['evidence', 'verify', dir, '--key', wrongKey]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.out, /signature: FAILED/);

    // One byte flipped in the middle of the 20 MiB artifact.
    const artifact = path.join(dir, 'filesystem', 'rootfs.tar');
    fs.chmodSync(artifact, 0o644);
    const fd = fs.openSync(artifact, 'r+');
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, 10 * MiB);
    byte[0] = byte[0]! ^ 0xff;
    fs.writeSync(fd, byte, 0, 1, 10 * MiB);
    fs.closeSync(fd);
    const tampered = await cli(['evidence', 'verify', dir, '--key', keyFile, '--json']);
    assert.equal(tampered.code, 1);
    const report = JSON.parse(tampered.out);
    assert.equal(report.signature.ok, true);
    assert.deepEqual(
      report.artifacts.filter((a: { ok: boolean }) => !a.ok).map((a: { path: string }) => a.path),
      ['filesystem/rootfs.tar'],
    );
    const human = await cli(['evidence', 'verify', dir, '--key', keyFile]);
    assert.match(human.out, /FAILED filesystem\/rootfs\.tar .*sha256/);

    const manifestFile = path.join(dir, 'manifest.json');
    fs.chmodSync(manifestFile, 0o644);
    const text = fs.readFileSync(manifestFile, 'utf8');
    fs.writeFileSync(manifestFile, text.replace('"severity": "critical"', '"severity": "criticaL"'));
    const forged = await cli(['evidence', 'verify', dir, '--key', keyFile]);
    assert.equal(forged.code, 1);
    assert.match(forged.out, /signature: FAILED/);
  });

  test('CLI: the streamed bundle verifies; a truncated bundle does not', async () => {
    const file = path.join(dataDir, 'bundle.tar');
    const keyFile = path.join(dataDir, 'holdfast.pub.pem');
    const got = await cli(['evidence', 'get', incidentId, '--bundle', file, '--api', api, '--token', INVESTIGATOR]);
    assert.equal(got.code, 0, got.err);
    assert.ok(fs.statSync(file).size > 20 * MiB);
    const ok = await cli(['evidence', 'verify', file, '--key', keyFile]);
    assert.equal(ok.code, 0, ok.out);
    const truncated = path.join(dataDir, 'truncated.tar');
    fs.writeFileSync(truncated, fs.readFileSync(file).subarray(0, 5 * MiB));
    const bad = await cli(['evidence', 'verify', truncated, '--key', keyFile]);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /FAILED filesystem\/rootfs\.tar/);
  });

  test('every access left a locked custody record (who, when, what, from where)', async () => {
    const listed = await s3.send(
      new ListObjectsV2Command({ Bucket: config.s3.bucket, Prefix: `incidents/${incidentId}/custody/` }),
    );
    const keys = (listed.Contents ?? []).map((c) => c.Key!);
    assert.equal(keys.length, 2, 'one evidence read + one bundle (the refused wrong-token request is not an access)');
    const records = await Promise.all(
      keys.map(async (key) => JSON.parse((await services.store.readSmall(key, undefined, 1e6)).bytes.toString())),
    );
    assert.deepEqual(records.map((r) => r.action).sort(), ['evidence.bundle', 'evidence.read']);
    for (const r of records) {
      assert.equal(r.who.role, 'investigator');
      assert.equal(r.from.ip, '127.0.0.1');
      assert.equal(r.from.userAgent, 'holdfast-cli');
      assert.ok(
        r.objects.some(
          (o: { key: string; versionId?: string }) =>
            o.key.endsWith('manifest.json') && o.versionId === manifestVersion,
        ),
      );
    }
    const head = await services.store.head(keys[0]!);
    assert.equal(head.retention?.mode, config.retention.mode);
    await assert.rejects(
      s3.send(new DeleteObjectCommand({ Bucket: config.s3.bucket, Key: keys[0]!, VersionId: head.versionId })),
      lockedRefusal,
    );
  });

  test('legal hold: placed on every object of the incident (recorded in custody), deletion refused even with a governance bypass, then lifted', async () => {
    const headers = { authorization: `Bearer ${INVESTIGATOR}`, 'content-type': 'application/json' };
    const on = await app.inject({
      method: 'POST',
      url: `/v1/incidents/${incidentId}/evidence/legal-hold`,
      headers,
      payload: { on: true },
    });
    assert.equal(on.statusCode, 200, on.body);
    // The manifest, its signature, the attestation and 2 artifacts.
    assert.deepEqual(on.json(), { incidentId, legalHold: true, objects: 5 });
    const [artifact] = refs;
    const hold = await s3.send(
      new GetObjectLegalHoldCommand({ Bucket: config.s3.bucket, Key: artifact!.key, VersionId: artifact!.versionId }),
    );
    assert.equal(hold.LegalHold?.Status, 'ON');
    await assert.rejects(
      s3.send(
        new DeleteObjectCommand({
          Bucket: config.s3.bucket,
          Key: artifact!.key,
          VersionId: artifact!.versionId,
          BypassGovernanceRetention: true,
        }),
      ),
      lockedRefusal,
    );
    const notTheirs = await app.inject({
      method: 'POST',
      url: `/v1/incidents/${incidentId}/evidence/legal-hold`,
      headers,
      payload: { on: false },
    });
    assert.equal(notTheirs.statusCode, 403, 'an investigator cannot lift a hold');
    const off = await app.inject({
      method: 'POST',
      url: `/v1/incidents/${incidentId}/evidence/legal-hold`,
      headers: { ...headers, authorization: `Bearer ${CUSTODIAN}` },
      payload: { on: false },
    });
    assert.equal(off.statusCode, 200, off.body);
    const lifted = await s3.send(
      new GetObjectLegalHoldCommand({ Bucket: config.s3.bucket, Key: artifact!.key, VersionId: artifact!.versionId }),
    );
    assert.equal(lifted.LegalHold?.Status, 'OFF');
    const listed = await s3.send(
      new ListObjectsV2Command({ Bucket: config.s3.bucket, Prefix: `incidents/${incidentId}/custody/` }),
    );
    const actions = await Promise.all(
      (listed.Contents ?? []).map(
        async (c) => JSON.parse((await services.store.readSmall(c.Key!, undefined, 1e6)).bytes.toString()).action,
      ),
    );
    assert.equal(actions.filter((a) => a === 'evidence.legal-hold').length, 2);
    const bad = await app.inject({
      method: 'POST',
      url: `/v1/incidents/${incidentId}/evidence/legal-hold`,
      headers,
      payload: { on: 'yes' },
    });
    assert.equal(bad.statusCode, 400);
  });
});
