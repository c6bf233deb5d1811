import fs from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  ActionOutcome,
  CaptureOptions,
  CaptureStream,
  ChangeTarget,
  Cluster,
  ContainmentCheck,
  MutationOptions,
  VerifyOptions,
} from '../../common/ports';
import { NotFound, PodReplaced } from '../../common/failures';
import type { ContainmentVerification, PodPin, PodRef, TamperFinding } from '../../common/types';

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
  /**
   * What checking an action finds (op `verify.<name>`), by `<name> <namespace>/<pod>` for one pod, else by action
   * name; default: effective.
   */
  verifications?: Record<string, ContainmentVerification>;
  /** What a capture's stream reports as interference, by op name ('capture.<name>'). */
  tamper?: Record<string, TamperFinding[]>;
}

type PinOptions = { pod?: PodPin };

const podName = (pod: PodRef) => `${pod.namespace}/${pod.pod}`;
/** A change is recorded against the pod (`namespace/pod`) or the node it acts on. */
const changed = (target: ChangeTarget) => (target.kind === 'node' ? target.node : podName(target.pod));

/**
 * An in-memory Cluster that records every call, whatever the unit's name. Changes count as side
 * effects; captures return small deterministic streams so hashes can be checked.
 */
export class FakeCluster implements Cluster {
  readonly calls: Call[] = [];
  /** How many times each pod (`namespace/pod`) was recreated: its UID is `uid-<namespace>/<pod>-<n>`. */
  private readonly generations = new Map<string, number>();
  private readonly deleted = new Set<string>();
  constructor(private readonly options: FakeClusterOptions = {}) {}

  /** Deletes and recreates the pod under the same name (a StatefulSet would): it gets a new UID. */
  recreatePod(pod: PodRef): void {
    this.generations.set(podName(pod), (this.generations.get(podName(pod)) ?? 0) + 1);
  }

  /** Deletes the pod for good: reads of it answer NotFound. */
  deletePod(pod: PodRef): void {
    this.deleted.add(podName(pod));
  }

  /** The UID the pod of that name has now. */
  uidOf(pod: PodRef): string {
    return `uid-${podName(pod)}-${this.generations.get(podName(pod)) ?? 0}`;
  }

  private live(pod: PodRef, pin?: PodPin): PodPin {
    if (this.deleted.has(podName(pod))) throw new NotFound(`pod ${podName(pod)} not found`);
    const now = { uid: this.uidOf(pod), node: this.options.node ?? 'node-1' };
    if (pin && pin.uid !== now.uid)
      throw new PodReplaced(`pod ${podName(pod)} is now uid ${now.uid}, not ${pin.uid}: nothing was done`);
    return now;
  }

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
    this.check(target, opts);
    await this.act('inspect', podName(target), { signal: opts.signal });
    return [this.stream('pod.json', JSON.stringify({ pod: target.pod, namespace: target.namespace }))];
  }

  async capture(name: string, target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
    this.check(target, opts);
    await this.act(`capture.${name}`, podName(target), { params: opts.params, signal: opts.signal });
    const stream = this.stream(`${name}.bin`, `${name} of ${podName(target)}\n`);
    const tamper = this.options.tamper?.[`capture.${name}`];
    return [tamper ? { ...stream, tamper: [...tamper] } : stream];
  }

  async change(name: string, target: ChangeTarget, opts: MutationOptions): Promise<ActionOutcome> {
    const pod = target.kind === 'pod' ? this.live(target.pod, opts.pod) : undefined;
    const outcome = await this.mutation(name, changed(target), opts);
    return pod ? { ...outcome, pod } : outcome;
  }

  revert(name: string, target: ChangeTarget, opts: MutationOptions): Promise<ActionOutcome> {
    return this.mutation(`un${name}`, changed(target), opts);
  }

  async verify(name: string, target: ChangeTarget, opts: VerifyOptions): Promise<ContainmentCheck> {
    await this.act(`verify.${name}`, changed(target), opts);
    const verification = this.options.verifications?.[`${name} ${changed(target)}`] ??
      this.options.verifications?.[name] ?? {
        verdict: 'effective' as const,
        reason: `fake: new connections from ${changed(target)} fail`,
      };
    return {
      ...verification,
      notes: [],
      artifact: {
        name: 'containment-verification.json',
        method: 'fake',
        collector: { name: 'fake-collector', version: '1' },
        record: { action: name, ...verification, appliedAt: new Date(opts.appliedAt).toISOString() },
      },
    };
  }

  async pinPod(target: PodRef, pin?: PodPin): Promise<PodPin> {
    return this.live(target, pin);
  }

  /** A pinned read or capture refuses a recreated pod, as the real adapter does. */
  private check(target: PodRef, opts: PinOptions): void {
    if (opts.pod) this.live(target, opts.pod);
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
