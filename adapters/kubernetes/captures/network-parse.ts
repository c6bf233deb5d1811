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

/** One line of /proc/net/{tcp,tcp6,udp,udp6}, or undefined (the header, anything malformed). */
export function parseInetLine(protocol: string, line: string): SocketEntry | undefined {
  const f = line.trim().split(/\s+/);
  if (f.length < 10 || !/^\d+:$/.test(f[0]!)) return undefined;
  const state = protocol.startsWith('tcp')
    ? (TCP_STATES[f[3]!.toUpperCase()] ?? f[3])
    : f[3] === '07'
      ? 'UNCONN'
      : f[3] === '01'
        ? 'ESTABLISHED'
        : f[3];
  return {
    protocol,
    state,
    local: decodeProcAddress(f[1]!),
    remote: decodeProcAddress(f[2]!),
    uid: Number(f[7]),
    inode: Number(f[9]),
    processes: [],
  };
}

export function parseInetTable(protocol: string, text: string): SocketEntry[] {
  const entries: SocketEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const entry = parseInetLine(protocol, line);
    if (entry) entries.push(entry);
    if (entries.length >= MAX_ITEMS) break;
  }
  return entries;
}

/** One line of /proc/net/unix, or undefined (the header, anything malformed). */
export function parseUnixLine(line: string): SocketEntry | undefined {
  const f = line.trim().split(/\s+/);
  if (f.length < 7 || !/^[0-9a-f]+:$/i.test(f[0]!)) return undefined;
  const type = ({ '0001': 'stream', '0002': 'dgram', '0005': 'seqpacket' } as Record<string, string>)[f[4]!] ?? f[4];
  const state =
    ({ '01': 'UNCONNECTED', '02': 'CONNECTING', '03': 'CONNECTED', '04': 'DISCONNECTING' } as Record<string, string>)[
      f[5]!
    ] ?? f[5];
  return {
    protocol: `unix-${type}`,
    state,
    inode: Number(f[6]),
    path: f.slice(7).join(' ').slice(0, 512) || undefined,
    processes: [],
  };
}

