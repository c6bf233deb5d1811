import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type * as k8s from '@kubernetes/client-node';
import type { ContainmentCheck } from '../../../common/ports';
import type { CollectorInfo, ContainmentVerification, PodRef } from '../../../common/types';
import { parseInetTable, splitSections } from '../captures/network-parse';
import { describeOutcome, execSmall, type ExecOutcome } from '../collector/exec-stream';
import { VERIFY_OBSERVE, VERIFY_PROBE } from '../collector/scripts';
import type { Kube } from '../kube';
import { readPinnedPod } from '../pods';
import { API_COLLECTOR } from '../streams';
import type { UnitRun } from '../units';
import {
  choosePeers,
  classifyProbe,
  endpointCandidates,
  judge,
  judgeEstablished,
  LIMITS,
  parseEstablished,
  parseProbeLines,
  podAddresses,
  podCapabilities,
  reachableAfter,
  RETRY_PAUSES_MS,
  SETTLE_MS,
  WATCH_MS,
  type EstablishedFinding,
  type EstablishedSocket,
  type Peer,
  type PodCapabilities,
  type Probe,
  type ProbeAttempt,
} from './isolation-verdict';

export const VERIFICATION_ARTIFACT = 'containment-verification.json';
export const VERIFICATION_SCHEMA = 'holdfast.containment-verification/v1';
/** Adding a collector for the check (if no capture added one) may take this long; then the verdict is unverified. */
const COLLECTOR_WAIT_MS = 60_000;

/** The collector as the check uses it: run a script, get its bounded stdout. A fake in unit tests. */
export interface ProbeCollector {
  info: CollectorInfo;
  notes: string[];
  targetContainer?: string;
  /** `bounds.stdin`: the one line the script reads first (nonce, parameters): never argv, which the target can read. */
  run(
    argv: string[],
    bounds: { maxBytes: number; timeoutMs: number; stdin?: string },
  ): Promise<{ stdout: string; outcome: ExecOutcome }>;
}

export interface IsolationCheckInput {
  pod: k8s.V1Pod;
  dryRun: boolean;
  /** The playbook turned the check off (`verify: false`). */
  disabled?: boolean;
  /** When the policy was confirmed in place (epoch ms, worker clock). */
  appliedAt: number;
  probeSeconds: number;
  /** Service endpoint slices in the pod's namespace. */
  endpointSlices: () => Promise<k8s.V1EndpointSlice[]>;
  /** This incident's collector in the pod, added if there is none yet. */
  collector: () => Promise<ProbeCollector>;
  signal?: AbortSignal;
  clock?: { now(): number; sleep(ms: number, signal?: AbortSignal): Promise<unknown> };
}

const SYSTEM_CLOCK = {
  now: () => Date.now(),
  sleep: (ms: number, signal?: AbortSignal) => sleep(ms, undefined, { signal }),
};

const errorText = (err: unknown) => ((err as Error)?.message ?? String(err)).slice(0, 500);

/** A cancelled activity stops here; any other error makes the verdict unverified, never the step fail. */
function rethrowIfCancelled(signal: AbortSignal | undefined, err: unknown): void {
  if (signal?.aborted) throw err;
}

const key = (p: { address: string; port: number }) => `${p.address}|${p.port}`;

interface RoundResult {
  lines: Map<string, ReturnType<typeof parseProbeLines>[number]>;
  sample?: { established: EstablishedSocket[]; watchedMs: number };
  notes: string[];
}

