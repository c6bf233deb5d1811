/**
 * The control sample's comparison: the suspect pod against a clean sibling from the same template and image
 * digest, as a pure function of two bounded snapshots (unit-tested with hostile inputs).
 *
 * Everything in a snapshot except the pods' addresses was read from inside a pod, so it is the attacker's
 * text: it is only ever compared and copied into the JSON artifact (where JSON escapes it), never put into the
 * summary, which is built from counts alone.
 *
 * The comparison keys are chosen so that what legitimately differs between two healthy pods of one template
 * does not read as an attacker's change:
 * - files are keyed by path; compared are type, content (SHA-256, or a symlink's target), permission bits,
 *   owner and group. Never compared: mtime, ctime, atime, inode numbers, directory sizes, archive order.
 * - paths the kubelet or the runtime writes per pod are ignored (IGNORED_PATHS / IGNORED_PREFIXES): the
 *   hostname, hosts and resolv.conf files, the termination log, service account tokens, /proc, /sys, /dev.
 * - a file written at runtime in both pods (ctime at or after each container's start: logs, caches, pid files)
 *   is expected to differ: listed apart (`writtenAtRuntimeInBoth`), never counted as the attacker's.
 * - processes are keyed by executable and command line: pids, parents and start times always differ.
 * - sockets: a listener by protocol, address and port (a wildcard address as "*", the pod's own address as
 *   "<pod-ip>"); a connection by direction and its fixed end (outbound: the peer's address and port; inbound:
 *   our listening port and the peer's address), never the ephemeral port; TIME_WAIT and other closing states
 *   are kernel leftovers and are not compared.
 */

export type FileType = 'file' | 'directory' | 'symlink' | 'other';

