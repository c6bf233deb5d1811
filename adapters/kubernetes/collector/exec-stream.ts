import { Readable, Writable } from 'node:stream';
import type * as k8s from '@kubernetes/client-node';
import { CollectorInterfered, CollectorStalled } from '../../../common/failures';
import { mapKubernetesError } from '../errors';
import type { CollectorHandle } from './launcher';
import { RETIRED_INTERFERED, RETIRED_STALLED } from './scripts';

type WebSocket = Awaited<ReturnType<k8s.Exec['exec']>>;

/* The exec stream: a collector command's stdout, streaming, bounded, with backpressure. */

export interface ExecBounds {
  maxBytes: number;
  timeoutMs: number;
  signal?: AbortSignal;
  /**
   * Fail with CollectorStalled when the command's output (stdout or stderr) does not advance for this long,
   * not counting time the consumer held the stream paused. Unset: only the byte and time bounds apply.
   */
  stallMs?: number;
  /**
   * Called once on a stall or an interference (the command was killed, or `incomplete` says its output is),
   * before the stream fails: retires the collector, with `retiredAs` as its termination message, so a retry
   * gets a fresh one. Set for every collector tool a process in the target could stop or kill; when set, a
   * command that ends by a signal fails as CollectorInterfered instead of counting as complete.
   */
  onStall?: (retiredAs: string) => Promise<void>;
  /**
   * Whether output that ended normally is complete (its end marker or trailer is there): a note saying what
   * is missing, or undefined. Only checked when `onStall` is set.
   */
  incomplete?: (outcome: ExecOutcome) => string | undefined;
  /**
   * One line for the command's stdin (a per-run nonce, parameters): a channel the target cannot read, unlike
   * argv (/proc/<pid>/cmdline of the shared PID namespace). The stream is never ended: with the v4 exec
   * protocol, ending stdin closes the whole connection.
   */
  stdin?: string;
  /** What the command is, for the stall note (default: its program). */
  what?: string;
}

export interface ExecOutcome {
  /** null when the connection closed without an exit status. */
  exitCode: number | null;
  message?: string;
  stderr: string;
  bytes: number;
  truncated: boolean;
  timedOut: boolean;
  /** The output stopped advancing for the stall bound: the command was abandoned. */
  stalled?: boolean;
  /** The command was killed by a signal or its output is incomplete: the tamper note. */
  interfered?: string;
}

const SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  6: 'SIGABRT',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  13: 'SIGPIPE',
  15: 'SIGTERM',
};

/**
 * The signal a command ended by, from its exit status (128 + signal, as the runtime and sh report it), or
 * undefined when it exited on its own.
 */
export function killedBy(outcome: Pick<ExecOutcome, 'exitCode'>): string | undefined {
  const code = outcome.exitCode;
  if (code === null || code <= 128 || code > 128 + 64) return undefined;
  return SIGNALS[code - 128] ?? `signal ${code - 128}`;
}

/** The tamper note of a command killed by a signal. */
export function killedNote(what: string, signal: string, exitCode: number): string {
  return `${what}: killed by ${signal} (exit ${exitCode}): possibly by a process in the target; its output is incomplete`;
}

const MAX_STDERR = 16 * 1024;

/**
 * Lines a collector script writes to stderr only to show it advances (the staged core's size while gcore
 * works): they count as progress and are not kept as stderr text.
 */
export const PROGRESS_LINE = /holdfast-progress [0-9]*\n?/g;

/** The tamper note of a stalled command: in its artifact's notes, the step's failure and the status. */
export function stallNote(what: string, stallMs: number): string {
  return `${what}: output stalled for ${Number((stallMs / 1000).toFixed(1))} s: possibly stopped by a process in the target (SIGSTOP)`;
}

/** Converts a websocket handshake failure ("Unexpected server response: 403") into our error types. */
function mapExecError(err: unknown, doing: string): Error {
  const message = (err as Error)?.message ?? String(err);
  const status = message.match(/Unexpected server response: (\d{3})/)?.[1];
  return mapKubernetesError(status ? { code: Number(status), message } : err, doing);
}

/**
 * The stdout of a command run in the collector, as a Readable that starts the exec on first read
 * (so a step's artifacts stream one after another) and pauses the websocket when the consumer is
 * slow. Stops at maxBytes or timeoutMs and says so through onEnd, which runs before the stream ends.
 */
export class ExecReadable extends Readable {
  private ws?: WebSocket;
  private started = false;
  private finished = false;
  private wantPause = false;
  private status?: k8s.V1Status;
  private stderrText = '';
  private bytes = 0;
  private truncated = false;
  private timedOut = false;
  private timer?: NodeJS.Timeout;
  private stallTimer?: NodeJS.Timeout;
  private readonly onAbort = () => this.destroy(new Error('capture cancelled'));

