/** Small formatting helpers: every result is a plain string that the views render as text. */

export function bytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '?';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** A timestamp in UTC, to the second: responders compare it with logs and pages, which are UTC. */
export function time(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso.slice(0, 40) : `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function duration(from: string | undefined, to: string | undefined): string {
  if (!from || !to) return '';
  const ms = new Date(to).getTime() - new Date(from).getTime();
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} min` : `${Math.round(m / 60)} h`;
}

export function where(t: { cluster?: string; namespace?: string; pod?: string; node?: string }): string {
  if (t.pod) return `${t.cluster ?? '?'}/${t.namespace ?? '?'}/${t.pod}`;
  if (t.node) return `${t.cluster ?? '?'}/node/${t.node}`;
  return t.cluster ?? '?';
}

/** What a running step's last heartbeat says, in words: bytes uploaded, or what it is doing. */
export function progressText(details: unknown): string {
  if (!details || typeof details !== 'object') return 'running';
  const d = details as Record<string, unknown>;
  if (typeof d.bytes === 'number')
    return `uploaded ${bytes(d.bytes)}${typeof d.artifact === 'string' ? ` of ${d.artifact.slice(0, 100)}` : ''}`;
  if (d.checking === true) return 'checking the change from inside the pod';
  return 'running';
}
