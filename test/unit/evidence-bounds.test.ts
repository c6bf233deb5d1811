/**
 * Evidence a root attacker cannot quietly bend, without the cluster: which processes are dumped and how,
 * executables (deleted ones too), root views, the bounded streaming network parser; and the collector's
 * scripts and its resident-page dumper run for real (busybox applets, gcc) against local processes.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { chooseRoot, groupRoots } from '../../adapters/kubernetes/captures/filesystem';
import {
  chooseProcesses,
  dumpMethod,
  parseExecutables,
  residentIncomplete,
} from '../../adapters/kubernetes/captures/memory';
import { NetworkStateParser, splitFramedSections } from '../../adapters/kubernetes/captures/network-parse';
import { parseProcessList, type TargetProcess } from '../../adapters/kubernetes/collector/processes';
import {
  EXECUTABLES,
  LIST_PROCESSES,
  NETWORK_FRAMED_SECTIONS,
  NETWORK_SECTIONS,
  ROOTS,
} from '../../adapters/kubernetes/collector/scripts';

const run = promisify(execFile);
const GiB = 1024 ** 3;
const SRC = path.join(__dirname, '../../../scripts/cluster/images');

const proc = (pid: number, rssKiB?: number, comm = 'p'): TargetProcess => ({
  pid,
  mountNamespace: 'mnt:[1]',
  comm,
  exe: '/x',
  cmdline: '',
  rssKiB,
});

describe('which processes are dumped, and how', () => {
  test('over the bound, the largest are left out first and each is listed with why; small decoys cannot push a process out', () => {
    const decoys = Array.from({ length: 40 }, (_, i) => proc(100 + i, 8192, 'decoy'));
    const all = [proc(1, 300, 'sh'), proc(9, 700, 'implant'), ...decoys];
    const { dump, notDumped } = chooseProcesses(all, 12);
    assert.equal(dump.length, 12);
    assert.equal(notDumped.length, 30);
    assert.ok(dump.some((p) => p.pid === 9) && dump.some((p) => p.pid === 1), 'the small processes are dumped');
    assert.deepEqual(
      dump.map((p) => p.pid),
      [...dump.map((p) => p.pid)].sort((a, b) => a - b),
      'dumped in pid order',
    );
    assert.ok(notDumped.every((p) => p.comm === 'decoy' && /maxProcesses 12 of 42/.test(p.reason)));
    assert.deepEqual(chooseProcesses(all, 100).notDumped, []);
  });

  test('a process mapping more than the bounds is dumped as resident pages, not skipped', () => {
    assert.deepEqual(dumpMethod(BigInt(10 * 1024 ** 2), 2 * GiB, 512 * 1024 ** 2), { method: 'gcore' });
    const huge = dumpMethod(BigInt(3 * GiB), 2 * GiB, 512 * 1024 ** 2);
    assert.equal(huge.method, 'resident');
    assert.match(huge.why!, /exceed maxBytesPerProcess 2147483648: only resident or swapped pages/);
    const noRoom = dumpMethod(BigInt(1 * GiB), 2 * GiB, 100 * 1024 ** 2);
    assert.equal(noRoom.method, 'resident');
    assert.match(noRoom.why!, /the room to stage a core in the collector \(104857600 bytes\)/);
  });

  test('a resident dump counts as complete only with the bytes it announced', () => {
    const ok = { exitCode: 0, stderr: 'holdfast-memdump-size 8192\nholdfast-memdump: pid 7: …', bytes: 8192 };
    assert.equal(residentIncomplete(7, ok), undefined);
    assert.match(residentIncomplete(7, { ...ok, bytes: 4096 })!, /4096 bytes instead of the 8192 announced/);
    assert.match(residentIncomplete(7, { ...ok, stderr: '' })!, /no size announced/);
    assert.equal(residentIncomplete(7, { ...ok, exitCode: 3, bytes: 0 }), undefined, 'other exits are notes');
  });

  test('the process list carries the resident size; older 8-field lines still parse', () => {
    const id = 'b'.repeat(64);
    const processes = parseProcessList(
      `10\t1\t0\tmnt:[2]\t${id}\timplant\t/tmp/x (deleted)\t./x run\t712\n2\t1\t0\tmnt:[2]\t${id}\tsh\t/bin/sh\tsh\n`,
    );
    assert.deepEqual(
      processes.map((p) => [p.pid, p.rssKiB, p.cmdline]),
      [
        [2, undefined, 'sh'],
        [10, 712, './x run'],
      ],
    );
  });

  test('executables: a file hashed once is reused by pid; deleted ones are marked', () => {
    const sha = 'c'.repeat(64);
    const entries = parseExecutables(
      [
        `1\t8:1\t${sha}\t1200\t/bin/busybox`,
        '7\t8:1\t=\t=\t/bin/busybox',
        `9\t8:2\t${'d'.repeat(64)}\t900\t/tmp/dropped (deleted)`,
        '11\t-\t-\t-\t',
        'garbage',
      ].join('\n'),
    );
    assert.deepEqual(
      entries.map((e) => [e.pid, e.sha256?.[0], e.bytes, e.deleted]),
      [
        [1, 'c', 1200, false],
        [7, 'c', 1200, false],
        [9, 'd', 900, true],
        [11, undefined, undefined, false],
      ],
    );
  });
});

describe('root views', () => {
  const sha1 = '1'.repeat(64);
  const sha2 = '2'.repeat(64);
  test('PID 1 chrooted into a decoy: a tamper finding naming both views; the filesystem is read through the unchrooted process', () => {
    const groups = groupRoots(`1\t2049:777\t${sha2}\t-\n8\t2049:2\t${sha1}\t/\n9\t2049:2\t${sha1}\t/\n12\t-\t-\t-\n`);
    assert.equal(groups.length, 2);
    const { chosen, finding, notes } = chooseRoot(groups);
    assert.deepEqual(chosen?.pids, [8, 9]);
    assert.equal(finding?.kind, 'root-inconsistent');
    assert.match(finding!.detail, /2 different roots: pid 1 see root 2049:777 \(no mount at their \/: chrooted/);
    assert.match(finding!.detail, /read through pid 8$/);
    assert.ok(finding!.detail.length <= 300);
    assert.match(notes.join('\n'), /pid 8, whose "\/" is a filesystem root/);
  });

  test('one view: no finding; every process chrooted: a finding that says no unchrooted root was seen', () => {
    assert.equal(chooseRoot(groupRoots(`1\t8:2\t${sha1}\t/\n5\t8:2\t${sha1}\t/\n`)).finding, undefined);
    const all = chooseRoot(groupRoots(`1\t8:7\t${sha2}\t-\n5\t8:9\t${sha1}\t-\n`));
    assert.deepEqual(all.chosen?.pids, [1]);
    assert.match(all.finding!.detail, /although no process shows an unchrooted root/);
  });
});

/** Lines of a fake network state run; `unix` unix sockets owned by pid 42. */
function networkOutput(nonce: string, unix: number): Buffer {
  const parts: string[] = [];
  const section = (name: string) => parts.push(`=== ${nonce} ${name} ===`);
  section('ss');
  parts.push('Netid State Recv-Q Send-Q');
  section('proc-net-tcp');
  parts.push('  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode');
  parts.push('   0: 0100007F:115C 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000     0        0 5001 1');
  for (const name of ['proc-net-tcp6', 'proc-net-udp', 'proc-net-udp6']) section(name);
  section('proc-net-unix');
  parts.push('Num       RefCount Protocol Flags    Type St Inode Path');
  for (let i = 0; i < unix; i++) parts.push(`0000000000000000: 00000003 00000000 00000000 0001 03 ${100000 + i}`);
  section('socket-inodes');
  parts.push('42 5001');
  for (let i = 0; i < unix; i++) parts.push(`42 ${100000 + i}`);
  section('interfaces');
  parts.push('1: lo    inet 127.0.0.1/8 scope host lo');
  for (const name of ['links', 'routes', 'routes6']) section(name);
  section('resolv.conf');
  const resolv = 'nameserver 10.0.0.10\n';
  parts.push(`holdfast-bytes ${Buffer.byteLength(resolv)}`, resolv);
  section('hosts');
  const hosts = `127.0.0.1 localhost\n=== ${nonce} proc-net-tcp ===\n`;
  parts.push(`holdfast-bytes ${Buffer.byteLength(hosts)}`, hosts);
  section('conntrack');
  parts.push('conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.');
  section('end');
  return Buffer.from(`${parts.join('\n')}\n`);
}

