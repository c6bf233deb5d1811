/**
 * Parsers for what the collector reads from the pod's network namespace. Input is the suspect's
 * (resolv.conf, unix socket paths, process names): every parser is line-based, bounded and never
 * evaluates anything.
 */
import { quoteTargetText, type TamperFinding } from '../../../common/types';

const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0A': 'LISTEN',
  '0B': 'CLOSING',
  '0C': 'NEW_SYN_RECV',
};

const MAX_ITEMS = 100_000;

/** Splits "=== <nonce> <name> ===" delimited output into sections. */
export function splitSections(text: string, nonce: string): Map<string, string> {
  const sections = new Map<string, string>();
  const marker = new RegExp(`^=== ${nonce} ([a-z0-9.-]+) ===$`);
  let current: string | undefined;
  let lines: string[] = [];
  for (const line of text.split('\n')) {
    const match = line.match(marker);
    if (match) {
      if (current) sections.set(current, lines.join('\n'));
      current = match[1];
      lines = [];
    } else if (current) {
      lines.push(line);
    }
  }
  if (current) sections.set(current, lines.join('\n'));
  return sections;
}

/** /proc/net/tcp addresses: IPv4 is one little-endian 32-bit word, IPv6 four of them. */
export function decodeProcAddress(hex: string): { address: string; port: number } | undefined {
  const [addr, port] = hex.split(':');
  if (!addr || !port || !/^[0-9A-Fa-f]+$/.test(addr) || !/^[0-9A-Fa-f]{4}$/.test(port)) return undefined;
  const words = addr.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) =>
    [w.slice(6, 8), w.slice(4, 6), w.slice(2, 4), w.slice(0, 2)].map((b) => parseInt(b, 16)),
  );
  let address: string;
  if (bytes.length === 4) {
    address = bytes.join('.');
  } else if (bytes.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
    address = compressIpv6(groups);
    if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255)
      address = `::ffff:${bytes.slice(12).join('.')}`;
  } else {
    return undefined;
  }
  return { address, port: parseInt(port, 16) };
}

/** RFC 5952: the longest run (≥ 2) of zero groups becomes "::". */
function compressIpv6(groups: string[]): string {
  let best = { start: -1, length: 0 };
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j;
  }
  if (best.length < 2) return groups.join(':');
  return `${groups.slice(0, best.start).join(':')}::${groups.slice(best.start + best.length).join(':')}`;
}

export interface SocketEntry {
  protocol: string;
  state?: string;
  local?: { address: string; port: number };
  remote?: { address: string; port: number };
  path?: string;
  uid?: number;
  inode: number;
  processes: Array<{ pid: number; comm?: string }>;
}

export function parseInetTable(protocol: string, text: string): SocketEntry[] {
  const entries: SocketEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^\d+:$/.test(f[0]!)) continue;
    const state = protocol.startsWith('tcp')
      ? (TCP_STATES[f[3]!.toUpperCase()] ?? f[3])
      : f[3] === '07'
        ? 'UNCONN'
        : f[3] === '01'
          ? 'ESTABLISHED'
          : f[3];
    entries.push({
      protocol,
      state,
      local: decodeProcAddress(f[1]!),
      remote: decodeProcAddress(f[2]!),
      uid: Number(f[7]),
      inode: Number(f[9]),
      processes: [],
    });
    if (entries.length >= MAX_ITEMS) break;
  }
  return entries;
}

export function parseUnixTable(text: string): SocketEntry[] {
  const entries: SocketEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7 || !/^[0-9a-f]+:$/i.test(f[0]!)) continue;
    const type = ({ '0001': 'stream', '0002': 'dgram', '0005': 'seqpacket' } as Record<string, string>)[f[4]!] ?? f[4];
    const state =
      ({ '01': 'UNCONNECTED', '02': 'CONNECTING', '03': 'CONNECTED', '04': 'DISCONNECTING' } as Record<string, string>)[
        f[5]!
      ] ?? f[5];
    entries.push({
      protocol: `unix-${type}`,
      state,
      inode: Number(f[6]),
      path: f.slice(7).join(' ').slice(0, 512) || undefined,
      processes: [],
    });
    if (entries.length >= MAX_ITEMS) break;
  }
  return entries;
}

/** "pid inode" lines → inode → pids. */
export function parseSocketInodes(text: string): Map<number, number[]> {
  const byInode = new Map<number, number[]>();
  for (const line of text.split('\n')) {
    const match = line.match(/^(\d{1,10}) (\d{1,20})$/);
    if (!match) continue;
    const inode = Number(match[2]);
    const pids = byInode.get(inode) ?? [];
    if (!pids.includes(Number(match[1]))) pids.push(Number(match[1]));
    byInode.set(inode, pids);
  }
  return byInode;
}

export function parseInterfaces(text: string): Array<{ index: number; name: string; family: string; address: string }> {
  const out: Array<{ index: number; name: string; family: string; address: string }> = [];
  for (const line of text.split('\n')) {
    const match = line.match(/^(\d+):\s+(\S+)\s+(inet6?)\s+(\S+)/);
    if (match)
      out.push({
        index: Number(match[1]),
        name: match[2]!.slice(0, 64),
        family: match[3]!,
        address: match[4]!.slice(0, 64),
      });
  }
  return out;
}

export function parseRoutes(text: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    if (!tokens[0]) continue;
    const route: Record<string, string> = { destination: tokens[0].slice(0, 64) };
    for (const key of ['via', 'dev', 'src', 'metric', 'scope', 'proto']) {
      const i = tokens.indexOf(key);
      if (i >= 0 && tokens[i + 1]) route[key] = tokens[i + 1]!.slice(0, 64);
    }
    out.push(route);
  }
  return out.slice(0, 10_000);
}

