import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import Fastify from 'fastify';
import tar from 'tar-stream';
import { progressBar } from '../../cli/progress';
import { publishPublicKeys } from '../../evidence/keys';
import { parseManifest, serializeManifest, verifySignature } from '../../evidence/manifest';
import { artifactKey, relativeArtifactPath } from '../../evidence/names';
import { keyIdOf, keySigner, loadOrCreateSigningKey } from '../../evidence/signer';
import { verifyBundle, verifyDirectory } from '../../evidence/verify';
import { createSealActivities, sealEvidenceWith } from '../../activities/seal';
import type { SealInput, SealResult } from '../../activities/contract';
import { authPlugin } from '../../api/auth';
import { problemErrorHandler } from '../../api/errors';
import { evidenceRouteGroup, evidenceRoutes, incidentSealRecords, sealRecordOf } from '../../api/routes/evidence';
import { createApiMetrics } from '../../api/metrics';
import { buildServer } from '../../api/server';
import type { IncidentsService } from '../../api/incidents';
import pino from 'pino';
import { keysRoutes } from '../../api/routes/keys';
import type { Alert } from '../../common/types';
import { MemoryCustodyLog, MemoryEvidenceStore } from '../fakes/evidence-store';
import { sealedManifestOf } from '../../workflows/definitions';

const INCIDENT = 'inc-prod-payments-api-7d9f-20261128t145201z';
const collector = { name: 'holdfast-test', version: '0.0.0' };
const retention = { mode: 'GOVERNANCE' as const, days: 1 };

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-evidence-unit-'));
}

function alert(): Alert {
  return {
    id: 'a1',
    source: 'falco',
    rule: 'Terminal shell in container',
    severity: 'critical',
    summary: 'shell spawned; $(rm -rf /)',
    observedAt: '2026-11-28T14:50:00.000Z',
    receivedAt: '2026-11-28T14:50:01.000Z',
    target: { cluster: 'prod', namespace: 'payments', pod: 'api-7d9f' },
    labels: {},
    status: 'firing',
    rawSha256: 'ab'.repeat(32),
  };
}

async function put(store: MemoryEvidenceStore, step: string, name: string, body: Buffer | string) {
  return store.putArtifact({
    incidentId: INCIDENT,
    step,
    name,
    contentType: 'application/octet-stream',
    collector,
    method: 'test',
    body: Readable.from([Buffer.from(body)]),
  });
}

async function sealed(store = new MemoryEvidenceStore()) {
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  const signer = keySigner(privateKey);
  const podRecord = {
    pod: { uid: '0f0e5a0c-1111-4222-8333-944445555666', node: 'node-a' },
    containers: [
      { name: 'api', image: 'registry/api:1.2', imageID: `registry/api@sha256:${'c'.repeat(64)}` },
      { name: 'sidecar', image: 'registry/side:3', imageID: '' },
    ],
  };
  const pod = await put(store, 'preserve', 'pod.json', JSON.stringify(podRecord));
  const fsArtifact = await put(store, 'filesystem', 'filesystem.tar', crypto.randomBytes(4096));
  const input: SealInput = {
    incidentId: INCIDENT,
    workflowId: `incident-${INCIDENT}`,
    runId: 'run-1',
    alerts: [alert()],
    target: { cluster: 'prod', namespace: 'payments', pod: 'api-7d9f' },
    artifacts: [pod, fsArtifact],
    failures: [{ step: 'memory', error: 'CRIU unavailable on this node' }],
  };
  const result = await sealEvidenceWith({ store, signer, retention }, input);
  return { store, signer, input, result, privateKey };
}

/** The seal records the incident's workflow would keep: INCIDENT sealed as `result`, nothing else sealed. */
function recordsOf(result: SealResult, legacy = false) {
  const record = legacy ? { sha256: result.manifest.sha256 } : sealedManifestOf(result);
  return async (incidentId: string) => (incidentId === INCIDENT ? record : undefined);
}

