import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** A child we own: stopping sends SIGTERM, then SIGKILL after a grace period. */
export interface OwnedChild {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  stop(graceMs?: number): Promise<void>;
}

export function spawnOwned(name: string, command: string, args: string[], options: SpawnOptions): OwnedChild {
  const child = spawn(command, args, options);
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)));
    child.on('error', () => resolve(127));
  });
  return {
    name,
    child,
    exited,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
