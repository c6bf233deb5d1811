import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { createS3Client, createEvidenceReadServices } from '../../evidence';
import { keySigner } from '../../evidence/signer';
import { parseTrustedKeys, readTrustedKeys, trustedKeyDirectory, trustSigner } from '../../evidence/trusted-keys';
import { loadConfig } from '../../common/config';

const pemOf = (key: crypto.KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();
const ed25519 = () => crypto.generateKeyPairSync('ed25519');

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-trust-'));
}

describe('trusted keys: from configuration, never from the bucket', () => {
  test('a trust file holds one or more Ed25519 keys, comments allowed; their ids are the SPKI SHA-256', () => {
    const a = ed25519();
    const b = ed25519();
    const keys = parseTrustedKeys(
      `# rotated 2026-11\n${pemOf(a.publicKey)}\n# current\n${pemOf(b.publicKey)}${pemOf(a.publicKey)}`,
    );
    assert.deepEqual(
      keys.map((k) => k.keyId),
      [keySigner(a.privateKey).keyId, keySigner(b.privateKey).keyId],
      'each once, in file order',
    );
    assert.deepEqual(parseTrustedKeys(''), []);
  });

  test('refused: text without a key, a key that is not Ed25519, a broken block', () => {
    assert.throws(() => parseTrustedKeys('not a key'), /no PEM "PUBLIC KEY" block/);
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    assert.throws(() => parseTrustedKeys(pemOf(rsa)), /key 1 is rsa, not Ed25519/);
    assert.throws(
      () => parseTrustedKeys('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'),
      /key 1 is not a valid public key/,
    );
  });

  test('the worker adds its key once; the directory sees it without a restart; a missing file is no keys', async () => {
    const dir = tempDir();
    try {
      const file = path.join(dir, 'keys', 'trusted-keys.pem');
      const directory = trustedKeyDirectory(file);
      assert.deepEqual(await directory.publicKeys(), []);
      const older = keySigner(ed25519().privateKey);
      const worker = keySigner(ed25519().privateKey);
      assert.deepEqual(trustSigner(file, older), [older.keyId]);
      assert.deepEqual(trustSigner(file, worker), [worker.keyId]);
      assert.deepEqual(trustSigner(file, worker), [], 'already there');
      assert.equal(fs.statSync(file).mode & 0o777, 0o644, 'public: the API may run as another user');
      assert.deepEqual(
        (await directory.publicKeys()).map((k) => k.keyId),
        [older.keyId, worker.keyId],
      );
      assert.deepEqual(
        readTrustedKeys(file).map((k) => k.keyId),
        [older.keyId, worker.keyId],
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the API never reads the signing key: a private key file it could not even parse is ignored', async () => {
    const dir = tempDir();
    const s3 = createS3Client({ region: 'us-east-1', bucket: 'holdfast-evidence', forcePathStyle: true });
    try {
      fs.writeFileSync(path.join(dir, 'signing-key.pem'), 'garbage that is no key', { mode: 0o644 });
      const trusted = ed25519();
      fs.writeFileSync(path.join(dir, 'trusted-keys.pem'), pemOf(trusted.publicKey));
      const config = { ...loadConfig({}, dir), dataDir: dir };
      const services = createEvidenceReadServices(config, s3);
      assert.deepEqual(
        (await services.keys.publicKeys()).map((k) => k.keyId),
        [keySigner(trusted.privateKey).keyId],
      );
      const elsewhere = path.join(dir, 'mounted.pem');
      fs.writeFileSync(elsewhere, 'not a key either');
      assert.throws(
        () =>
          createEvidenceReadServices({ ...config, evidence: { ...config.evidence, trustedKeysFile: elsewhere } }, s3),
        /holds no PEM/,
        'a broken trust file stops the API at start',
      );
    } finally {
      s3.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