describe('evidence: names are validated, never paths', () => {
  test('keys follow incidents/<id>/<step>/<artifact>; hostile parts are refused', () => {
    assert.equal(artifactKey(INCIDENT, 'preserve', 'pod.json'), `incidents/${INCIDENT}/preserve/pod.json`);
    assert.throws(() => artifactKey('../etc', 'preserve', 'pod.json'), { name: 'InvalidInput' });
    assert.throws(() => artifactKey(INCIDENT, 'pre/serve', 'pod.json'), { name: 'InvalidInput' });
    assert.throws(() => artifactKey(INCIDENT, 'preserve', '../../passwd'), { name: 'InvalidInput' });
    assert.throws(() => artifactKey(INCIDENT, 'preserve', '.hidden'), { name: 'InvalidInput' });
    assert.throws(() => artifactKey('Inc-UPPER', 'preserve', 'x'), { name: 'InvalidInput' });
    assert.equal(relativeArtifactPath(INCIDENT, `incidents/${INCIDENT}/preserve/pod.json`), 'preserve/pod.json');
    assert.equal(relativeArtifactPath(INCIDENT, `incidents/${INCIDENT}/../x/pod.json`), undefined);
    assert.equal(relativeArtifactPath(INCIDENT, `incidents/other/preserve/pod.json`), undefined);
    assert.equal(relativeArtifactPath(INCIDENT, `incidents/${INCIDENT}/a/b/c`), undefined);
    assert.equal(relativeArtifactPath(INCIDENT, `incidents/${INCIDENT}/custody/x.json`), undefined);
  });
});

describe('evidence: signing key', () => {
  test('generated once with mode 0600, reloaded with the same key id; a world-readable key is refused', () => {
    const dir = tmpdir();
    const file = path.join(dir, 'keys', 'signing-key.pem');
    const first = loadOrCreateSigningKey(file);
    assert.equal(first.created, true);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const again = loadOrCreateSigningKey(file);
    assert.equal(again.created, false);
    assert.equal(keySigner(again.privateKey).keyId, keySigner(first.privateKey).keyId);
    fs.chmodSync(file, 0o644);
    assert.throws(() => loadOrCreateSigningKey(file), /readable by group or others/);
  });
});

