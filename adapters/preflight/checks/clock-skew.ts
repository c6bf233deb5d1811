import { neededByEveryIncident } from '../needs';
import type { Check, TimeSample } from '../types';

/** How far a Date header (whole seconds) may be from the local clock at the request's midpoint, in ms. */
export function skewOf(sample: TimeSample): { skewMs: number; uncertaintyMs: number } {
  const mid = (sample.sentAt + sample.receivedAt) / 2;
  // Date has one-second resolution: the remote clock was somewhere in [remote, remote + 1 s).
  const remoteMid = sample.remote.getTime() + 500;
  return {
    skewMs: Math.round(remoteMid - mid),
    uncertaintyMs: Math.round(500 + (sample.receivedAt - sample.sentAt) / 2),
  };
}

/**
 * The worker's clock, the API server's and S3's agree within the threshold: custody times, retention
 * dates and the timeline compare them. Measured from Date headers (seconds), so skews under ~1 s are noise.
 */
export const clockSkewCheck: Check = {
  name: 'clock-skew',
  needs: 'the Kubernetes API server and S3 (their Date headers)',
  neededBy: neededByEveryIncident,
  async run(deps, signal) {
    const parts: string[] = [];
    const bad: string[] = [];
    const sources: Array<[string, ((s: AbortSignal) => Promise<TimeSample>) | undefined]> = [
      ['Kubernetes API server', deps.probe && ((s) => deps.probe!.serverTime(s))],
      ['S3', deps.bucket && ((s) => deps.bucket!.serverTime(s))],
    ];
    for (const [name, sample] of sources) {
      if (!sample) {
        parts.push(`${name}: not reachable from here`);
        continue;
      }
      let measured: TimeSample;
      try {
        measured = await sample(signal);
      } catch (err) {
        // One source away must not hide the other's measurement.
        const text = `${name}: no answer (${String((err as Error).message).slice(0, 200)})`;
        parts.push(text);
        bad.push(text);
        continue;
      }
      const { skewMs, uncertaintyMs } = skewOf(measured);
      const text = `${name} ${skewMs >= 0 ? '+' : ''}${(skewMs / 1000).toFixed(1)} s (±${(uncertaintyMs / 1000).toFixed(1)} s)`;
      parts.push(text);
      if (Math.abs(skewMs) - uncertaintyMs > deps.maxSkewMs) bad.push(text);
    }
    const detail = `against this machine's clock: ${parts.join('; ')}; threshold ${deps.maxSkewMs / 1000} s`;
    if (bad.length > 0)
      return {
        status: 'fail',
        detail,
        fix: 'synchronise the clocks (NTP/chrony on the nodes, the worker host and the S3 servers); make each reachable from here',
      };
    if (!deps.probe && !deps.bucket) return { status: 'skip', detail };
    return { status: 'pass', detail };
  },
};
