import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnOwned } from '../../scripts/processes';
import { ensureServer } from '../../scripts/servers';
import { freePort } from '../../scripts/stack';

/** An alert as Alertmanager's API v2 takes it (POST /api/v2/alerts). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  endsAt?: string;
  generatorURL?: string;
}

export interface AlertmanagerTiming {
  groupWait: string;
  groupInterval: string;
  repeatInterval: string;
}

export interface RunningAlertmanager {
  url: string;
  /** The version it reports (GET /api/v2/status). */
  version: string;
  logFile: string;
  push(alerts: PostableAlert[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real Prometheus Alertmanager (the pinned version, built by scripts/servers.ts) with one route to one
 * webhook receiver, authenticated with a bearer token as Alertmanager's http_config sends it. Clustering is
 * off (no gossip port, no settle wait); its data and log go under `dataDir`.
 */
export async function startAlertmanager(opts: {
  dataDir: string;
  webhookUrl: string;
  token: string;
  groupBy: string[];
  timing: AlertmanagerTiming;
}): Promise<RunningAlertmanager> {
  const bin = await ensureServer('alertmanager', () => {});
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const tokenFile = path.join(opts.dataDir, 'holdfast-token');
  fs.writeFileSync(tokenFile, opts.token, { mode: 0o600 });
  const configFile = path.join(opts.dataDir, 'alertmanager.yml');
  // JSON is YAML: every value is quoted, nothing in it is read as YAML syntax.
  const config = {
    route: {
      receiver: 'holdfast',
      group_by: opts.groupBy,
      group_wait: opts.timing.groupWait,
      group_interval: opts.timing.groupInterval,
      repeat_interval: opts.timing.repeatInterval,
    },
    receivers: [
      {
        name: 'holdfast',
        webhook_configs: [
          {
            url: opts.webhookUrl,
            send_resolved: true,
            http_config: { authorization: { type: 'Bearer', credentials_file: tokenFile } },
          },
        ],
      },
    ],
  };
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = path.join(opts.dataDir, 'alertmanager.log');
  const log = fs.openSync(logFile, 'a');
  let server;
  try {
    server = spawnOwned(
      'alertmanager',
      bin,
      [
        `--config.file=${configFile}`,
        `--storage.path=${path.join(opts.dataDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
        '--log.level=debug',
      ],
      { stdio: ['ignore', log, log] },
    );
  } finally {
    fs.closeSync(log);
  }
  const owned = server;
  let exited = false;
  void owned.exited.then(() => (exited = true));
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited) throw new Error(`alertmanager exited during start-up; see ${logFile}`);
      const ready = await fetch(`${url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`alertmanager was not ready within 30 s; see ${logFile}`);
      await sleep(200);
    }
    const status = (await (await fetch(`${url}/api/v2/status`)).json()) as { versionInfo?: { version?: string } };
    return {
      url,
      version: status.versionInfo?.version ?? 'unknown',
      logFile,
      async push(alerts) {
        const res = await fetch(`${url}/api/v2/alerts`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(alerts),
        });
        if (!res.ok) throw new Error(`alertmanager refused the alerts: ${res.status} ${await res.text()}`);
      },
      stop: () => owned.stop(),
    };
  } catch (err) {
    await owned.stop();
    throw err;
  }
}
