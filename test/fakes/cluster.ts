import fs from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ActionOutcome, CaptureOptions, CaptureStream, Cluster, MutationOptions } from '../../common/ports';
import type { PodRef } from '../../common/types';

type Call = { op: string; target: string; dryRun?: boolean; at: number };

export interface FakeClusterOptions {
  /** Make these operations throw this error (by op name, e.g. 'capture.memory', 'isolate'). */
  failures?: Record<string, Error>;
  /** Delay these operations (ms), to hold an incident mid-step. */
  delays?: Record<string, number>;
  /** Append every completed call as a JSON line here, so counts survive a killed worker process. */
  journalFile?: string;
  node?: string;
}

/**
 * An in-memory Cluster that records every call. Mutations count as side effects; captures return small
 * deterministic streams so hashes can be checked.
 */
export class FakeCluster implements Cluster {
  readonly calls: Call[] = [];
  constructor(private readonly options: FakeClusterOptions = {}) {}

  count(op: string): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  private async act(op: string, target: string, dryRun?: boolean, signal?: AbortSignal): Promise<void> {
    const delay = this.options.delays?.[op];
    if (delay) await sleep(delay, undefined, { signal });
    const failure = this.options.failures?.[op];
    if (failure) throw failure;
    const call = { op, target, dryRun, at: Date.now() };
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

  private mutation(op: string, target: string, opts: MutationOptions): Promise<ActionOutcome> {
    return this.act(op, target, opts.dryRun, opts.signal).then(() => ({ changed: !opts.dryRun, dryRun: opts.dryRun, notes: [`${op} ${target}`] }));
  }

  async inspect(target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
    await this.act('inspect', `${target.namespace}/${target.pod}`, undefined, opts.signal);
    return [this.stream('pod.json', JSON.stringify({ pod: target.pod, namespace: target.namespace }))];
  }

  preserve(target: PodRef, opts: MutationOptions) {
    return this.mutation('preserve', `${target.namespace}/${target.pod}`, opts);
  }

  async capture(kind: 'filesystem' | 'memory' | 'logs' | 'network', target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
    await this.act(`capture.${kind}`, `${target.namespace}/${target.pod}`, undefined, opts.signal);
    return [this.stream(`${kind}.bin`, `${kind} of ${target.namespace}/${target.pod}\n`)];
  }

  isolate(target: PodRef, opts: MutationOptions) {
    return this.mutation('isolate', `${target.namespace}/${target.pod}`, opts);
  }

  unisolate(target: PodRef, opts: MutationOptions) {
    return this.mutation('unisolate', `${target.namespace}/${target.pod}`, opts);
  }

  cordon(node: string, opts: MutationOptions) {
    return this.mutation('cordon', node, opts);
  }

  uncordon(node: string, opts: MutationOptions) {
    return this.mutation('uncordon', node, opts);
  }

  deletePod(target: PodRef, opts: MutationOptions) {
    return this.mutation('deletePod', `${target.namespace}/${target.pod}`, opts);
  }

  scaleToZero(target: PodRef, opts: MutationOptions) {
    return this.mutation('scaleToZero', `${target.namespace}/${target.pod}`, opts);
  }

  restoreScale(target: PodRef, opts: MutationOptions) {
    return this.mutation('restoreScale', `${target.namespace}/${target.pod}`, opts);
  }

  async nodeOf(): Promise<string | undefined> {
    return this.options.node ?? 'node-1';
  }
}

/** Reads a journal written by FakeCluster (possibly by several worker processes). */
export function readJournal(file: string): Call[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Call);
}