export interface FileEntry {
  path: string;
  type: FileType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Regular files (hard links resolved to their target's content). */
  sha256?: string;
  /** The file starts with the ELF magic. */
  elf?: boolean;
  /** A symlink's target. */
  linkname?: string;
  /** Written at or after the container started (ctime, which an unprivileged process cannot set back). */
  runtime?: boolean;
}

export interface ProcessEntry {
  pid: number;
  uid?: number;
  exe: string;
  cmdline: string;
}

export interface SocketRow {
  protocol: string;
  state?: string;
  local?: { address: string; port: number };
  remote?: { address: string; port: number };
}

export interface PodSnapshot {
  pod: string;
  /** The pod's own addresses, from the API server (not from inside the pod). */
  podIPs: string[];
  files: FileEntry[];
  processes: ProcessEntry[];
  sockets: SocketRow[];
  /** What could not be read completely (a bound hit, a parse problem): said in the diff and its summary. */
  incomplete: string[];
}

export interface DiffLimits {
  /** Entries kept per list in the diff (the counts are always complete). */
  maxListed: number;
  /** Entries of a snapshot list considered at most (a hostile pod cannot make the comparison unbounded). */
  maxInput: number;
}

export const DEFAULT_DIFF_LIMITS: DiffLimits = { maxListed: 500, maxInput: 1_000_000 };

/**
 * Written by the kubelet or the runtime, different in every pod: never an attacker's change. (They are bind
 * mounts or tmpfs, so the collector's tar normally does not even cross into them; the names are kept out of the
 * comparison in case a runtime lays them out differently.)
 */
export const IGNORED_PATHS: readonly string[] = [
  '/etc/hostname',
  '/etc/hosts',
  '/etc/resolv.conf',
  '/dev/termination-log',
];
export const IGNORED_PREFIXES: readonly string[] = [
  '/proc/',
  '/sys/',
  '/dev/',
  '/run/secrets/kubernetes.io/',
  '/var/run/secrets/kubernetes.io/',
];

/** States of a connection that is open (or being opened): closing states are leftovers, not compared. */
const OPEN_STATES = new Set(['ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'CLOSE_WAIT']);
const LISTEN_STATES = new Set(['LISTEN', 'UNCONN']);

export function ignoredPath(path: string): boolean {
  if (path === '/proc' || path === '/sys' || path === '/dev') return true;
  return IGNORED_PATHS.includes(path) || IGNORED_PREFIXES.some((p) => path.startsWith(p));
}

type Brief = Pick<FileEntry, 'type' | 'mode' | 'uid' | 'gid' | 'size' | 'sha256' | 'linkname'>;
const brief = (e: FileEntry): Brief => ({
  type: e.type,
  mode: e.mode,
  uid: e.uid,
  gid: e.gid,
  size: e.size,
  ...(e.sha256 ? { sha256: e.sha256 } : {}),
  ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
});
const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

export interface ControlDiff {
  /** Counts in Holdfast's words: what the status and pages show. */
  summary: string;
  counts: {
    filesAdded: number;
    directoriesAdded: number;
    contentChanged: number;
    binariesChanged: number;
    permissionChanged: number;
    removedFromSuspect: number;
    processesOnlyInSuspect: number;
    listenersOnlyInSuspect: number;
    outboundOnlyInSuspect: number;
    inboundOnlyInSuspect: number;
    /** Not counted in the summary: written at runtime in both pods (expected to differ). */
    writtenAtRuntimeInBoth: number;
  };
  filesAdded: Array<{ path: string } & Brief>;
  contentChanged: Array<{ path: string; binary: boolean; suspect: Brief; control: Brief }>;
  permissionChanged: Array<{ path: string; suspect: string; control: string }>;
  removedFromSuspect: Array<{ path: string } & Brief>;
  processesOnlyInSuspect: Array<{ pids: number[]; uid?: number; exe: string; cmdline: string }>;
  listenersOnlyInSuspect: Array<{ protocol: string; address: string; port: number }>;
  connectionsOnlyInSuspect: Array<{
    direction: 'outbound' | 'inbound';
    protocol: string;
    state: string;
    peer: string;
    port: number;
  }>;
  writtenAtRuntimeInBoth: Array<{ path: string; suspect: Brief; control: Brief }>;
  /** Lists cut at maxListed, inputs cut at maxInput, snapshots read incompletely. */
  bounded: string[];
  keys: string;
}

function bounded<T>(items: T[], limits: DiffLimits, what: string, notes: string[]): T[] {
  if (items.length <= limits.maxListed) return items;
  notes.push(`${what}: ${items.length} found, the first ${limits.maxListed} listed (sorted by path or key)`);
  return items.slice(0, limits.maxListed);
}

function capped<T>(items: T[], limits: DiffLimits, what: string, notes: string[]): T[] {
  if (items.length <= limits.maxInput) return items;
  notes.push(`${what}: ${items.length} entries, only the first ${limits.maxInput} compared`);
  return items.slice(0, limits.maxInput);
}

/** A binary: ELF in either pod, executable bits, or under a bin/sbin/lib directory. */
function isBinary(path: string, a: FileEntry, b: FileEntry): boolean {
  if (a.elf || b.elf) return true;
  if ((a.mode | b.mode) & 0o111) return true;
  return /(^|\/)(s?bin|lib|lib64|libexec)\//.test(path);
}

function sameContent(a: FileEntry, b: FileEntry): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'file') return a.sha256 === b.sha256;
  if (a.type === 'symlink') return a.linkname === b.linkname;
  // Directories and special files have no content of their own to compare.
  return true;
}

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

function normalizeAddress(address: string, own: Set<string>): string {
  const a = address.replace(/^::ffff:/, '');
  if (a === '0.0.0.0' || a === '::') return '*';
  if (own.has(a)) return '<pod-ip>';
  return a;
}

const family = (protocol: string) =>
  protocol.startsWith('udp') ? 'udp' : protocol.startsWith('tcp') ? 'tcp' : protocol;

interface KeyedSocket {
  key: string;
  listener?: { protocol: string; address: string; port: number };
  connection?: ControlDiff['connectionsOnlyInSuspect'][number];
}

/** The comparison keys of a pod's sockets (see the file comment): one per listener or open connection. */
export function socketKeys(s: Pick<PodSnapshot, 'sockets' | 'podIPs'>): Map<string, KeyedSocket> {
  const own = new Set(s.podIPs.map((ip) => ip.replace(/^::ffff:/, '')));
  const keys = new Map<string, KeyedSocket>();
  const listening = new Set<string>();
  for (const row of s.sockets) {
    const state = (row.state ?? '').toUpperCase();
    if (!row.local || !LISTEN_STATES.has(state)) continue;
    // An unconnected UDP socket with a peer set is a connected one: compared as a connection below.
    if (state === 'UNCONN' && row.remote && row.remote.port !== 0) continue;
    const protocol = family(row.protocol);
    const address = normalizeAddress(row.local.address, own);
    listening.add(`${protocol}|${row.local.port}`);
    const key = `listen|${protocol}|${address}|${row.local.port}`;
    keys.set(key, { key, listener: { protocol, address, port: row.local.port } });
  }
  for (const row of s.sockets) {
    let state = (row.state ?? '').toUpperCase();
    if (state === 'UNCONN' && row.remote && row.remote.port !== 0) state = 'ESTABLISHED';
    if (!row.local || !row.remote || !OPEN_STATES.has(state)) continue;
    const protocol = family(row.protocol);
    const inbound = listening.has(`${protocol}|${row.local.port}`);
    const peer = normalizeAddress(row.remote.address, own);
    const port = inbound ? row.local.port : row.remote.port;
    const direction = inbound ? 'inbound' : 'outbound';
    const key = `${direction}|${protocol}|${peer}|${port}`;
    if (!keys.has(key)) keys.set(key, { key, connection: { direction, protocol, state, peer, port } });
  }
  return keys;
}

const processKey = (p: Pick<ProcessEntry, 'exe' | 'cmdline'>) => `${p.exe}\u0000${p.cmdline}`;

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** The one line a responder sees first: counts only (no text read from a pod). */
export function summarize(counts: ControlDiff['counts'], incomplete: boolean): string {
  const parts: string[] = [];
  const c = counts;
  if (c.filesAdded) parts.push(`${plural(c.filesAdded, 'file', 'files')} added`);
  if (c.directoriesAdded) parts.push(`${plural(c.directoriesAdded, 'directory', 'directories')} added`);
  if (c.binariesChanged) parts.push(`${plural(c.binariesChanged, 'binary', 'binaries')} changed`);
  const others = c.contentChanged - c.binariesChanged;
  if (others) parts.push(`${plural(others, 'file', 'files')} changed`);
  if (c.permissionChanged)
    parts.push(`${plural(c.permissionChanged, 'permission/owner change', 'permission/owner changes')}`);
  if (c.removedFromSuspect) parts.push(`${plural(c.removedFromSuspect, 'image file', 'image files')} missing`);
  if (c.processesOnlyInSuspect)
    parts.push(`${plural(c.processesOnlyInSuspect, 'process', 'processes')} not in the control`);
  if (c.listenersOnlyInSuspect)
    parts.push(`${plural(c.listenersOnlyInSuspect, 'listening socket', 'listening sockets')} not in the control`);
  if (c.outboundOnlyInSuspect)
    parts.push(`${plural(c.outboundOnlyInSuspect, 'outbound connection', 'outbound connections')} not in the control`);
  if (c.inboundOnlyInSuspect)
    parts.push(`${plural(c.inboundOnlyInSuspect, 'inbound connection', 'inbound connections')} not in the control`);
  const text = parts.length > 0 ? parts.join(', ') : 'no difference from the control';
  return incomplete ? `${text} (comparison incomplete: see control/diff.json)` : text;
}

/** The suspect against the control: what only the suspect has, or has differently. */
export function diffSnapshots(
  suspect: PodSnapshot,
  control: PodSnapshot,
  limits: DiffLimits = DEFAULT_DIFF_LIMITS,
): ControlDiff {
  const notes: string[] = [];
  for (const [who, s] of [
    ['suspect', suspect],
    ['control', control],
  ] as const)
    for (const problem of s.incomplete.slice(0, 20)) notes.push(`${who}: ${problem}`);

  const suspectFiles = capped(suspect.files, limits, 'suspect files', notes);
  const controlFiles = new Map<string, FileEntry>();
  for (const e of capped(control.files, limits, 'control files', notes))
    if (!ignoredPath(e.path)) controlFiles.set(e.path, e);

  const filesAdded: ControlDiff['filesAdded'] = [];
  const contentChanged: ControlDiff['contentChanged'] = [];
  const permissionChanged: ControlDiff['permissionChanged'] = [];
  const runtimeBoth: ControlDiff['writtenAtRuntimeInBoth'] = [];
  const seen = new Set<string>();
  for (const s of suspectFiles) {
    if (ignoredPath(s.path) || seen.has(s.path)) continue;
    seen.add(s.path);
    const c = controlFiles.get(s.path);
    if (!c) {
      filesAdded.push({ path: s.path, ...brief(s) });
      continue;
    }
    const content = sameContent(s, c);
    const perms = (s.mode & 0o7777) === (c.mode & 0o7777) && s.uid === c.uid && s.gid === c.gid;
    if (content && perms) continue;
    // Both pods wrote it after they started (a log, a cache): differences are expected, not the attacker's.
    if (s.runtime && c.runtime) {
      runtimeBoth.push({ path: s.path, suspect: brief(s), control: brief(c) });
      continue;
    }
    if (!content)
      contentChanged.push({ path: s.path, binary: isBinary(s.path, s, c), suspect: brief(s), control: brief(c) });
    if (!perms)
      permissionChanged.push({
        path: s.path,
        suspect: `${octal(s.mode)} ${s.uid}:${s.gid}`,
        control: `${octal(c.mode)} ${c.uid}:${c.gid}`,
      });
  }
  // In the control's image but not in the suspect: deleted by the suspect. Files the control wrote at runtime
  // (its own logs) are not the suspect's business.
  const removed: ControlDiff['removedFromSuspect'] = [];
  for (const [path, c] of controlFiles) if (!seen.has(path) && !c.runtime) removed.push({ path, ...brief(c) });

  const controlProcesses = new Set(capped(control.processes, limits, 'control processes', notes).map(processKey));
  const onlyProcesses = new Map<string, ControlDiff['processesOnlyInSuspect'][number]>();
  for (const p of capped(suspect.processes, limits, 'suspect processes', notes)) {
    const key = processKey(p);
    if (controlProcesses.has(key)) continue;
    const entry = onlyProcesses.get(key) ?? {
      pids: [],
      ...(p.uid !== undefined ? { uid: p.uid } : {}),
      exe: p.exe,
      cmdline: p.cmdline,
    };
    if (entry.pids.length < 64) entry.pids.push(p.pid);
    onlyProcesses.set(key, entry);
  }

  const suspectSockets = socketKeys({
    sockets: capped(suspect.sockets, limits, 'suspect sockets', notes),
    podIPs: suspect.podIPs,
  });
  const controlSockets = socketKeys({
    sockets: capped(control.sockets, limits, 'control sockets', notes),
    podIPs: control.podIPs,
  });
  const listeners: ControlDiff['listenersOnlyInSuspect'] = [];
  const connections: ControlDiff['connectionsOnlyInSuspect'] = [];
  for (const [key, s] of suspectSockets) {
    if (controlSockets.has(key)) continue;
    if (s.listener) listeners.push(s.listener);
    if (s.connection) connections.push(s.connection);
  }

  filesAdded.sort(byPath);
  contentChanged.sort(byPath);
  permissionChanged.sort(byPath);
  removed.sort(byPath);
  runtimeBoth.sort(byPath);
  const processes = [...onlyProcesses.values()].sort((a, b) => (processKey(a) < processKey(b) ? -1 : 1));
  const counts: ControlDiff['counts'] = {
    filesAdded: filesAdded.filter((f) => f.type !== 'directory').length,
    directoriesAdded: filesAdded.filter((f) => f.type === 'directory').length,
    contentChanged: contentChanged.length,
    binariesChanged: contentChanged.filter((f) => f.binary).length,
    permissionChanged: permissionChanged.length,
    removedFromSuspect: removed.length,
    processesOnlyInSuspect: processes.length,
    listenersOnlyInSuspect: listeners.length,
    outboundOnlyInSuspect: connections.filter((c) => c.direction === 'outbound').length,
    inboundOnlyInSuspect: connections.filter((c) => c.direction === 'inbound').length,
    writtenAtRuntimeInBoth: runtimeBoth.length,
  };
  const incomplete = suspect.incomplete.length > 0 || control.incomplete.length > 0;
  return {
    summary: summarize(counts, incomplete),
    counts,
    filesAdded: bounded(filesAdded, limits, 'files added', notes),
    contentChanged: bounded(contentChanged, limits, 'files changed', notes),
    permissionChanged: bounded(permissionChanged, limits, 'permission/owner changes', notes),
    removedFromSuspect: bounded(removed, limits, 'image files missing from the suspect', notes),
    processesOnlyInSuspect: bounded(processes, limits, 'processes only in the suspect', notes),
    listenersOnlyInSuspect: bounded(listeners, limits, 'listeners only in the suspect', notes),
    connectionsOnlyInSuspect: bounded(connections, limits, 'connections only in the suspect', notes),
    writtenAtRuntimeInBoth: bounded(runtimeBoth, limits, 'files written at runtime in both', notes),
    bounded: notes,
    keys:
      'files by path (type, SHA-256 or symlink target, permission bits, owner, group; never times or inodes; kubelet-written ' +
      'and virtual paths ignored; files written at runtime in both pods listed apart); processes by executable and command ' +
      'line (never pids); listeners by protocol, address and port; connections by direction and fixed end (never the ' +
      'ephemeral port), open states only',
  };
}
