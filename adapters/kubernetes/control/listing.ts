import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import * as tar from 'tar-stream';
import type { FileEntry, FileType } from './diff';

/** Paths longer than this (PATH_MAX) are cut, with a hash of the whole name so two long names stay apart. */
const MAX_PATH_CHARS = 4096;

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

export interface FileListing {
  entries: FileEntry[];
  scanned: number;
  /** What could not be read completely: a bound hit, a truncated or malformed archive. */
  incomplete: string[];
}

function typeOf(type: string | null | undefined): FileType | 'link' {
  switch (type) {
    case 'file':
    case 'contiguous-file':
    case undefined:
    case null:
      return 'file';
    case 'directory':
      return 'directory';
    case 'symlink':
      return 'symlink';
    case 'link':
      return 'link';
    default:
      return 'other';
  }
}

/** "./a/b/" → "/a/b"; a name past MAX_PATH_CHARS is cut and marked with its hash. */
export function pathOf(name: string): string {
  let path = `/${name.replace(/^\.\//, '').replace(/^\.$/, '')}`.replace(/\/+$/, '') || '/';
  if (path.length > MAX_PATH_CHARS)
    path = `${path.slice(0, MAX_PATH_CHARS)}…[sha256:${crypto.createHash('sha256').update(path).digest('hex')}]`;
  return path;
}

const seconds = (value: string | undefined): number | undefined =>
  value && /^\d{1,12}(\.\d{1,9})?$/.test(value) ? Number(value) : undefined;

/**
 * Lists a POSIX tar as it streams in: every entry's path, type, permission bits, owner, size, and for regular
 * files the SHA-256 of their content (hashed here, in the worker: nothing of the archive is kept). At most
 * `maxEntries` entries are listed (the rest counted, and the listing says it is incomplete); a truncated or
 * malformed archive ends the listing with the reason, never an exception: the comparison says what it lacks.
 * `since` (epoch seconds, the container's start): entries whose ctime is at or after it are marked `runtime`.
 */
export function tarLister(
  since: number | undefined,
  maxEntries: number,
): { sink: Writable; listing: () => Promise<FileListing> } {
  const extract = tar.extract();
  const entries: FileEntry[] = [];
  const hashes = new Map<string, { sha256?: string; elf?: boolean }>();
  const incomplete: string[] = [];
  let scanned = 0;
  let fed = 0;
  let tail = Buffer.alloc(0);
  let failed = false;
  extract.on('entry', (header, stream, next) => {
    scanned++;
    const type = typeOf(header.type);
    const path = pathOf(header.name);
    const pax = (header.pax ?? {}) as Record<string, string>;
    const ctime = seconds(pax.ctime);
    const base = {
      path,
      mode: (header.mode ?? 0) & 0o7777,
      uid: header.uid ?? 0,
      gid: header.gid ?? 0,
      size: header.size ?? 0,
      ...(since !== undefined && ctime !== undefined && ctime >= since ? { runtime: true } : {}),
    };
    const keep = entries.length < maxEntries;
    if (type !== 'file') {
      stream.on('end', next);
      stream.resume();
      if (!keep) return;
      if (type === 'link') {
        // A hard link carries no content in the archive: it has its target's (seen earlier in the stream).
        const target = hashes.get(pathOf(header.linkname ?? ''));
        entries.push({ ...base, type: 'file', ...(target ?? {}) });
        return;
      }
      entries.push({
        ...base,
        type,
        ...(type === 'symlink' ? { linkname: (header.linkname ?? '').slice(0, MAX_PATH_CHARS) } : {}),
      });
      return;
    }
    const hash = crypto.createHash('sha256');
    let head = Buffer.alloc(0);
    stream.on('data', (data: unknown) => {
      const chunk = data as Buffer;
      hash.update(chunk);
      if (head.length < 4) head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
    });
    stream.on('end', () => {
      const content = { sha256: hash.digest('hex'), ...(head.equals(ELF_MAGIC) ? { elf: true } : {}) };
      if (keep) {
        hashes.set(path, content);
        entries.push({ ...base, type: 'file', ...content });
      }
      next();
    });
  });
  const finished = new Promise<void>((resolve) => {
    extract.on('finish', () => resolve());
    extract.on('close', () => resolve());
    extract.on('error', (err: Error) => {
      if (!failed) incomplete.push(`the archive could not be read to its end: ${err.message.slice(0, 200)}`);
      failed = true;
      resolve();
    });
  });
  const sink = new Writable({
    write(chunk: Buffer, _enc, callback) {
      fed += chunk.length;
      tail = Buffer.concat([tail, chunk.subarray(-1024)]).subarray(-1024);
      if (failed) return callback();
      if (extract.write(chunk)) return callback();
      const resume = () => {
        extract.off('drain', resume);
        extract.off('error', resume);
        callback();
      };
      extract.on('drain', resume);
      extract.on('error', resume);
    },
    final(callback) {
      if (fed % 512 !== 0 || tail.length < 1024 || tail.some((b) => b !== 0)) {
        incomplete.push(`the archive ended without its end-of-archive blocks after ${fed} bytes (truncated)`);
        failed = true;
        extract.destroy();
      } else extract.end(undefined);
      callback();
    },
  });
  return {
    sink,
    listing: async () => {
      await finished;
      if (scanned > entries.length) incomplete.push(`${scanned} entries, the first ${maxEntries} listed`);
      return { entries, scanned, incomplete };
    },
  };
}