describe('evidence: sealing', () => {
  test('the manifest lists sound artifacts, the target from the captured pod record, failures; it verifies', async () => {
    const { store, signer, result } = await sealed();
    assert.equal(result.manifest.key, `incidents/${INCIDENT}/manifest.json`);
    assert.equal(result.signature.key, `incidents/${INCIDENT}/manifest.sig`);
    assert.equal(result.keyId, signer.keyId);
    const bytes = (await store.readSmall(result.manifest.key, result.manifest.versionId, 1e6)).bytes;
    const sig = await store.readSmall(result.signature.key, result.signature.versionId, 1e3);
    assert.equal(sig.metadata['manifest-version-id'], result.manifest.versionId);
    assert.equal(crypto.createHash('sha256').update(bytes).digest('hex'), result.manifest.sha256);
    assert.ok(verifySignature(bytes, sig.bytes, signer.publicKeys()[0]!.publicKeyPem));
    const manifest = parseManifest(bytes);
    assert.equal(manifest.incidentId, INCIDENT);
    assert.equal(manifest.workflowId, `incident-${INCIDENT}`);
    assert.equal(manifest.signing.keyId, signer.keyId);
    assert.equal(manifest.alerts[0]!.rawSha256, 'ab'.repeat(32));
    assert.deepEqual(
      manifest.artifacts.map((a) => a.name),
      ['pod.json', 'filesystem.tar'],
    );
    assert.equal(manifest.target.podUid, '0f0e5a0c-1111-4222-8333-944445555666');
    assert.equal(manifest.target.node, 'node-a');
    assert.deepEqual(manifest.target.containers, [
      { name: 'api', image: 'registry/api:1.2', imageDigest: `sha256:${'c'.repeat(64)}` },
      { name: 'sidecar', image: 'registry/side:3' },
    ]);
    assert.ok(manifest.target.notes.some((n) => n.includes('sidecar') && n.includes('no image digest')));
    assert.deepEqual(manifest.failures, [{ step: 'memory', error: 'CRIU unavailable on this node' }]);
    assert.match(manifest.sealedAt, /Z$/);
  });

  test('request bodies are sealed byte for byte under intake/<sha256>.json; one not matching its hash is refused; it verifies', async () => {
    const store = new MemoryEvidenceStore();
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    const signer = keySigner(privateKey);
    // Falco's nanosecond evt.time, a digit run no double holds, and bytes that are not valid UTF-8.
    const falco = Buffer.concat([
      Buffer.from('{"output_fields":{"evt.time":1795961527481632214},"tag":"'),
      Buffer.from([0xc3, 0x28, 0xff]),
      Buffer.from('"}'),
    ]);
    const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
    const result = await sealEvidenceWith(
      { store, signer, retention },
      {
        incidentId: INCIDENT,
        workflowId: 'w',
        runId: 'r',
        alerts: [],
        alertTally: { received: 3, kept: 0, notKept: 3, bodiesNotKept: 1 },
        target: { cluster: 'prod', node: 'node-a' },
        artifacts: [],
        failures: [],
        rawBodies: [
          { sha256: sha(falco), base64: falco.toString('base64') },
          { sha256: 'f'.repeat(64), base64: Buffer.from('{"forged":true}').toString('base64') },
        ],
      },
    );
    const bytes = (await store.readSmall(result.manifest.key, result.manifest.versionId, 1e6)).bytes;
    const manifest = parseManifest(bytes);
    assert.deepEqual(
      manifest.artifacts.map((a) => [a.key, a.sha256, a.size]),
      [[`incidents/${INCIDENT}/intake/${sha(falco)}.json`, sha(falco), falco.length]],
    );
    const storedBody = await store.readSmall(manifest.artifacts[0]!.key, manifest.artifacts[0]!.versionId, 1e6);
    assert.ok(storedBody.bytes.equals(falco), 'stored exactly as received, every digit and byte');
    assert.match(manifest.failures.map((f) => f.error).join(' '), /does not match its recorded sha256: not stored/);
    assert.deepEqual(manifest.alertTally, { received: 3, kept: 0, notKept: 3, bodiesNotKept: 1 });
    const dir = await writeDir(store, result.manifest.key, result.manifest.versionId, result.signature.versionId);
    const verified = await verifyDirectory(dir, { publicKeyPem: signer.publicKeys()[0]!.publicKeyPem });
    assert.equal(verified.ok, true, verified.problems.join('; '));
  });

  test('an artifact whose version is missing or whose size differs (partial) is left out, with the reason', async () => {
    const store = new MemoryEvidenceStore();
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    const good = await put(store, 'logs', 'logs.txt', 'hello');
    const partial = { ...(await put(store, 'memory', 'core.1', 'abcdef')), size: 600 };
    const ghost = { ...good, name: 'ghost.bin', key: `incidents/${INCIDENT}/logs/ghost.bin` };
    const foreign = { ...good, name: 'other', key: 'incidents/another-incident/logs/logs.txt' };
    store.pendingUploads = 2;
    const result = await sealEvidenceWith(
      { store, signer: keySigner(privateKey), retention },
      {
        incidentId: INCIDENT,
        workflowId: 'w',
        runId: 'r',
        alerts: [],
        target: { cluster: 'prod', node: 'node-a' },
        artifacts: [good, partial, ghost, foreign, good],
        failures: [],
      },
    );
    assert.equal(store.pendingUploads, 0, 'incomplete uploads are swept before sealing');
    const manifest = parseManifest((await store.readSmall(result.manifest.key, result.manifest.versionId, 1e6)).bytes);
    assert.deepEqual(
      manifest.artifacts.map((a) => a.name),
      ['logs.txt'],
    );
    const reasons = manifest.failures.map((f) => f.error).join('\n');
    assert.match(reasons, /core\.1.*stored size 6 differs from the recorded 600/);
    assert.match(reasons, /ghost\.bin.*not in the store/);
    assert.match(reasons, /other.*not under this incident/);
    assert.match(reasons, /logs\.txt.*listed twice/);
    assert.deepEqual(manifest.target.notes, ['host-level incident: no pod']);
  });

  test('bad input is a non-retryable InvalidInput; store outages are retryable', async () => {
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    const { sealEvidence } = createSealActivities({
      store: new MemoryEvidenceStore(),
      signer: keySigner(privateKey),
      retention,
    });
    const base: SealInput = {
      incidentId: INCIDENT,
      workflowId: 'w',
      runId: 'r',
      alerts: [],
      target: { cluster: 'c' },
      artifacts: [],
      failures: [],
    };
    await assert.rejects(
      sealEvidence({ ...base, incidentId: '../../etc/passwd' }),
      (err: unknown) => err instanceof ApplicationFailure && err.nonRetryable && err.type === 'InvalidInput',
    );
    const down = new MemoryEvidenceStore();
    down.putSmallObject = async () => {
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    };
    const { sealEvidence: sealDown } = createSealActivities({ store: down, signer: keySigner(privateKey), retention });
    await assert.rejects(
      sealDown(base),
      (err: unknown) => err instanceof ApplicationFailure && !err.nonRetryable && /ECONNREFUSED/.test(err.message),
    );
  });
});

