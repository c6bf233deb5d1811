/**
 * Tamper evidence with fakes: forged sections in collector output, collector commands killed by a signal or
 * cut short, collectors that vanished, and the tamper flags' way into the step result, the incident status,
 * the page, the signed manifest and `holdfast evidence verify`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { describe, test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { sealEvidenceWith } from '../../activities/seal';
import { captureStep } from '../../activities/steps/capture';
import type { CaptureUnit } from '../../adapters/kubernetes/units';
import { splitFramedSections, parseInetTable } from '../../adapters/kubernetes/captures/network-parse';
import {
  ExecReadable,
  killedBy,
  type ExecBounds,
  type ExecOutcome,
} from '../../adapters/kubernetes/collector/exec-stream';
import { endedCollectorFinding, type CollectorHandle } from '../../adapters/kubernetes/collector/launcher';
import {
  NETWORK_FRAMED_SECTIONS,
  NETWORK_SECTIONS,
  NETWORK_STATE,
  RETIRED_INTERFERED,
  RETIRED_STALLED,
} from '../../adapters/kubernetes/collector/scripts';
import { run } from '../../cli/main';
import { loadCliConfig } from '../../common/config';
import { CollectorInterfered, FailureType, toActivityFailure } from '../../common/failures';
import type { CaptureStream } from '../../common/ports';
import { boundTamperFlags, quoteTargetText, tamperPageLines, TAMPER_LIMITS } from '../../common/types';
import { parseManifest } from '../../evidence/manifest';
import { keySigner } from '../../evidence/signer';
import { verifyDirectory } from '../../evidence/verify';
import { IncidentState } from '../../workflows/incident-state';
import { tamperOfFailure } from '../../workflows/incident-steps';
import { Capture } from '../helpers/capture';
import { MemoryEvidenceStore } from '../fakes/evidence-store';

const NONCE = '0123456789abcdef';
const C2_ROW =
  '   1: 0100007F:C2F0 0100007F:115C 01 00000000:00000000 00:00000000 00000000     0        0 424242 1 0000000000000000 20 4 30 10 -1';
const TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';

/** Network state output as NETWORK_STATE writes it, with `hosts` (the target's file) as given. */
function networkOutput(hosts: string, opts: { ssExtra?: string; end?: boolean } = {}): Buffer {
  const parts: string[] = [];
  const section = (name: string) => parts.push(`=== ${NONCE} ${name} ===\n`);
  for (const name of NETWORK_SECTIONS) {
    if (name === 'end' && opts.end === false) break;
    section(name);
    if (name === 'ss') parts.push(`Netid State\n${opts.ssExtra ?? ''}`);
    else if (name === 'proc-net-tcp') parts.push(`${TCP_HEADER}\n${C2_ROW}\n`);
    else if (name === 'hosts') parts.push(`holdfast-bytes ${Buffer.byteLength(hosts)}\n${hosts}\n`);
    else if (name === 'resolv.conf') parts.push('holdfast-bytes 21\nnameserver 10.96.0.10\n');
  }
  return Buffer.from(parts.join(''));
}

