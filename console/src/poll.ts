import { useEffect, useRef } from 'preact/hooks';

/**
 * Calls `tick` now and then every `everyMs` while it returns true, one call at a time. Bounded: after an
 * error the wait doubles up to `maxMs`; a hidden tab is not polled (the next tick runs when it is shown);
 * it stops for good when `tick` returns false or the view goes away. `deps` restart it (new filters, a
 * refresh after an action).
 */
export function usePoll(tick: () => Promise<boolean>, everyMs: number, deps: unknown[], maxMs = 60_000): void {
  const latest = useRef(tick);
  latest.current = tick;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let wait = everyMs;
    const run = async () => {
      timer = undefined;
      if (stopped) return;
      if (document.hidden) {
        document.addEventListener('visibilitychange', onVisible, { once: true });
        return;
      }
      let again = true;
      try {
        again = await latest.current();
        wait = everyMs;
      } catch {
        wait = Math.min(wait * 2, maxMs);
      }
      if (!stopped && again) timer = setTimeout(run, wait);
    };
    const onVisible = () => void run();
    void run();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, deps);
}