/** Writes an evidence directory as `holdfast evidence get -o` does. */
async function writeDir(
  store: MemoryEvidenceStore,
  manifestKey: string,
  manifestVersion: string | undefined,
  sigVersion: string | undefined,
): Promise<string> {
  const dir = tmpdir();
  const bytes = (await store.readSmall(manifestKey, manifestVersion, 1e6)).bytes;
  fs.writeFileSync(path.join(dir, 'manifest.json'), bytes);
  fs.writeFileSync(
    path.join(dir, 'manifest.sig'),
    (await store.readSmall(`incidents/${INCIDENT}/manifest.sig`, sigVersion, 1e3)).bytes,
  );
  // The attestation and its timestamp, when the manifest binds them (as `evidence get` writes them).
  const attestation = parseManifest(bytes).attestation;
  if (attestation) {
    const envelope = (await store.readSmall(attestation.key, attestation.versionId, 1e7)).bytes;
    fs.writeFileSync(path.join(dir, 'attestation.dsse.json'), envelope);
    if (attestation.timestamp.obtained) {
      const token = (await store.readSmall(attestation.timestamp.key, attestation.timestamp.versionId, 1e6)).bytes;
      fs.writeFileSync(path.join(dir, 'attestation.tsr'), token);
    }
  }
  for (const a of parseManifest(bytes).artifacts) {
    const rel = relativeArtifactPath(INCIDENT, a.key)!;
    fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), (await store.readSmall(a.key, a.versionId, 1e7)).bytes);
  }
  return dir;
}

describe('evidence: offline verification', () => {
  test('a faithful copy verifies; one changed byte, a changed manifest or a wrong key fails and says what', async () => {
    const { store, signer, result } = await sealed();
    const dir = await writeDir(store, result.manifest.key, result.manifest.versionId, result.signature.versionId);
    const keyPem = signer.publicKeys()[0]!.publicKeyPem;

    const good = await verifyDirectory(dir, { publicKeyPem: keyPem });
    assert.equal(good.ok, true, good.problems.join('; '));
    assert.equal(good.artifacts.length, 2);
    assert.equal(good.suppliedKeyId, signer.keyId);

    const noKey = await verifyDirectory(dir);
    assert.equal(noKey.ok, false);
    assert.equal(noKey.signature.checked, false);
    assert.match(noKey.signature.detail, /no public key supplied/);

    const wrongKey = crypto.generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const wrong = await verifyDirectory(dir, { publicKeyPem: wrongKey });
    assert.equal(wrong.ok, false);
    assert.match(wrong.signature.detail, /INVALID.*the manifest names key/);

    const artifactFile = path.join(dir, 'filesystem', 'filesystem.tar');
    const buf = fs.readFileSync(artifactFile);
    buf[100] = buf[100]! ^ 0x01;
    fs.writeFileSync(artifactFile, buf);
    const tampered = await verifyDirectory(dir, { publicKeyPem: keyPem });
    assert.equal(tampered.ok, false);
    assert.equal(tampered.signature.ok, true);
    assert.deepEqual(
      tampered.artifacts.filter((a) => !a.ok).map((a) => a.name),
      ['filesystem.tar'],
    );
    assert.match(tampered.problems.join('\n'), /filesystem\.tar.*sha256/);

    const manifestFile = path.join(dir, 'manifest.json');
    const text = fs.readFileSync(manifestFile, 'utf8').replace('"runId": "run-1"', '"runId": "run-2"');
    fs.writeFileSync(manifestFile, text);
    const forged = await verifyDirectory(dir, { publicKeyPem: keyPem });
    assert.equal(forged.signature.ok, false);
    assert.equal(forged.ok, false);
  });

  test(
    'openssl alone verifies the signature and recomputes the key id (as README.md says)',
    { skip: spawnSync('openssl', ['version']).status !== 0 ? 'openssl not installed' : undefined },
    async () => {
      const { store, signer, result } = await sealed();
      const dir = await writeDir(store, result.manifest.key, result.manifest.versionId, result.signature.versionId);
      const pub = path.join(dir, 'holdfast.pub.pem');
      fs.writeFileSync(pub, signer.publicKeys()[0]!.publicKeyPem);
      const verify = () =>
        spawnSync(
          'openssl',
          [
            'pkeyutl',
            '-verify',
            '-pubin',
            '-inkey',
            pub,
            '-rawin',
            '-in',
            path.join(dir, 'manifest.json'),
            '-sigfile',
            path.join(dir, 'manifest.sig'),
          ],
          { encoding: 'utf8' },
        );
      const ok = verify();
      assert.equal(ok.status, 0, ok.stderr);
      assert.match(ok.stdout, /Signature Verified Successfully/);
      const der = spawnSync('openssl', ['pkey', '-pubin', '-in', pub, '-outform', 'DER']);
      const digest = spawnSync('openssl', ['dgst', '-sha256', '-r'], { input: der.stdout, encoding: 'utf8' });
      assert.equal(digest.stdout.split(' ')[0], signer.keyId);
      assert.equal(keyIdOf(signer.publicKeys()[0]!.publicKeyPem), signer.keyId);
      const artifact = parseManifest(fs.readFileSync(path.join(dir, 'manifest.json'))).artifacts[1]!;
      const sum = spawnSync('openssl', ['dgst', '-sha256', '-r', path.join(dir, 'filesystem', 'filesystem.tar')], {
        encoding: 'utf8',
      });
      assert.equal(sum.stdout.split(' ')[0], artifact.sha256);
      if (spawnSync('jq', ['--version']).status === 0 && spawnSync('sha256sum', ['--version']).status === 0) {
        // The README's one-liner for every artifact at once.
        const script = `jq -r '("incidents/" + .incidentId + "/") as $p | .artifacts[] | "\\(.sha256)  \\(.key | ltrimstr($p))"' manifest.json | sha256sum -c`;
        const all = spawnSync('sh', ['-c', script], { cwd: dir, encoding: 'utf8' });
        assert.equal(all.status, 0, all.stdout + all.stderr);
        assert.match(all.stdout, /filesystem\/filesystem\.tar: OK/);
      }
      fs.appendFileSync(path.join(dir, 'manifest.json'), ' ');
      const bad = verify();
      assert.notEqual(bad.status, 0);
      assert.match(bad.stdout + bad.stderr, /Signature Verification Failure/);
    },
  );
});