  constructor(
    private readonly exec: k8s.Exec,
    private readonly handle: CollectorHandle,
    private readonly argv: string[],
    private readonly bounds: ExecBounds,
    private readonly onEnd: (outcome: ExecOutcome) => void | Error,
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _read(): void {
    if (!this.started) {
      this.started = true;
      this.start();
      return;
    }
    this.wantPause = false;
    this.armStall();
    this.ws?.resume();
  }

  private start(): void {
    if (this.bounds.signal?.aborted) return void this.destroy(new Error('capture cancelled'));
    this.bounds.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.stop();
    }, this.bounds.timeoutMs);
    this.armStall();
    const stdout = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.onData(chunk);
        cb();
      },
    });
    const stderr = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        const raw = chunk.toString('utf8');
        const text = raw.replace(PROGRESS_LINE, '');
        // Only a progress line counts: other stderr (a script's repeated complaint) would mask a stall.
        if (text.length < raw.length && !this.wantPause) this.armStall();
        if (this.stderrText.length < MAX_STDERR) this.stderrText += text.slice(0, MAX_STDERR - this.stderrText.length);
        cb();
      },
    });
    const { namespace, pod, container } = this.handle;
    let stdin: Readable | null = null;
    if (this.bounds.stdin !== undefined) {
      stdin = new Readable({ read() {} });
      stdin.push(`${this.bounds.stdin}\n`);
    }
    this.exec
      .exec(namespace, pod, container, this.argv, stdout, stderr, stdin, false, (status) => {
        this.status = status;
      })
      .then((ws) => {
        this.ws = ws;
        if (this.finished || this.destroyed) return void ws.close();
        if (this.wantPause) ws.pause();
        ws.on('close', () => this.finish());
        ws.on('error', (err: Error) =>
          this.destroy(mapExecError(err, `get+create pods/exec (collector ${container})`)),
        );
      })
      .catch((err: unknown) =>
        this.destroy(mapExecError(err, `get+create pods/exec (collector ${namespace}/${pod}/${container})`)),
      );
  }

  private onData(chunk: Buffer): void {
    if (this.finished || this.destroyed) return;
    const room = this.bounds.maxBytes - this.bytes;
    if (chunk.length > room) {
      if (room > 0) this.push(chunk.subarray(0, room));
      this.bytes += Math.max(room, 0);
      this.truncated = true;
      this.stop();
      return;
    }
    this.bytes += chunk.length;
    if (!this.push(chunk)) {
      // Paused by us (a slow consumer): that time is not the command's stall.
      this.wantPause = true;
      this.disarmStall();
      this.ws?.pause();
    } else {
      this.armStall();
    }
  }

  /** (Re)starts the stall bound: output advanced, or the stream resumed after our own pause. */
  private armStall(): void {
    if (!this.bounds.stallMs || this.finished || this.destroyed) return;
    this.disarmStall();
    this.stallTimer = setTimeout(() => this.stalledOut(), this.bounds.stallMs);
  }

  private disarmStall(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  /**
   * Nothing advanced for the stall bound: abandon the command, retire the collector (a process in the
   * target may have stopped it, and may stop anything else it runs) and fail with CollectorStalled.
   * Retried once on a fresh collector; final when this collector already replaced a stalled one.
   */
  private stalledOut(): void {
    if (this.finished || this.destroyed) return;
    this.finished = true;
    this.cleanup();
    this.ws?.close();
    const note = stallNote(this.bounds.what ?? this.argv[0] ?? 'collector command', this.bounds.stallMs!);
    this.onEnd({ ...this.outcome(), stalled: true });
    const final = (this.handle.stalledBefore ?? 0) > 0;
    const message = `${note}; ${
      final
        ? 'this collector already replaced a stalled one: not retried'
        : 'the collector is retired and the step retried once on a fresh one'
    }`;
    const retire = this.bounds.onStall?.(RETIRED_STALLED) ?? Promise.resolve();
    void retire.catch(() => undefined).then(() => this.destroy(new CollectorStalled(message, final)));
  }

  /**
   * Why a command that ended is not complete evidence (killed by a signal, or its end marker missing), when
   * it runs a collector tool (onStall set) and no bound of ours ended it.
   */
  private interference(outcome: ExecOutcome): string | undefined {
    if (!this.bounds.onStall || outcome.truncated || outcome.timedOut) return undefined;
    const what = this.bounds.what ?? this.argv[0] ?? 'collector command';
    const signal = killedBy(outcome);
    if (signal) return killedNote(what, signal, outcome.exitCode!);
    if (outcome.exitCode === null) return undefined; // the connection closed early: cutShort retries it
    return this.bounds.incomplete?.(outcome);
  }

  /**
   * The command was killed or its output is incomplete: the stream fails as CollectorInterfered (never ends
   * as if complete), after retiring the collector. Retried once on a fresh one, like a stall.
   */
  private interferedOut(outcome: ExecOutcome, note: string): void {
    this.onEnd({ ...outcome, interfered: note });
    const failure = interferenceFailure(this.handle, note);
    const retire = this.bounds.onStall?.(RETIRED_INTERFERED) ?? Promise.resolve();
    void retire.catch(() => undefined).then(() => this.destroy(failure));
  }

  /**
   * Killed because Holdfast retired the collector (another command of it was stopped or killed): not this
   * command's interference. A plain error, so the step retries on a fresh collector; the tamper flag is the
   * other command's, and the fresh collector reports the retirement.
   */
  private diedWithCollector(outcome: ExecOutcome): void {
    const what = this.bounds.what ?? this.argv[0] ?? 'collector command';
    const note = `${what}: ended when Holdfast retired its collector (another command of it was stopped or killed); retried on a fresh collector`;
    this.onEnd({ ...outcome, interfered: note });
    this.destroy(new Error(note));
  }

  private outcome(): ExecOutcome {
    const exitCause = this.status?.details?.causes?.find((c) => c.reason === 'ExitCode');
    const exitCode = this.status?.status === 'Success' ? 0 : exitCause ? Number(exitCause.message) : null;
    return {
      exitCode,
      message: this.status?.status === 'Success' ? undefined : this.status?.message,
      stderr: this.stderrText,
      bytes: this.bytes,
      truncated: this.truncated,
      timedOut: this.timedOut,
    };
  }

  /** Ends early (bound reached): closing the socket ends the remote command's session. */
  private stop(): void {
    if (this.ws) this.ws.close();
    this.finish();
  }

  private finish(): void {
    if (this.finished || this.destroyed) return;
    this.finished = true;
    this.cleanup();
    const outcome = this.outcome();
    const interference = this.interference(outcome);
    if (interference && this.handle.retiredByHoldfast?.()) return this.diedWithCollector(outcome);
    if (interference) return this.interferedOut(outcome, interference);
    const failure = this.onEnd(outcome);
    if (failure) return void this.destroy(failure);
    this.push(null);
  }

  private cleanup(): void {
    if (this.timer) clearTimeout(this.timer);
    this.disarmStall();
    this.bounds.signal?.removeEventListener('abort', this.onAbort);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.finished = true;
    this.cleanup();
    this.ws?.close();
    callback(err);
  }
}

