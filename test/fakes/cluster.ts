import fs from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  ActionOutcome,
  CaptureOptions,
  CaptureStream,
  ChangeTarget,
  Cluster,
  MutationOptions,
} from '../../common/ports';
import type { PodRef } from '../../common/types';

type Call = { op: string; target: string; dryRun?: boolean; params?: Record<string, unknown>; at: number };

export interface FakeClusterOptions {
  /**
   * Make these operations throw this error, by op name: 'inspect', 'capture.<name>' (e.g. 'capture.memory'),
   * an action's name (e.g. 'isolate', 'cordon') or 'un<name>' for its undo (e.g. 'unisolate').
   */
  failures?: Record<string, Error>;
  /** Delay these operations (ms, by op name as above), to hold an incident mid-step. */
  delays?: Record<string, number>;
  /** Append every completed call as a JSON line here, so counts survive a killed worker process. */
  journalFile?: string;
  node?: string;
}

const podName = (pod: PodRef) => `${pod.namespace}/${pod.pod}`;
/** A change is recorded against the pod (`namespace/pod`) or the node it acts on. */
const changed = (target: ChangeTarget) => (target.kind === 'node' ? target.node : podName(target.pod));

/**
 * An in-memory Cluster that records every call, whatever the unit's name. Changes count as side
 * effects; captures return small deterministic streams so hashes can be checked.
 */
export class FakeCluster implements Cluster {
  readonly calls: Call[] = [];
  constructor(private readonly options: FakeClusterOptions = {}) {}

  count(op: string): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  private async act(
    op: string,
    target: string,
    opts: { dryRun?: boolean; params?: Record<string, unknown>; signal?: AbortSignal },
  ): Promise<void> {
    const delay = this.options.delays?.[op];
    if (delay) await sleep(delay, undefined, { signal: opts.signal });
    const failure = this.options.failures?.[op];
    if (failure) throw failure;
    const call = { op, target, dryRun: opts.dryRun, params: opts.params, at: Date.now() };
    this.calls.push(call);
    if (this.options.journalFile) fs.appendFileSync(this.options.journalFile, `${JSON.stringify(call)}\n`);
  }

  private stream(name: string, text: string): CaptureStream {
    return {
      name,
      body: Readable.from([Buffer.from(text)]),
      contentType: 'application/octet-stream',
      method: 'fake',
      collector: { name: 'fake-collector', version: '1' },
      notes: [],
    };
  }

  private async mutation(op: string, target: string, opts: MutationOptions): Promise<ActionOutcome> {
    await this.act(op, target, opts);
    return { changed: !opts.dryRun, dryRun: opts.dryRun, notes: [`${op} ${target}`] };
  }

  async inspect(target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
    await this.act('inspect', podName(target), { signal: opts.signal });
    return [this.stream('pod.json', JSON.stringify({ pod: target.pod, namespace: target.namespace }))];
  }

  async capture(name: string, target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
    await this.act(`capture.${name}`, podName(target), { params: opts.params, signal: opts.signal });
    return [this.stream(`${name}.bin`, `${name} of ${podName(target)}\n`)];
  }

  change(name: string, target: ChangeTarget, opts: MutationOptions): Promise<ActionOutcome> {
    return this.mutation(name, changed(target), opts);
  }

  revert(name: string, target: ChangeTarget, opts: MutationOptions): Promise<ActionOutcome> {
    return this.mutation(`un${name}`, changed(target), opts);
  }

  async nodeOf(): Promise<string | undefined> {
    return this.options.node ?? 'node-1';
  }
}

/** Reads a journal written by FakeCluster (possibly by several worker processes). */
export function readJournal(file: string): Call[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Call);
}