export function parseResolvConf(text: string): { nameservers: string[]; search: string[]; options: string[] } {
  const conf = { nameservers: [] as string[], search: [] as string[], options: [] as string[] };
  for (const line of text.split('\n')) {
    const [key, ...values] = line.trim().split(/\s+/);
    if (key === 'nameserver' && values[0]) conf.nameservers.push(values[0].slice(0, 64));
    else if (key === 'search' || key === 'domain') conf.search.push(...values.slice(0, 32).map((v) => v.slice(0, 253)));
    else if (key === 'options') conf.options.push(...values.slice(0, 32).map((v) => v.slice(0, 64)));
  }
  return conf;
}

/** conntrack -L -o extended: "ipv4 2 tcp 6 431999 ESTABLISHED src=… dst=… sport=… dport=… src=… … [ASSURED] mark=0 use=1". */
export function parseConntrack(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    if (tokens.length < 6 || !/^ipv[46]$/.test(tokens[0]!)) continue;
    const entry: Record<string, unknown> = { family: tokens[0], protocol: tokens[2], timeout: Number(tokens[4]) };
    const original: Record<string, string> = {};
    const reply: Record<string, string> = {};
    const flags: string[] = [];
    for (const token of tokens.slice(5)) {
      const kv = token.match(/^([a-z_]+)=(.{0,64})$/);
      if (kv) {
        const side = ['src', 'dst', 'sport', 'dport', 'type', 'code', 'id'].includes(kv[1]!)
          ? kv[1]! in original
            ? reply
            : original
          : undefined;
        if (side) side[kv[1]!] = kv[2]!;
        else entry[kv[1]!] = kv[2];
      } else if (/^\[[A-Z_]+\]$/.test(token)) {
        flags.push(token.slice(1, -1));
      } else if (/^[A-Z_]+$/.test(token)) {
        entry.state = token;
      }
    }
    out.push({ ...entry, original, reply, flags });
    if (out.length >= MAX_ITEMS) break;
  }
  return out;
}

/** Any line shaped like a collector section marker, whatever its nonce. */
const MARKER_SHAPE = /^=== (\S{1,64}) ([A-Za-z0-9._-]{1,64}) ===$/;
const FRAME = /^holdfast-bytes (\d{1,9})$/;
const MAX_SECTION_FINDINGS = 10;

export interface FramedSections {
  sections: Map<string, string>;
  /** Marker-shaped lines that were not the next expected marker: forgeries, kept as content, never obeyed. */
  findings: TamperFinding[];
  /** Whether the last expected section (the end marker) was reached. */
  complete: boolean;
}

/**
 * Splits collector output written in a fixed order of "=== <nonce> <name> ===" sections. Only the next
 * expected section's marker with this run's nonce opens a section: a repeated, unexpected or out-of-order
 * marker (or one with another nonce) is a finding and stays content of the section it appears in, so it never
 * replaces the real one. Framed sections ("holdfast-bytes <n>" then n bytes) are taken by length, unread for
 * markers; a marker-shaped line inside them is a finding too (the target wrote it into its own file).
 */
export function splitFramedSections(
  output: Buffer,
  nonce: string,
  expected: readonly string[],
  framed: readonly string[] = [],
): FramedSections {
  const sections = new Map<string, string>();
  const findings: TamperFinding[] = [];
  const seen = new Set<string>();
  const find = (detail: string) => {
    if (findings.length < MAX_SECTION_FINDINGS) findings.push({ kind: 'section-forged', detail });
  };
  let next = 0;
  let current: string | undefined;
  let lines: string[] = [];
  const close = () => {
    if (current !== undefined) sections.set(current, (sections.get(current) ?? '') + lines.join('\n'));
    lines = [];
  };
  let pos = 0;
  while (pos < output.length) {
    const nl = output.indexOf(10, pos);
    const lineEnd = nl < 0 ? output.length : nl;
    const line = output.toString('utf8', pos, lineEnd);
    pos = nl < 0 ? output.length : nl + 1;
    const marker = MARKER_SHAPE.exec(line);
    if (marker && marker[1] === nonce && marker[2] === expected[next]) {
      close();
      current = marker[2]!;
      seen.add(current);
      next++;
      if (!framed.includes(current)) continue;
      // The target's own text: exactly the announced bytes, whatever they hold.
      const lengthEnd = output.indexOf(10, pos);
      const frame = FRAME.exec(output.toString('utf8', pos, lengthEnd < 0 ? output.length : lengthEnd));
      if (!frame) continue;
      const start = lengthEnd + 1;
      const end = Math.min(start + Number(frame[1]), output.length);
      const content = output.toString('utf8', start, end);
      sections.set(current, content);
      for (const inner of content.split('\n')) {
        const forged = MARKER_SHAPE.exec(inner);
        if (forged)
          find(
            `the target's ${current} holds a line shaped like a collector section marker (${quoteTargetText(forged[2]!, 64)}): kept as that file's content, not obeyed`,
          );
      }
      pos = end < output.length && output[end] === 10 ? end + 1 : end;
      continue;
    }
    if (marker) {
      const name = quoteTargetText(marker[2]!, 64);
      const where = current === undefined ? 'before the first section' : `in section ${current}`;
      if (marker[1] !== nonce)
        find(`a line shaped like a section marker for ${name} with another nonce ${where}: kept as content`);
      else if (seen.has(marker[2]!))
        find(`a repeated section marker for ${name} ${where}: ignored, the first one is kept`);
      else find(`an unexpected or out-of-order section marker for ${name} ${where}: ignored`);
    }
    if (current !== undefined) lines.push(line);
  }
  close();
  return { sections, findings, complete: next === expected.length };
}