describe('sections cannot be forged', () => {
  test('a forged proc-net-tcp section in the target’s /etc/hosts is framed content: the real table stays, and it is flagged', () => {
    // What an attacker who read an old-style nonce from argv would write: an empty table after a marker.
    const hosts = `127.0.0.1 localhost\n=== ${NONCE} proc-net-tcp ===\n${TCP_HEADER}\n=== ${NONCE} end ===\n`;
    const split = splitFramedSections(networkOutput(hosts), NONCE, NETWORK_SECTIONS, NETWORK_FRAMED_SECTIONS);
    assert.equal(split.complete, true);
    const sockets = parseInetTable('tcp', split.sections.get('proc-net-tcp')!);
    assert.deepEqual(
      sockets.map((s) => [s.remote?.address, s.remote?.port, s.state]),
      [['127.0.0.1', 4444, 'ESTABLISHED']],
    );
    assert.equal(split.sections.get('hosts'), hosts, 'the file content, byte for byte');
    assert.equal(split.findings.length, 2, JSON.stringify(split.findings));
    assert.ok(split.findings.every((f) => f.kind === 'section-forged'));
    assert.match(
      split.findings[0]!.detail,
      /^the target's hosts holds a line shaped like a collector section marker \("proc-net-tcp"\)/,
    );
  });

  test('a repeated marker with the right nonce (a leaked nonce) never replaces the real section; other nonces are flagged', () => {
    const ssExtra = `=== ${NONCE} proc-net-tcp ===\n${TCP_HEADER}\n=== deadbeefdeadbeef conntrack ===\n`;
    const out = networkOutput('127.0.0.1 localhost\n', { ssExtra });
    const split = splitFramedSections(out, NONCE, NETWORK_SECTIONS, NETWORK_FRAMED_SECTIONS);
    // The forged marker is the next expected one, so it opens the section early; the real marker is then a
    // repeat, kept as content: the real table still lands in the section, and both are flagged.
    assert.equal(parseInetTable('tcp', split.sections.get('proc-net-tcp')!).length, 1);
    assert.deepEqual(
      split.findings.map((f) => f.detail),
      [
        'a line shaped like a section marker for "conntrack" with another nonce in section proc-net-tcp: kept as content',
        'a repeated section marker for "proc-net-tcp" in section proc-net-tcp: ignored, the first one is kept',
      ],
    );
    // Out of order (a later section's marker early): ignored where it stands.
    const early = networkOutput('h\n', { ssExtra: `=== ${NONCE} hosts ===\n` });
    const order = splitFramedSections(early, NONCE, NETWORK_SECTIONS, NETWORK_FRAMED_SECTIONS);
    assert.equal(order.sections.get('hosts'), 'h\n');
    assert.deepEqual(
      order.findings.map((f) => f.detail),
      ['an unexpected or out-of-order section marker for "hosts" in section ss: ignored'],
    );
    // The same marker after the real section: a repeat, ignored.
    const late = Buffer.concat([
      networkOutput('x\n', { end: false }),
      Buffer.from(`=== ${NONCE} proc-net-tcp ===\n${TCP_HEADER}\n=== ${NONCE} end ===\n`),
    ]);
    const again = splitFramedSections(late, NONCE, NETWORK_SECTIONS, NETWORK_FRAMED_SECTIONS);
    assert.equal(parseInetTable('tcp', again.sections.get('proc-net-tcp')!).length, 1);
    assert.equal(again.complete, true);
    assert.match(again.findings[0]!.detail, /^a repeated section marker for "proc-net-tcp" in section conntrack/);
  });

  test('output without the end marker is not complete; a frame longer than the output takes what there is', () => {
    const split = splitFramedSections(
      networkOutput('h\n', { end: false }),
      NONCE,
      NETWORK_SECTIONS,
      NETWORK_FRAMED_SECTIONS,
    );
    assert.equal(split.complete, false);
    const cut = Buffer.from(`=== ${NONCE} hosts ===\nholdfast-bytes 999\nonly this`);
    const short = splitFramedSections(cut, NONCE, ['hosts', 'end'], ['hosts']);
    assert.equal(short.sections.get('hosts'), 'only this');
    assert.equal(short.complete, false);
  });

  test(
    'the network script with this machine’s busybox: nonce from stdin, every section in order, hosts framed byte for byte',
    { skip: fs.existsSync('/bin/busybox') ? false : 'needs /bin/busybox' },
    async () => {
      const stdout = await new Promise<Buffer>((resolve, reject) => {
        const child = execFile(
          '/bin/busybox',
          ['sh', '-c', NETWORK_STATE, 'holdfast-net', String(process.pid)],
          { timeout: 30_000, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
          (err, out) => (err ? reject(err) : resolve(out)),
        );
        child.stdin!.end(`${NONCE}\n`);
      });
      const split = splitFramedSections(stdout, NONCE, NETWORK_SECTIONS, NETWORK_FRAMED_SECTIONS);
      assert.equal(split.complete, true, stdout.toString('utf8').slice(0, 2000));
      assert.deepEqual([...split.sections.keys()], [...NETWORK_SECTIONS]);
      assert.equal(
        split.sections.get('hosts'),
        fs.readFileSync(`/proc/${process.pid}/root/etc/hosts`, 'utf8').slice(0, 65536),
      );
      assert.deepEqual(split.findings, []);
      // Without a nonce on stdin the script refuses to run.
      const refused = await new Promise<number>((resolve) => {
        const child = execFile('/bin/busybox', ['sh', '-c', NETWORK_STATE, 'holdfast-net', '1'], (err) =>
          resolve(Number((err as { code?: unknown } | null)?.code ?? 0)),
        );
        child.stdin!.end();
      });
      assert.equal(refused, 64);
    },
  );

  test('the nonce is read from stdin, never from argv; target files are length-framed', () => {
    assert.match(NETWORK_STATE, /read -r nonce/);
    assert.doesNotMatch(NETWORK_STATE, /nonce=\$/);
    assert.match(NETWORK_STATE, /section hosts; framed /);
    assert.match(NETWORK_STATE, /section resolv\.conf; framed /);
  });
});

/** A fake Exec: records argv and stdin, writes `stdout`, then ends with `status`. */
function endingExec(stdoutText: string, status: k8s.V1Status) {
  const seen: { argv?: string[]; stdin: string; stdinEnded: boolean } = { stdin: '', stdinEnded: false };
  const exec = {
    async exec(
      _ns: string,
      _pod: string,
      _c: string,
      argv: string[],
      stdout: Writable,
      _stderr: Writable,
      stdin: Readable | null,
      _tty: boolean,
      cb: (s: k8s.V1Status) => void,
    ) {
      seen.argv = argv;
      stdin?.on('data', (d: Buffer) => (seen.stdin += d.toString()));
      stdin?.on('end', () => (seen.stdinEnded = true));
      const ws = Object.assign(new EventEmitter(), { pause() {}, resume() {}, close() {} });
      setTimeout(() => {
        stdout.write(Buffer.from(stdoutText));
        cb(status);
        ws.emit('close');
      }, 5);
      return ws;
    },
  };
  return { exec: exec as unknown as k8s.Exec, seen };
}

const exited = (code: number): k8s.V1Status =>
  code === 0
    ? { status: 'Success' }
    : {
        status: 'Failure',
        message: `command terminated with non-zero exit code: exit code ${code}`,
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
      };

const handle: CollectorHandle = {
  namespace: 'ns',
  pod: 'p',
  container: 'holdfast-collector-x-1',
  targetContainer: 'app',
  info: { name: 'holdfast-collector', version: 'test' },
  notes: [],
};

async function drain(stream: Readable): Promise<{ bytes: Buffer; err?: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of stream) chunks.push(c as Buffer);
    return { bytes: Buffer.concat(chunks) };
  } catch (err) {
    return { bytes: Buffer.concat(chunks), err };
  }
}