describe('CLI progress bar', () => {
  test('drawn on a TTY only, with percent and bytes; silent otherwise', async () => {
    let out = '';
    const tty = {
      isTTY: true,
      columns: 120,
      write: (s: string) => {
        out += s;
        return true;
      },
    } as unknown as NodeJS.WriteStream;
    const bar = progressBar('core.1', tty);
    bar.update(512 * 1024, 1024 * 1024);
    bar.update(1024 * 1024, 1024 * 1024);
    bar.done();
    assert.match(out, /core\.1 \[#+\.*\] +50% 512\.0 KiB\/1\.0 MiB/);
    assert.match(out, /100% 1\.0 MiB\/1\.0 MiB/);
    assert.ok(out.endsWith('\n'));
    let piped = '';
    const pipe = {
      isTTY: false,
      write: (s: string) => {
        piped += s;
        return true;
      },
    } as unknown as NodeJS.WriteStream;
    const silent = progressBar('x', pipe);
    silent.update(1, 2);
    silent.done();
    assert.equal(piped, '');
  });
});

describe('evidence API (in-memory store)', () => {
  const tokens = new Map([
    ['investigator-token-0123456789', 'investigator' as const],
    ['responder-token-0123456789ab', 'responder' as const],
  ]);

  async function app(
    store: MemoryEvidenceStore,
    custody: MemoryCustodyLog,
    keys: { publicKeys(): ReturnType<ReturnType<typeof keySigner>['publicKeys']> },
    result: SealResult,
  ) {
    const server = Fastify();
    server.setErrorHandler(problemErrorHandler);
    await server.register(authPlugin, { tokens });
    await server.register(
      evidenceRoutes({ reader: store, custody, sealRecords: recordsOf(result), urlExpirySeconds: 120 }),
    );
    await server.register(keysRoutes(keys));
    return server;
  }

  test('roles, validation, 404 before sealing, custody before access, the bundle as tar', async () => {
    const { store, signer, result } = await sealed();
    const custody = new MemoryCustodyLog();
    const server = await app(store, custody, signer, result);
    const inv = { authorization: 'Bearer investigator-token-0123456789', 'user-agent': 'unit-test' };
    try {
      assert.equal((await server.inject({ url: `/v1/incidents/${INCIDENT}/evidence` })).statusCode, 401);
      const forbidden = await server.inject({
        url: `/v1/incidents/${INCIDENT}/evidence`,
        headers: { authorization: 'Bearer responder-token-0123456789ab' },
      });
      assert.equal(forbidden.statusCode, 403);
      assert.match(forbidden.headers['content-type'] as string, /problem\+json/);
      assert.equal(
        (await server.inject({ url: '/v1/incidents/..%2F..%2Fetc/evidence', headers: inv })).statusCode,
        400,
      );
      assert.equal(
        (await server.inject({ url: `/v1/incidents/${INCIDENT}/evidence?expiresIn=901`, headers: inv })).statusCode,
        400,
      );
      assert.equal(
        (await server.inject({ url: '/v1/incidents/inc-never-sealed/evidence', headers: inv })).statusCode,
        404,
      );
      assert.equal(custody.entries.length, 0, 'refused requests are not evidence accesses');

      const res = await server.inject({ url: `/v1/incidents/${INCIDENT}/evidence`, headers: inv });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.keyId, signer.keyId);
      assert.equal(body.manifestVersionId, result.manifest.versionId);
      assert.ok(
        verifySignature(
          Buffer.from(body.manifestBase64, 'base64'),
          Buffer.from(body.signatureBase64, 'base64'),
          signer.publicKeys()[0]!.publicKeyPem,
        ),
      );
      assert.deepEqual(
        body.artifacts.map((a: { path: string }) => a.path),
        ['preserve/pod.json', 'filesystem/filesystem.tar'],
      );
      assert.match(body.artifacts[0].url, /expires=120/);
      assert.equal(custody.entries.length, 1);
      assert.equal(custody.entries[0]!.who.role, 'investigator');
      assert.equal(custody.entries[0]!.action, 'evidence.read');
      assert.equal(custody.entries[0]!.from.userAgent, 'unit-test');
      assert.equal(custody.entries[0]!.objects.length, 5, 'manifest, signature, attestation and 2 artifacts');

      const keys = await server.inject({ url: '/v1/keys' });
      assert.equal(keys.json().keys[0].keyId, signer.keyId);

      const bundle = await server.inject({ url: `/v1/incidents/${INCIDENT}/evidence/bundle`, headers: inv });
      assert.equal(bundle.statusCode, 200);
      assert.equal(bundle.headers['content-type'], 'application/x-tar');
      const names: string[] = [];
      const extract = tar.extract();
      const done = (async () => {
        for await (const entry of extract) {
          names.push(entry.header.name);
          entry.resume();
        }
      })();
      extract.end(bundle.rawPayload);
      await done;
      assert.deepEqual(names, [
        'manifest.json',
        'manifest.sig',
        'attestation.dsse.json',
        'preserve/pod.json',
        'filesystem/filesystem.tar',
      ]);
      const file = path.join(tmpdir(), 'bundle.tar');
      fs.writeFileSync(file, bundle.rawPayload);
      const report = await verifyBundle(file, { publicKeyPem: signer.publicKeys()[0]!.publicKeyPem });
      assert.equal(report.ok, true, report.problems.join('; '));
      assert.equal(custody.entries.at(-1)!.action, 'evidence.bundle');

      custody.failing = true;
      const refused = await server.inject({ url: `/v1/incidents/${INCIDENT}/evidence`, headers: inv });
      assert.equal(refused.statusCode, 503, 'no access without a custody record');
    } finally {
      await server.close();
    }
  });
});

describe('evidence API: only what the incident sealed, people, custodians', () => {
  const people = new Map([
    ['investigator-bob-0123456789ab', { role: 'investigator' as const, name: 'bob' }],
    ['custodian-carol-0123456789ab', { role: 'custodian' as const, name: 'carol' }],
  ]);
  const bob = { authorization: 'Bearer investigator-bob-0123456789ab' };
  const carol = { authorization: 'Bearer custodian-carol-0123456789ab' };

  async function server(store: MemoryEvidenceStore, custody: MemoryCustodyLog, records: ReturnType<typeof recordsOf>) {
    const app = Fastify();
    app.setErrorHandler(problemErrorHandler);
    await app.register(authPlugin, { tokens: people });
    await app.register(evidenceRoutes({ reader: store, custody, sealRecords: records, legalHolds: store }));
    return app;
  }

  /** An attacker with write access to the bucket signs a manifest of their own and puts it, its signature and their key. */
  async function tamper(store: MemoryEvidenceStore, sealedBytes: Buffer) {
    const forged = { ...parseManifest(sealedBytes), artifacts: [] };
    const attacker = keySigner(crypto.generateKeyPairSync('ed25519').privateKey);
    forged.signing = { ...forged.signing, keyId: attacker.keyId };
    const bytes = serializeManifest(forged);
    const planted = await store.putSmallObject(`incidents/${INCIDENT}/manifest.json`, bytes, 'application/json');
    await store.putSmallObject(
      `incidents/${INCIDENT}/manifest.sig`,
      await attacker.sign(bytes),
      'application/octet-stream',
      {
        'manifest-version-id': planted.versionId!,
      },
    );
    await store.putSmallObject(
      `keys/${attacker.keyId}.pem`,
      Buffer.from(attacker.publicKeys()[0]!.publicKeyPem),
      'application/x-pem-file',
    );
    return { attacker, planted };
  }

  test('a manifest, signature and key put in the bucket after the seal are never served', async () => {
    const { store, signer, result } = await sealed();
    const sealedBytes = (await store.readSmall(result.manifest.key, result.manifest.versionId, 1e6)).bytes;
    const { planted } = await tamper(store, sealedBytes);
    const custody = new MemoryCustodyLog();
    const app = await server(store, custody, recordsOf(result));
    try {
      const res = await app.inject({ url: `/v1/incidents/${INCIDENT}/evidence`, headers: bob });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.manifestVersionId, result.manifest.versionId);
      assert.notEqual(body.manifestVersionId, planted.versionId);
      assert.equal(body.manifestSha256, result.manifest.sha256);
      assert.equal(body.signatureVersionId, result.signature.versionId);
      assert.equal(body.keyId, signer.keyId);
      assert.ok(
        verifySignature(
          Buffer.from(body.manifestBase64, 'base64'),
          Buffer.from(body.signatureBase64, 'base64'),
          signer.publicKeys()[0]!.publicKeyPem,
        ),
      );
      const bundle = await app.inject({ url: `/v1/incidents/${INCIDENT}/evidence/bundle`, headers: bob });
      assert.equal(bundle.headers['x-holdfast-manifest-sha256'], result.manifest.sha256);
    } finally {
      await app.close();
    }
  });

  test('an incident sealed before versions were recorded: the newest manifest is served only if it hashes as sealed', async () => {
    const { store, result } = await sealed();
    const custody = new MemoryCustodyLog();
    const app = await server(store, custody, recordsOf(result, true));
    try {
      const before = await app.inject({ url: `/v1/incidents/${INCIDENT}/evidence`, headers: bob });
      assert.equal(before.statusCode, 200, before.body);
      assert.equal(before.json().manifestSha256, result.manifest.sha256);
      const sealedBytes = (await store.readSmall(result.manifest.key, result.manifest.versionId, 1e6)).bytes;
      await tamper(store, sealedBytes);
      const after = await app.inject({ url: `/v1/incidents/${INCIDENT}/evidence`, headers: bob });
      assert.equal(after.statusCode, 409, after.body);
      assert.match(after.json().detail, /not the one incident .* sealed/);
      assert.equal(custody.entries.length, 1, 'the refused read is not an access');
    } finally {
      await app.close();
    }
  });

  test('custody names the person; an investigator places a hold but cannot lift it, a custodian can', async () => {
    const { store, result } = await sealed();
    const custody = new MemoryCustodyLog();
    const app = await server(store, custody, recordsOf(result));
    const hold = (headers: Record<string, string>, on: boolean) =>
      app.inject({
        method: 'POST',
        url: `/v1/incidents/${INCIDENT}/evidence/legal-hold`,
        headers: { ...headers, 'content-type': 'application/json' },
        payload: JSON.stringify({ on }),
      });
    const manifestHold = () => store.legalHolds.get(`${result.manifest.key}@${result.manifest.versionId}`);
    try {
      assert.equal((await app.inject({ url: `/v1/incidents/${INCIDENT}/evidence`, headers: bob })).statusCode, 200);
      assert.deepEqual(custody.entries[0]!.who, { name: 'bob', role: 'investigator', via: 'bearer' });

      assert.equal((await hold(bob, true)).statusCode, 200);
      assert.equal(manifestHold(), true);
      const refused = await hold(bob, false);
      assert.equal(refused.statusCode, 403, refused.body);
      assert.match(refused.json().detail, /custodian/);
      assert.equal(manifestHold(), true, 'the hold stays');
      assert.equal(custody.entries.length, 2, 'a refused lift is not recorded as an access');

      assert.equal((await hold(carol, false)).statusCode, 200);
      assert.equal(manifestHold(), false);
      assert.deepEqual(custody.entries.at(-1)!.who, { name: 'carol', role: 'custodian', via: 'bearer' });
      assert.equal(
        (await app.inject({ url: `/v1/incidents/${INCIDENT}/evidence`, headers: carol })).statusCode,
        403,
        'a custodian holds, it does not read evidence',
      );
    } finally {
      await app.close();
    }
  });
});