/**
 * The failure for a killed collector command or incomplete output: retried once on a fresh collector, final
 * when this collector already replaced one Holdfast retired.
 */
export function interferenceFailure(handle: CollectorHandle, note: string): CollectorInterfered {
  const final = (handle.stalledBefore ?? 0) > 0;
  return new CollectorInterfered(
    `${note}; ${
      final
        ? 'this collector already replaced a retired one: not retried'
        : 'the collector is retired and the step retried once on a fresh one'
    }`,
    final,
  );
}

/** Runs a short command in the collector and returns its (bounded) stdout. */
export async function execSmall(
  exec: k8s.Exec,
  handle: CollectorHandle,
  argv: string[],
  bounds: ExecBounds,
): Promise<{ stdout: Buffer; outcome: ExecOutcome }> {
  let outcome: ExecOutcome | undefined;
  const stream = new ExecReadable(exec, handle, argv, bounds, (o) => {
    outcome = o;
  });
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return { stdout: Buffer.concat(chunks), outcome: outcome! };
}

/**
 * The exec connection closed before the command reported how it ended (and no bound of ours closed
 * it): the bytes are a fragment. An error, so the step retries instead of storing it as complete.
 */
export function cutShort(what: string, outcome: ExecOutcome): Error | undefined {
  if (outcome.exitCode !== null || outcome.truncated || outcome.timedOut || outcome.stalled) return undefined;
  return new Error(
    `${what}: the connection to the collector closed before the command ended (${outcome.bytes} bytes); retrying`,
  );
}

/** A note describing how a collector command ended, or undefined when it ended cleanly. */
export function describeOutcome(what: string, outcome: ExecOutcome, bounds: ExecBounds): string[] {
  const notes: string[] = [];
  if (outcome.stalled) return [stallNote(what, bounds.stallMs ?? 0)];
  if (outcome.interfered) return [outcome.interfered];
  if (outcome.truncated)
    notes.push(`${what}: stopped at the bound of ${bounds.maxBytes} bytes (the artifact is truncated there)`);
  if (outcome.timedOut)
    notes.push(
      `${what}: stopped at the time bound of ${Math.round(bounds.timeoutMs / 1000)} s (the artifact is truncated there)`,
    );
  if (!outcome.truncated && !outcome.timedOut && outcome.exitCode !== 0) {
    const stderr = outcome.stderr.trim().split('\n').slice(-5).join(' | ').slice(0, 800);
    notes.push(
      `${what}: exit ${outcome.exitCode ?? 'unknown'}${outcome.message ? ` (${outcome.message.slice(0, 200)})` : ''}${stderr ? `: ${stderr}` : ''}`,
    );
  }
  return notes;
}
