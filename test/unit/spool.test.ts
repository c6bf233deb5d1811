import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { AlertSpool } from '../../api/spool';
import type { Alert } from '../../common/types';
import { sampleAlert } from '../helpers/incident-harness';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-spool-'));
}

const alerts = (n: number, from = 0): Alert[] =>
  Array.from({ length: n }, (_, i) => sampleAlert({ id: `a-${from + i}` }, { pod: `pod-${(from + i) % 7}` }));

describe('alert spool', () => {
  test('appends survive a restart and are delivered once, oldest first, then the spool is empty', async () => {
    const dir = tempDir();
    const first = AlertSpool.openDir({ dir, maxBytes: 10 * 1024 * 1024 });
    await Promise.all([first.append(alerts(3)), first.append(alerts(2, 3))]);
    await first.append(alerts(5, 5));
    assert.ok(first.inUse);
    // A new process (the first was killed): it finds everything that was answered.
    const second = AlertSpool.openDir({ dir, maxBytes: 10 * 1024 * 1024 });
    assert.ok(second.inUse);
    const delivered: string[] = [];
    const count = await second.drain(async (batch) => {
      delivered.push(...batch.map((a) => a.id));
    });
    assert.equal(count, 10);
    assert.deepEqual(
      delivered,
      Array.from({ length: 10 }, (_, i) => `a-${i}`),
    );
    assert.equal(second.inUse, false);
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  test('the request body waits with its alerts and comes back with them, by its hash, across a restart', async () => {
    const dir = tempDir();
    const body = Buffer.from('{"output_fields":{"evt.time":1795961527481632214}}');
    const sha = crypto.createHash('sha256').update(body).digest('hex');
    const spool = AlertSpool.openDir({ dir, maxBytes: 1024 * 1024 });
    await spool.append(
      alerts(2).map((a) => ({ ...a, rawSha256: sha })),
      body,
    );
    await spool.append(alerts(1, 2));
    const restarted = AlertSpool.openDir({ dir, maxBytes: 1024 * 1024 });
    let seen: { ids: string[]; bodies: Array<[string, string]> } | undefined;
    const count = await restarted.drain(async (batch, bodies) => {
      seen = { ids: batch.map((a) => a.id), bodies: [...bodies].map(([k, v]) => [k, v.toString()]) };
    });
    assert.equal(count, 3, 'the body line is not an alert');
    assert.deepEqual(seen, { ids: ['a-0', 'a-1', 'a-2'], bodies: [[sha, body.toString()]] });
  });

  test('a failed delivery keeps the segment for the next drain; appends meanwhile queue behind it', async () => {
    const dir = tempDir();
    const spool = AlertSpool.openDir({ dir, maxBytes: 10 * 1024 * 1024 });
    await spool.append(alerts(3));
    await assert.rejects(
      spool.drain(async () => {
        throw new Error('temporal unavailable');
      }),
      /temporal unavailable/,
    );
    await spool.append(alerts(2, 3));
    const delivered: string[] = [];
    await spool.drain(async (batch) => {
      delivered.push(...batch.map((a) => a.id));
    });
    await spool.drain(async (batch) => {
      delivered.push(...batch.map((a) => a.id));
    });
    assert.deepEqual(delivered, ['a-0', 'a-1', 'a-2', 'a-3', 'a-4']);
    assert.equal(spool.inUse, false);
  });

  test('a torn last line (a crash during a write, never answered) is skipped; the rest is delivered', async () => {
    const dir = tempDir();
    const spool = AlertSpool.openDir({ dir, maxBytes: 10 * 1024 * 1024 });
    await spool.append(alerts(2));
    const [segment] = fs.readdirSync(dir);
    fs.appendFileSync(path.join(dir, segment!), '{"id":"torn","sou');
    const restarted = AlertSpool.openDir({ dir, maxBytes: 10 * 1024 * 1024 });
    const delivered: string[] = [];
    await restarted.drain(async (batch) => {
      delivered.push(...batch.map((a) => a.id));
    });
    assert.deepEqual(delivered, ['a-0', 'a-1']);
  });

  test('a full spool refuses the append (the answer is then 503), and the directory is private', async () => {
    const dir = path.join(tempDir(), 'spool');
    const spool = AlertSpool.openDir({ dir, maxBytes: 2000 });
    await spool.append(alerts(1));
    await assert.rejects(spool.append(alerts(10, 1)), /spool is full/);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  });
});
