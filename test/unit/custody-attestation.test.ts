/**
 * Standards-grade custody: the DSSE envelope (PAE, signature, keyid), the in-toto subjects against the manifest and
 * the bytes, the RFC 3161 timestamp (a real `openssl ts -reply` behind the fake TSA port), sealing that never waits
 * for a failing or slow TSA, the HTTP adapter's bounds, and the CLI's exit codes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { sealEvidenceWith, type SealDeps } from '../../activities/seal';
import type { SealInput, SealResult } from '../../activities/contract';
import { boundSteps } from '../../activities/attest';
import { httpTimestampAuthority, tsaName } from '../../adapters/tsa/http';
import { run } from '../../cli/main';
import Fastify from 'fastify';
import { authPlugin } from '../../api/auth';
import { problemErrorHandler } from '../../api/errors';
import { evidenceRoutes } from '../../api/routes/evidence';
import { sealedManifestOf } from '../../workflows/definitions';
import { loadCliConfig, loadConfig } from '../../common/config';
import {
  checkSubjects,
  DSSE_PAYLOAD_TYPE,
  HOLDFAST_PREDICATE_TYPE,
  pae,
  parseEnvelope,
  parseStatement,
  signEnvelope,
  STATEMENT_TYPE,
  verifyEnvelopeSignature,
  type Statement,
} from '../../evidence/attestation';
import { parseManifest, serializeManifest } from '../../evidence/manifest';
import { relativeArtifactPath } from '../../evidence/names';
import { keySigner } from '../../evidence/signer';
import { buildTimestampRequest, describeTimestamp } from '../../evidence/timestamp';
import { verifyDirectory } from '../../evidence/verify';
import { MemoryCustodyLog, MemoryEvidenceStore } from '../fakes/evidence-store';
import { FakeTimestampAuthority } from '../fakes/tsa';
import { Capture } from '../helpers/capture';
import { createTestTsa, openssl, opensslVerifyToken, type TestTsa } from '../helpers/openssl-tsa';

const INCIDENT = 'inc-prod-payments-api-7d9f-20261202t150000z';
const repoRoot = path.resolve(__dirname, '..', '..', '..');
const retention = { mode: 'GOVERNANCE' as const, days: 1 };

const created: string[] = [];
after(() => {
  for (const dir of created) fs.rmSync(dir, { recursive: true, force: true });
});

function tmpdir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-custody-unit-'));
  created.push(dir);
  return dir;
}

async function put(
  store: MemoryEvidenceStore,
  step: string,
  name: string,
  body: Buffer | string,
  imageDigest?: string,
) {
  return store.putArtifact({
    incidentId: INCIDENT,
    step,
    name,
    contentType: 'application/octet-stream',
    collector: { name: 'holdfast-collector', version: '1.0.0', ...(imageDigest ? { imageDigest } : {}) },
    method: 'test',
    body: Readable.from([Buffer.from(body)]),
  });
}

async function seal(deps: Partial<SealDeps> = {}) {
  const store = new MemoryEvidenceStore();
  const signer = keySigner(crypto.generateKeyPairSync('ed25519').privateKey);
  const podRecord = {
    pod: { uid: '0f0e5a0c-1111-4222-8333-944445555666', node: 'node-a' },
    containers: [{ name: 'api', image: 'registry/api:1.2', imageID: `registry/api@sha256:${'c'.repeat(64)}` }],
  };
  const digest = `sha256:${'d'.repeat(64)}`;
  const pod = await put(store, 'preserve', 'pod.json', JSON.stringify(podRecord));
  const fsTar = await put(store, 'filesystem', 'filesystem.tar', crypto.randomBytes(4096), digest);
  const input: SealInput = {
    incidentId: INCIDENT,
    workflowId: `incident-${INCIDENT}`,
    runId: 'run-1',
    alerts: [],
    target: { cluster: 'prod', namespace: 'payments', pod: 'api-7d9f' },
    artifacts: [pod, fsTar],
    failures: [{ step: 'memory', error: 'not captured' }],
    tamper: [{ step: 'filesystem', kind: 'collector-killed', detail: 'tar killed by signal 9' }],
    steps: [
      { name: 'preserve', kind: 'preserve', state: 'succeeded', startedAt: '2026-12-02T15:00:00.000Z' },
      {
        name: 'isolate',
        kind: 'contain',
        state: 'succeeded',
        decision: { approved: true, by: 'alice', role: 'responder', at: '2026-12-02T15:01:00.000Z' },
      },
    ],
  };
  const started = Date.now();
  const result = await sealEvidenceWith({ store, signer, retention, ...deps }, input);
  return { store, signer, input, result, ms: Date.now() - started };
}

/** The evidence directory as `holdfast evidence get -o` writes it. */
async function writeDir(store: MemoryEvidenceStore, result: SealResult): Promise<string> {
  const dir = tmpdir();
  const bytes = (await store.readSmall(result.manifest.key, result.manifest.versionId, 1e7)).bytes;
  fs.writeFileSync(path.join(dir, 'manifest.json'), bytes);
  fs.writeFileSync(
    path.join(dir, 'manifest.sig'),
    (await store.readSmall(result.signature.key, result.signature.versionId, 1e3)).bytes,
  );
  if (result.attestation)
    fs.writeFileSync(
      path.join(dir, 'attestation.dsse.json'),
      (await store.readSmall(result.attestation.key, result.attestation.versionId, 1e7)).bytes,
    );
  if (result.timestamp)
    fs.writeFileSync(
      path.join(dir, 'attestation.tsr'),
      (await store.readSmall(result.timestamp.key, result.timestamp.versionId, 1e6)).bytes,
    );
  for (const a of parseManifest(bytes).artifacts) {
    const rel = relativeArtifactPath(INCIDENT, a.key)!;
    fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), (await store.readSmall(a.key, a.versionId, 1e7)).bytes);
  }
  return dir;
}

