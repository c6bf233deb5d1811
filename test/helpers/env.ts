import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { loadConfig, type HoldfastConfig } from '../../common/config';

/** The repository root, from dist/test/helpers at run time. */
export const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const fixturesDir = path.join(repoRoot, 'test', 'fixtures');

/** Why a test that needs the real servers cannot run, or undefined when it can. `npm test` starts them. */
export function missingServers(): string | undefined {
  if (!process.env.TEMPORAL_ADDRESS || !process.env.S3_ENDPOINT) {
    return 'TEMPORAL_ADDRESS/S3_ENDPOINT not set: run through `npm test`, which starts the real servers';
  }
  return undefined;
}

/**
 * Configuration for a test, on its own task queue so tests never steal each other's tasks. Its worker serves
 * cluster `test` (the tests' alerts name it) unless the overrides say otherwise.
 */
export function testConfig(taskQueue: string, overrides: Record<string, string> = {}): HoldfastConfig {
  const config = loadConfig({ ...process.env, HOLDFAST_CLUSTER_NAME: 'test', ...overrides });
  return { ...config, temporal: { ...config.temporal, taskQueue } };
}

let runtimeInstalled = false;
/** Temporal's worker logs at INFO by default; tests only want warnings. Call before creating a worker. */
export function quietTemporalRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('WARN') });
}