describe('the network state parsed as it streams', () => {
  test('a bounded sample: entries past the bound are counted, owners kept only for the sample, findings as for the whole buffer', () => {
    const nonce = 'a1b2c3d4e5f60718';
    const out = networkOutput(nonce, 50_000);
    const parser = new NetworkStateParser(nonce, NETWORK_SECTIONS, NETWORK_FRAMED_SECTIONS, {
      maxEntriesPerTable: 1000,
      maxTextBytes: 4096,
    });
    // Odd chunk sizes: markers, frames and lines split across chunks.
    for (let i = 0; i < out.length;) {
      const n = 1 + ((i * 7919) % 9973);
      parser.write(out.subarray(i, i + n));
      i += n;
    }
    parser.end();
    assert.equal(parser.splitter.complete, true);
    const { parsed, notes } = parser.result(new Map([[42, 'sockets']]));
    const unix = parsed.sockets.filter((s) => s.protocol === 'unix-stream');
    assert.equal(unix.length, 1000);
    assert.deepEqual(parsed.bounded['proc-net-unix'], { seen: 50_000, parsed: 1000 });
    assert.ok(unix.every((s) => s.processes.length === 1 && s.processes[0]!.comm === 'sockets'));
    const c2 = parsed.sockets.find((s) => s.protocol === 'tcp');
    assert.equal(c2?.remote?.port, 0xd2a4);
    assert.deepEqual(parsed.dns.nameservers, ['10.0.0.10']);
    assert.ok(parsed.conntrack.reachable);
    assert.match(notes.join('\n'), /proc-net-unix: 50000 entries, the first 1000 parsed into network-state.json/);
    const whole = splitFramedSections(out, nonce, NETWORK_SECTIONS, NETWORK_FRAMED_SECTIONS);
    assert.deepEqual(parser.splitter.findings, whole.findings);
    assert.equal(whole.findings.length, 1, JSON.stringify(whole.findings));
  });

  test('a line without end is cut at 64 KiB, not held whole', () => {
    const nonce = '0123456789abcdef';
    const parser = new NetworkStateParser(nonce, NETWORK_SECTIONS, NETWORK_FRAMED_SECTIONS, {
      maxEntriesPerTable: 10,
      maxTextBytes: 4096,
    });
    parser.write(Buffer.from(`=== ${nonce} ss ===\n`));
    for (let i = 0; i < 64; i++) parser.write(Buffer.alloc(1024 * 1024, 0x41));
    parser.end();
    assert.equal(parser.splitter.longLines, 1);
    assert.match(parser.result(new Map()).notes.join('\n'), /1 line\(s\) longer than 64 KiB/);
    assert.equal(parser.splitter.complete, false);
  });
});