/** One run of the probe script: the probes side by side, then a sample of the established connections. */
async function probeRound(
  collector: ProbeCollector,
  peers: Peer[],
  input: IsolationCheckInput,
  holdMs: number,
): Promise<RoundResult> {
  const clock = input.clock ?? SYSTEM_CLOCK;
  const nonce = crypto.randomBytes(8).toString('hex');
  const argv = ['sh', '-c', VERIFY_PROBE, 'holdfast-probe'];
  // Nonce, timing and peers over stdin: the target must not learn which peers are probed, or when.
  const stdin = [
    nonce,
    String(input.probeSeconds),
    (holdMs / 1000).toFixed(1),
    ...peers.flatMap((p) => [p.address, String(p.port)]),
  ].join(' ');
  // nc's own timeout, the KILL after it, and a few seconds for the exec and ss: a stopped script ends here.
  const bounds = { maxBytes: 4 * 1024 * 1024, timeoutMs: (input.probeSeconds + 2 + 5) * 1000 + holdMs, stdin };
  // Dated before the exec starts, so the sample's date below is never later than when it was really taken.
  const started = clock.now();
  const { stdout, outcome } = await collector.run(argv, bounds);
  const sections = splitSections(stdout, nonce);
  const notes = describeOutcome('connect probes', outcome, bounds);
  const lines = new Map(parseProbeLines(sections.get('probes') ?? '').map((l) => [key(l), l]));
  const startUp = Number(sections.get('start')?.trim());
  const sampledUp = Number(sections.get('sampled')?.trim());
  if (!sections.has('end') || !Number.isFinite(startUp) || !Number.isFinite(sampledUp) || sampledUp < startUp) {
    notes.push('the probe script ended early: established connections were not sampled');
    return { lines, notes };
  }
  const sampledAt = started + (sampledUp - startUp) * 1000;
  return {
    lines,
    sample: {
      established: parseEstablished(sections.get('established') ?? ''),
      watchedMs: Math.round(sampledAt - input.appliedAt - SETTLE_MS),
    },
    notes,
  };
}

/**
 * Proves (or not) that the pod's quarantine holds, from inside its network namespace: new connections to
 * peers the pod had reached before must fail, and established connections must no longer hear from their
 * peers. hostNetwork pods are out of NetworkPolicy's reach: not effective, without probing.
 */
export async function checkIsolation(input: IsolationCheckInput): Promise<ContainmentCheck> {
  const clock = input.clock ?? SYSTEM_CLOCK;
  const { pod } = input;
  const hostNetwork = Boolean(pod.spec?.hostNetwork);
  const addresses = podAddresses(pod);
  const notes: string[] = [];
  let collector: ProbeCollector | undefined;
  let unavailable: string | undefined;
  let probes: Probe[] = [];
  let established: EstablishedFinding | undefined;
  let capabilities: PodCapabilities | undefined;
  let skipped: string[] = [];
  const finish = (verification: ContainmentVerification): ContainmentCheck => {
    if (verification.verdict === 'effective' && established && established.quiet > 0)
      notes.push(
        `${established.quiet} connection(s) from before isolation are still open and were quiet for the ${(established.watchedMs / 1000).toFixed(1)} s watched: whether the enforcer cuts them is not proven`,
      );
    const record = {
      schema: VERIFICATION_SCHEMA,
      action: 'isolate',
      verdict: verification.verdict,
      reason: verification.reason,
      pod: {
        namespace: pod.metadata?.namespace,
        name: pod.metadata?.name,
        uid: pod.metadata?.uid,
        hostNetwork,
        podIPs: [...addresses.own],
        nodeIPs: [...addresses.node],
      },
      dryRun: input.dryRun,
      appliedAt: new Date(input.appliedAt).toISOString(),
      checkedAt: new Date(clock.now()).toISOString(),
      probeTimeoutSeconds: input.probeSeconds,
      probes,
      ...(established ? { established } : {}),
      ...(capabilities ? { podCapabilities: capabilities } : {}),
      ...(skipped.length ? { notProbed: skipped } : {}),
      ...(unavailable ? { unavailable } : {}),
      limits: LIMITS,
      notes,
    };
    return {
      ...verification,
      notes: [...notes],
      artifact: {
        name: VERIFICATION_ARTIFACT,
        method: collector
          ? 'collector exec in the pod network namespace: kernel TCP table, busybox nc connect probes, ss -tin for established connections'
          : 'kubernetes-api: the pod spec (nothing was probed)',
        collector: collector?.info ?? API_COLLECTOR,
        record,
      },
    };
  };

  if (hostNetwork || input.dryRun) return finish(judge({ hostNetwork, dryRun: input.dryRun, probes }));
  if (input.disabled)
    return finish({ verdict: 'unverified', reason: 'the check is turned off for this step (verify: false)' });
  try {
    collector = await input.collector();
    notes.push(...collector.notes);
  } catch (err) {
    rethrowIfCancelled(input.signal, err);
    unavailable = `the collector is not available: ${errorText(err)}`;
    return finish(judge({ hostNetwork, dryRun: false, unavailable, probes }));
  }

  let chosenPeers: Peer[] = [];
  const attempts = new Map<string, ProbeAttempt[]>();
  let sample: RoundResult['sample'];
  try {
    const nonce = crypto.randomBytes(8).toString('hex');
    const bounds = { maxBytes: 16 * 1024 * 1024, timeoutMs: 15_000, stdin: nonce };
    const observed = await collector.run(['sh', '-c', VERIFY_OBSERVE, 'holdfast-verify'], bounds);
    const sections = splitSections(observed.stdout, nonce);
    notes.push(...describeOutcome('socket table', observed.outcome, bounds));
    if (!sections.has('end')) notes.push('the socket table output ended early: some connections may be missing');
    const sockets = [
      ...parseInetTable('tcp', sections.get('tcp') ?? ''),
      ...parseInetTable('tcp6', sections.get('tcp6') ?? ''),
    ];
    capabilities = podCapabilities(sections.get('caps') ?? '', pod, collector.targetContainer);
    const slices = await input.endpointSlices().catch((err: unknown) => {
      rethrowIfCancelled(input.signal, err);
      notes.push(`service endpoints could not be listed: ${errorText(err)}`);
      return [];
    });
    const chosen = choosePeers(sockets, endpointCandidates(slices, pod.metadata?.uid, addresses), addresses);
    skipped = chosen.skipped;
    chosenPeers = chosen.peers;

    let peers = chosen.peers;
    for (let round = 1; round <= 1 + RETRY_PAUSES_MS.length; round++) {
      if (round > 1) {
        // Only what still connects is tried again: the enforcer may not have caught up yet.
        peers = peers.filter((p) => attempts.get(key(p))?.at(-1)?.outcome === 'connected');
        if (peers.length === 0) break;
        await clock.sleep(RETRY_PAUSES_MS[round - 2]!, input.signal);
      }
      // Established connections are sampled no sooner than the settle time plus the watch time after isolation.
      const holdMs = round === 1 ? Math.max(0, input.appliedAt + SETTLE_MS + WATCH_MS - clock.now()) : 0;
      const afterSeconds = Math.round((clock.now() - input.appliedAt) / 100) / 10;
      const result = await probeRound(collector, peers, input, holdMs);
      notes.push(...result.notes.map((n) => `round ${round}: ${n}`));
      for (const p of peers) {
        const list = attempts.get(key(p)) ?? [];
        list.push({ round, afterSeconds, ...classifyProbe(result.lines.get(key(p)), input.probeSeconds) });
        attempts.set(key(p), list);
      }
      sample = result.sample ?? sample;
    }
  } catch (err) {
    rethrowIfCancelled(input.signal, err);
    unavailable = `the check failed inside the pod: ${errorText(err)}`;
  }
  // Whatever ran before a failure still counts: a probe that connected proves the isolation not effective.
  const forgeable = (capabilities?.canForgeErrors.length ?? 1) > 0;
  probes = chosenPeers.map((p) => {
    const tried = attempts.get(key(p)) ?? [];
    const outcome = tried.at(-1)?.outcome ?? 'interrupted';
    return { ...p, outcome, reachableAfter: reachableAfter(outcome, forgeable), attempts: tried };
  });
  if (sample) established = judgeEstablished(sample.established, addresses, sample.watchedMs);
  else if (!unavailable) notes.push('established connections were not sampled');
  return finish(judge({ hostNetwork, dryRun: false, unavailable, probes, established, capabilities }));
}

