/**
 * Builds the pinned servers from source through the Go module proxy and caches them outside the
 * repository (a fresh clone, as in CI, reuses the cache). Nothing is downloaded prebuilt.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scriptSettings, type ServerName } from './settings';
import versions from './versions.json';

export type { ServerName };

interface Pin {
  module: string;
  version: string;
  why: string;
}

export function pinOf(name: ServerName): Pin {
  return (versions as unknown as Record<ServerName, Pin>)[name];
}

export function binaryPath(name: ServerName): string {
  return path.join(scriptSettings().cacheDir, 'bin', `${name}-${pinOf(name).version}`);
}

function findOnPath(command: string): string | undefined {
  const result = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  const found = result.stdout.trim();
  return result.status === 0 && found ? found : undefined;
}

function goBinary(): string | undefined {
  const explicit = scriptSettings().go;
  if (explicit) return fs.existsSync(explicit) ? explicit : undefined;
  return findOnPath('go') ?? (fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
}

/** Returns a runnable binary: an explicit override, the cache, or a fresh build. */
export async function ensureServer(
  name: ServerName,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<string> {
  const override = scriptSettings().serverBins[name];
  if (override) {
    if (!fs.existsSync(override))
      throw new Error(`HOLDFAST_${name.toUpperCase()}_BIN points at ${override}, which does not exist`);
    return override;
  }
  const target = binaryPath(name);
  if (fs.existsSync(target)) return target;

  const pin = pinOf(name);
  const go = goBinary();
  if (!go) {
    const hint =
      name === 'temporal'
        ? 'or set TEMPORAL_ADDRESS to an existing Temporal server, or HOLDFAST_TEMPORAL_BIN to a temporal CLI binary'
        : 'or set S3_ENDPOINT (plus AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) to an existing S3 service with Object Lock, or HOLDFAST_VERSITYGW_BIN';
    throw new Error(
      `${name} ${pin.version} is not cached at ${target} and Go is not installed to build it. Install Go >= 1.25 (https://go.dev/doc/install), ${hint}.`,
    );
  }

  log(`[holdfast] building ${name} ${pin.version} from source (${pin.why}).`);
  log(
    `[holdfast]   go install ${pin.module}@${pin.version} — first run only, takes a few minutes; cached at ${target}`,
  );
  const gobin = fs.mkdtempSync(path.join(os.tmpdir(), `holdfast-build-${name}-`));
  const started = Date.now();
  const ticker = setInterval(
    () => log(`[holdfast]   still building ${name}… ${Math.round((Date.now() - started) / 1000)}s`),
    20_000,
  );
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(go, ['install', `${pin.module}@${pin.version}`], {
        env: { ...process.env, GOBIN: gobin, GOFLAGS: `${process.env.GOFLAGS ?? ''} -buildvcs=false`.trim() },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`go install ${pin.module}@${pin.version} exited with ${code}`)),
      );
    });
    const built = path.join(gobin, path.basename(pin.module));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    // Copy then rename so a concurrent reader never sees a half-written binary.
    fs.copyFileSync(built, `${target}.tmp-${process.pid}`);
    fs.chmodSync(`${target}.tmp-${process.pid}`, 0o755);
    fs.renameSync(`${target}.tmp-${process.pid}`, target);
    log(`[holdfast]   built ${name} in ${Math.round((Date.now() - started) / 1000)}s`);
    return target;
  } finally {
    clearInterval(ticker);
    fs.rmSync(gobin, { recursive: true, force: true });
  }
}

if (require.main === module) {
  (async () => {
    for (const name of ['temporal', 'versitygw'] as const) {
      console.log(`${name}: ${await ensureServer(name)}`);
    }
  })().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
