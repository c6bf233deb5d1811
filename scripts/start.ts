/**
 * `npm start`: provisions and starts the embedded Temporal + S3 unless TEMPORAL_ADDRESS / S3_ENDPOINT
 * point at existing ones, then runs the worker and the API as supervised children. SIGINT/SIGTERM stop
 * every child; if one child dies, everything stops, so nothing is left half-running.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import path from 'node:path';
import { ConfigError, loadConfig, silenceAwsSdkNodeWarning } from '../common/config';
import { spawnOwned, type OwnedChild } from './processes';
import { scriptSettings } from './settings';
import { startS3, startTemporal } from './stack';

const say = (line: string) => process.stderr.write(`${line}\n`);

/** Proves end to end (API-independent) that the worker runs and the bucket enforces Object Lock. */
async function storageSelfTest(
  address: string,
  namespace: string,
  taskQueue: string,
  retentionMode: string,
): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection, namespace });
    const probeId = crypto.randomUUID();
    const result = await client.workflow.execute('selfTestWorkflow', {
      taskQueue,
      workflowId: `selftest-${probeId}`,
      args: [probeId],
      workflowExecutionTimeout: '2 minutes',
    });
    const ok = result.readBackMatches && result.lockedDeleteRefused;
    say(
      ok
        ? `[holdfast] self-test passed: a workflow wrote ${result.key} under ${retentionMode} retention, read it back, and the server refused to delete it.`
        : `[holdfast] SELF-TEST FAILED: read back ${result.readBackMatches ? 'ok' : 'WRONG'}, locked delete ${result.lockedDeleteRefused ? 'refused' : 'ALLOWED'}: evidence would not be protected.`,
    );
  } catch (err) {
    say(`[holdfast] self-test could not run: ${(err as Error).message}`);
  } finally {
    await connection.close();
  }
}

async function main(): Promise<number> {
  silenceAwsSdkNodeWarning();
  const config = loadConfig();
  const { ports } = scriptSettings();
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const stoppers: Array<() => Promise<void>> = [];
  const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_DATA_DIR: config.dataDir };
  let shuttingDown = false;
  let exitCode = 0;

  const shutdown = async (reason: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    say(`[holdfast] stopping (${reason})…`);
    // Reverse order: API and worker first, servers last.
    for (const stop of stoppers.reverse())
      await stop().catch((err: unknown) => say(`[holdfast] stop failed: ${String(err)}`));
    say('[holdfast] stopped.');
  };
  let markStopped: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    markStopped = resolve;
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => void shutdown(signal).then(markStopped));
  }

  try {
    const stackOpts = {
      dataDir: config.dataDir,
      namespace: config.temporal.namespace,
      bucket: config.s3.bucket,
      log: say,
    };
    if (!config.s3.endpoint) {
      say('[holdfast] starting embedded S3 (versitygw)…');
      const s3 = await startS3({ ...stackOpts, s3Port: ports.s3 });
      stoppers.push(s3.stop);
      Object.assign(env, {
        S3_ENDPOINT: s3.endpoint,
        S3_FORCE_PATH_STYLE: 'true',
        AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      });
      say(
        `[holdfast]   S3 at ${s3.endpoint}, bucket ${config.s3.bucket} (Object Lock on), credentials in ${path.join(config.dataDir, 's3-credentials.json')}`,
      );
    }
    if (!config.temporal.address) {
      say('[holdfast] starting embedded Temporal dev server…');
      const temporal = await startTemporal({
        ...stackOpts,
        temporalPort: ports.temporal,
        temporalUiPort: ports.temporalUi,
      });
      stoppers.push(temporal.stop);
      env.TEMPORAL_ADDRESS = temporal.address;
      say(`[holdfast]   Temporal at ${temporal.address}, namespace ${config.temporal.namespace}, UI ${temporal.uiUrl}`);
    }

    const children: OwnedChild[] = [
      spawnOwned('worker', process.execPath, [path.join(__dirname, '..', 'worker', 'main.js')], {
        stdio: 'inherit',
        env,
      }),
      spawnOwned('api', process.execPath, [path.join(__dirname, '..', 'api', 'main.js')], { stdio: 'inherit', env }),
    ];
    for (const child of children) {
      stoppers.push(() => child.stop());
      void child.exited.then((code) => {
        if (shuttingDown) return;
        say(`[holdfast] ${child.name} exited with code ${code}; stopping everything.`);
        exitCode = 1;
        void shutdown(`${child.name} died`).then(markStopped);
      });
    }
    say(
      `[holdfast] API on http://${config.api.host}:${config.api.port} (GET /healthz, /readyz). Ctrl-C stops everything.`,
    );
    void storageSelfTest(
      env.TEMPORAL_ADDRESS!,
      config.temporal.namespace,
      config.temporal.taskQueue,
      config.retention.mode,
    );
  } catch (err) {
    say(`[holdfast] ${err instanceof Error ? err.message : String(err)}`);
    await shutdown('start-up failed');
    return 1;
  }
  await stopped;
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(err instanceof ConfigError ? `[holdfast] configuration error: ${err.message}` : String(err));
    process.exit(1);
  },
);