export function parseUnixTable(text: string): SocketEntry[] {
  const entries: SocketEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const entry = parseUnixLine(line);
    if (entry) entries.push(entry);
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

/** One line of conntrack -L -o extended: "ipv4 2 tcp 6 431999 ESTABLISHED src=… dst=… sport=… dport=… src=… … [ASSURED] mark=0 use=1". */
export function parseConntrackLine(line: string): Record<string, unknown> | undefined {
  const tokens = line.trim().split(/\s+/);
  if (tokens.length < 6 || !/^ipv[46]$/.test(tokens[0]!)) return undefined;
  const entry: Record<string, unknown> = { family: tokens[0], protocol: tokens[2], timeout: Number(tokens[4]) };
  const original: Record<string, string> = {};
  const reply: Record<string, string> = {};
  const flags: string[] = [];
  for (const token of tokens.slice(5, 64)) {
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
  return { ...entry, original, reply, flags };
}

export function parseConntrack(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    const entry = parseConntrackLine(line);
    if (entry) out.push(entry);
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

/** Where SectionSplitter hands what it split: each line of a section, or a framed section's whole content. */
export interface SectionSink {
  line(section: string, line: string): void;
  framed(section: string, content: string): void;
}

/**
 * Splits collector output written in a fixed order of "=== <nonce> <name> ===" sections, as it streams:
 * write() chunks, then end(). Only the next expected section's marker with this run's nonce opens a section:
 * a repeated, unexpected or out-of-order marker (or one with another nonce) is a finding and stays content of
 * the section it appears in, so it never replaces the real one. Framed sections ("holdfast-bytes <n>" then n
 * bytes) are taken by length, unread for markers; a marker-shaped line inside them is a finding too (the
 * target wrote it into its own file). What it holds is bounded: one line (longer ones are cut at maxLine and
 * counted), one framed content (maxFrame).
 */
export class SectionSplitter {
  readonly findings: TamperFinding[] = [];
  /** Lines longer than maxLine, cut there. */
  longLines = 0;
  private next = 0;
  private current: string | undefined;
  /** The sections opened so far. */
  readonly opened = new Set<string>();
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private dropping = false;
  /** After a framed section's marker: its next line may be the length line. */
  private expectFrame = false;
  private frame: { remaining: number; chunks: Buffer[]; kept: number } | undefined;
  private skipNewline = false;

  constructor(
    private readonly nonce: string,
    private readonly expected: readonly string[],
    private readonly framedNames: readonly string[],
    private readonly sink: SectionSink,
    private readonly maxLine = 64 * 1024,
    private readonly maxFrame = 1024 * 1024,
  ) {}

  /** Whether the last expected section (the end marker) was reached. */
  get complete(): boolean {
    return this.next === this.expected.length;
  }

  write(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.skipNewline) {
        this.skipNewline = false;
        if (chunk[pos] === 10) pos++;
        continue;
      }
      if (this.frame) {
        const take = Math.min(this.frame.remaining, chunk.length - pos);
        if (this.frame.kept < this.maxFrame) {
          const keep = Math.min(take, this.maxFrame - this.frame.kept);
          this.frame.chunks.push(chunk.subarray(pos, pos + keep));
          this.frame.kept += keep;
        }
        this.frame.remaining -= take;
        pos += take;
        if (this.frame.remaining === 0) {
          this.endFrame();
          this.skipNewline = true;
        }
        continue;
      }
      const nl = chunk.indexOf(10, pos);
      const end = nl < 0 ? chunk.length : nl;
      this.addPartial(chunk.subarray(pos, end));
      pos = end;
      if (nl >= 0) {
        pos = nl + 1;
        this.flushLine();
      }
    }
  }

  end(): void {
    if (this.frame) this.endFrame();
    else if (this.partialBytes > 0 || this.dropping) this.flushLine();
  }

  private addPartial(bytes: Buffer): void {
    if (this.dropping || bytes.length === 0) return;
    const room = this.maxLine - this.partialBytes;
    if (bytes.length > room) {
      this.partial.push(bytes.subarray(0, room));
      this.partialBytes += room;
      this.dropping = true;
      this.longLines++;
      return;
    }
    this.partial.push(bytes);
    this.partialBytes += bytes.length;
  }

  private flushLine(): void {
    const line = Buffer.concat(this.partial, this.partialBytes).toString('utf8');
    this.partial = [];
    this.partialBytes = 0;
    this.dropping = false;
    this.onLine(line);
  }

  private find(detail: string): void {
    if (this.findings.length < MAX_SECTION_FINDINGS) this.findings.push({ kind: 'section-forged', detail });
  }

  private onLine(line: string): void {
    if (this.expectFrame) {
      this.expectFrame = false;
      const frame = FRAME.exec(line);
      if (frame) {
        this.frame = { remaining: Number(frame[1]), chunks: [], kept: 0 };
        if (this.frame.remaining === 0) {
          this.endFrame();
          this.skipNewline = true;
        }
        return;
      }
    }
    const marker = MARKER_SHAPE.exec(line);
    if (marker && marker[1] === this.nonce && marker[2] === this.expected[this.next]) {
      this.current = marker[2]!;
      this.opened.add(this.current);
      this.next++;
      this.expectFrame = this.framedNames.includes(this.current);
      return;
    }
    if (marker) {
      const name = quoteTargetText(marker[2]!, 64);
      const where = this.current === undefined ? 'before the first section' : `in section ${this.current}`;
      if (marker[1] !== this.nonce)
        this.find(`a line shaped like a section marker for ${name} with another nonce ${where}: kept as content`);
      else if (this.opened.has(marker[2]!))
        this.find(`a repeated section marker for ${name} ${where}: ignored, the first one is kept`);
      else this.find(`an unexpected or out-of-order section marker for ${name} ${where}: ignored`);
    }
    if (this.current !== undefined) this.sink.line(this.current, line);
  }

  private endFrame(): void {
    const section = this.current!;
    const content = Buffer.concat(this.frame!.chunks).toString('utf8');
    this.frame = undefined;
    for (const inner of content.split('\n')) {
      const forged = MARKER_SHAPE.exec(inner);
      if (forged)
        this.find(
          `the target's ${section} holds a line shaped like a collector section marker (${quoteTargetText(forged[2]!, 64)}): kept as that file's content, not obeyed`,
        );
    }
    this.sink.framed(section, content);
  }
}

/** SectionSplitter over a whole buffer: every section's text (lines joined by newlines; framed content as is). */
export function splitFramedSections(
  output: Buffer,
  nonce: string,
  expected: readonly string[],
  framed: readonly string[] = [],
): FramedSections {
  const lines = new Map<string, string[]>();
  const contents = new Map<string, string>();
  const splitter = new SectionSplitter(
    nonce,
    expected,
    framed,
    {
      line: (section, line) => {
        const list = lines.get(section) ?? [];
        list.push(line);
        lines.set(section, list);
        if (!contents.has(section)) contents.set(section, '');
      },
      framed: (section, content) => contents.set(section, content),
    },
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER,
  );
  splitter.write(output);
  splitter.end();
  const sections = new Map<string, string>();
  for (const name of expected) {
    if (!contents.has(name) && !lines.has(name) && !splitter.opened.has(name)) continue;
    sections.set(name, (contents.get(name) ?? '') + (lines.get(name) ?? []).join('\n'));
  }
  return { sections, findings: splitter.findings, complete: splitter.complete };
}

/** The socket tables of the network state output: section → protocol. */
const SOCKET_TABLES: Record<string, string> = {
  'proc-net-tcp': 'tcp',
  'proc-net-tcp6': 'tcp6',
  'proc-net-udp': 'udp',
  'proc-net-udp6': 'udp6',
  'proc-net-unix': 'unix',
};
/** Sections kept as text (small by nature; bounded all the same). */
const TEXT_SECTIONS = ['interfaces', 'routes', 'routes6', 'resolv.conf'];
const MAX_OWNERS = 64;
const CONNTRACK_ERROR = /Operation not permitted|not supported|can't open|error/i;

export interface NetworkStateLimits {
  /** Parsed entries kept per socket table and for conntrack; the rest are counted (all stay in the raw text). */
  maxEntriesPerTable: number;
  /** Bytes kept per text section (interfaces, routes, resolv.conf). */
  maxTextBytes: number;
}

export interface ParsedNetworkState {
  sockets: SocketEntry[];
  interfaces: ReturnType<typeof parseInterfaces>;
  routes: Array<Record<string, string>>;
  dns: ReturnType<typeof parseResolvConf>;
  conntrack: { reachable: false; reason: string } | { reachable: true; entries: Array<Record<string, unknown>> };
  /** Entries seen beyond the bounds, per table: the parsed lists are a sample, the raw text is complete. */
  bounded: Record<string, { seen: number; parsed: number }>;
}

/**
 * The network state output parsed as it streams, holding a bounded sample: at most maxEntriesPerTable
 * entries per socket table and for conntrack (the others are counted, and stay in the raw text, which is
 * stored as it streams), owners only for the sockets kept, bounded text sections. Memory stays bounded
 * whatever the target holds (a million unix sockets).
 */
export class NetworkStateParser {
  readonly splitter: SectionSplitter;
  private readonly tables = new Map<string, { entries: SocketEntry[]; seen: number }>();
  private readonly byInode = new Map<number, SocketEntry[]>();
  private readonly texts = new Map<string, { text: string; cut: boolean }>();
  private readonly conntrack = {
    entries: [] as Array<Record<string, unknown>>,
    seen: 0,
    head: '',
    error: false,
    summary: false,
  };

  constructor(
    nonce: string,
    expected: readonly string[],
    framed: readonly string[],
    private readonly limits: NetworkStateLimits,
  ) {
    this.splitter = new SectionSplitter(nonce, expected, framed, {
      line: (section, line) => this.line(section, line),
      framed: (section, content) => this.text(section, content),
    });
  }

  write(chunk: Buffer): void {
    this.splitter.write(chunk);
  }

  end(): void {
    this.splitter.end();
  }

  private line(section: string, line: string): void {
    const protocol = SOCKET_TABLES[section];
    if (protocol) {
      const entry = protocol === 'unix' ? parseUnixLine(line) : parseInetLine(protocol, line);
      if (!entry) return;
      const table = this.tables.get(section) ?? { entries: [], seen: 0 };
      this.tables.set(section, table);
      table.seen++;
      if (table.entries.length >= this.limits.maxEntriesPerTable) return;
      table.entries.push(entry);
      const same = this.byInode.get(entry.inode) ?? [];
      same.push(entry);
      this.byInode.set(entry.inode, same);
    } else if (section === 'socket-inodes') {
      const match = /^(\d{1,10}) (\d{1,20})$/.exec(line);
      if (!match) return;
      for (const entry of this.byInode.get(Number(match[2])) ?? []) {
        const pid = Number(match[1]);
        if (entry.processes.length < MAX_OWNERS && !entry.processes.some((p) => p.pid === pid))
          entry.processes.push({ pid });
      }
    } else if (section === 'conntrack') {
      if (this.conntrack.head.length < 300) this.conntrack.head += `${line.slice(0, 300)}\n`;
      if (CONNTRACK_ERROR.test(line)) this.conntrack.error = true;
      if (/flow entries have been shown/.test(line)) this.conntrack.summary = true;
      const entry = parseConntrackLine(line);
      if (!entry) return;
      this.conntrack.seen++;
      if (this.conntrack.entries.length < this.limits.maxEntriesPerTable) this.conntrack.entries.push(entry);
    } else if (TEXT_SECTIONS.includes(section)) {
      this.text(section, `${line}\n`, true);
    }
  }

  private text(section: string, content: string, append = false): void {
    if (!TEXT_SECTIONS.includes(section)) return;
    const kept = append ? (this.texts.get(section) ?? { text: '', cut: false }) : { text: '', cut: false };
    const room = this.limits.maxTextBytes - kept.text.length;
    if (content.length > room) kept.cut = true;
    kept.text += content.slice(0, Math.max(room, 0));
    this.texts.set(section, kept);
  }

  /** The parsed sample, with each process's comm, and notes on what the bounds left out. */
  result(comm: Map<number, string>): { parsed: ParsedNetworkState; notes: string[] } {
    const notes: string[] = [];
    const bounded: ParsedNetworkState['bounded'] = {};
    const sockets: SocketEntry[] = [];
    for (const section of Object.keys(SOCKET_TABLES)) {
      const table = this.tables.get(section);
      if (!table) continue;
      for (const entry of table.entries)
        sockets.push({ ...entry, processes: entry.processes.map((p) => ({ pid: p.pid, comm: comm.get(p.pid) })) });
      if (table.seen > table.entries.length) {
        bounded[section] = { seen: table.seen, parsed: table.entries.length };
        notes.push(
          `${section}: ${table.seen} entries, the first ${table.entries.length} parsed into network-state.json (bound maxParsedEntries); all are in network-state.txt`,
        );
      }
    }
    if (this.conntrack.seen > this.conntrack.entries.length) {
      bounded.conntrack = { seen: this.conntrack.seen, parsed: this.conntrack.entries.length };
      notes.push(
        `conntrack: ${this.conntrack.seen} entries, the first ${this.conntrack.entries.length} parsed into network-state.json (bound maxParsedEntries); all are in network-state.txt`,
      );
    }
    for (const [section, kept] of this.texts)
      if (kept.cut) notes.push(`${section}: parsed from its first ${this.limits.maxTextBytes} characters`);
    if (this.splitter.longLines > 0)
      notes.push(`${this.splitter.longLines} line(s) longer than 64 KiB were parsed from their first 64 KiB`);
    const conntrack: ParsedNetworkState['conntrack'] =
      this.conntrack.error && !this.conntrack.summary
        ? { reachable: false, reason: this.conntrack.head.trim().slice(0, 300) }
        : { reachable: true, entries: this.conntrack.entries };
    if (!conntrack.reachable) notes.push(`conntrack not reachable: ${conntrack.reason}`);
    const text = (section: string) => this.texts.get(section)?.text ?? '';
    return {
      parsed: {
        sockets,
        interfaces: parseInterfaces(text('interfaces')),
        routes: [...parseRoutes(text('routes')), ...parseRoutes(text('routes6'))],
        dns: parseResolvConf(text('resolv.conf')),
        conntrack,
        bounded,
      },
      notes,
    };
  }
}