describe('evidence routes wired into buildServer', () => {
  test('evidenceRouteGroup registers through ServerDeps.routes: read, legal hold (JSON body via the server parser), keys, OpenAPI', async () => {
    const { store, signer, result } = await sealed();
    const custody = new MemoryCustodyLog();
    const incidents = {} as IncidentsService;
    const app = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: {},
      incidents,
      metrics: createApiMetrics(),
      tokens: new Map([['investigator-token-0123456789', 'investigator' as const]]),
      routes: evidenceRouteGroup(
        { store, custody, keys: signer, settings: { urlExpirySeconds: 60 } },
        recordsOf(result),
      ),
    });
    try {
      const headers = { authorization: 'Bearer investigator-token-0123456789' };
      const read = await app.inject({ url: `/v1/incidents/${INCIDENT}/evidence`, headers });
      assert.equal(read.statusCode, 200, read.body);
      assert.match(read.json().artifacts[0].url, /expires=60/);
      const hold = await app.inject({
        method: 'POST',
        url: `/v1/incidents/${INCIDENT}/evidence/legal-hold`,
        headers: { ...headers, 'content-type': 'application/json' },
        payload: '{"on":true}',
      });
      assert.equal(hold.statusCode, 200, hold.body);
      assert.equal(hold.json().objects, 5, 'manifest, signature, attestation and 2 artifacts');
      assert.equal(store.legalHolds.get(`${result.manifest.key}@${result.manifest.versionId}`), true);
      assert.deepEqual(
        custody.entries.map((e) => e.action),
        ['evidence.read', 'evidence.legal-hold'],
      );
      assert.equal((await app.inject({ url: '/v1/keys' })).json().keys[0].keyId, signer.keyId);
      const openapi = (await app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
      for (const p of [
        '/v1/incidents/{incidentId}/evidence',
        '/v1/incidents/{incidentId}/evidence/bundle',
        '/v1/incidents/{incidentId}/evidence/legal-hold',
        '/v1/keys',
      ]) {
        assert.ok(openapi.paths[p], `OpenAPI lists ${p}`);
      }
    } finally {
      await app.close();
    }
  });
});

