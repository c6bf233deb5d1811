/**
 * What the benches share: nearest-rank percentiles, process memory read from /proc (Linux), a bounded
 * concurrency pool, and a clean-up list that also runs on Ctrl-C so no server a bench started outlives it.
 */
import fs from 'node:fs';

/** Nearest-rank percentile of ascending samples: over 20 samples p99 is the maximum, not an interpolation. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

/** `p50 X ms, p99 Y ms, max Z ms` (or `no samples`). */
export function formatMs(s: Summary): string {
  if (s.n === 0) return 'no samples';
  return `p50 ${Math.round(s.p50)} ms, p99 ${Math.round(s.p99)} ms, max ${Math.round(s.max)} ms`;
}

export interface ProcessMemory {
  /** Resident set size now. */
  rssMiB: number;
  /** Peak resident set size since the process started (VmHWM). */
  peakMiB: number;
}

/** A live process's memory from /proc/<pid>/status; undefined once it is gone (or off Linux). */
export function processMemory(pid: number | undefined): ProcessMemory | undefined {
  if (!pid) return undefined;
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
}

/** The direct children of a process whose command line contains `needle` (e.g. start.js's worker). */
export function childProcess(parentPid: number | undefined, needle: string): number | undefined {
  if (!parentPid) return undefined;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) follows the command name, which is in parentheses and may hold spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parentPid) continue;
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) return Number(entry);
    } catch {
      // Exited while we looked.
    }
  }
  return undefined;
}

/** Runs fn over items with at most `concurrency` at a time; results in item order. */
export async function pool<T, R>(items: T[], concurrency: number, fn: (item: T, index: number) => Promise<R>) {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!, i);
      }
    }),
  );
  return results;
}

/**
 * Clean-up steps run in reverse order, once, whether the bench ends, fails or is interrupted (SIGINT,
 * SIGTERM): servers it started must not keep ports, data directories or CPU after it.
 */
export class Cleanup {
  private readonly steps: Array<{ what: string; run: () => Promise<unknown> | unknown }> = [];
  private running?: Promise<void>;

  constructor(private readonly log: (line: string) => void) {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        this.log(`[bench] ${signal}: cleaning up`);
        void this.run().finally(() => process.exit(130));
      });
    }
  }

  add(what: string, run: () => Promise<unknown> | unknown): void {
    this.steps.push({ what, run });
  }

  /** Runs (and forgets) the steps added since `mark`, e.g. one round's servers. */
  async runSince(mark: number): Promise<void> {
    const steps = this.steps.splice(mark);
    for (const step of steps.reverse()) await this.runOne(step);
  }

  get mark(): number {
    return this.steps.length;
  }

  run(): Promise<void> {
    this.running ??= this.runSince(0);
    return this.running;
  }

  private async runOne(step: { what: string; run: () => Promise<unknown> | unknown }): Promise<void> {
    try {
      await step.run();
    } catch (err) {
      this.log(`[bench] clean-up "${step.what}" failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
