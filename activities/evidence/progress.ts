import { Context } from '@temporalio/activity';

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 2000;

/**
 * An `onProgress` for EvidenceStore.putArtifact inside an activity: heartbeats `{bytes, ...extra}` so
 * the progress shows in the incident status and the Temporal UI. Throttled (heartbeats are RPCs and a
 * byte counter changes thousands of times a second); the first call always goes through.
 * Must be called inside an activity (it reads Context.current()).
 */
export function heartbeatProgress(extra: Record<string, unknown> = {}, intervalMs = DEFAULT_HEARTBEAT_INTERVAL_MS, now: () => number = Date.now): (bytes: number) => void {
  const context = Context.current();
  return throttledProgress((bytes) => context.heartbeat({ ...extra, bytes }), intervalMs, now);
}

/** Calls `report` at most once per interval (and on the first call). */
export function throttledProgress(report: (bytes: number) => void, intervalMs = DEFAULT_HEARTBEAT_INTERVAL_MS, now: () => number = Date.now): (bytes: number) => void {
  let last = -Infinity;
  return (bytes) => {
    const t = now();
    if (t - last < intervalMs) return;
    last = t;
    report(bytes);
  };
}
