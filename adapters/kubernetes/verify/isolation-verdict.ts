/**
 * The pure part of checking that isolation holds: which peers to probe, what the collector's output says
 * and the verdict. Everything parsed here was produced inside the suspect pod's network namespace: parsers
 * are line-based and bounded, and no value reaches a command without being validated (IP literals, ports).
 */
import net from 'node:net';
import type * as k8s from '@kubernetes/client-node';
import type { ContainmentVerification } from '../../../common/types';
import type { SocketEntry } from '../captures/network-parse';

/** Policy enforcers program a new policy within this (kube-network-policies: milliseconds; others about a second). */
export const SETTLE_MS = 2000;
/** Established connections are watched at least this long after settling before they count as quiet. */
export const WATCH_MS = 3000;
/** Peers taken from the pod's own connections, and from service endpoints in its namespace. */
export const MAX_SOCKET_PEERS = 4;
export const MAX_ENDPOINT_PEERS = 2;
/** A probe that still connects is tried again after these pauses (the enforcer may still be catching up). */
export const RETRY_PAUSES_MS = [2000, 3000, 5000];

export type PeerSource = 'socket' | 'endpoint';

export interface Peer {
  address: string;
  port: number;
  source: PeerSource;
  /** How Holdfast found it, in its own words. */
  seenAs: string;
  /** true: the pod had a connection to it (the kernel's socket table); null: not known. */
  reachableBefore: true | null;
  /** The address of a service endpoint in the pod's namespace (a peer the attacker is less likely to run). */
  inCluster: boolean;
}

export type ProbeOutcome = 'connected' | 'timeout' | 'refused' | 'unreachable' | 'error' | 'interrupted';

export interface ProbeAttempt {
  round: number;
  /** When the round started, in seconds after the policy was confirmed in place. */
  afterSeconds?: number;
  outcome: ProbeOutcome;
  seconds?: number;
  message: string;
}

export interface Probe extends Peer {
  /** true: a new connection succeeded; false: it was refused by the network; null: the probe proved nothing. */
  reachableAfter: boolean | null;
  outcome: ProbeOutcome;
  attempts: ProbeAttempt[];
}

/** Who in the pod could tamper with the probes: processes the collector sees, other containers by their spec. */
export interface PodCapabilities {
  /** Holding CAP_NET_ADMIN, CAP_SYS_ADMIN or CAP_SYS_PTRACE: could drop or alter the probes ("pid 7", "container x"). */
  canDropProbes: string[];
  /** Holding CAP_NET_RAW: could forge a reset or ICMP error for a probe. */
  canForgeErrors: string[];
  /** Processes whose capabilities the collector read. */
  processes: number;
}

export interface EstablishedSocket {
  local: string;
  remote: string;
  remoteAddress: string;
  /** ms since the last data from the peer, and since the last ACK from it (the kernel's tcp_info). */
  lastReceiveMs: number;
  lastAckMs: number;
}

export interface EstablishedFinding {
  /** How long after the enforcer's settling time established connections were watched (ms; ≤ 0: not at all). */
  watchedMs: number;
  total: number;
  /** Connections to the node itself or inside the pod, which NetworkPolicy never covers: not judged. */
  notJudged: number;
  /** Heard from their peer after isolation settled: the enforcer did not cut them. */
  carriedTraffic: Array<{ local: string; remote: string; lastPacketMs: number }>;
  /** Quiet since isolation: cut or merely idle, which nothing here can tell. */
  quiet: number;
}

const CAP_NET_ADMIN = 12n;
const CAP_NET_RAW = 13n;
const CAP_SYS_PTRACE = 19n;
const CAP_SYS_ADMIN = 21n;

/** Handshake completed at some point: the peer accepted a connection from this pod. */
const CONNECTED_STATES = new Set([
  'ESTABLISHED',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE_WAIT',
  'LAST_ACK',
  'CLOSING',
]);

