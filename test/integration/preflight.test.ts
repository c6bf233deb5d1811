/**
 * GET /v1/preflight against the real S3 (versitygw) and Temporal servers `npm test` starts, asked through the
 * CLI's --remote: the evidence bucket's Object Lock, the clocks and the Temporal namespace with its search
 * attributes pass; a bucket without Object Lock and a namespace that does not exist fail with their fix.
 * (The cluster checks are proven in test/cluster/preflight.test.ts, under the cluster lock.)
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, DeleteBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { createS3Client } from '../../adapters/s3/client';
import type { IncidentsService } from '../../api/incidents';
import { createApiMetrics } from '../../api/metrics';
import { configuredPreflight, preflightRoutes } from '../../api/routes/preflight';
import { buildServer } from '../../api/server';
import { preflightCommand } from '../../cli/preflight';
import type { PreflightReport } from '../../common/preflight';
import { SEARCH_ATTRIBUTE_NAMES } from '../../common/search-attributes';
import { missingServers, testConfig } from '../helpers/env';

const OPERATOR = `operator-${crypto.randomBytes(12).toString('hex')}`;
const STORE_CHECKS = 'object-lock,clock-skew,temporal';

describe('GET /v1/preflight on the real S3 and Temporal servers', { skip: missingServers() }, () => {
  const unlocked = `holdfast-preflight-${crypto.randomBytes(4).toString('hex')}`;
  const apps: FastifyInstance[] = [];
  let s3: S3Client;

  /** The API with the preflight route over `overrides` of the test configuration, listening on a free port. */
  async function api(overrides: Record<string, string> = {}): Promise<string> {
    // No KUBECONFIG: the cluster stays out of this test (it needs the cluster lock).
    const config = testConfig('preflight', { KUBECONFIG: '', ...overrides });
    const app = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: {},
      tokens: new Map([[OPERATOR, 'operator' as const]]),
      incidents: {} as IncidentsService,
      metrics: createApiMetrics(),
      routes: [
        preflightRoutes(configuredPreflight({ ...config, kubernetes: { ...config.kubernetes, inCluster: false } })),
      ],
    });
    apps.push(app);
    await app.listen({ host: '127.0.0.1', port: 0 });
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  }

  /** `holdfast preflight --remote --json`, its exit code and report (its stderr in the message when it has none). */
  async function remote(url: string): Promise<{ code: number; report: PreflightReport }> {
    const text = { out: '', err: '' };
    const sink = (key: 'out' | 'err') =>
      new Writable({
        write(chunk, _e, cb) {
          text[key] += String(chunk);
          cb();
        },
      });
    const code = await preflightCommand(['--remote', '--json', '--only', STORE_CHECKS], {
      stdout: sink('out'),
      stderr: sink('err'),
      config: { apiUrl: url, token: OPERATOR },
    });
    assert.notEqual(code, 2, `holdfast preflight --remote failed: ${text.err}`);
    return { code, report: JSON.parse(text.out) as PreflightReport };
  }

  const result = (report: PreflightReport, name: string) => report.results.find((r) => r.name === name)!;

  before(async () => {
    s3 = createS3Client(testConfig('preflight').s3);
    await s3.send(new CreateBucketCommand({ Bucket: unlocked }));
  });
  after(async () => {
    for (const app of apps) await app.close();
    await s3.send(new DeleteBucketCommand({ Bucket: unlocked })).catch(() => undefined);
    s3.destroy();
  });

  test('the evidence bucket, the clocks and the Temporal namespace pass (exit 0)', async () => {
    const { code, report } = await remote(await api());
    const summary = JSON.stringify(report, null, 2);
    assert.equal(code, 0, summary);
    assert.equal(report.verdict, 'ready');
    assert.deepEqual(
      report.results.map((r) => [r.name, r.status]),
      [
        ['object-lock', 'pass'],
        ['clock-skew', 'pass'],
        ['temporal', 'pass'],
      ],
      summary,
    );
    assert.match(result(report, 'object-lock').detail, /bucket holdfast-evidence: Object Lock enabled/, summary);
    // Same machine: the S3 server's Date is this clock, within the header's second and the request's time.
    assert.match(result(report, 'clock-skew').detail, /S3 [+-]?[0-9]+\.[0-9] s \(±[0-9]+\.[0-9] s\)/, summary);
    assert.match(result(report, 'clock-skew').detail, /Kubernetes API server: not reachable from here/, summary);
    assert.equal(
      result(report, 'temporal').detail,
      `namespace holdfast answers; ${SEARCH_ATTRIBUTE_NAMES.length} search attributes registered`,
    );
    for (const r of report.results) assert.match(r.neededBy ?? '', /every incident/);
  });

  test('a bucket without Object Lock and a missing Temporal namespace fail with their fix (exit 1)', async () => {
    const namespace = `missing-${crypto.randomBytes(4).toString('hex')}`;
    const { code, report } = await remote(await api({ S3_BUCKET: unlocked, TEMPORAL_NAMESPACE: namespace }));
    const summary = JSON.stringify(report, null, 2);
    assert.equal(code, 1, summary);
    assert.equal(report.verdict, 'not-ready');
    const lock = result(report, 'object-lock');
    assert.equal(lock.status, 'fail', summary);
    assert.match(lock.detail, new RegExp(`bucket ${unlocked} has no Object Lock`));
    assert.match(lock.fix ?? '', /object-lock-enabled-for-bucket/);
    const temporal = result(report, 'temporal');
    assert.equal(temporal.status, 'fail', summary);
    assert.equal(temporal.detail, `Temporal answers but has no namespace ${namespace}`);
    assert.equal(temporal.fix, `create it: temporal operator namespace create ${namespace}`);
    assert.equal(result(report, 'clock-skew').status, 'pass', summary);
  });
});
