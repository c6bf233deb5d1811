/**
 * The CASE project's own validator, `case_validate` (PyPI `case-utils`, pinned in scripts/versions.json), in a
 * virtual environment under the cache: `<cache>/venv/case-utils-<version>`. Idempotent: an environment is used
 * only once its install completed (a marker file written last); a half-made one is removed and made again.
 * Concurrent callers wait on a lock file. Needs `python3` with its venv module (Debian: python3-venv) or pip, and
 * PyPI reachable the first time.
 *
 *   node dist/scripts/case-utils.js   # prints the path of case_validate
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { scriptSettings } from './settings';
import versions from './versions.json';

const PIN = (versions as unknown as Record<string, { package: string; version: string }>)['case-utils']!;

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Runs a command with fixed arguments (never a shell), its output to stderr. */
function run(command: string, args: string[]): void {
  execFileSync(command, args, { stdio: ['ignore', process.stderr, process.stderr], timeout: 600_000 });
}

function makeVenv(dir: string): void {
  try {
    run('python3', ['-m', 'venv', dir]);
  } catch {
    // No ensurepip (Debian without python3-venv): a venv without pip, filled by the system's pip.
    fs.rmSync(dir, { recursive: true, force: true });
    run('python3', ['-m', 'venv', '--without-pip', dir]);
    run('python3', [
      '-m',
      'pip',
      '--python',
      path.join(dir, 'bin', 'python'),
      'install',
      '--quiet',
      `${PIN.package}==${PIN.version}`,
    ]);
    return;
  }
  run(path.join(dir, 'bin', 'pip'), [
    'install',
    '--quiet',
    '--disable-pip-version-check',
    `${PIN.package}==${PIN.version}`,
  ]);
}

/** The path of `case_validate`, installing case-utils first when needed. */
export function ensureCaseValidate(cacheDir = scriptSettings().cacheDir): string {
  const dir = path.join(cacheDir, 'venv', `${PIN.package}-${PIN.version}`);
  const bin = path.join(dir, 'bin', 'case_validate');
  const marker = path.join(dir, '.holdfast-complete');
  if (fs.existsSync(marker) && fs.existsSync(bin)) return bin;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const lock = `${dir}.lock`;
  const deadline = Date.now() + 15 * 60_000;
  let fd: number | undefined;
  while (fd === undefined) {
    try {
      fd = fs.openSync(lock, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock older than the install could take is left by a process that died.
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 15 * 60_000) fs.rmSync(lock, { force: true });
      if (Date.now() > deadline) throw new Error(`waited 15 min for ${lock}`);
      sleep(500);
    }
  }
  try {
    if (fs.existsSync(marker) && fs.existsSync(bin)) return bin;
    fs.rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`[holdfast] installing ${PIN.package} ${PIN.version} from PyPI into ${dir}…\n`);
    makeVenv(dir);
    if (!fs.existsSync(bin)) throw new Error(`${PIN.package} ${PIN.version} installed no ${bin}`);
    fs.writeFileSync(marker, `${PIN.package}==${PIN.version}\n`);
    return bin;
  } finally {
    fs.closeSync(fd);
    fs.rmSync(lock, { force: true });
  }
}

if (require.main === module) process.stdout.write(`${ensureCaseValidate()}\n`);