/** `::ffff:a.b.c.d` is an IPv4 peer; anything that is not an IP literal is refused. */
export function normalizeAddress(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const bare = address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  return net.isIP(bare) ? bare.toLowerCase() : undefined;
}

/** Loopback, unspecified, link-local IPv6 and multicast: never a peer across the pod's network boundary. */
function isLocalOnly(address: string): boolean {
  if (net.isIPv4(address)) {
    const [a] = address.split('.').map(Number);
    return a === 127 || a === 0 || (a !== undefined && a >= 224);
  }
  const lower = address.toLowerCase();
  return lower === '::1' || lower === '::' || /^fe[89ab]/.test(lower) || lower.startsWith('ff');
}

export interface PodAddresses {
  /** The pod's own IPs: connections to them stay inside the pod. */
  own: Set<string>;
  /** The node's IPs: traffic to and from the pod's node is always allowed, whatever the NetworkPolicy. */
  node: Set<string>;
}

export function podAddresses(pod: k8s.V1Pod): PodAddresses {
  const list = (values: Array<string | undefined>) =>
    new Set(values.map((v) => normalizeAddress(v)).filter((v): v is string => Boolean(v)));
  return {
    own: list([pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((p) => p.ip)]),
    node: list([pod.status?.hostIP, ...(pod.status?.hostIPs ?? []).map((p) => p.ip)]),
  };
}

/** Why an address cannot prove anything about the policy, or undefined when it can be probed. */
function unjudgeable(address: string, addresses: PodAddresses): string | undefined {
  if (isLocalOnly(address)) return 'local to the pod';
  if (addresses.own.has(address)) return "the pod's own address";
  if (addresses.node.has(address)) return "the pod's node (always allowed)";
  return undefined;
}

interface EndpointCandidate {
  address: string;
  port: number;
  seenAs: string;
}

/** Ready endpoints of services in the pod's namespace, other than the pod itself, with their TCP ports. */
export function endpointCandidates(
  slices: k8s.V1EndpointSlice[],
  podUid: string | undefined,
  addresses: PodAddresses,
): EndpointCandidate[] {
  const out: EndpointCandidate[] = [];
  const sorted = [...slices].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const slice of sorted) {
    const service = (slice.metadata?.labels?.['kubernetes.io/service-name'] ?? '?').slice(0, 63);
    const ports = (slice.ports ?? []).filter(
      (p) => (p.protocol ?? 'TCP') === 'TCP' && Number.isInteger(p.port) && p.port! > 0 && p.port! < 65536,
    );
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false) continue;
      if (podUid && endpoint.targetRef?.uid === podUid) continue;
      const target = endpoint.targetRef?.kind === 'Pod' ? ` (pod ${String(endpoint.targetRef.name).slice(0, 63)})` : '';
      for (const raw of endpoint.addresses ?? []) {
        const address = normalizeAddress(raw);
        if (!address || unjudgeable(address, addresses)) continue;
        for (const port of ports)
          out.push({ address, port: port.port!, seenAs: `endpoint of service ${service}${target}` });
        if (out.length >= 1000) return out;
      }
    }
  }
  return out;
}

/**
 * The peers to probe: first the pod's own outbound connections (the kernel's socket table: the peer accepted
 * this pod, so it was reachable before), established ones and in-cluster ones first; then service endpoints in
 * its namespace (reachability before unknown, but not chosen by the attacker). A socket whose local port is a
 * listening port is an inbound connection: the remote port is ephemeral, so it is not a peer to connect to.
 */
