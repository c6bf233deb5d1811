import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import { test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { RETIRED_STALLED } from '../../adapters/kubernetes/collector/scripts';
import {
  describeOutcome,
  ExecReadable,
  stallNote,
  type ExecBounds,
  type ExecOutcome,
} from '../../adapters/kubernetes/collector/exec-stream';
import { CollectorLauncher, collectorPrefix, type CollectorHandle } from '../../adapters/kubernetes/collector/launcher';
import { DEFAULT_COLLECTOR } from '../../adapters/kubernetes/collector/settings';
import { CollectorStalled, FailureType, toActivityFailure } from '../../common/failures';

/** One thing the fake command does, at a time after the exec started. */
type Beat = { atMs: number; stdout?: Buffer; stderr?: string; exit?: k8s.V1Status };

/**
 * A fake of @kubernetes/client-node's Exec that plays `beats` on a clock (a command that writes, goes
 * silent, or ends), and, with `endOnResume`, ends as soon as the consumer resumes a paused socket.
 */
function scriptedExec(beats: Beat[], opts: { endOnResume?: k8s.V1Status } = {}) {
  const timers: NodeJS.Timeout[] = [];
  const ws = Object.assign(new EventEmitter(), { paused: 0, closed: false, pause() {}, resume() {}, close() {} });
  let statusCb: ((s: k8s.V1Status) => void) | undefined;
  const end = (status: k8s.V1Status) => {
    statusCb?.(status);
    ws.emit('close');
  };
  ws.pause = () => {
    ws.paused++;
  };
  ws.resume = () => {
    if (opts.endOnResume && ws.paused > 0) setImmediate(() => end(opts.endOnResume!));
  };
  ws.close = () => {
    ws.closed = true;
    for (const t of timers) clearTimeout(t);
    setImmediate(() => ws.emit('close'));
  };
  const exec = {
    async exec(
      _ns: string,
      _pod: string,
      _c: string,
      _argv: string[],
      stdout: Writable,
      stderr: Writable,
      _stdin: null,
      _tty: boolean,
      cb: (s: k8s.V1Status) => void,
    ) {
      statusCb = cb;
      for (const beat of beats) {
        timers.push(
          setTimeout(() => {
            if (beat.stdout) stdout.write(beat.stdout);
            if (beat.stderr) stderr.write(Buffer.from(beat.stderr));
            if (beat.exit) end(beat.exit);
          }, beat.atMs),
        );
      }
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

async function drain(stream: ExecReadable, pauseMs = 0): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) {
    chunks.push(c as Buffer);
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
  }
  return Buffer.concat(chunks);
}

const every = (fromMs: number, toMs: number, stepMs: number, beat: Omit<Beat, 'atMs'>): Beat[] =>
  Array.from({ length: Math.floor((toMs - fromMs) / stepMs) + 1 }, (_, i) => ({ atMs: fromMs + i * stepMs, ...beat }));

test('stall: output that stops advancing fails as CollectorStalled within the bound, after retiring the collector', async () => {
  const { exec, ws } = scriptedExec([{ atMs: 10, stdout: Buffer.from('first blocks of a tar') }]);
  let outcome: ExecOutcome | undefined;
  let retired = 0;
  const bounds: ExecBounds = {
    maxBytes: 1 << 20,
    timeoutMs: 60_000,
    stallMs: 150,
    what: 'tar',
    onStall: async () => {
      retired++;
      await new Promise((r) => setTimeout(r, 20));
    },
  };
  const stream = new ExecReadable(exec, handle, ['/usr/bin/tar'], bounds, (o) => {
    outcome = o;
  });
  const started = Date.now();
  const err = await drain(stream).then(
    () => assert.fail('a stalled command must fail'),
    (e: unknown) => e,
  );
  const took = Date.now() - started;
  assert.ok(err instanceof CollectorStalled, String(err));
  assert.equal(err.name, FailureType.CollectorStalled);
  assert.match(
    err.message,
    /^tar: output stalled for 0.1[05]? s: possibly stopped by a process in the target \(SIGSTOP\)/,
  );
  assert.match(err.message, /retried once on a fresh one/);
  assert.equal(err.final, false, 'the first stall is retried');
  assert.equal(err.nonRetryable, false);
  assert.equal(toActivityFailure(err), err, 'retryable: handed to Temporal as is');
  assert.equal(retired, 1, 'the collector is retired once, before the failure');
  assert.equal(ws.closed, true, 'the stalled command is abandoned');
  assert.ok(took >= 150 && took < 1000, `failed after ${took} ms`);
  assert.equal(outcome!.stalled, true);
  assert.equal(outcome!.bytes, 21);
  assert.deepEqual(describeOutcome('tar', outcome!, bounds), [stallNote('tar', 150)]);
});

test('stall: the note names the bound in seconds', () => {
  assert.equal(
    stallNote('tar', 60_000),
    'tar: output stalled for 60 s: possibly stopped by a process in the target (SIGSTOP)',
  );
});

test('stall: a command whose output keeps advancing is never stalled, however long it runs', async () => {
  const beats = [
    ...every(0, 600, 40, { stdout: Buffer.from('x'.repeat(100)) }),
    { atMs: 620, exit: { status: 'Success' } },
  ];
  const { exec } = scriptedExec(beats);
  let outcome: ExecOutcome | undefined;
  const stream = new ExecReadable(exec, handle, ['tar'], { maxBytes: 1 << 20, timeoutMs: 5000, stallMs: 150 }, (o) => {
    outcome = o;
  });
  const body = await drain(stream);
  assert.equal(body.length, beats.length * 100 - 100);
  assert.equal(outcome!.exitCode, 0);
  assert.equal(outcome!.stalled, undefined);
});

test('stall: gcore staging its core reports progress on stderr: no stall before the first byte, and no progress text kept', async () => {
  // 500 ms without a stdout byte (stall bound 150 ms) while the staged core grows, then the core itself.
  const beats: Beat[] = [
    ...every(0, 500, 50, { stderr: 'holdfast-progress 4096\n' }),
    { atMs: 520, stderr: 'warning: a real message\n' },
    { atMs: 540, stdout: Buffer.from('ELF core') },
    { atMs: 560, exit: { status: 'Success' } },
  ];
  const { exec } = scriptedExec(beats);
  let outcome: ExecOutcome | undefined;
  const stream = new ExecReadable(exec, handle, ['sh'], { maxBytes: 1 << 20, timeoutMs: 5000, stallMs: 150 }, (o) => {
    outcome = o;
  });
  assert.equal((await drain(stream)).toString(), 'ELF core');
  assert.equal(outcome!.stalled, undefined);
  assert.equal(outcome!.stderr, 'warning: a real message\n');
});

test('stall: stderr other than progress lines does not count as progress', async () => {
  const { exec } = scriptedExec(every(0, 1000, 30, { stderr: "sh: can't open '/tmp/x/core.7': No such file\n" }));
  let outcome: ExecOutcome | undefined;
  const stream = new ExecReadable(exec, handle, ['sh'], { maxBytes: 1024, timeoutMs: 5000, stallMs: 150 }, (o) => {
    outcome = o;
  });
  const started = Date.now();
  await assert.rejects(drain(stream), (e: Error) => e instanceof CollectorStalled);
  assert.ok(Date.now() - started < 800, 'stalled at the bound despite the noise');
  assert.equal(outcome!.stalled, true);
  assert.match(outcome!.stderr, /can't open/);
});

test('stall: a gcore whose staged core stops growing stalls like a stopped tar', async () => {
  // The script prints the size only when it changed: a stopped gdb means silence on both streams.
  const { exec } = scriptedExec([
    { atMs: 0, stderr: 'holdfast-progress 0\n' },
    { atMs: 30, stderr: 'holdfast-progress 1048576\n' },
  ]);
  const stream = new ExecReadable(
    exec,
    handle,
    ['sh'],
    { maxBytes: 1 << 20, timeoutMs: 5000, stallMs: 120, what: 'gcore of 7' },
    () => undefined,
  );
  await assert.rejects(
    drain(stream),
    (e: Error) => e instanceof CollectorStalled && /^gcore of 7: output stalled/.test(e.message),
  );
});

test('stall: time the consumer keeps the stream paused is not the command stalling', async () => {
  // 2 MiB in four chunks at once (past the 1 MiB high-water mark), then the command ends only once the socket is resumed;
  // the consumer holds each chunk three times the stall bound.
  const { exec, ws } = scriptedExec(
    [{ atMs: 0, stdout: Buffer.alloc(512 * 1024, 7) }, ...every(1, 3, 1, { stdout: Buffer.alloc(512 * 1024, 7) })],
    {
      endOnResume: { status: 'Success' },
    },
  );
  let outcome: ExecOutcome | undefined;
  const stream = new ExecReadable(exec, handle, ['tar'], { maxBytes: 1 << 23, timeoutMs: 5000, stallMs: 100 }, (o) => {
    outcome = o;
  });
  const body = await drain(stream, 300);
  assert.ok(ws.paused > 0, 'the socket was paused by backpressure');
  assert.equal(body.length, 2 * 1024 * 1024);
  assert.equal(outcome!.exitCode, 0);
  assert.equal(outcome!.stalled, undefined);
});

test('stall: on a collector that already replaced a stalled one, the failure is final (not retried)', async () => {
  const { exec } = scriptedExec([]);
  const stream = new ExecReadable(
    exec,
    { ...handle, stalledBefore: 1 },
    ['tar'],
    { maxBytes: 1024, timeoutMs: 5000, stallMs: 50, what: 'tar' },
    () => undefined,
  );
  const err = (await drain(stream).catch((e: unknown) => e)) as CollectorStalled;
  assert.ok(err instanceof CollectorStalled);
  assert.equal(err.final, true);
  assert.match(err.message, /already replaced a stalled one: not retried/);
  const failure = toActivityFailure(err);
  assert.ok(failure instanceof ApplicationFailure);
  assert.equal(failure.type, FailureType.CollectorStalled);
  assert.equal(failure.nonRetryable, true);
});

test('stall: without a stall bound, silence is bounded only by the time bound', async () => {
  const { exec } = scriptedExec([]);
  let outcome: ExecOutcome | undefined;
  const stream = new ExecReadable(exec, handle, ['sleep'], { maxBytes: 1024, timeoutMs: 200 }, (o) => {
    outcome = o;
  });
  await drain(stream);
  assert.equal(outcome!.timedOut, true);
  assert.equal(outcome!.stalled, undefined);
});

/** A pod as the API server returns it, with this incident's collectors in the given states. */
function podWith(collectors: Array<{ n: number; state: k8s.V1ContainerState }>): k8s.V1Pod {
  const prefix = collectorPrefix('inc-1');
  return {
    metadata: { name: 'web', namespace: 'shop', resourceVersion: '1' },
    spec: {
      containers: [{ name: 'app' }],
      ephemeralContainers: collectors.map((c) => ({ name: `${prefix}-${c.n}` })),
    },
    status: {
      containerStatuses: [
        { name: 'app', ready: true, restartCount: 0, image: 'x', imageID: 'x', state: { running: {} } },
      ],
      ephemeralContainerStatuses: collectors.map((c) => ({
        name: `${prefix}-${c.n}`,
        ready: false,
        restartCount: 0,
        image: 'x',
        imageID: 'x',
        state: c.state,
      })),
    },
  };
}

function fakeCore(pods: k8s.V1Pod[]) {
  const added: string[] = [];
  let reads = 0;
  const core = {
    async readNamespacedPod() {
      return pods[Math.min(reads++, pods.length - 1)]!;
    },
    async replaceNamespacedPodEphemeralcontainers({ body }: { body: k8s.V1Pod }) {
      added.push(body.spec!.ephemeralContainers!.at(-1)!.name);
      return body;
    },
  };
  return { core: core as unknown as k8s.CoreV1Api, added };
}

const target = { cluster: 'c', namespace: 'shop', pod: 'web' };
const retiredStalled: k8s.V1ContainerState = { terminated: { exitCode: 137, message: RETIRED_STALLED } };

test('launcher: a collector retired after a stall is replaced by a fresh one that knows it (a stall on it is final)', async () => {
  const { core, added } = fakeCore([
    podWith([{ n: 1, state: retiredStalled }]),
    podWith([
      { n: 1, state: retiredStalled },
      { n: 2, state: { running: {} } },
    ]),
  ]);
  const launcher = new CollectorLauncher(core, { ...DEFAULT_COLLECTOR, readyTimeoutMs: 5000 });
  const h = await launcher.ensure(target, 'inc-1');
  assert.deepEqual(added, [`${collectorPrefix('inc-1')}-2`], 'a fresh collector is added');
  assert.equal(h.container, `${collectorPrefix('inc-1')}-2`);
  assert.equal(h.stalledBefore, 1);
  assert.match(
    h.notes.join('|'),
    /retired after their output stalled: possibly stopped by a process in the target \(SIGSTOP\)/,
  );
});

test('launcher: collectors that ended for other reasons do not count as stalled', async () => {
  const { core } = fakeCore([
    podWith([
      { n: 1, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
      { n: 2, state: { running: {} } },
    ]),
  ]);
  const h = await new CollectorLauncher(core, DEFAULT_COLLECTOR).ensure(target, 'inc-1');
  assert.equal(h.stalledBefore, undefined);
  assert.deepEqual(h.notes, []);
});

test('launcher: retire runs the retire script with the marker, then waits until the pod says the collector ended', async () => {
  const running = podWith([{ n: 1, state: { running: {} } }]);
  const { core } = fakeCore([running, running, podWith([{ n: 1, state: retiredStalled }])]);
  const argvs: string[][] = [];
  const exec = {
    async exec(
      _ns: string,
      _pod: string,
      _c: string,
      argv: string[],
      _stdout: Writable,
      _stderr: Writable,
      _stdin: null,
      _tty: boolean,
      cb: (s: k8s.V1Status) => void,
    ) {
      argvs.push(argv);
      const ws = Object.assign(new EventEmitter(), { pause() {}, resume() {}, close() {} });
      setImmediate(() => {
        cb({ status: 'Success' });
        ws.emit('close');
      });
      return ws;
    },
  } as unknown as k8s.Exec;
  const launcher = new CollectorLauncher(core, DEFAULT_COLLECTOR);
  const started = Date.now();
  await launcher.retire(exec, { ...handle, namespace: 'shop', pod: 'web', container: `${collectorPrefix('inc-1')}-1` });
  assert.equal(argvs.length, 1);
  assert.equal(argvs[0]!.at(-1), RETIRED_STALLED, 'the marker is an argument, never spliced into the script');
  assert.ok(Date.now() - started < 5000);
});