describe('a killed or cut-short collector command is never complete', () => {
  test('exit statuses from a signal are named; ordinary exits are not', () => {
    assert.equal(killedBy({ exitCode: 137 }), 'SIGKILL');
    assert.equal(killedBy({ exitCode: 143 }), 'SIGTERM');
    assert.equal(killedBy({ exitCode: 128 + 40 }), 'signal 40');
    for (const exitCode of [0, 1, 2, 71, 128, 255, null]) assert.equal(killedBy({ exitCode }), undefined);
  });

  test('tar killed by SIGKILL: the stream fails as CollectorInterfered after retiring the collector; final on a replacement', async () => {
    for (const stalledBefore of [0, 1]) {
      const { exec } = endingExec('partial tar bytes', exited(137));
      const retired: string[] = [];
      let outcome: ExecOutcome | undefined;
      const bounds: ExecBounds = {
        maxBytes: 1 << 20,
        timeoutMs: 10_000,
        what: 'tar',
        onStall: async (why) => void retired.push(why),
      };
      const stream = new ExecReadable(exec, { ...handle, stalledBefore }, ['/usr/bin/tar'], bounds, (o) => {
        outcome = o;
      });
      const { err } = await drain(stream);
      assert.ok(err instanceof CollectorInterfered, String(err));
      assert.equal(err.name, FailureType.CollectorInterfered);
      assert.match(err.message, /^tar: killed by SIGKILL \(exit 137\): possibly by a process in the target/);
      assert.equal(err.final, stalledBefore > 0);
      assert.deepEqual(retired, [RETIRED_INTERFERED]);
      assert.match(outcome!.interfered!, /^tar: killed by SIGKILL/);
      const failure = toActivityFailure(err) as { nonRetryable?: boolean };
      assert.equal(Boolean(failure.nonRetryable), stalledBefore > 0, 'retried once, then final');
    }
  });

  test('a command killed because Holdfast retired its collector (for another command) is retried without a flag of its own', async () => {
    const { exec } = endingExec('part of the network state', exited(137));
    const retired: string[] = [];
    let outcome: ExecOutcome | undefined;
    const stream = new ExecReadable(
      exec,
      { ...handle, retiredByHoldfast: () => true },
      ['sh'],
      { maxBytes: 1 << 20, timeoutMs: 10_000, what: 'network state', onStall: async (why) => void retired.push(why) },
      (o) => {
        outcome = o;
      },
    );
    const { err } = await drain(stream);
    assert.ok(err instanceof Error && !(err instanceof CollectorInterfered), String(err));
    assert.match((err as Error).message, /^network state: ended when Holdfast retired its collector/);
    assert.equal(tamperOfFailure((err as Error).name, (err as Error).message), undefined, 'no tamper flag of its own');
    assert.deepEqual(retired, [], 'nothing more to retire');
    assert.match(outcome!.interfered!, /Holdfast retired its collector/);
  });

  test('gcore without its end marker (exit 73) is incomplete; exit 0 and the tool commands without a retire hook are unchanged', async () => {
    const incomplete = (o: ExecOutcome) =>
      o.exitCode === 73 ? 'gcore of 7: gdb ended without saving a complete core' : undefined;
    const { exec } = endingExec('ELF partial', exited(73));
    const stream = new ExecReadable(
      exec,
      handle,
      ['sh'],
      { maxBytes: 1 << 20, timeoutMs: 10_000, onStall: async () => {}, incomplete },
      () => undefined,
    );
    const { err } = await drain(stream);
    assert.ok(err instanceof CollectorInterfered, String(err));
    assert.match(err.message, /^gcore of 7: gdb ended without saving a complete core; the collector is retired/);

    const ok = endingExec('whole', exited(0));
    const done = await drain(
      new ExecReadable(
        ok.exec,
        handle,
        ['sh'],
        { maxBytes: 1 << 20, timeoutMs: 10_000, onStall: async () => {}, incomplete },
        () => undefined,
      ),
    );
    assert.equal(done.err, undefined);
    assert.equal(done.bytes.toString(), 'whole');

    // A plain read (no retire hook, e.g. cat of maps) keeps its exit status as a note, as before.
    const plain = endingExec('x', exited(137));
    const read = await drain(
      new ExecReadable(plain.exec, handle, ['cat'], { maxBytes: 10, timeoutMs: 10_000 }, () => undefined),
    );
    assert.equal(read.err, undefined);
  });

  test('a nonce given as stdin reaches the command on stdin, stays out of argv, and stdin is never ended', async () => {
    const { exec, seen } = endingExec('out', exited(0));
    const argv = ['sh', '-c', NETWORK_STATE, 'holdfast-net', '42'];
    await drain(
      new ExecReadable(exec, handle, argv, { maxBytes: 100, timeoutMs: 10_000, stdin: NONCE }, () => undefined),
    );
    assert.equal(seen.stdin, `${NONCE}\n`);
    assert.ok(!seen.argv!.some((a) => a.includes(NONCE)), 'not in argv (readable at /proc/<pid>/cmdline)');
    assert.equal(seen.stdinEnded, false, 'ending stdin closes a v4 exec connection');
  });
});