export function choosePeers(
  sockets: SocketEntry[],
  endpoints: EndpointCandidate[],
  addresses: PodAddresses,
  limits = { sockets: MAX_SOCKET_PEERS, endpoints: MAX_ENDPOINT_PEERS },
): { peers: Peer[]; skipped: string[] } {
  const listening = new Set(sockets.filter((s) => s.state === 'LISTEN' && s.local).map((s) => s.local!.port));
  const inCluster = new Set(endpoints.map((e) => e.address));
  const skipped = new Map<string, number>();
  const candidates: Peer[] = [];
  for (const s of sockets) {
    if (!s.protocol.startsWith('tcp') || !s.state || !CONNECTED_STATES.has(s.state)) continue;
    if (!s.local || !s.remote || s.remote.port === 0 || listening.has(s.local.port)) continue;
    const address = normalizeAddress(s.remote.address);
    if (!address) continue;
    const why = unjudgeable(address, addresses);
    if (why) {
      skipped.set(why, (skipped.get(why) ?? 0) + 1);
      continue;
    }
    candidates.push({
      address,
      port: s.remote.port,
      source: 'socket',
      seenAs: `${s.state} connection from local port ${s.local.port}`,
      reachableBefore: true,
      inCluster: inCluster.has(address),
    });
  }
  const rank = (p: Peer) => (p.seenAs.startsWith('ESTABLISHED') ? 0 : 2) + (p.inCluster ? 0 : 1);
  const peers: Peer[] = [];
  const key = (p: { address: string; port: number }) => `${p.address}|${p.port}`;
  const taken = new Set<string>();
  for (const p of candidates.map((p, i) => ({ p, i })).sort((a, b) => rank(a.p) - rank(b.p) || a.i - b.i)) {
    if (peers.length >= limits.sockets) break;
    if (taken.has(key(p.p))) continue;
    taken.add(key(p.p));
    peers.push(p.p);
  }
  const usedAddresses = new Set(peers.map((p) => p.address));
  let added = 0;
  for (const e of endpoints) {
    if (added >= limits.endpoints) break;
    // One port per endpoint address: a second port of the same pod proves little more.
    if (taken.has(key(e)) || usedAddresses.has(e.address)) continue;
    taken.add(key(e));
    usedAddresses.add(e.address);
    peers.push({ ...e, source: 'endpoint', reachableBefore: null, inCluster: true });
    added++;
  }
  return {
    peers,
    skipped: [...skipped].map(([why, n]) => `${n} connection(s) not probed: ${why}`),
  };
}

const DROPPING = ['NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE'];

/**
 * "pid hex" lines (the effective capabilities of the processes the collector sees: the target container's) and,
 * for the pod's other containers, which the collector cannot see unless the pod shares one PID namespace, what
 * their spec grants (the API's word, not the pod's): containers run with CAP_NET_RAW unless their spec drops it.
 */
export function podCapabilities(text: string, pod: k8s.V1Pod, targetContainer: string | undefined): PodCapabilities {
  const caps: PodCapabilities = { canDropProbes: [], canForgeErrors: [], processes: 0 };
  for (const line of text.split('\n')) {
    const match = line.match(/^(\d{1,10}) ([0-9a-f]{1,16})$/);
    if (!match) continue;
    caps.processes++;
    const bits = BigInt(`0x${match[2]}`);
    const has = (cap: bigint) => ((bits >> cap) & 1n) === 1n;
    if (has(CAP_NET_ADMIN) || has(CAP_SYS_ADMIN) || has(CAP_SYS_PTRACE)) caps.canDropProbes.push(`pid ${match[1]}`);
    if (has(CAP_NET_RAW)) caps.canForgeErrors.push(`pid ${match[1]}`);
  }
  // Bounded: a pod of many root processes would otherwise fill the record with pids.
  for (const list of [caps.canDropProbes, caps.canForgeErrors])
    list.splice(20, list.length, ...(list.length > 20 ? [`and ${list.length - 20} more`] : []));
  if (pod.spec?.shareProcessNamespace) return caps;
  for (const container of pod.spec?.containers ?? []) {
    if (container.name === targetContainer) continue;
    const sc = container.securityContext;
    const add = (sc?.capabilities?.add ?? []).map((c) => c.toUpperCase().replace(/^CAP_/, ''));
    const drop = (sc?.capabilities?.drop ?? []).map((c) => c.toUpperCase().replace(/^CAP_/, ''));
    const name = `container ${container.name.slice(0, 63)}`;
    if (sc?.privileged || add.includes('ALL') || add.some((c) => DROPPING.includes(c)))
      caps.canDropProbes.push(`${name} (${sc?.privileged ? 'privileged' : `adds ${add.join(', ')}`})`);
    if (
      sc?.privileged ||
      add.includes('ALL') ||
      add.includes('NET_RAW') ||
      !(drop.includes('ALL') || drop.includes('NET_RAW'))
    )
      caps.canForgeErrors.push(name);
  }
  return caps;
}