function copyDir(dir: string): string {
  const to = tmpdir();
  fs.cpSync(dir, to, { recursive: true });
  return to;
}

function flipByte(file: string, at: number): void {
  const bytes = fs.readFileSync(file);
  bytes[at] = bytes[at]! ^ 0x01;
  fs.writeFileSync(file, bytes);
}

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await run(args, { stdout, stderr: stderr as unknown as NodeJS.WriteStream, config: loadCliConfig({}) });
  return { code, out: stdout.text + stderr.text };
}

describe('DSSE envelope and in-toto statement', () => {
  test('PAE is the DSSE v1 encoding (the spec example)', () => {
    assert.equal(
      pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString(),
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
    // Lengths are bytes, not characters.
    assert.equal(pae('t', Buffer.from('é')).toString('latin1'), 'DSSEv1 1 t 2 \u00c3\u00a9');
  });

  test('the envelope verifies with the key over PAE; a changed payload, type, keyid or key does not', async () => {
    const signer = keySigner(crypto.generateKeyPairSync('ed25519').privateKey);
    const other = keySigner(crypto.generateKeyPairSync('ed25519').privateKey);
    const statement = {
      _type: STATEMENT_TYPE,
      subject: [{ name: 'preserve/pod.json', digest: { sha256: 'a'.repeat(64) } }],
      predicateType: HOLDFAST_PREDICATE_TYPE,
      predicate: {},
    } as unknown as Statement;
    const bytes = await signEnvelope(statement, signer);
    const pem = signer.publicKeys()[0]!.publicKeyPem;
    const { envelope, payload } = parseEnvelope(bytes);
    assert.equal(envelope.payloadType, DSSE_PAYLOAD_TYPE);
    assert.equal(envelope.signatures[0]!.keyid, signer.keyId);
    // The signature is Ed25519 over PAE, checkable without Holdfast's code.
    assert.ok(
      crypto.verify(
        null,
        pae(DSSE_PAYLOAD_TYPE, payload),
        crypto.createPublicKey(pem),
        Buffer.from(envelope.signatures[0]!.sig, 'base64'),
      ),
    );
    assert.deepEqual(verifyEnvelopeSignature(envelope, payload, pem, signer.keyId).ok, true);
    assert.deepEqual(parseStatement(payload).subject, statement.subject);

    const changed = Buffer.from(payload);
    changed[10] = changed[10]! ^ 1;
    assert.match(verifyEnvelopeSignature(envelope, changed, pem, signer.keyId).detail, /INVALID/);
    assert.match(
      verifyEnvelopeSignature({ ...envelope, payloadType: 'application/json' }, payload, pem, signer.keyId).detail,
      /payloadType/,
    );
    assert.match(verifyEnvelopeSignature(envelope, payload, pem, other.keyId).detail, /no signature with keyid/);
    assert.equal(
      verifyEnvelopeSignature(envelope, payload, other.publicKeys()[0]!.publicKeyPem, signer.keyId).ok,
      false,
    );
    assert.throws(() => parseEnvelope(Buffer.from('{"payload":"x"}')), /not a DSSE envelope/);
    assert.throws(
      () => parseEnvelope(Buffer.from('{"payload":"!!","payloadType":"t","signatures":[{"sig":"x"}]}')),
      /base64/,
    );
  });

  test('subjects must equal the manifest artifacts and hash to the bytes', () => {
    const a = `incidents/${INCIDENT}/preserve/pod.json`;
    const b = `incidents/${INCIDENT}/filesystem/fs.tar`;
    const artifacts = [
      { key: a, sha256: '1'.repeat(64) },
      { key: b, sha256: '2'.repeat(64) },
    ] as Parameters<typeof checkSubjects>[2];
    const statement = (subject: Array<[string, string]>) =>
      ({ subject: subject.map(([name, sha256]) => ({ name, digest: { sha256 } })) }) as Statement;
    const bytes = new Map([
      ['preserve/pod.json', { sha256: '1'.repeat(64) }],
      ['filesystem/fs.tar', { sha256: '2'.repeat(64) }],
    ]);
    const both: Array<[string, string]> = [
      ['preserve/pod.json', '1'.repeat(64)],
      ['filesystem/fs.tar', '2'.repeat(64)],
    ];
    assert.deepEqual(checkSubjects(statement(both), INCIDENT, artifacts, bytes), []);
    assert.match(
      checkSubjects(statement([both[0]!]), INCIDENT, artifacts, bytes).join(),
      /manifest artifact filesystem\/fs.tar is not a subject/,
    );
    assert.match(
      checkSubjects(statement([...both, ['x/extra', '3'.repeat(64)]]), INCIDENT, artifacts, bytes).join(),
      /subject x\/extra is not an artifact of the manifest/,
    );
    assert.match(
      checkSubjects(statement([both[0]!, ['filesystem/fs.tar', '4'.repeat(64)]]), INCIDENT, artifacts, bytes).join(),
      /subject filesystem\/fs.tar: digest 4{64} differs from the manifest's/,
    );
    const changed = new Map(bytes).set('preserve/pod.json', { sha256: '9'.repeat(64) });
    assert.match(
      checkSubjects(statement(both), INCIDENT, artifacts, changed).join(),
      /subject preserve\/pod.json: the bytes hash to 9{64}/,
    );
    assert.match(checkSubjects(statement([...both, both[0]!]), INCIDENT, artifacts, bytes).join(), /listed twice/);
  });

  test('workflow steps are bounded before they are signed', () => {
    const steps = boundSteps([
      {
        name: 'x'.repeat(500),
        kind: 'capture',
        state: 'succeeded',
        decision: { approved: true, by: 'y'.repeat(999), at: 't' },
      },
      { name: 42 },
      null,
    ]);
    assert.equal(steps.length, 1);
    assert.equal(steps[0]!.name.length, 63);
    assert.equal(steps[0]!.decision!.by.length, 200);
    assert.deepEqual(boundSteps('nope'), []);
    assert.equal(boundSteps(Array.from({ length: 1000 }, () => ({ name: 'a' }))).length, 200);
  });
});

describe('sealing with an RFC 3161 timestamp (openssl ts -reply behind the fake TSA port)', () => {
  let tsa: TestTsa;
  let otherTsa: TestTsa;
  before(async () => {
    tsa = await createTestTsa();
    otherTsa = await createTestTsa('Another TSA');
  });
  after(() => {
    tsa?.remove();
    otherTsa?.remove();
  });

  test('the manifest binds the envelope and the token; the predicate carries the incident; verify says VERIFIED with the time', async () => {
    const timestamps = new FakeTimestampAuthority((req) => tsa.reply(req));
    const { store, signer, result } = await seal({ timestamps });
    assert.ok(result.attestation && result.timestamp, 'both stored');
    assert.equal(result.timestampNote, undefined);
    assert.equal(timestamps.requests.length, 1);
    const manifest = parseManifest((await store.readSmall(result.manifest.key, result.manifest.versionId, 1e7)).bytes);
    const att = manifest.attestation!;
    assert.equal(att.key, `incidents/${INCIDENT}/attestation.dsse.json`);
    assert.equal(att.sha256, result.attestation.sha256);
    assert.ok(att.timestamp.obtained);
    assert.equal(att.timestamp.key, `incidents/${INCIDENT}/attestation.tsr`);
    assert.equal(att.timestamp.policy, '1.3.6.1.4.1.99999.1');
    assert.match(att.timestamp.nonce, /^[0-9a-f]+$/);
    assert.equal(att.timestamp.tsa, 'https://tsa.example/fake');

    const envelopeBytes = (await store.readSmall(att.key, att.versionId, 1e7)).bytes;
    const statement = parseStatement(parseEnvelope(envelopeBytes).payload);
    assert.deepEqual(
      statement.subject.map((s) => s.name),
      ['preserve/pod.json', 'filesystem/filesystem.tar'],
    );
    assert.equal(statement.predicate.incident.id, INCIDENT);
    assert.equal(statement.predicate.target.podUid, '0f0e5a0c-1111-4222-8333-944445555666');
    assert.equal(statement.predicate.target.node, 'node-a');
    assert.ok(statement.predicate.collectors.some((c) => c.imageDigest === `sha256:${'d'.repeat(64)}`));
    assert.deepEqual(
      statement.predicate.tamper.map((t) => t.kind),
      ['collector-killed'],
    );
    assert.deepEqual(statement.predicate.failures, [{ step: 'memory', error: 'not captured' }]);
    assert.equal(statement.predicate.steps[1]!.decision!.by, 'alice');
    // The request: SHA-256 imprint of the envelope as stored, a nonce, certReq.
    const req = timestamps.requests[0]!;
    const reqFile = path.join(tmpdir(), 'req.tsq');
    fs.writeFileSync(reqFile, req);
    const reqText = (await openssl(['ts', '-query', '-in', reqFile, '-text'])).stdout;
    assert.match(reqText, /Hash Algorithm: sha256/);
    assert.match(reqText, /Nonce: 0x/);
    assert.match(reqText, /Certificate required: yes/);
    assert.ok(reqText.replace(/[\s-]/g, '').includes(att.sha256.slice(0, 16)), 'the imprint is the envelope SHA-256');

    const dir = await writeDir(store, result);
    const report = await verifyDirectory(dir, {
      publicKeyPem: signer.publicKeys()[0]!.publicKeyPem,
      tsaCertPem: fs.readFileSync(tsa.caCertFile, 'utf8'),
    });
    assert.equal(report.ok, true, report.problems.join('; '));
    assert.equal(report.attestation?.signature.ok, true);
    assert.equal(report.attestation?.subjects.count, 2);
    assert.equal(report.timestamp?.checked, true);
    assert.equal(report.timestamp?.genTime, att.timestamp.genTime);
    assert.equal(report.timestamp?.nonce, att.timestamp.nonce);
    // The TSA's own certificate is an anchor as good as its CA.
    const own = await verifyDirectory(dir, {
      publicKeyPem: signer.publicKeys()[0]!.publicKeyPem,
      tsaCertPem: fs.readFileSync(tsa.tsaCertFile, 'utf8'),
    });
    assert.equal(own.ok, true, own.problems.join('; '));

    // Standard tools agree: openssl checks the token against the envelope bytes and the CA.
    const tsr = path.join(dir, 'attestation.tsr');
    const verified = await opensslVerifyToken(path.join(dir, 'attestation.dsse.json'), tsr, tsa.caCertFile);
    assert.match(verified, /Verification: OK/);

    const keyFile = path.join(tmpdir(), 'key.pem');
    fs.writeFileSync(keyFile, signer.publicKeys()[0]!.publicKeyPem);
    const ok = await cli(['evidence', 'verify', dir, '--key', keyFile, '--tsa-cert', tsa.caCertFile]);
    assert.equal(ok.code, 0, ok.out);
    assert.match(
      ok.out,
      /VERIFIED: signature and all 2 artifact hash\(es\) hold; the attestation holds; timestamped \d{4}-/,
    );
    assert.match(ok.out, new RegExp(`genTime ${att.timestamp.genTime}`));

    // Each one-byte change fails and says what.
    const subject = copyDir(dir);
    flipByte(path.join(subject, 'preserve', 'pod.json'), 3);
    const s = await cli(['evidence', 'verify', subject, '--key', keyFile, '--tsa-cert', tsa.caCertFile]);
    assert.equal(s.code, 1, s.out);
    assert.match(s.out, /FAILED subject preserve\/pod.json: the bytes hash to/);

    const env = copyDir(dir);
    flipByte(path.join(env, 'attestation.dsse.json'), 40);
    const e = await cli(['evidence', 'verify', env, '--key', keyFile, '--tsa-cert', tsa.caCertFile]);
    assert.equal(e.code, 1, e.out);
    assert.match(e.out, /attestation: attestation.dsse.json hashes to [0-9a-f]{64}, the manifest binds/);
    assert.match(e.out, /timestamp: the token stamps [0-9a-f]{64}, not the envelope's SHA-256/);

    const token = copyDir(dir);
    const changedTsr = path.join(token, 'attestation.tsr');
    flipByte(changedTsr, fs.statSync(changedTsr).size - 5);
    const t = await cli(['evidence', 'verify', token, '--key', keyFile, '--tsa-cert', tsa.caCertFile]);
    assert.equal(t.code, 1, t.out);
    assert.match(t.out, /timestamp \(RFC 3161\): FAILED - attestation.tsr hashes to [0-9a-f]{64}, the manifest binds/);

    // Not given, or another TSA's certificate: not checked, exit 4.
    const none = await cli(['evidence', 'verify', dir, '--key', keyFile]);
    assert.equal(none.code, 4, none.out);
    assert.match(none.out, /timestamp not checked: no TSA certificate was supplied/);
    const wrong = await cli(['evidence', 'verify', dir, '--key', keyFile, '--tsa-cert', otherTsa.caCertFile]);
    assert.equal(wrong.code, 4, wrong.out);
    assert.match(wrong.out, /does not chain to the supplied TSA certificate/);
    // No key at all: the signature gap (3) comes first.
    assert.equal((await cli(['evidence', 'verify', dir])).code, 3);
  });

  test('a failing, slow or lying TSA never blocks sealing: the manifest and the seal result say why', async () => {
    const down = await seal({ timestamps: FakeTimestampAuthority.failing('connect ECONNREFUSED 127.0.0.1:1') });
    assert.match(
      down.result.timestampNote!,
      /timestamp not obtained from https:\/\/tsa.example\/fake: connect ECONNREFUSED/,
    );
    assert.equal(down.result.timestamp, undefined);
    assert.ok(down.result.attestation, 'the attestation is sealed anyway');
    const m = parseManifest(
      (await down.store.readSmall(down.result.manifest.key, down.result.manifest.versionId, 1e7)).bytes,
    );
    assert.deepEqual(m.attestation?.timestamp, {
      obtained: false,
      tsa: 'https://tsa.example/fake',
      reason: down.result.timestampNote,
    });

    const slow = await seal({ timestamps: FakeTimestampAuthority.hanging(), timestampTimeoutMs: 300 });
    assert.match(slow.result.timestampNote!, /did not answer within 300 ms/);
    assert.ok(slow.ms < 5000, `sealing went on after the TSA's deadline (${slow.ms} ms)`);

    // A token for another request (a replay) is refused, not stored.
    const replayed = await tsa.reply(buildTimestampRequest(crypto.randomBytes(32), crypto.randomBytes(16)));
    const lying = await seal({ timestamps: new FakeTimestampAuthority(async () => replayed) });
    assert.match(lying.result.timestampNote!, /stamps another digest/);
    // A token for our request whose signature does not hold is refused too.
    const broken = await seal({
      timestamps: new FakeTimestampAuthority(async (req) => {
        const reply = await tsa.reply(req);
        reply[reply.length - 2] = reply[reply.length - 2]! ^ 1;
        return reply;
      }),
    });
    assert.match(broken.result.timestampNote!, /CMS signature does not verify/);
    assert.equal(broken.result.timestamp, undefined);
    const garbage = await seal({
      timestamps: new FakeTimestampAuthority(async () => Buffer.from('<html>nope</html>')),
    });
    assert.match(garbage.result.timestampNote!, /not a DER TimeStampResp/);

    // Without a TSA: sealed, and said so.
    const unset = await seal();
    assert.match(unset.result.timestampNote!, /no TSA configured \(HOLDFAST_TSA_URL is unset\)/);

    // Verifying such evidence: everything holds; no timestamp to check (0), unless one was asked for (4).
    const dir = await writeDir(down.store, down.result);
    const keyFile = path.join(tmpdir(), 'key.pem');
    fs.writeFileSync(keyFile, down.signer.publicKeys()[0]!.publicKeyPem);
    const plain = await cli(['evidence', 'verify', dir, '--key', keyFile]);
    assert.equal(plain.code, 0, plain.out);
    assert.match(plain.out, /timestamp \(RFC 3161\): NONE - none: timestamp not obtained/);
    const asked = await cli(['evidence', 'verify', dir, '--key', keyFile, '--tsa-cert', tsa.caCertFile]);
    assert.equal(asked.code, 4, asked.out);
    assert.match(asked.out, /timestamp not checked: there is none/);
  });

  test('a manifest sealed before attestations existed verifies as before', async () => {
    const { store, signer, result } = await seal();
    const dir = await writeDir(store, result);
    // The same evidence as an older seal wrote it: no attestation field, no attestation files.
    const old = parseManifest(fs.readFileSync(path.join(dir, 'manifest.json')));
    delete old.attestation;
    const bytes = serializeManifest(old);
    fs.writeFileSync(path.join(dir, 'manifest.json'), bytes);
    fs.writeFileSync(path.join(dir, 'manifest.sig'), await signer.sign(bytes));
    fs.rmSync(path.join(dir, 'attestation.dsse.json'));
    const keyFile = path.join(tmpdir(), 'key.pem');
    fs.writeFileSync(keyFile, signer.publicKeys()[0]!.publicKeyPem);
    const res = await cli(['evidence', 'verify', dir, '--key', keyFile]);
    assert.equal(res.code, 0, res.out);
    assert.match(res.out, /VERIFIED: signature and all 2 artifact hash\(es\) hold$/m);
    assert.doesNotMatch(res.out, /attestation|timestamp/);
    const report = await verifyDirectory(dir, { publicKeyPem: signer.publicKeys()[0]!.publicKeyPem });
    assert.equal(report.attestation, undefined);
    // A signed manifest whose attestation record is not an object is reported, not a crash.
    const odd = { ...old, attestation: null } as unknown as typeof old;
    const oddBytes = serializeManifest(odd);
    const oddDir = copyDir(dir);
    fs.writeFileSync(path.join(oddDir, 'manifest.json'), oddBytes);
    fs.writeFileSync(path.join(oddDir, 'manifest.sig'), await signer.sign(oddBytes));
    const oddRes = await cli(['evidence', 'verify', oddDir, '--key', keyFile]);
    assert.equal(oddRes.code, 1, oddRes.out);
    assert.match(oddRes.out, /attestation record is malformed/);
    // A manifest that names an attestation cannot lose it silently.
    const withAtt = await writeDir(store, result);
    fs.rmSync(path.join(withAtt, 'attestation.dsse.json'));
    const missing = await cli(['evidence', 'verify', withAtt, '--key', keyFile]);
    assert.equal(missing.code, 1);
    assert.match(missing.out, /attestation.dsse.json is missing \(the manifest names it\)/);
  });

  test("evidence/README.md's standard-tool commands check a sealed directory (jq, coreutils, openssl)", async (t) => {
    if (spawnSync('jq', ['--version']).status !== 0) return t.skip('jq is not installed');
    const readme = fs.readFileSync(path.join(repoRoot, 'evidence', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Checking the attestation and the timestamp with standard tools'));
    const script = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
    const { store, signer, result } = await seal({ timestamps: new FakeTimestampAuthority((req) => tsa.reply(req)) });
    const dir = await writeDir(store, result);
    fs.writeFileSync(path.join(dir, 'holdfast.pub.pem'), signer.publicKeys()[0]!.publicKeyPem);
    fs.copyFileSync(tsa.caCertFile, path.join(dir, 'tsa-ca.pem'));
    // The README's own text, run as written on our test files (no alert data reaches the shell).
    const ran = spawnSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, encoding: 'utf8' });
    assert.equal(ran.status, 0, ran.stdout + ran.stderr);
    assert.match(ran.stdout, /Signature Verified Successfully/);
    assert.match(ran.stdout, /preserve\/pod.json: OK/);
    assert.match(ran.stdout, /filesystem\/filesystem.tar: OK/);
    assert.match(ran.stdout, /Verification: OK/);
    assert.match(ran.stdout, /Nonce: 0x/);
    const [bound, actual] = ran.stdout.split('\n');
    assert.equal(actual!.split(/\s+/)[0], bound);
    // The same commands fail on a changed envelope.
    flipByte(path.join(dir, 'attestation.dsse.json'), 40);
    assert.notEqual(spawnSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir }).status, 0);
  });

  test('the API serves exactly the attestation and token the manifest binds; a substitute is never served', async () => {
    const { store, result } = await seal({ timestamps: new FakeTimestampAuthority((req) => tsa.reply(req)) });
    const custody = new MemoryCustodyLog();
    const app = Fastify();
    app.setErrorHandler(problemErrorHandler);
    await app.register(authPlugin, { tokens: new Map([['investigator-token-0123456789', 'investigator' as const]]) });
    const records = async (id: string) => (id === INCIDENT ? sealedManifestOf(result) : undefined);
    await app.register(evidenceRoutes({ reader: store, custody, sealRecords: records, legalHolds: store }));
    const headers = { authorization: 'Bearer investigator-token-0123456789' };
    try {
      const sealedEnvelope = (await store.readSmall(result.attestation!.key, result.attestation!.versionId, 1e7)).bytes;
      // Someone with write access puts newer objects under the same names: never what is served.
      await store.putSmallObject(result.attestation!.key, Buffer.from('{"forged":true}'), 'application/json');
      await store.putSmallObject(result.timestamp!.key, Buffer.from('forged'), 'application/timestamp-reply');
      const res = await app.inject({ url: `/v1/incidents/${INCIDENT}/evidence`, headers });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.ok(Buffer.from(body.attestationBase64, 'base64').equals(sealedEnvelope));
      assert.equal(
        crypto.createHash('sha256').update(Buffer.from(body.timestampBase64, 'base64')).digest('hex'),
        result.timestamp!.sha256,
      );
      assert.ok(
        custody.entries[0]!.objects.some(
          (o) => o.key === result.timestamp!.key && o.versionId === result.timestamp!.versionId,
        ),
        'the custody record names the exact token version handed out',
      );
      // The bound version itself altered in the bucket: refused (409), not served.
      store.versions.get(`${result.attestation!.key}@${result.attestation!.versionId}`)!.body = Buffer.from('{}');
      const refused = await app.inject({ url: `/v1/incidents/${INCIDENT}/evidence/bundle`, headers });
      assert.equal(refused.statusCode, 409, refused.body);
      assert.match(refused.json().detail, /attestation.dsse.json in the bucket is not the one/);
    } finally {
      await app.close();
    }
  });

  test('one-byte changes across a token (every 29th byte) all fail verification, and none makes the checker throw', async () => {
    const { store, signer, result } = await seal({ timestamps: new FakeTimestampAuthority((req) => tsa.reply(req)) });
    const dir = await writeDir(store, result);
    const file = path.join(dir, 'attestation.tsr');
    const original = fs.readFileSync(file);
    const options = {
      publicKeyPem: signer.publicKeys()[0]!.publicKeyPem,
      tsaCertPem: fs.readFileSync(tsa.caCertFile, 'utf8'),
    };
    let cryptoCaught = 0;
    let offsets = 0;
    for (let at = 0; at < original.length; at += 29) {
      const changed = Buffer.from(original);
      changed[at] = changed[at]! ^ 0x20;
      fs.writeFileSync(file, changed);
      const report = await verifyDirectory(dir, options);
      offsets += 1;
      assert.equal(report.ok, false, `byte ${at}`);
      assert.ok(
        report.problems.some((p) => p.startsWith('timestamp: attestation.tsr hashes to')),
        `byte ${at}`,
      );
      // Beyond the manifest's binding, most changes are caught by the token's own cryptography.
      if (report.problems.some((p) => p.startsWith('timestamp: ') && !p.includes('hashes to'))) cryptoCaught += 1;
    }
    // The bytes outside what the TSA signed are the CMS certificate set (unsigned by design) and a few encodings.
    assert.ok(cryptoCaught > offsets / 2, `${cryptoCaught} of ${offsets} caught by the token itself`);
    fs.writeFileSync(file, original);
    assert.equal((await verifyDirectory(dir, options)).ok, true);
  });

  test('describeTimestamp reads a response without judging it', async () => {
    const digest = crypto.randomBytes(32);
    const info = describeTimestamp(await tsa.reply(buildTimestampRequest(digest, crypto.randomBytes(16))));
    assert.equal(info.status, 0);
    assert.equal(info.imprint?.sha256, digest.toString('hex'));
    assert.equal(info.tsaName, 'O=Holdfast tests, CN=Holdfast Test TSA');
  });
});