/** The isolate action's check, as the capture identity: the pinned pod, its namespace's endpoints, the collector. */
export async function verifyIsolation(
  kube: Kube,
  target: PodRef,
  params: { verify: boolean; probeSeconds: number },
  run: UnitRun,
  appliedAt: number,
): Promise<ContainmentCheck> {
  const pod = await readPinnedPod(kube, target, run.pod);
  return checkIsolation({
    pod,
    dryRun: run.dryRun,
    disabled: !params.verify,
    appliedAt,
    probeSeconds: params.probeSeconds,
    signal: run.signal,
    endpointSlices: async () =>
      (await kube.discovery.listNamespacedEndpointSlice({ namespace: target.namespace, limit: 500 })).items,
    collector: async () => {
      const bounded = AbortSignal.timeout(COLLECTOR_WAIT_MS);
      const handle = await kube.launcher.ensure(
        target,
        run.incidentId,
        run.signal ? AbortSignal.any([run.signal, bounded]) : bounded,
      );
      return {
        info: handle.info,
        notes: handle.notes,
        targetContainer: handle.targetContainer,
        run: async (argv, bounds) => {
          const { stdout, outcome } = await execSmall(kube.exec, handle, argv, { ...bounds, signal: run.signal });
          return { stdout: stdout.toString('utf8'), outcome };
        },
      };
    },
  });
}