export interface ProbeLine {
  address: string;
  port: number;
  exitCode: number;
  seconds?: number;
  message: string;
}

/** The probe script's lines; anything malformed is dropped (and its probe then counts as interrupted). */
export function parseProbeLines(text: string): ProbeLine[] {
  const out: ProbeLine[] = [];
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f.length < 6 || !/^\d{1,5}$/.test(f[1]!) || !/^\d{1,3}$/.test(f[2]!)) continue;
    const address = normalizeAddress(f[0]);
    if (!address) continue;
    const start = Number(f[3]);
    const end = Number(f[4]);
    out.push({
      address,
      port: Number(f[1]),
      exitCode: Number(f[2]),
      seconds: Number.isFinite(start) && Number.isFinite(end) && end >= start ? +(end - start).toFixed(2) : undefined,
      message: f.slice(5).join(' ').trim().slice(0, 200),
    });
    if (out.length >= 100) break;
  }
  return out;
}

/**
 * What one probe showed. nc's -w is an alarm: a process in the pod (root, sharing the PID namespace) can send
 * SIGALRM and make nc say "timed out" at once, so a timeout counts only if it took the whole timeout.
 */
export function classifyProbe(line: ProbeLine | undefined, timeoutSeconds: number): Omit<ProbeAttempt, 'round'> {
  if (!line)
    return {
      outcome: 'interrupted',
      message: 'no result: the probe ended without reporting (killed, or the exec was cut short)',
    };
  const { exitCode, seconds, message } = line;
  if (exitCode === 0) return { outcome: 'connected', seconds, message: 'connected' };
  if (exitCode >= 128)
    return {
      outcome: 'interrupted',
      seconds,
      message: `ended by signal ${exitCode - 128}${message ? `: ${message}` : ''}`,
    };
  if (/timed out/i.test(message)) {
    if (seconds !== undefined && seconds >= timeoutSeconds - 0.25) return { outcome: 'timeout', seconds, message };
    return {
      outcome: 'interrupted',
      seconds,
      message: `"${message}" after ${seconds ?? '?'} s, before its ${timeoutSeconds} s timeout: signalled by another process`,
    };
  }
  if (/refused/i.test(message)) return { outcome: 'refused', seconds, message };
  if (/unreachable|no route/i.test(message)) return { outcome: 'unreachable', seconds, message };
  return { outcome: 'error', seconds, message: message || `exit ${exitCode}` };
}

/**
 * Whether the probe shows the peer reachable now. A full timeout is the network's doing; a reset or ICMP error
 * could be forged inside the pod by a process with CAP_NET_RAW, so then it proves nothing.
 */
export function reachableAfter(outcome: ProbeOutcome, forgeable: boolean): boolean | null {
  if (outcome === 'connected') return true;
  if (outcome === 'timeout') return false;
  if (outcome === 'refused' || outcome === 'unreachable') return forgeable ? null : false;
  return null;
}

/** "addr:port" or "[v6]:port" (with an optional %scope) as ss prints them. */
function splitHostPort(text: string): { address?: string; port?: number } {
  const match = text.match(/^\[([^\]]+)\]:(\d+)$/) ?? text.match(/^([^:]+):(\d+)$/);
  if (!match) return {};
  return { address: normalizeAddress(match[1]!.replace(/%.*$/, '')), port: Number(match[2]) };
}

/**
 * `ss -tinH state established`: a line per socket ("recv-q send-q local peer"), then an indented tcp_info
 * line. ss omits lastrcv/lastack when they are 0, so in a complete info line a missing one means "just now".
 */
