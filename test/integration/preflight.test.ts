/**
 * `holdfast preflight` end to end on the real S3 (versitygw) and Temporal servers `npm test` starts: the CLI
 * asks GET /v1/preflight, the API starts preflightWorkflow on the task queue of the cluster's worker
 * (HOLDFAST_CLUSTERS), and the worker (a real one, createWorker) runs the checks with its own settings. The
 * evidence bucket's Object Lock, the clocks and the Temporal namespace with its search attributes pass; a
 * worker whose bucket has no Object Lock fails with the fix; a second run on a cluster while one runs is
 * refused (409); a Temporal that does not answer gives a report whose temporal check fails, within a bound.
 * (The cluster checks are proven in test/cluster/preflight.test.ts, under the cluster lock.)
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, DeleteBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { createS3Client } from '../../adapters/s3/client';
import type { HoldfastConfig } from '../../common/config';
import { PREFLIGHT_WORKFLOW, preflightWorkflowId, type PreflightReport } from '../../common/preflight';
import { SEARCH_ATTRIBUTE_NAMES } from '../../common/search-attributes';
import { createWorker } from '../../worker/main';
import { missingServers, quietTemporalRuntime, testConfig } from '../helpers/env';
import { preflightCli, startPreflightApi, workerPolls } from '../helpers/preflight';

const OPERATOR = `operator-${crypto.randomBytes(12).toString('hex')}`;
const STORE_CHECKS = 'object-lock,clock-skew,temporal';
const RUN = crypto.randomBytes(4).toString('hex');

describe(
  'holdfast preflight through the API, Temporal and a worker, on the real servers',
  { skip: missingServers() },
  () => {
    const unlocked = `holdfast-preflight-${RUN}`;
    /** Cluster → task queue: `home`'s worker has the evidence bucket, `unlocked`'s one without Object Lock. */
    const clusters = new Map([
      [`home-${RUN}`, `preflight-home-${RUN}`],
      [`unlocked-${RUN}`, `preflight-unlocked-${RUN}`],
      // This one's worker has an S3 that accepts connections and never answers: its preflight keeps running.
      [`slow-${RUN}`, `preflight-slow-${RUN}`],
      // No worker polls this one.
      [`idle-${RUN}`, `preflight-idle-${RUN}`],
    ]);
    const [home, noLock, slow, idle] = [...clusters.keys()] as [string, string, string, string];
    /** The slow cluster's S3: a listener that never answers (its sockets, ended in after()). */
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => sockets.push(socket));
    const apps: FastifyInstance[] = [];
    const workers: Array<{ stop: () => Promise<void> }> = [];
    const connections: Connection[] = [];
    let s3: S3Client;
    let client: Client;
    let config: HoldfastConfig;

    /** A real worker on `taskQueue` with the test configuration and `overrides`; no cluster access (no lock). */
    async function startWorker(taskQueue: string, overrides: Record<string, string> = {}) {
      const base = testConfig(taskQueue, { KUBECONFIG: '', ...overrides });
      const running = await createWorker({ ...base, kubernetes: { ...base.kubernetes, inCluster: false } });
      const done = running.worker.run();
      await workerPolls(client, base.temporal.namespace, taskQueue);
      workers.push({
        async stop() {
          running.worker.shutdown();
          await done;
          await running.close();
        },
      });
    }

    /** The API with the preflight route, its Temporal client on `temporal`, listening on a free port. */
    async function api(temporal: Client, address: string): Promise<string> {
      const { url, app } = await startPreflightApi({
        client: temporal,
        clusters,
        defaultCluster: home,
        address,
        namespace: config.temporal.namespace,
        token: OPERATOR,
      });
      apps.push(app);
      return url;
    }

    const cli = (url: string, args: string[]) => preflightCli(url, OPERATOR, args);

    const result = (report: PreflightReport, name: string) => report.results.find((r) => r.name === name)!;

    before(async () => {
      quietTemporalRuntime();
      config = testConfig(`preflight-${RUN}`);
      s3 = createS3Client(config.s3);
      await s3.send(new CreateBucketCommand({ Bucket: unlocked }));
      const connection = await Connection.connect({ address: config.temporal.address! });
      connections.push(connection);
      client = new Client({ connection, namespace: config.temporal.namespace });
      await startWorker(clusters.get(home)!);
      await startWorker(clusters.get(noLock)!, { S3_BUCKET: unlocked });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      await startWorker(clusters.get(slow)!, {
        S3_ENDPOINT: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      });
    });
    after(async () => {
      for (const app of apps) await app.close();
      for (const w of workers) await w.stop();
      for (const socket of sockets) socket.destroy();
      silent.close();
      for (const c of connections) await c.close().catch(() => undefined);
      await s3.send(new DeleteBucketCommand({ Bucket: unlocked })).catch(() => undefined);
      s3.destroy();
    });

    test('the worker runs the checks: bucket, clocks and Temporal namespace pass (exit 0)', async () => {
      const url = await api(client, config.temporal.address!);
      const { code, report, err } = await cli(url, ['--only', STORE_CHECKS]);
      const summary = JSON.stringify(report, null, 2);
      assert.equal(code, 0, `${err}${summary}`);
      assert.equal(report!.verdict, 'ready');
      assert.deepEqual(
        report!.results.map((r) => [r.name, r.status]),
        [
          ['object-lock', 'pass'],
          ['clock-skew', 'pass'],
          ['temporal', 'pass'],
        ],
        summary,
      );
      assert.match(result(report!, 'object-lock').detail, /bucket holdfast-evidence: Object Lock enabled/, summary);
      // Same machine: the S3 server's Date is this clock, within the header's second and the request's time.
      assert.match(result(report!, 'clock-skew').detail, /S3 [+-]?[0-9]+\.[0-9] s \(±[0-9]+\.[0-9] s\)/, summary);
      assert.match(result(report!, 'clock-skew').detail, /Kubernetes API server: not reachable from here/, summary);
      assert.equal(
        result(report!, 'temporal').detail,
        `namespace holdfast answers; ${SEARCH_ATTRIBUTE_NAMES.length} search attributes registered`,
      );
      for (const r of report!.results) assert.match(r.neededBy ?? '', /every incident/);
      // It ran as a workflow on the home cluster's task queue: the API process ran no check itself.
      const run = await client.workflow.getHandle(preflightWorkflowId(home)).describe();
      assert.equal(run.type, PREFLIGHT_WORKFLOW);
      assert.equal(run.taskQueue, clusters.get(home));
      assert.equal(run.status.name, 'COMPLETED');
      // A finished preflight may be run again on the same cluster (same workflow id, a new run).
      const again = await cli(url, ['--only', 'temporal']);
      assert.equal(again.code, 0, again.err);
      const second = await client.workflow.getHandle(preflightWorkflowId(home)).describe();
      assert.notEqual(second.runId, run.runId);
    });

    test('the unlocked cluster’s worker: its bucket without Object Lock fails with the fix (exit 1)', async () => {
      const { code, report, err } = await cli(await api(client, config.temporal.address!), [
        '--cluster',
        noLock,
        '--only',
        STORE_CHECKS,
      ]);
      const summary = JSON.stringify(report, null, 2);
      assert.equal(code, 1, `${err}${summary}`);
      assert.equal(report!.verdict, 'not-ready');
      const lock = result(report!, 'object-lock');
      assert.equal(lock.status, 'fail', summary);
      assert.match(lock.detail, new RegExp(`bucket ${unlocked} has no Object Lock`));
      assert.match(lock.fix ?? '', /object-lock-enabled-for-bucket/);
      assert.equal(result(report!, 'temporal').status, 'pass', summary);
      assert.equal(result(report!, 'clock-skew').status, 'pass', summary);
    });

    test('one preflight per cluster at a time: a second is refused (409, exit 2); an unknown cluster is 400', async () => {
      const url = await api(client, config.temporal.address!);
      // The slow cluster's worker waits on its S3: the first run keeps running.
      let answered: Awaited<ReturnType<typeof cli>> | undefined;
      const first = cli(url, ['--cluster', slow, '--only', 'object-lock']).then((r) => (answered = r));
      const handle = client.workflow.getHandle(preflightWorkflowId(slow));
      for (let i = 0; ; i++) {
        const running = await handle.describe().then(
          (d) => d.status.name === 'RUNNING',
          () => false,
        );
        if (running) break;
        assert.equal(answered, undefined, 'the first preflight ended too soon');
        assert.ok(i < 100, 'the first preflight started');
        await new Promise((r) => setTimeout(r, 100));
      }
      const second = await cli(url, ['--cluster', slow]);
      assert.equal(second.code, 2);
      assert.match(second.err, new RegExp(`409 Conflict: a preflight of cluster ${slow} is already running`));
      // Another cluster is not held up by it.
      assert.equal((await cli(url, ['--only', 'temporal'])).code, 0);
      // Held past the API server's 10 s idle bound (connectionTimeout), which the route lifts for this request:
      // a preflight with throwaway pods answers after minutes of silence.
      await new Promise((r) => setTimeout(r, 11_000));
      assert.equal(answered, undefined, 'the first request still waits');
      // Ended from outside (as an operator would): the waiting request answers with why, not a report.
      await handle.terminate('test: its S3 never answers');
      const ended = await first;
      assert.equal(ended.code, 2);
      assert.match(ended.err, /502 Bad Gateway: the preflight on the worker of cluster slow-[0-9a-f]+ did not end/);
      const unknown = await cli(url, ['--cluster', 'nowhere']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.err, /400 Bad Request: no worker serves cluster "nowhere"/);
    });

    test('no worker polls the cluster’s task queue: a report whose worker check fails with the fix, at once', async () => {
      const started = Date.now();
      const { code, report, err } = await cli(await api(client, config.temporal.address!), ['--cluster', idle]);
      const summary = JSON.stringify(report, null, 2);
      assert.equal(code, 1, `${err}${summary}`);
      assert.ok(Date.now() - started < 10_000, 'answered without waiting for a worker');
      assert.deepEqual(
        report!.results.map((r) => [r.name, r.status]),
        [['worker', 'fail']],
        summary,
      );
      assert.match(
        result(report!, 'worker').detail,
        new RegExp(`no worker has polled task queue preflight-idle-${RUN}`),
      );
      assert.match(result(report!, 'worker').fix ?? '', new RegExp(`start the worker of cluster ${idle}`));
      // Nothing was started that would wait for a worker.
      await assert.rejects(client.workflow.getHandle(preflightWorkflowId(idle)).describe(), /not found/i);
    });

    test('Temporal not answering: a report whose temporal check fails with the fix, within the bound (exit 1)', async () => {
      // A port nobody listens on: taken, then released.
      const closed = await new Promise<number>((resolve) => {
        const server = net.createServer().listen(0, '127.0.0.1', () => {
          const { port } = server.address() as AddressInfo;
          server.close(() => resolve(port));
        });
      });
      const address = `127.0.0.1:${closed}`;
      const connection = Connection.lazy({ address });
      // Not closed: the client may still have a retry of the refused call scheduled (it ends at the deadline), and
      // a closed channel makes that retry throw. It holds no socket: the process still ends.
      const started = Date.now();
      const { code, report, err } = await cli(
        await api(new Client({ connection, namespace: config.temporal.namespace }), address),
        [],
      );
      const elapsed = Date.now() - started;
      const summary = JSON.stringify(report, null, 2);
      assert.equal(code, 1, `${err}${summary}`);
      assert.ok(elapsed < 20_000, `answered in ${elapsed} ms`);
      assert.deepEqual(
        report!.results.map((r) => [r.name, r.status]),
        [['temporal', 'fail']],
        summary,
      );
      assert.match(result(report!, 'temporal').detail, new RegExp(`Temporal at ${address} did not take the preflight`));
      assert.match(result(report!, 'temporal').fix ?? '', new RegExp(`make ${address} reachable from the API`));
    });
  },
);