describe('earlier collectors: retired or vanished', () => {
  test('the status of an ended collector says what happened to it', () => {
    const ended = (terminated: k8s.V1ContainerStateTerminated): k8s.V1ContainerStatus =>
      ({ name: 'c', state: { terminated } }) as k8s.V1ContainerStatus;
    assert.equal(
      endedCollectorFinding('c-1', ended({ exitCode: 137, message: RETIRED_STALLED }))?.kind,
      'collector-stalled',
    );
    assert.equal(
      endedCollectorFinding('c-1', ended({ exitCode: 137, message: RETIRED_INTERFERED }))?.kind,
      'collector-killed',
    );
    const vanished = endedCollectorFinding('c-2', ended({ exitCode: 137, reason: 'Error', message: '=== forged ===' }));
    assert.deepEqual(vanished, {
      kind: 'collector-vanished',
      detail:
        'collector c-2 ended without Holdfast retiring it (exit 137, Error): possibly killed by a process in the target',
    });
    assert.equal(
      endedCollectorFinding('c-3', ended({ exitCode: 0, reason: 'Completed' })),
      undefined,
      'its lifetime ran out',
    );
    assert.equal(
      endedCollectorFinding('c-4', { name: 'c', state: { running: {} } } as k8s.V1ContainerStatus),
      undefined,
    );
  });
});