export function parseEstablished(text: string): EstablishedSocket[] {
  const out: EstablishedSocket[] = [];
  let current: Omit<EstablishedSocket, 'lastReceiveMs' | 'lastAckMs'> | undefined;
  for (const line of text.split('\n').slice(0, 8000)) {
    const head = line.match(/^(\d+)\s+(\d+)\s+(\S+)\s+(\S+)/);
    if (head) {
      const local = splitHostPort(head[3]!);
      const remote = splitHostPort(head[4]!);
      current =
        local.address && remote.address
          ? { local: head[3]!.slice(0, 80), remote: head[4]!.slice(0, 80), remoteAddress: remote.address }
          : undefined;
      continue;
    }
    if (!current || !/^\s/.test(line) || !/\brto:\d/.test(line)) continue;
    const ms = (name: string) => {
      const m = line.match(new RegExp(`\\b${name}:(\\d{1,12})\\b`));
      return m ? Number(m[1]) : 0;
    };
    out.push({ ...current, lastReceiveMs: ms('lastrcv'), lastAckMs: ms('lastack') });
    current = undefined;
    if (out.length >= 2000) break;
  }
  return out;
}

/**
 * Established connections that heard from their peer after isolation settled: the enforcer lets them go on.
 * `watchedMs` is how long after settling the sample was taken, measured conservatively (the sample is dated
 * no later than it really was taken, so a packet counted here did arrive after isolation settled).
 */
export function judgeEstablished(
  sockets: EstablishedSocket[],
  addresses: PodAddresses,
  watchedMs: number,
): EstablishedFinding {
  const finding: EstablishedFinding = { watchedMs, total: sockets.length, notJudged: 0, carriedTraffic: [], quiet: 0 };
  for (const s of sockets) {
    if (unjudgeable(s.remoteAddress, addresses)) {
      finding.notJudged++;
      continue;
    }
    const lastPacketMs = Math.min(s.lastReceiveMs, s.lastAckMs);
    if (watchedMs > 0 && lastPacketMs < watchedMs) {
      if (finding.carriedTraffic.length < 50)
        finding.carriedTraffic.push({ local: s.local, remote: s.remote, lastPacketMs });
    } else {
      finding.quiet++;
    }
  }
  return finding;
}

const peerText = (p: Peer) => `${p.address.includes(':') ? `[${p.address}]` : p.address}:${p.port} (${p.seenAs})`;

