import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { freePort } from '../../scripts/stack';
import { missingServers, repoRoot } from '../helpers/env';

function processesUsing(dataDir: string): string[] {
  return fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((pid) => {
      try {
        const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
        return cmdline.includes(dataDir) ? [`${pid}: ${cmdline.slice(0, 120)}`] : [];
      } catch {
        return [];
      }
    });
}

// Needs the server binaries `npm test` has already built; runs its own embedded stack on free ports.
test(
  'npm start: healthz answers 200, readyz sees Temporal, S3 and a polling worker, the self-test passes, SIGINT leaves nothing running',
  { skip: missingServers(), timeout: 180_000 },
  async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-start-'));
    const [api, temporal, ui, s3, metrics] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOLDFAST_DATA_DIR: dataDir,
      HOLDFAST_API_PORT: String(api),
      HOLDFAST_TEMPORAL_PORT: String(temporal),
      HOLDFAST_TEMPORAL_UI_PORT: String(ui),
      HOLDFAST_S3_PORT: String(s3),
      HOLDFAST_WORKER_METRICS_PORT: String(metrics),
      HOLDFAST_LOG_LEVEL: 'warn',
    };
    for (const name of [
      'TEMPORAL_ADDRESS',
      'S3_ENDPOINT',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'HOLDFAST_TOKENS',
    ])
      delete env[name];
    const child = spawn(process.execPath, [path.join(repoRoot, 'dist', 'scripts', 'start.js')], {
      env,
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let healthy = false;
      for (let i = 0; i < 240 && !healthy; i++) {
        healthy = await fetch(`http://127.0.0.1:${api}/healthz`).then(
          (r) => r.status === 200,
          () => false,
        );
        if (!healthy) await sleep(250);
      }
      assert.ok(healthy, `healthz never answered:\n${output}`);
      const ready = (await (await fetch(`http://127.0.0.1:${api}/readyz`)).json()) as {
        status: string;
        checks: Record<string, { ok: boolean }>;
      };
      assert.equal(ready.status, 'ready');
      assert.deepEqual(ready.checks.worker, { ok: true }, 'a worker polls the task queue');
      for (let i = 0; i < 240 && !/self-test (passed|FAILED|could not)/.test(output); i++) await sleep(250);
      assert.match(output, /self-test passed/, output);
      // The announcement is true when printed: after the worker's warm-up (the self-test), once ready.
      for (let i = 0; i < 240 && !/API on /.test(output); i++) await sleep(250);
      assert.match(output, new RegExp(`API on http://\\S+:${api}, ready`), output);
      assert.ok(output.indexOf('self-test passed') < output.indexOf('API on '), output);
      const tokens = fs.statSync(path.join(dataDir, 'tokens.env'));
      assert.equal(tokens.mode & 0o777, 0o600, 'generated tokens are private');
      assert.ok(processesUsing(dataDir).length >= 2, 'temporal and versitygw run with this data dir');
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0, output);
    assert.deepEqual(processesUsing(dataDir), [], 'no server left behind');
    fs.rmSync(dataDir, { recursive: true, force: true });
  },
);
