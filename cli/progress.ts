/** A tiny progress bar on stderr, drawn only when stderr is a terminal (never pollutes pipes or --json). */
export interface Progress {
  update(bytes: number, total?: number): void;
  done(): void;
}

function human(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatBytes(bytes: number): string {
  return human(bytes);
}

export function progressBar(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
  enabled = Boolean(stream.isTTY),
): Progress {
  if (!enabled) return { update() {}, done() {} };
  let last = 0;
  let drawn = false;
  const started = Date.now();
  const draw = (bytes: number, total?: number) => {
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    const rate = `${human(bytes / seconds)}/s`;
    const width = 30;
    let line: string;
    if (total && total > 0) {
      const fraction = Math.min(1, bytes / total);
      const filled = Math.round(fraction * width);
      line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${human(bytes)}/${human(total)} ${rate}`;
    } else {
      line = `${label} ${human(bytes)} ${rate}`;
    }
    const columns = stream.columns ?? 100;
    stream.write(`\r${line.slice(0, columns - 1).padEnd(Math.min(columns - 1, line.length + 2))}`);
    drawn = true;
  };
  return {
    update(bytes, total) {
      const now = Date.now();
      if (now - last < 100 && !(total && bytes >= total)) return;
      last = now;
      draw(bytes, total);
    },
    done() {
      if (drawn) stream.write('\n');
    },
  };
}
