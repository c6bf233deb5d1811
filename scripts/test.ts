/**
 * `npm test`: starts the real servers the tests need on free loopback ports (Temporal, S3 and, as root,
 * the local Kubernetes cluster; the Alertmanager test starts its own, built here), runs every test with
 * node's test runner, stops everything, and exits with the runner's status. Extra arguments select test
 * files or folders (default: all of dist/test).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silenceAwsSdkNodeWarning } from '../common/config';
import { clusterDown, clusterUp, repoRoot } from './local-env';
import { spawnOwned } from './processes';
import { ensureServer } from './servers';
import { scriptSettings } from './settings';
import { startStack } from './stack';

const say = (line: string) => process.stderr.write(`${line}\n`);
const TEST_DIRS = ['unit', 'integration', 'cluster', 'e2e'];

/** The local cluster when we can run it (root, scripts present); its kubeconfig path, or undefined (tests skip). */
function clusterIfPossible(): string | undefined {
  if (scriptSettings().skipCluster) {
    say('[holdfast] HOLDFAST_SKIP_CLUSTER=1: cluster tests will skip.');
    return undefined;
  }
  if (!fs.existsSync(path.join(repoRoot, 'scripts', 'cluster', 'up.sh'))) return undefined;
  if (process.getuid?.() !== 0) {
    say(
      '[holdfast] not root: the local Kubernetes cluster (containerd, kubelet) needs root, so cluster tests will skip.',
    );
    return undefined;
  }
  return clusterUp(say);
}

async function main(): Promise<number> {
  silenceAwsSdkNodeWarning();
  const requested = process.argv.slice(2);
  const targets =
    requested.length > 0
      ? requested
      : TEST_DIRS.map((dir) => path.join(repoRoot, 'dist', 'test', dir)).filter((dir) => fs.existsSync(dir));

  // The intake's test against a real sender starts its own Alertmanager (test/helpers/alertmanager.ts): built
  // here on a cold cache, so the build is not counted against that test's time.
  await ensureServer('alertmanager', say);
  // The console's browser tests drive Debian's Chromium: installed here as root when missing. Not fatal here:
  // without it those tests fail loudly themselves, and the rest still run.
  spawnSync('bash', [path.join(repoRoot, 'scripts', 'browser.sh')], { stdio: 'inherit' });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-test-'));
  say(`[holdfast] starting Temporal and S3 for the tests (data in ${dataDir})…`);
  const stack = await startStack({ dataDir, namespace: 'holdfast', bucket: 'holdfast-evidence', log: say });
  let kubeconfig: string | undefined;
  try {
    kubeconfig = clusterIfPossible();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...stack.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      HOLDFAST_TEST_DATA_DIR: dataDir,
      // Keys and tokens that tests generate belong to this run, not to the checkout's .holdfast/.
      HOLDFAST_DATA_DIR: path.join(dataDir, 'holdfast'),
      HOLDFAST_LOG_LEVEL: process.env.HOLDFAST_LOG_LEVEL ?? 'warn',
      ...(kubeconfig ? { HOLDFAST_TEST_KUBECONFIG: kubeconfig } : {}),
    };
    const runner = spawnOwned('node --test', process.execPath, ['--test', '--test-reporter=spec', ...targets], {
      stdio: 'inherit',
      env,
      cwd: repoRoot,
    });
    const forward = () => void runner.stop();
    process.once('SIGINT', forward);
    process.once('SIGTERM', forward);
    return (await runner.exited) ?? 1;
  } finally {
    say('[holdfast] stopping test servers…');
    await stack.stop();
    if (kubeconfig) clusterDown();
    if (!scriptSettings().keepTestData) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`[holdfast] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
