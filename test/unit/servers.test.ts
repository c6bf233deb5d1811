import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { binaryPath, ensureServer, pinOf } from '../../scripts/servers';

test('servers are pinned in one file and cached outside the repository by name and version', () => {
  assert.equal(pinOf('temporal').version, 'v1.5.1');
  assert.equal(pinOf('versitygw').version, 'v1.7.0');
  assert.equal(pinOf('alertmanager').version, 'v0.35.0');
  // `go install` cannot build it (its UI assets are not in the module zip): built in a copy of its source.
  assert.equal(pinOf('alertmanager').package, './cmd/alertmanager');
  const cached = binaryPath('temporal');
  assert.match(cached, /temporal-v1\.5\.1$/);
  assert.ok(!cached.startsWith(path.resolve(__dirname, '..', '..', '..')), 'cache is not inside the repo');
});

test('without Go and without a cached binary, the error says what to install or how to use existing servers', async () => {
  const saved = { ...process.env };
  process.env.HOLDFAST_CACHE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-nocache-'));
  process.env.HOLDFAST_GO = '/nonexistent/go';
  delete process.env.HOLDFAST_TEMPORAL_BIN;
  delete process.env.HOLDFAST_ALERTMANAGER_BIN;
  try {
    await assert.rejects(
      ensureServer('temporal', () => {}),
      (err: Error) =>
        /Go is not installed/.test(err.message) &&
        /TEMPORAL_ADDRESS/.test(err.message) &&
        /HOLDFAST_TEMPORAL_BIN/.test(err.message),
    );
    await assert.rejects(
      ensureServer('versitygw', () => {}),
      (err: Error) => /S3_ENDPOINT/.test(err.message),
    );
    await assert.rejects(
      ensureServer('alertmanager', () => {}),
      (err: Error) => /HOLDFAST_ALERTMANAGER_BIN/.test(err.message),
    );
  } finally {
    process.env = saved;
  }
});
