import { Readable, Transform, type TransformCallback } from 'node:stream';
import * as tar from 'tar-stream';

export interface ChangedEntry {
  path: string;
  type: string;
  size: number;
  mode: string;
  uid: number;
  gid: number;
  mtime?: string;
  ctime?: string;
  linkname?: string;
}

export interface ChangedFilesReport {
  basis: string;
  containerStartedAt?: string;
  scannedEntries: number;
  changedEntries: number;
  listed: number;
  complete: boolean;
  problem?: string;
  entries: ChangedEntry[];
}

const seconds = (value: string | undefined): number | undefined => {
  if (!value || !/^\d{1,12}(\.\d{1,9})?$/.test(value)) return undefined;
  return Number(value);
};

/**
 * Reads the rootfs tar as it streams past and lists the entries whose inode change time (ctime, in
 * GNU tar's pax headers) is at or after the container's start: files created, modified, chmod-ed or
 * copied up by the running container. Unlike mtime, ctime cannot be set back by an unprivileged
 * process (touch -d cannot hide a dropped file). Deleted image files are not visible this way.
 * A parse problem never disturbs the evidence stream: the report then says it is incomplete.
 */
export class ChangedFilesScanner {
  private readonly extract = tar.extract();
  private readonly since?: number;
  private readonly entries: Array<ChangedEntry & { sortKey: number }> = [];
  private scanned = 0;
  private changed = 0;
  private problem?: string;
  private done = false;
  private fed = 0;
  /** The last 1 KiB seen: a complete tar ends with two zero blocks. */
  private tail = Buffer.alloc(0);
  private readonly finished: Promise<void>;

  constructor(
    private readonly containerStartedAt: string | undefined,
    private readonly maxListed: number,
  ) {
    // The API gives the start to the second: everything in that second counts as "after".
    this.since = containerStartedAt ? Math.floor(Date.parse(containerStartedAt) / 1000) : undefined;
    this.extract.on('entry', (header, stream, next) => {
      this.onEntry(header);
      stream.on('end', next);
      stream.resume();
    });
    this.finished = new Promise((resolve) => {
      this.extract.on('finish', () => resolve());
      this.extract.on('close', () => resolve());
      this.extract.on('error', (err: Error) => {
        this.fail(err.message);
        resolve();
      });
    });
  }

  private onEntry(header: tar.Header): void {
    this.scanned++;
    const pax = (header.pax ?? {}) as Record<string, string>;
    const ctime = seconds(pax.ctime);
    const mtime = seconds(pax.mtime) ?? (header.mtime ? header.mtime.getTime() / 1000 : undefined);
    const when = ctime ?? mtime;
    if (this.since === undefined || when === undefined || when < this.since) return;
    this.changed++;
    if (this.entries.length >= this.maxListed) return;
    const name = header.name.replace(/^\.\//, '');
    this.entries.push({
      path: `/${name}`.replace(/\/+$/, '') || '/',
      type: header.type ?? 'file',
      size: header.size ?? 0,
      mode: (header.mode ?? 0).toString(8),
      uid: header.uid ?? 0,
      gid: header.gid ?? 0,
      mtime: mtime === undefined ? undefined : new Date(mtime * 1000).toISOString(),
      ctime: ctime === undefined ? undefined : new Date(ctime * 1000).toISOString(),
      linkname: header.linkname ?? undefined,
      sortKey: when,
    });
  }

  private fail(message: string): void {
    if (!this.problem) this.problem = message.slice(0, 300);
  }

  /** A pass-through stage for the tar stream that feeds the scanner without ever blocking on it for long. */
  tee(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, callback: TransformCallback) => {
        this.fed += chunk.length;
        this.tail = Buffer.concat([this.tail, chunk.subarray(-1024)]).subarray(-1024);
        if (this.problem || this.done) return callback(null, chunk);
        if (this.extract.write(chunk)) return callback(null, chunk);
        const resume = () => {
          this.extract.off('drain', resume);
          this.extract.off('error', resume);
          callback(null, chunk);
        };
        this.extract.on('drain', resume);
        this.extract.on('error', resume);
      },
      flush: (callback) => {
        this.done = true;
        if (this.fed % 512 !== 0 || this.tail.length < 1024 || this.tail.some((byte) => byte !== 0)) {
          this.fail(`the tar stream ended without its end-of-archive blocks after ${this.fed} bytes (truncated)`);
        }
        if (!this.problem) this.extract.end(undefined);
        callback();
      },
    });
  }

  async report(): Promise<ChangedFilesReport> {
    if (!this.problem) await this.finished;
    const entries = this.entries.sort((a, b) => b.sortKey - a.sortKey).map(({ sortKey: _sortKey, ...entry }) => entry);
    return {
      basis:
        this.since === undefined
          ? 'unknown container start time: no entry could be classified'
          : 'inode change time (ctime) at or after the container started; newest first',
      containerStartedAt: this.containerStartedAt,
      scannedEntries: this.scanned,
      changedEntries: this.changed,
      listed: entries.length,
      complete: !this.problem && this.changed === entries.length,
      problem:
        this.problem ?? (this.changed > entries.length ? `list bounded to ${this.maxListed} entries` : undefined),
      entries,
    };
  }

  /** The report as a stream that produces its bytes only once the tar has been read through. */
  reportStream(): Readable {
    let started = false;
    const out: Readable = new Readable({
      read: () => {
        if (started) return;
        started = true;
        this.report().then(
          (report) => {
            out.push(Buffer.from(`${JSON.stringify(report, null, 2)}\n`));
            out.push(null);
          },
          (err: Error) => out.destroy(err),
        );
      },
    });
    return out;
  }
}