describe(
  'the collector scripts and tools, for real',
  { skip: fs.existsSync('/bin/busybox') ? false : 'needs /bin/busybox' },
  () => {
    let bin: string;
    const children: ChildProcess[] = [];
    before(async () => {
      // A PATH of busybox applet links: the scripts run with the collector image's tools, not the host's.
      bin = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-bb-'));
      const { stdout } = await run('/bin/busybox', ['--list']);
      for (const applet of stdout.split('\n').filter(Boolean)) fs.symlinkSync('/bin/busybox', path.join(bin, applet));
    });
    after(() => {
      for (const c of children) c.kill('SIGKILL');
      fs.rmSync(bin, { recursive: true, force: true });
    });
    const sh = (script: string, args: string[], wrap: string[] = []) =>
      run(
        wrap[0] ?? '/bin/busybox',
        [...wrap.slice(1), ...(wrap.length ? ['/bin/busybox'] : []), 'sh', '-c', script, 'holdfast-test', ...args],
        {
          env: { PATH: bin },
          maxBuffer: 64 * 1024 * 1024,
          timeout: 120_000,
        },
      );

    test(
      'the process list is numeric and complete (no glob order, no cut)',
      { skip: process.getuid?.() === 0 && fs.existsSync('/usr/bin/unshare') ? false : 'needs root and unshare' },
      async () => {
        // In a mount namespace of its own, as in the collector: every other process is listed.
        const { stdout } = await sh(LIST_PROCESSES, ['16384'], ['/usr/bin/unshare', '-m']);
        const pids = parseProcessList(stdout).map((p) => p.pid);
        const raw = stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => Number(l.split('\t')[0]));
        assert.deepEqual(
          raw,
          [...raw].sort((a, b) => a - b),
          'written in numeric order',
        );
        assert.ok(raw.some((p) => p < 10) && raw.some((p) => p >= 100), 'pids of several digit counts');
        assert.ok(pids.length > 32, `more than 32 processes listed (${pids.length})`);
        assert.ok(pids.includes(process.pid), 'this test process is listed');
        const self = parseProcessList(stdout).find((p) => p.pid === process.pid)!;
        assert.ok((self.rssKiB ?? 0) > 1000, `resident size read (${self.rssKiB} KiB)`);
        // Its start time, from /proc's ticks since boot: when this process started (to a tick, and the clock).
        const started = Date.now() - process.uptime() * 1000;
        assert.ok(
          Math.abs(Date.parse(self.startedAt!) - started) < 2000,
          `${self.startedAt} vs ${new Date(started).toISOString()}`,
        );
        const { stdout: cut, stderr } = await sh(LIST_PROCESSES, ['5'], ['/usr/bin/unshare', '-m']).catch(
          (e: { stdout: string; stderr: string; code: number }) => {
            assert.equal(e.code, 3);
            return e;
          },
        );
        assert.equal(cut.trim().split('\n').length, 5);
        assert.match(stderr, /more than 5 processes/);
      },
    );

    test('a deleted executable: hashed through /proc/<pid>/exe, marked deleted; the same file is hashed once', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-exe-'));
      const copy = path.join(dir, 'dropped');
      fs.copyFileSync('/bin/busybox', copy);
      fs.chmodSync(copy, 0o755);
      // busybox picks its applet by argv[0]
      const a = spawn(copy, ['600'], { argv0: 'sleep' });
      const b = spawn(copy, ['600'], { argv0: 'sleep' });
      children.push(a, b);
      await new Promise((r) => setTimeout(r, 300));
      fs.rmSync(dir, { recursive: true });
      const { stdout } = await sh(EXECUTABLES, [String(a.pid), String(b.pid)]);
      const entries = parseExecutables(stdout);
      const want = crypto.createHash('sha256').update(fs.readFileSync('/bin/busybox')).digest('hex');
      assert.equal(entries.length, 2);
      assert.ok(entries.every((e) => e.sha256 === want && e.deleted && e.link.endsWith('/dropped (deleted)')));
      assert.match(stdout.split('\n')[1]!, /\t=\t=\t/, 'the second pid reuses the first hash');
    });

    test('root views: a chrooted process shows another root and no mount at its "/"', async () => {
      const { stdout } = await sh(ROOTS, [String(process.pid), '1']);
      const groups = groupRoots(stdout);
      assert.equal(groups.length, 1, stdout);
      assert.equal(groups[0]!.mountAtRoot, '/');
      assert.deepEqual(chooseRoot(groups).finding, undefined);
      if (process.getuid?.() !== 0) return;
      const decoy = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-decoy-'));
      fs.mkdirSync(path.join(decoy, 'bin'));
      fs.copyFileSync('/bin/busybox', path.join(decoy, 'bin/busybox'));
      const jailed = spawn('/usr/sbin/chroot', [decoy, '/bin/busybox', 'sleep', '600']);
      children.push(jailed);
      await new Promise((r) => setTimeout(r, 300));
      const both = groupRoots((await sh(ROOTS, [String(process.pid), String(jailed.pid)])).stdout);
      assert.equal(both.length, 2);
      const { chosen, finding } = chooseRoot(both);
      assert.deepEqual(chosen?.pids, [process.pid]);
      assert.equal(finding?.kind, 'root-inconsistent');
      assert.equal(both.find((g) => g.pids[0] === jailed.pid)!.mountAtRoot, '-');
      jailed.kill('SIGKILL');
      fs.rmSync(decoy, { recursive: true, force: true });
    });

    test(
      'holdfast-memdump: 3 GiB mapped, only touched pages written, the marker among them, the size announced',
      { skip: fs.existsSync('/usr/bin/gcc') ? false : 'needs gcc' },
      async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-memdump-'));
        await run('/usr/bin/gcc', ['-static', '-Os', '-o', `${dir}/memdump`, `${SRC}/memdump.c`]);
        await run('/usr/bin/gcc', ['-static', '-Os', '-o', `${dir}/hostile`, `${SRC}/hostile.c`]);
        const marker = crypto.randomBytes(6).toString('hex');
        const implant = spawn(`${dir}/hostile`, ['bigmap', marker]);
        children.push(implant);
        await new Promise((resolve) => implant.stdout!.once('data', resolve));
        const out = await new Promise<{ core: Buffer; stderr: string; code: number | null }>((resolve) => {
          const dump = spawn(`${dir}/memdump`, [String(implant.pid), String(256 * 1024 ** 2)]);
          const chunks: Buffer[] = [];
          let stderr = '';
          dump.stdout.on('data', (c: Buffer) => chunks.push(c));
          dump.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
          dump.on('close', (code) => resolve({ core: Buffer.concat(chunks), stderr, code }));
        });
        implant.kill('SIGKILL');
        fs.rmSync(dir, { recursive: true, force: true });
        assert.equal(out.code, 0, out.stderr);
        assert.equal(
          residentIncomplete(implant.pid!, { exitCode: 0, stderr: out.stderr, bytes: out.core.length }),
          undefined,
        );
        assert.ok(out.core.length < 64 * 1024 ** 2, `${out.core.length} bytes, not gigabytes`);
        assert.equal(out.core.subarray(0, 4).toString('latin1'), '\x7fELF');
        assert.equal(out.core.readUInt16LE(16), 4, 'ET_CORE');
        const reversed = [...marker].reverse().join('');
        assert.ok(out.core.includes(`implant-marker:${reversed}`), 'the marker in the written region is in the core');
        const mapped = Number(/(\d+) bytes mapped/.exec(out.stderr)?.[1]);
        assert.ok(mapped > 3 * GiB, out.stderr);
      },
    );
  },
);