function listText<T>(items: T[], text: (item: T) => string, max = 3): string {
  const shown = items.slice(0, max).map(text).join(', ');
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

function lastTry(p: Probe): string {
  const last = p.attempts.at(-1);
  const when = last?.afterSeconds !== undefined ? ` ${last.afterSeconds} s after isolation` : '';
  return `${p.attempts.length} attempt(s), the last${when}`;
}

export interface JudgeInput {
  hostNetwork: boolean;
  dryRun: boolean;
  /** Why the check could not run from inside the pod (collector not available, exec refused, ...). */
  unavailable?: string;
  probes: Probe[];
  established?: EstablishedFinding;
  capabilities?: PodCapabilities;
}

/**
 * The verdict, strictest first: a pod out of the policy's reach, then anything that still connects (even from a
 * check cut short), then anything that makes the proof void.
 */
export function judge(input: JudgeInput): ContainmentVerification {
  if (input.hostNetwork)
    return {
      verdict: 'not effective',
      reason:
        "the pod uses its node's network namespace (hostNetwork): NetworkPolicy does not apply to it, so the quarantine " +
        'policy cannot isolate it and it can still reach whatever the node can; contain it another way (cordon the node, ' +
        'delete the pod once approved)',
    };
  if (input.dryRun)
    return { verdict: 'unverified', reason: 'dry run: no policy was applied, so there is nothing to verify' };
  const connected = input.probes.filter((p) => p.reachableAfter === true);
  if (connected.length > 0)
    return {
      verdict: 'not effective',
      reason: `new connections from the pod still succeed after isolation: to ${listText(connected, peerText)} (${lastTry(connected[0]!)})`,
    };
  const talking = input.established?.carriedTraffic ?? [];
  if (talking.length > 0)
    return {
      verdict: 'not effective',
      reason:
        `${talking.length} connection(s) established before isolation still carried traffic after it (${listText(talking, (t) => `to ${t.remote}`)}): ` +
        'the policy enforcer does not cut established connections, so the pod keeps talking over them',
    };
  if (input.unavailable)
    return { verdict: 'unverified', reason: `could not check from inside the pod: ${input.unavailable}` };
  const interrupted = input.probes.filter((p) => p.outcome === 'interrupted');
  if (interrupted.length > 0)
    return {
      verdict: 'unverified',
      reason: `probe(s) were interrupted, possibly by a process in the pod (it shares the collector's PID namespace): ${listText(interrupted, (p) => `${peerText(p)}: ${p.attempts.at(-1)?.message ?? ''}`)}`,
    };
  const proving = input.probes.filter((p) => p.reachableBefore === true && p.reachableAfter === false);
  if (proving.length === 0) {
    if (input.probes.length === 0)
      return {
        verdict: 'unverified',
        reason:
          'no peer to test: the pod had no outbound connection to probe and its namespace no other service endpoint',
      };
    const blocked = input.probes.filter((p) => p.reachableAfter === false).length;
    return {
      verdict: 'unverified',
      reason:
        `no probed peer was known to be reachable before isolation (${blocked} of ${input.probes.length} probe(s) failed, ` +
        'as they would under isolation, but also if the peer never accepted this pod)',
    };
  }
  const droppers = input.capabilities?.canDropProbes ?? [];
  if (droppers.length > 0)
    return {
      verdict: 'unverified',
      reason:
        `new connections fail, but ${listText(droppers, (d) => d, 5)} in the pod hold(s) CAP_NET_ADMIN, CAP_SYS_ADMIN or ` +
        "CAP_SYS_PTRACE: they could drop or tamper with the probes inside the pod's own network namespace",
    };
  const outside = proving.every((p) => !p.inCluster);
  return {
    verdict: 'effective',
    reason:
      `new connections to ${proving.length} peer(s) the pod had reached before isolation now fail: ${listText(proving, (p) => `${peerText(p)} ${p.outcome}`)}` +
      (outside
        ? "; none of them is a service endpoint in the pod's namespace (an attacker running one could ignore the probe)"
        : ''),
  };
}

/** What the verdict rests on and what a process in the pod can and cannot fake: kept in the artifact. */
export const LIMITS: readonly string[] = [
  "Probes run from Holdfast's collector (its own busybox nc) in the pod's network namespace. Peers come from the kernel's TCP table and the Kubernetes API (service endpoints), never from alert text or files in the pod.",
  'The policy is enforced outside the pod: no process inside it can make a blocked connection succeed through the enforcer. It could only fake a peer inside the pod (CAP_NET_ADMIN, CAP_NET_RAW), which makes the verdict louder, never quieter.',
  "Root in the pod shares the collector's PID namespace and can signal its probes: a probe that ended by a signal, reported nothing, or timed out sooner than its timeout counts as interrupted, and the verdict is then at best unverified.",
  "A process holding CAP_NET_ADMIN, CAP_SYS_ADMIN or CAP_SYS_PTRACE could drop or alter the probes inside the pod's namespace: then failing probes prove nothing and the verdict is at best unverified.",
  'A process holding CAP_NET_RAW (part of the default container set) could forge a reset or ICMP error for a probe: then refused and unreachable prove nothing; only a full timeout does.',
  "The attacker chooses which connections exist and may run the peer at the other end, which can ignore a probe: that is why service endpoints in the pod's namespace are probed too.",
  "Established connections: the kernel's tcp_info says when each last heard from its peer; one that heard from it after isolation settled is not cut. A quiet connection proves nothing either way.",
  "Traffic to and from the pod's own node is always allowed by NetworkPolicy: connections to the node are neither probed nor judged.",
];