describe('evidence: public keys published to the bucket', () => {
  test('each signer publishes its key once, as a record', async () => {
    const store = new MemoryEvidenceStore();
    const worker = keySigner(crypto.generateKeyPairSync('ed25519').privateKey);
    await publishPublicKeys(store, worker);
    await publishPublicKeys(store, worker);
    const published = [...store.versions.keys()].filter((k) => k.startsWith(`keys/${worker.keyId}.pem@`));
    assert.equal(published.length, 1, 'published once');
    const { bytes } = await store.readSmall(`keys/${worker.keyId}.pem`, undefined, 4096);
    assert.equal(bytes.toString(), worker.publicKeys()[0]!.publicKeyPem);
  });
});

describe('evidence manifest bytes', () => {
  test('serialization is stable: the stored bytes are exactly what is signed', async () => {
    const { store, result } = await sealed();
    const bytes = (await store.readSmall(result.manifest.key, result.manifest.versionId, 1e6)).bytes;
    assert.deepEqual(serializeManifest(parseManifest(bytes)), bytes);
    assert.equal(bytes.at(-1), 0x0a);
  });
});

describe('seal records come from the incident, not the bucket', () => {
  const manifestSha = 'a'.repeat(64);
  const step = (state: 'succeeded' | 'failed') => ({
    name: 'seal',
    kind: 'seal' as const,
    state,
    notes: [],
    artifacts: [{ name: 'manifest.json', key: `incidents/${INCIDENT}/manifest.json`, size: 1, sha256: manifestSha }],
  });

  test('status.sealed when the incident recorded it; else the seal step’s SHA-256 (older incidents); else not sealed', async () => {
    const sealedManifest = {
      key: `incidents/${INCIDENT}/manifest.json`,
      versionId: 'v1',
      sha256: manifestSha,
      size: 1,
      signatureKey: `incidents/${INCIDENT}/manifest.sig`,
      signatureVersionId: 'v2',
      signatureSha256: 'b'.repeat(64),
      keyId: 'c'.repeat(64),
    };
    assert.deepEqual(sealRecordOf({ sealed: sealedManifest, steps: [step('succeeded')] }), sealedManifest);
    assert.deepEqual(sealRecordOf({ steps: [step('succeeded')] }), { sha256: manifestSha });
    assert.equal(sealRecordOf({ steps: [step('failed')] }), undefined, 'a failed seal sealed nothing');
    assert.equal(sealRecordOf({ steps: [] }), undefined);
    const asked: string[] = [];
    const records = incidentSealRecords({
      async get(id: string) {
        asked.push(id);
        return { status: { sealed: sealedManifest, steps: [] } } as unknown as Awaited<
          ReturnType<IncidentsService['get']>
        >;
      },
    });
    assert.deepEqual(await records(INCIDENT), sealedManifest);
    assert.deepEqual(asked, [INCIDENT]);
  });
});
