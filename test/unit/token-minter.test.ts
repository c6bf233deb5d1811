/**
 * The worker pod's token minter (worker/token-minter.ts) with a fake token source, and client-node's
 * reading of a token file that is renewed in place (as the minter and the kubelet renew them).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, mock, test } from 'node:test';
import type { KubernetesSettings } from '../../common/config';
import { kubeConfigFor } from '../../worker/adapters';
import { mintAll, parseMinterArgs, renewDelay, runMinter, type TokenSource } from '../../worker/token-minter';

const HOUR = 3600_000;

/** Hands out numbered tokens per service account, expiring an hour after `now`; fails when told to. */
function fakeSource(now: () => number) {
  const minted: string[] = [];
  let failures = 0;
  const source: TokenSource = {
    async mint(serviceAccount) {
      if (failures > 0) {
        failures--;
        throw new Error('apiserver unavailable');
      }
      minted.push(serviceAccount);
      return { token: `${serviceAccount}-${minted.length}`, expiresAt: now() + HOUR };
    },
  };
  return { source, minted, failNext: (n: number) => (failures = n) };
}

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-minter-'));

describe('token minter', () => {
  test('writes one 0600 file per identity and renews at half the lifetime', async () => {
    const dir = tempDir();
    const { source } = fakeSource(() => 0);
    const expiresAt = await mintAll(source, dir, { capture: 'holdfast-capture', containment: 'holdfast-containment' });
    assert.equal(expiresAt, HOUR);
    assert.equal(fs.readFileSync(path.join(dir, 'capture'), 'utf8'), 'holdfast-capture-1');
    assert.equal(fs.readFileSync(path.join(dir, 'containment'), 'utf8'), 'holdfast-containment-2');
    for (const f of ['capture', 'containment']) assert.equal(fs.statSync(path.join(dir, f)).mode & 0o777, 0o600);
    // no temporary file is left beside them
    assert.deepEqual(fs.readdirSync(dir).sort(), ['capture', 'containment']);
    assert.equal(renewDelay(HOUR, 0), HOUR / 2);
    assert.equal(renewDelay(1000, 0), 30_000, 'a tiny lifetime never makes it spin');
  });

  test('a failed round is retried, then tokens are renewed until stopped', async () => {
    const dir = tempDir();
    let clock = 0;
    const fake = fakeSource(() => clock);
    fake.failNext(1);
    const stop = new AbortController();
    const waits: number[] = [];
    const errors: unknown[] = [];
    await runMinter({
      source: fake.source,
      dir,
      identities: { capture: 'holdfast-capture' },
      logger: { info: () => {}, error: (o: unknown) => errors.push(o) },
      signal: stop.signal,
      now: () => clock,
      sleep: async (ms) => {
        waits.push(ms);
        clock += ms;
        if (waits.length === 3) stop.abort();
      },
    });
    assert.equal(errors.length, 1);
    assert.deepEqual(waits, [10_000, HOUR / 2, HOUR / 2]);
    assert.deepEqual(fake.minted, ['holdfast-capture', 'holdfast-capture']);
    assert.equal(fs.readFileSync(path.join(dir, 'capture'), 'utf8'), 'holdfast-capture-2');
  });

  test('the command line is validated', () => {
    const ok = parseMinterArgs([
      '--namespace=holdfast-system',
      '--dir=/run/t',
      'capture=holdfast-capture',
      'containment=holdfast-containment',
    ]);
    assert.deepEqual(ok.identities, { capture: 'holdfast-capture', containment: 'holdfast-containment' });
    assert.equal(ok.expirationSeconds, 3600);
    const base = ['--namespace=n', '--dir=/d'];
    assert.throws(() => parseMinterArgs([...base, '../etc/passwd=x']), /FILE=SERVICEACCOUNT/);
    assert.throws(() => parseMinterArgs([...base, '--expiration-seconds=60', 'a=b']), /600/);
    assert.throws(() => parseMinterArgs(base), /usage/);
  });
});

describe('a renewed token file', () => {
  afterEach(() => mock.timers.reset());

  test('client-node sends the new token within 60 s of the file changing', async () => {
    const dir = tempDir();
    const tokenFile = path.join(dir, 'capture');
    fs.writeFileSync(tokenFile, 'first-token');
    const settings: KubernetesSettings = {
      inCluster: true,
      capture: { tokenFile },
      containment: { tokenFile },
      collector: {},
    };
    mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    const kc = kubeConfigFor(settings, settings.capture)!;
    // the in-cluster CA file does not exist here; only the authentication header matters
    const cluster = kc.getCurrentCluster() as { caFile?: string };
    cluster.caFile = undefined;
    // what every API call and exec (websocket) applies to its request
    const auth = async () => {
      const options: { headers?: Record<string, unknown> } = {};
      await kc.applyToHTTPSOptions(options);
      return options.headers?.['Authorization'];
    };
    assert.equal(await auth(), 'Bearer first-token');
    fs.writeFileSync(tokenFile, 'renewed-token');
    mock.timers.tick(30_000);
    assert.equal(await auth(), 'Bearer first-token', 'read at most once a minute');
    mock.timers.tick(31_000);
    assert.equal(await auth(), 'Bearer renewed-token');
  });
});
