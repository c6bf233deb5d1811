/**
 * Blast radius, keys and people (issue 12), on the real servers: the worker and the API each on their own
 * least-privilege versitygw account (created by the test stack, scripts/s3-accounts.ts), an incident sealed
 * through Temporal, a bucket tampered with afterwards, and decisions recorded as the person whose token was used.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { createS3Client } from '../../adapters/s3/client';
import { parseTokenSpec } from '../../api/auth';
import { temporalIncidents } from '../../api/incidents';
import { createApiMetrics } from '../../api/metrics';
import { evidenceRouteGroup, incidentSealRecords } from '../../api/routes/evidence';
import { buildServer } from '../../api/server';
import { createEvidenceReadServices, evidenceStore } from '../../evidence';
import { s3CustodyLog } from '../../evidence/custody';
import { parseManifest, serializeManifest } from '../../evidence/manifest';
import { keySigner } from '../../evidence/signer';
import { trustSigner } from '../../evidence/trusted-keys';
import type { S3Accounts } from '../../scripts/s3-accounts';
import { createEvidenceServices } from '../../worker/evidence';
import { runCli } from '../helpers/capture';
import { missingServers, testConfig } from '../helpers/env';
import { sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';

/** The accounts the test stack created for the worker and the API (scripts/stack.ts). */
function stackAccounts(): S3Accounts | undefined {
  const dir = process.env.HOLDFAST_TEST_DATA_DIR;
  const file = dir && path.join(dir, 's3-accounts.json');
  return file && fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as S3Accounts) : undefined;
}

const skip =
  missingServers() ??
  (stackAccounts() ? undefined : 'no worker/API S3 accounts: run through `npm test`, whose S3 server creates them');

const denied = (err: { name?: string; $metadata?: { httpStatusCode?: number } }) =>
  err.name === 'AccessDenied' || err.$metadata?.httpStatusCode === 403;

describe('S3: the worker and the API each on an account with only what it needs (versitygw)', { skip }, () => {
  const config = testConfig('s3-accounts-unused');
  const accounts = stackAccounts()!;
  const incidentId = `inc-least-privilege-${crypto.randomBytes(4).toString('hex')}`;
  const Bucket = config.s3.bucket;
  let worker: S3Client;
  let api: S3Client;

  before(() => {
    worker = createS3Client({ ...config.s3, ...accounts.worker });
    api = createS3Client({ ...config.s3, ...accounts.api });
  });
  after(() => {
    worker?.destroy();
    api?.destroy();
  });

  test('the worker writes evidence under lock and reads it back; it cannot delete it, with or without a governance bypass', async () => {
    const store = evidenceStore(config, worker);
    const put = await store.putSmallObject(
      `incidents/${incidentId}/preserve/pod.json`,
      Buffer.from('{}'),
      'application/json',
    );
    assert.ok(put.versionId);
    const back = await store.readSmall(put.key, put.versionId, 1000);
    assert.equal(back.bytes.toString(), '{}');
    await assert.rejects(
      worker.send(new DeleteObjectCommand({ Bucket, Key: put.key, VersionId: put.versionId })),
      denied,
    );
    await assert.rejects(
      worker.send(new DeleteObjectCommand({ Bucket, Key: put.key })),
      denied,
      'not even a delete marker',
    );
    await assert.rejects(
      worker.send(
        new DeleteObjectCommand({ Bucket, Key: put.key, VersionId: put.versionId, BypassGovernanceRetention: true }),
      ),
      denied,
      'no governance bypass either',
    );
    // Not asserted here: that it cannot shorten the retention. versitygw (v1.7.0 and its main branch) lets any
    // same-mode PutObjectRetention through, shortening included, and asks for s3:PutObjectRetention on every put
    // that carries lock headers; see evidence/README.md, "Least privilege".
    await assert.rejects(worker.send(new PutBucketPolicyCommand({ Bucket, Policy: '{}' })), denied);
  });

  test('the API reads evidence and writes custody records; every other put, a delete or a retention change is refused', async () => {
    const store = evidenceStore(config, api);
    const evidence = await evidenceStore(config, worker).putSmallObject(
      `incidents/${incidentId}/preserve/events.json`,
      Buffer.from('[]'),
      'application/json',
    );
    assert.equal((await store.readSmall(evidence.key, evidence.versionId, 1000)).bytes.toString(), '[]');

    const custody = await s3CustodyLog(store).append({
      incidentId,
      at: new Date().toISOString(),
      who: { name: 'bob', role: 'investigator', via: 'bearer' },
      action: 'evidence.read',
      objects: [{ key: evidence.key, versionId: evidence.versionId }],
      from: { ip: '127.0.0.1' },
      outcome: 'granted',
    });
    assert.match(custody.key, new RegExp(`^incidents/${incidentId}/custody/`));

    for (const Key of [
      `incidents/${incidentId}/manifest.json`,
      `incidents/${incidentId}/manifest.sig`,
      `incidents/${incidentId}/preserve/pod.json`,
      `keys/${'a'.repeat(64)}.pem`,
      'anything-else',
    ])
      await assert.rejects(
        api.send(new PutObjectCommand({ Bucket, Key, Body: 'planted' })),
        denied,
        `the API's account cannot put ${Key}`,
      );
    await assert.rejects(
      api.send(new DeleteObjectCommand({ Bucket, Key: evidence.key, VersionId: evidence.versionId })),
      denied,
    );
    await assert.rejects(api.send(new DeleteObjectCommand({ Bucket, Key: evidence.key })), denied);
    await assert.rejects(
      api.send(new DeleteObjectCommand({ Bucket, Key: custody.key, VersionId: custody.versionId })),
      denied,
      'nor its own custody records',
    );
    await assert.rejects(
      api.send(
        new PutObjectRetentionCommand({
          Bucket,
          Key: evidence.key,
          VersionId: evidence.versionId,
          BypassGovernanceRetention: true,
          Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(Date.now() + 60_000) },
        }),
      ),
      denied,
    );
    await assert.rejects(api.send(new PutBucketPolicyCommand({ Bucket, Policy: '{}' })), denied);
    // Legal holds are the API's to place and lift (the custodian's route).
    for (const Status of ['ON', 'OFF'] as const)
      await api.send(
        new PutObjectLegalHoldCommand({
          Bucket,
          Key: evidence.key,
          VersionId: evidence.versionId,
          LegalHold: { Status },
        }),
      );
  });
});