test('incidents show says why a seal has no timestamp', async () => {
  const note = 'timestamp not obtained from https://tsa.example/: the TSA https://tsa.example/ answered HTTP 503';
  const status = {
    incidentId: INCIDENT,
    key: 'k',
    phase: 'escalating',
    severity: 'high',
    target: { cluster: 'prod', namespace: 'payments', pod: 'api-7d9f' },
    dryRun: false,
    startedAt: '2026-12-02T15:00:00.000Z',
    alertCount: 1,
    steps: [{ name: 'seal', kind: 'seal', state: 'succeeded', artifacts: [], notes: [note] }],
  };
  const stdout = new Capture();
  const code = await run(['incidents', 'show', INCIDENT, '--api', 'http://api.test'], {
    stdout,
    stderr: new Capture() as unknown as NodeJS.WriteStream,
    config: loadCliConfig({}),
    fetch: (async () =>
      new Response(JSON.stringify({ status, alerts: [], running: true, progress: [] }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      })) as typeof fetch,
  });
  assert.equal(code, 0);
  assert.match(
    stdout.text,
    /seal {6}seal {13}succeeded {10}timestamp not obtained from https:\/\/tsa.example\/: .* HTTP 503/,
  );
});

describe('the HTTP TSA adapter: bounded in bytes and time', () => {
  let server: http.Server;
  let base: string;
  const seen: Array<{ type?: string; bytes: number }> = [];
  before(async () => {
    server = http.createServer((req, res) => {
      let bytes = 0;
      req.on('data', (c: Buffer) => (bytes += c.length));
      req.on('end', () => {
        seen.push({ type: req.headers['content-type'], bytes });
        if (req.url === '/ok')
          res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(Buffer.from([1, 2, 3]));
        else if (req.url === '/huge') {
          res.writeHead(200);
          const chunk = Buffer.alloc(64 * 1024);
          let sent = 0;
          const more = () => {
            while (sent < 2 * 1024 * 1024 && res.write(chunk)) sent += chunk.length;
            if (sent < 2 * 1024 * 1024) res.once('drain', more);
            else res.end();
          };
          more();
        } else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end('late'), 3000).unref();
        else res.writeHead(503).end('busy');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('posts the query, reads the reply; refuses oversize, slow and non-200 answers', async () => {
    const tsa = (p: string, timeoutMs = 1000) => httpTimestampAuthority({ url: `${base}${p}`, timeoutMs });
    assert.deepEqual([...(await tsa('/ok').timestamp(Buffer.from('query')))], [1, 2, 3]);
    assert.deepEqual(seen.at(-1), { type: 'application/timestamp-query', bytes: 5 });
    await assert.rejects(tsa('/huge').timestamp(Buffer.from('q')), /sent more than 262144 bytes/);
    const started = Date.now();
    await assert.rejects(tsa('/slow', 300).timestamp(Buffer.from('q')), /did not answer within 300 ms/);
    assert.ok(Date.now() - started < 2000);
    await assert.rejects(tsa('/busy').timestamp(Buffer.from('q')), /answered HTTP 503/);
    await assert.rejects(
      httpTimestampAuthority({ url: 'http://127.0.0.1:1/', timeoutMs: 1000 }).timestamp(Buffer.from('q')),
      /unreachable/,
    );
    // What the manifest records of the TSA: never its credentials or query.
    assert.equal(tsaName('https://user:secret@tsa.example:8443/tsr?token=abc'), 'https://tsa.example:8443/tsr');
  });

  test('configuration: HOLDFAST_TSA_URL must be http(s); the timeout is bounded', () => {
    assert.equal(loadConfig({}).evidence.tsa, undefined);
    assert.deepEqual(loadConfig({ HOLDFAST_TSA_URL: 'https://tsa.example/' }).evidence.tsa, {
      url: 'https://tsa.example/',
      timeoutMs: 10_000,
    });
    assert.equal(
      loadConfig({ HOLDFAST_TSA_URL: 'http://tsa', HOLDFAST_TSA_TIMEOUT_SECONDS: '3' }).evidence.tsa?.timeoutMs,
      3000,
    );
    assert.throws(() => loadConfig({ HOLDFAST_TSA_URL: 'file:///etc/passwd' }), /must be http\(s\)/);
    assert.throws(() => loadConfig({ HOLDFAST_TSA_URL: 'not a url' }), /not a URL/);
    assert.throws(() => loadConfig({ HOLDFAST_TSA_URL: 'http://tsa', HOLDFAST_TSA_TIMEOUT_SECONDS: '600' }));
  });
});
