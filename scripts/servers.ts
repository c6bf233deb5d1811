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
  /**
   * Set when `go install module@version` cannot build it: the package is built with `go build` inside a
   * writable copy of the module's source (from the module proxy), after writing these files as placeholders.
   */
  package?: string;
  placeholders?: string[];
  /** The Go variable (package path.Name) set to the version, so the binary reports it as an official build does. */
  versionVariable?: string;
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
    const hints: Record<ServerName, string> = {
      temporal:
        'or set TEMPORAL_ADDRESS to an existing Temporal server, or HOLDFAST_TEMPORAL_BIN to a temporal CLI binary',
      versitygw:
        'or set S3_ENDPOINT (plus AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) to an existing S3 service with Object Lock, or HOLDFAST_VERSITYGW_BIN',
      alertmanager: `or set HOLDFAST_ALERTMANAGER_BIN to an alertmanager ${pin.version} binary`,
    };
    const hint = hints[name];
    throw new Error(
      `${name} ${pin.version} is not cached at ${target} and Go is not installed to build it. Install Go >= 1.25 (https://go.dev/doc/install), ${hint}.`,
    );
  }

  log(`[holdfast] building ${name} ${pin.version} from source (${pin.why}).`);
  log(
    pin.package
      ? `[holdfast]   go build ${pin.package} in ${pin.module}@${pin.version} — first run only, takes a few minutes; cached at ${target}`
      : `[holdfast]   go install ${pin.module}@${pin.version} — first run only, takes a few minutes; cached at ${target}`,
  );
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `holdfast-build-${name}-`));
  const started = Date.now();
  const ticker = setInterval(
    () => log(`[holdfast]   still building ${name}… ${Math.round((Date.now() - started) / 1000)}s`),
    20_000,
  );
  try {
    const built = pin.package ? await buildInSource(go, pin, work) : await goInstall(go, pin, work);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    // Copy then rename so a concurrent reader never sees a half-written binary.
    fs.copyFileSync(built, `${target}.tmp-${process.pid}`);
    fs.chmodSync(`${target}.tmp-${process.pid}`, 0o755);
    fs.renameSync(`${target}.tmp-${process.pid}`, target);
    log(`[holdfast]   built ${name} in ${Math.round((Date.now() - started) / 1000)}s`);
    return target;
  } finally {
    clearInterval(ticker);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function runGo(go: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, capture = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(go, args, {
      cwd,
      env: { ...process.env, GOFLAGS: `${process.env.GOFLAGS ?? ''} -buildvcs=false`.trim(), ...env },
      stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'],
    });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) =>
      // `go mod download -json` reports its error on stdout.
      code === 0
        ? resolve(out)
        : reject(new Error(`go ${args.join(' ')} exited with ${code} ${out.slice(0, 2000)}`.trim())),
    );
  });
}

async function goInstall(go: string, pin: Pin, work: string): Promise<string> {
  await runGo(go, ['install', `${pin.module}@${pin.version}`], work, { GOBIN: work });
  return path.join(work, path.basename(pin.module));
}

/** The module cache is read-only: copies it with writable directories, so placeholders can be added and it can be removed. */
function copyWritable(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true });
  const walk = (dir: string) => {
    fs.chmodSync(dir, 0o755);
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }))
      if (entry.isDirectory()) walk(path.join(dir, entry.name));
  };
  walk(to);
}

async function buildInSource(go: string, pin: Pin, work: string): Promise<string> {
  // Outside any module and workspace: `go mod download` fetches exactly the pinned version through the proxy.
  const downloaded = JSON.parse(
    await runGo(go, ['mod', 'download', '-json', `${pin.module}@${pin.version}`], work, { GOWORK: 'off' }, true),
  ) as { Dir?: string; Error?: string };
  if (!downloaded.Dir) throw new Error(`go mod download ${pin.module}@${pin.version}: ${downloaded.Error ?? 'no Dir'}`);
  const source = path.join(work, 'src');
  copyWritable(downloaded.Dir, source);
  for (const file of pin.placeholders ?? []) {
    const at = path.join(source, file);
    fs.mkdirSync(path.dirname(at), { recursive: true });
    fs.writeFileSync(at, '<!doctype html><title>Built by Holdfast without its web UI</title>\n');
  }
  const out = path.join(work, path.basename(pin.package!));
  const ldflags = pin.versionVariable ? ['-ldflags', `-X ${pin.versionVariable}=${pin.version.replace(/^v/, '')}`] : [];
  await runGo(go, ['build', '-trimpath', ...ldflags, '-o', out, pin.package!], source, { GOWORK: 'off' });
  return out;
}

if (require.main === module) {
  (async () => {
    for (const name of ['temporal', 'versitygw', 'alertmanager'] as const) {
      console.log(`${name}: ${await ensureServer(name)}`);
    }
  })().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