// One gated containment step, so that a person has something to approve.
const PLAYBOOKS = `
notifiers: [{ name: oncall, type: webhook }]
playbooks:
  - { name: gated, pageOnOpen: false, capture: [logs],
      contain: [{ name: isolate, approval: { required: true, timeout: 1h, onTimeout: reject } }],
      escalation: { tiers: [{ notifiers: [oncall], ackTimeout: 1h }] } }
`;

const token = (who: string) => `${who}-${crypto.randomBytes(12).toString('hex')}`;

const cli = runCli;

describe(
  'an incident sealed by the worker, served by the API, each on its own account; people decide',
  { skip },
  () => {
    const config = testConfig('keys-and-people-unused');
    const accounts = stackAccounts()!;
    const workerDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-keys-worker-'));
    const apiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-keys-api-'));
    const tokens = {
      alice: token('alice'),
      dave: token('dave'),
      bob: token('bob'),
      carol: token('carol'),
      legacy: token('investigator'),
    };
    let workerS3: S3Client;
    let apiS3: S3Client;
    let root: S3Client;
    let h: Harness;
    let app: FastifyInstance;
    let apiUrl: string;
    let signer: ReturnType<typeof createEvidenceServices>['signer'];
    let incidentId: string;

    before(async () => {
      workerS3 = createS3Client({ ...config.s3, ...accounts.worker });
      apiS3 = createS3Client({ ...config.s3, ...accounts.api });
      root = createS3Client(config.s3);
      const services = createEvidenceServices({ ...config, dataDir: workerDir }, workerS3);
      signer = services.signer;
      h = await startHarness(PLAYBOOKS, {
        s3: workerS3,
        evidence: services.store,
        sealEvidence: services.sealEvidence,
      });
      // What the worker does on start in the embedded setup: its public key into the API's trust file.
      trustSigner(path.join(apiDir, 'trusted-keys.pem'), signer);
      const incidents = temporalIncidents(h.client, h.client.options.namespace);
      app = await buildServer({
        logger: pino({ level: 'silent' }),
        readiness: {},
        tokens: parseTokenSpec(
          `responder:alice=${tokens.alice},responder:dave=${tokens.dave},investigator:bob=${tokens.bob},` +
            `custodian:carol=${tokens.carol},investigator=${tokens.legacy}`,
        ),
        incidents,
        metrics: createApiMetrics(),
        routes: evidenceRouteGroup(
          createEvidenceReadServices({ ...config, dataDir: apiDir }, apiS3),
          incidentSealRecords(incidents),
        ),
      });
      apiUrl = await app.listen({ host: '127.0.0.1', port: 0 });
    });

    after(async () => {
      await app?.close();
      await h?.close();
      for (const c of [workerS3, apiS3, root]) c?.destroy();
      for (const dir of [workerDir, apiDir]) fs.rmSync(dir, { recursive: true, force: true });
    });

    const as = (who: keyof typeof tokens) => ({ authorization: `Bearer ${tokens[who]}` });
    const post = (who: keyof typeof tokens, url: string, payload: object) =>
      app.inject({ method: 'POST', url, payload, headers: { ...as(who), 'content-type': 'application/json' } });

    test('approvals and acknowledgements name the person; the seal records the exact manifest version', async () => {
      const handle = await h.open(sampleAlert());
      incidentId = `inc-${handle.signaledRunId}`;
      await h.waitForStatus(handle, (s) =>
        s.steps.some((x) => x.name === 'isolate' && x.state === 'awaiting-approval'),
      );
      const approved = await post('alice', `/v1/incidents/${incidentId}/approve`, { step: 'isolate', note: 'seen it' });
      assert.equal(approved.statusCode, 202, approved.body);
      const sealed = await h.waitForStatus(handle, (s) => s.phase === 'escalating' && s.sealed !== undefined, 60_000);
      const isolate = sealed.steps.find((s) => s.name === 'isolate')!;
      assert.equal(isolate.decision?.by, 'alice');
      assert.equal(isolate.decision?.role, 'responder');
      assert.equal(sealed.sealed!.keyId, signer.keyId);
      assert.ok(sealed.sealed!.versionId, 'the manifest version is in the workflow state');
      assert.ok(sealed.sealed!.signatureVersionId);
      assert.equal((await post('dave', `/v1/incidents/${incidentId}/acknowledge`, {})).statusCode, 202);
      const acked = await h.waitForStatus(handle, (s) => s.acknowledgedBy !== undefined);
      assert.equal(acked.acknowledgedBy, 'dave');
    });

    test('after a new manifest, signature and keys/*.pem are put in the bucket, the API still serves the sealed version; verify with the configured key fails on the planted one', async () => {
      const sealedRes = await app.inject({ url: `/v1/incidents/${incidentId}/evidence`, headers: as('bob') });
      assert.equal(sealedRes.statusCode, 200, sealedRes.body);
      const sealed = sealedRes.json();

      // The attacker has write access to the bucket (here: the root account) and a key of their own.
      const attacker = keySigner(crypto.generateKeyPairSync('ed25519').privateKey);
      const forged = parseManifest(Buffer.from(sealed.manifestBase64, 'base64'));
      forged.artifacts = [];
      forged.failures = [];
      forged.signing = { ...forged.signing, keyId: attacker.keyId };
      const forgedBytes = serializeManifest(forged);
      const Bucket = config.s3.bucket;
      const planted = await root.send(
        new PutObjectCommand({ Bucket, Key: `incidents/${incidentId}/manifest.json`, Body: forgedBytes }),
      );
      await root.send(
        new PutObjectCommand({
          Bucket,
          Key: `incidents/${incidentId}/manifest.sig`,
          Body: await attacker.sign(forgedBytes),
          Metadata: { 'manifest-version-id': planted.VersionId! },
        }),
      );
      await root.send(
        new PutObjectCommand({
          Bucket,
          Key: `keys/${attacker.keyId}.pem`,
          Body: attacker.publicKeys()[0]!.publicKeyPem,
        }),
      );
      const newest = await root.send(new GetObjectCommand({ Bucket, Key: `incidents/${incidentId}/manifest.json` }));
      assert.equal(newest.VersionId, planted.VersionId, 'the planted manifest is the newest version in the bucket');

      const after = await app.inject({ url: `/v1/incidents/${incidentId}/evidence`, headers: as('bob') });
      assert.equal(after.statusCode, 200, after.body);
      assert.equal(after.json().manifestVersionId, sealed.manifestVersionId);
      assert.equal(after.json().manifestSha256, sealed.manifestSha256);
      assert.equal(after.json().keyId, signer.keyId);
      assert.notEqual(after.json().manifestVersionId, planted.VersionId);

      const keys = (await app.inject({ url: '/v1/keys' })).json().keys as Array<{ keyId: string }>;
      assert.deepEqual(
        keys.map((k) => k.keyId),
        [signer.keyId],
        'only the configured key is served, not the planted one',
      );

      // The sealed evidence verifies with the configured key; the planted manifest does not, with it or --fetch-key.
      const common = ['--api', apiUrl, '--token', tokens.bob];
      const configuredKey = path.join(workerDir, 'configured.pub.pem');
      fs.writeFileSync(configuredKey, signer.publicKeys()[0]!.publicKeyPem);
      const bundle = path.join(workerDir, 'sealed.tar');
      const got = await cli(['evidence', 'get', incidentId, '--bundle', bundle, ...common]);
      assert.equal(got.code, 0, got.out + got.err);
      const ok = await cli(['evidence', 'verify', bundle, '--key', configuredKey]);
      assert.equal(ok.code, 0, ok.out);

      const plantedDir = path.join(workerDir, 'planted');
      fs.mkdirSync(plantedDir);
      fs.writeFileSync(path.join(plantedDir, 'manifest.json'), forgedBytes);
      fs.writeFileSync(path.join(plantedDir, 'manifest.sig'), await attacker.sign(forgedBytes));
      const withConfigured = await cli(['evidence', 'verify', plantedDir, '--key', configuredKey]);
      assert.equal(withConfigured.code, 1, withConfigured.out);
      assert.match(withConfigured.out, /signature: FAILED|key id/i);
      const fetched = await cli(['evidence', 'verify', plantedDir, '--fetch-key', '--json', ...common]);
      assert.notEqual(fetched.code, 0, fetched.out);
      assert.equal(JSON.parse(fetched.out).ok, false);
      assert.equal(
        JSON.parse(fetched.out).signature.ok,
        false,
        'the planted key is not served, so nothing vouches for it',
      );
    });

    test('the custody log names the person; an investigator cannot lift a legal hold, a custodian can; a role-only token is recorded as the role', async () => {
      const legacy = await app.inject({ url: `/v1/incidents/${incidentId}/evidence`, headers: as('legacy') });
      assert.equal(legacy.statusCode, 200);
      const on = await post('bob', `/v1/incidents/${incidentId}/evidence/legal-hold`, { on: true });
      assert.equal(on.statusCode, 200, on.body);
      const manifest = { Bucket: config.s3.bucket, Key: `incidents/${incidentId}/manifest.json` };
      const sealed = (await app.inject({ url: `/v1/incidents/${incidentId}/evidence`, headers: as('bob') })).json();
      const hold = () => root.send(new GetObjectLegalHoldCommand({ ...manifest, VersionId: sealed.manifestVersionId }));
      assert.equal((await hold()).LegalHold?.Status, 'ON');
      const refused = await post('bob', `/v1/incidents/${incidentId}/evidence/legal-hold`, { on: false });
      assert.equal(refused.statusCode, 403, refused.body);
      assert.equal((await hold()).LegalHold?.Status, 'ON', 'the investigator did not lift it');
      const lifted = await post('carol', `/v1/incidents/${incidentId}/evidence/legal-hold`, { on: false });
      assert.equal(lifted.statusCode, 200, lifted.body);
      assert.equal((await hold()).LegalHold?.Status, 'OFF');

      const reader = evidenceStore(config, root);
      const listed = await reader.listKeys(`incidents/${incidentId}/custody/`, 100);
      const entries = await Promise.all(
        listed.map(async (key) => JSON.parse((await reader.readSmall(key, undefined, 1e6)).bytes.toString())),
      );
      const who = entries
        .sort((a, b) => a.at.localeCompare(b.at))
        .map((e: { who: { name: string; role: string }; action: string }) => `${e.who.name}/${e.who.role} ${e.action}`);
      assert.ok(who.includes('bob/investigator evidence.read'), who.join('; '));
      assert.ok(who.includes('bob/investigator evidence.bundle'), who.join('; '));
      assert.ok(
        who.includes('investigator/investigator evidence.read'),
        'a role-only token: the role is the principal',
      );
      assert.ok(who.includes('bob/investigator evidence.legal-hold'), who.join('; '));
      assert.ok(who.includes('carol/custodian evidence.legal-hold'), who.join('; '));
      assert.equal(who.filter((w) => w.endsWith('evidence.legal-hold')).length, 2, 'the refused lift is no access');
    });

    test('resolving records the person who resolved', async () => {
      assert.equal((await post('alice', `/v1/incidents/${incidentId}/resolve`, { note: 'done' })).statusCode, 202);
      for (let i = 0; i < 100; i++) {
        const res = await app.inject({ url: `/v1/incidents/${incidentId}`, headers: as('alice') });
        if (res.json().status?.phase === 'resolved') {
          assert.equal(res.json().status.resolvedBy, 'alice');
          return;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.fail('the incident did not resolve');
    });
  },
);