describe('tamper flags are bounded and first-class', () => {
  test('bounded in count and length, known kinds only, control characters replaced, each finding once', () => {
    const many = Array.from({ length: 80 }, (_, i) => ({ step: 'network', kind: 'section-forged', detail: `d${i}` }));
    assert.equal(boundTamperFlags(many).length, TAMPER_LIMITS.flags);
    const flags = boundTamperFlags([
      { step: 'memory', kind: 'collector-killed', detail: `gcore\n=== fake ===\u0007${'x'.repeat(500)}` },
      { step: 'memory', kind: 'collector-killed', detail: `gcore\n=== fake ===\u0007${'x'.repeat(500)}` },
      { step: 'x', kind: 'made-up', detail: 'y' },
      null,
      'junk',
    ]);
    assert.equal(flags.length, 1);
    assert.equal(flags[0]!.detail.length, TAMPER_LIMITS.detail);
    assert.ok(!/[\n\r\t]/.test(flags[0]!.detail) && !flags[0]!.detail.includes(String.fromCharCode(7)));
    assert.deepEqual(boundTamperFlags(undefined), []);
    assert.equal(quoteTargetText('a"\nb'), '"a\\"\\nb"');
    assert.deepEqual(tamperPageLines([]), []);
  });

  test('a capture step reports its streams’ findings under its name', async () => {
    const store = new MemoryEvidenceStore();
    const streams: CaptureStream[] = [
      {
        name: 'network-state.txt',
        body: Readable.from([Buffer.from('x')]),
        contentType: 'text/plain',
        method: 'm',
        collector: { name: 'c', version: '1' },
        notes: [],
        tamper: [{ kind: 'section-forged', detail: 'forged marker in hosts' }],
      },
    ];
    const step = captureStep({
      name: 'network',
      description: 'd',
      params: {},
      rbac: [],
      timeouts: {},
    } as unknown as CaptureUnit);
    const result = await step.run({
      incidentId: 'inc-1',
      target: { cluster: 'c', namespace: 'n', pod: 'p' },
      params: {},
      dryRun: false,
      deps: { cluster: { capture: async () => streams }, evidence: store },
      progress: () => undefined,
    } as unknown as Parameters<typeof step.run>[0]);
    assert.deepEqual(result.tamper, [{ step: 'network', kind: 'section-forged', detail: 'forged marker in hosts' }]);
  });

  test('status: from step results and from a step failed by interference; every later page says so', () => {
    const state = new IncidentState(
      'inc-1',
      { key: 'k', target: { cluster: 'c', namespace: 'n', pod: 'p' } },
      { now: () => '2026-12-02T00:00:00Z' },
    );
    state.succeed(state.track('network', 'capture'), {
      notes: [],
      artifacts: [],
      tamper: [{ step: 'network', kind: 'section-forged', detail: 'forged marker in hosts' }],
    });
    const killed = tamperOfFailure(
      FailureType.CollectorInterfered,
      'tar: killed by SIGKILL (exit 137): possibly by a process in the target; its output is incomplete; this collector already replaced a retired one: not retried',
    );
    assert.equal(killed?.kind, 'collector-killed');
    state.tampered([{ step: 'filesystem', ...killed! }]);
    state.tampered([{ step: 'filesystem', ...killed! }]);
    assert.equal(
      tamperOfFailure(FailureType.CollectorInterfered, 'gcore of 7: gdb ended without saving')?.kind,
      'output-incomplete',
    );
    assert.equal(tamperOfFailure(FailureType.CollectorStalled, 'tar: output stalled')?.kind, 'collector-stalled');
    assert.equal(tamperOfFailure(FailureType.NotFound, 'x'), undefined);
    assert.deepEqual(
      state.status.tamper?.map((t) => [t.step, t.kind]),
      [
        ['network', 'section-forged'],
        ['filesystem', 'collector-killed'],
      ],
    );
    assert.deepEqual(state.tamperFindings, [
      'evidence collection was interfered with (network, section-forged): forged marker in hosts',
      `evidence collection was interfered with (filesystem, collector-killed): ${killed!.detail}`,
    ]);
  });

  test('the signed manifest lists them; `holdfast evidence verify` shows them; old manifests have none', async () => {
    const store = new MemoryEvidenceStore();
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
    const incidentId = 'inc-tamper-unit';
    const base = {
      incidentId,
      workflowId: 'w',
      runId: 'r',
      alerts: [],
      target: { cluster: 'c' },
      artifacts: [],
      failures: [],
    };
    const tamper = [
      { step: 'filesystem', kind: 'collector-killed' as const, detail: 'tar: killed by SIGKILL (exit 137)' },
      {
        step: 'network',
        kind: 'section-forged' as const,
        detail: 'the target\'s hosts holds a line shaped like a collector section marker ("proc-net-tcp")',
      },
    ];
    const sealed = await sealEvidenceWith(
      { store, signer: keySigner(privateKey), retention: { mode: 'GOVERNANCE', days: 1 } },
      { ...base, tamper },
    );
    const bytes = (await store.readSmall(sealed.manifest.key, sealed.manifest.versionId, 1e6)).bytes;
    assert.deepEqual(parseManifest(bytes).tamper, tamper);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-tamper-'));
    fs.writeFileSync(path.join(dir, 'manifest.json'), bytes);
    fs.writeFileSync(
      path.join(dir, 'manifest.sig'),
      (await store.readSmall(sealed.signature.key, sealed.signature.versionId, 1e3)).bytes,
    );
    // As `holdfast evidence get` writes it: the attestation the manifest binds (it carries the tamper flags too).
    fs.writeFileSync(
      path.join(dir, 'attestation.dsse.json'),
      (await store.readSmall(sealed.attestation!.key, sealed.attestation!.versionId, 1e6)).bytes,
    );
    const keyFile = path.join(dir, '..', `${path.basename(dir)}.pem`);
    fs.writeFileSync(keyFile, publicKey.export({ type: 'spki', format: 'pem' }));
    const report = await verifyDirectory(dir, { publicKeyPem: fs.readFileSync(keyFile, 'utf8') });
    assert.equal(report.ok, true, report.problems.join('; '));
    assert.deepEqual(report.tamper, tamper);
    const stdout = new Capture();
    const code = await run(['evidence', 'verify', dir, '--key', keyFile], {
      stdout,
      stderr: new Capture() as unknown as NodeJS.WriteStream,
      config: loadCliConfig({}),
    });
    assert.equal(code, 0, stdout.text);
    assert.match(
      stdout.text,
      /TAMPER: evidence collection was interfered with \(2 finding\(s\)\):\n {4}filesystem collector-killed: tar: killed by SIGKILL \(exit 137\)\n {4}network section-forged: the target's hosts holds a line shaped like a collector section marker \(\\"proc-net-tcp\\"\)/,
    );

    // Sealed before tamper flags existed (no tamper in the input): the manifest has no such field.
    const oldStore = new MemoryEvidenceStore();
    const old = await sealEvidenceWith(
      { store: oldStore, signer: keySigner(privateKey), retention: { mode: 'GOVERNANCE', days: 1 } },
      base,
    );
    const oldManifest = parseManifest((await oldStore.readSmall(old.manifest.key, old.manifest.versionId, 1e6)).bytes);
    assert.equal('tamper' in oldManifest, false);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(keyFile, { force: true });
  });
});
