/**
 * S3 stops in the middle of an upload: the store fails the attempt (retryable), its multipart upload
 * never becomes an object, the retry succeeds once S3 is back, and the sealed manifest holds only the
 * complete artifact. Runs its own versitygw (temp data dir, fixed port so it can come back) so stopping
 * it disturbs no other test; the second test goes through the real incident workflow and Temporal's
 * activity retry. (Not startS3 from scripts/stack.ts: see startOwnS3 below.)
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import {
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createEvidenceServices, type EvidenceServices } from '../../worker/evidence';
import { parseManifest } from '../../evidence/manifest';
import { createS3Client } from '../../adapters/s3/client';
import { loadConfig } from '../../common/config';
import { toActivityFailure } from '../../common/failures';
import type { CaptureOptions, CaptureStream } from '../../common/ports';
import type { PodRef } from '../../common/types';
import { spawnOwned, type OwnedChild } from '../../scripts/processes';
import { ensureServer } from '../../scripts/servers';
import { ensureLockedBucket, freePort } from '../../scripts/stack';
import { FakeCluster } from '../fakes/cluster';
import { missingServers, testConfig } from '../helpers/env';
import { sampleAlert, startHarness } from '../helpers/incident-harness';

const skip = missingServers();
const MiB = 1024 * 1024;
const BUCKET = 'holdfast-evidence';

/** 1 MiB blocks, deterministic, produced slowly; `at(bytes)` fires once when that many have been produced. */
function slowStream(
  size: number,
  seed: number,
  delayMs: number,
  at?: { bytes: number; run: () => Promise<void> },
): Readable {
  let produced = 0;
  let fired = false;
  return new Readable({
    highWaterMark: MiB,
    read() {
      if (produced >= size) return void this.push(null);
      const go = async () => {
        if (at && !fired && produced >= at.bytes) {
          fired = true;
          await at.run();
        }
        await new Promise((r) => setTimeout(r, delayMs));
        const block = Buffer.alloc(Math.min(MiB, size - produced), (seed + produced / MiB) & 0xff);
        produced += block.length;
        this.push(block);
      };
      go().catch((err: Error) => this.destroy(err));
    },
  });
}

function expectedSha(size: number, seed: number): string {
  const hash = crypto.createHash('sha256');
  for (let off = 0; off < size; off += MiB)
    hash.update(Buffer.alloc(Math.min(MiB, size - off), (seed + off / MiB) & 0xff));
  return hash.digest('hex');
}

interface OwnS3 {
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

/**
 * Our own versitygw, like scripts/stack.ts startS3, but its output goes straight to a file descriptor:
 * startS3 pipes stdout and stderr into one write stream, so a server stopped while still logging makes
 * the second pipe write after the first one ended it (ERR_STREAM_WRITE_AFTER_END, uncaught).
 */
async function startOwnS3(dataDir: string, port: number, credentials: OwnS3['credentials']): Promise<OwnS3> {
  const bin = await ensureServer('versitygw', () => {});
  const root = path.join(dataDir, 's3', 'root');
  const versions = path.join(dataDir, 's3', 'versions');
  fs.mkdirSync(root, { recursive: true });
  fs.mkdirSync(versions, { recursive: true });
  const log = fs.openSync(path.join(dataDir, 'versitygw.log'), 'a');
  let server: OwnedChild;
  try {
    server = spawnOwned(
      'versitygw',
      bin,
      ['--port', `127.0.0.1:${port}`, 'posix', '--versioning-dir', versions, root],
      {
        stdio: ['ignore', log, log],
        env: { ...process.env, ROOT_ACCESS_KEY: credentials.accessKeyId, ROOT_SECRET_KEY: credentials.secretAccessKey },
      },
    );
  } finally {
    fs.closeSync(log);
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const s3 = createS3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, bucket: BUCKET, ...credentials });
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const up = await s3.send(new HeadBucketCommand({ Bucket: BUCKET })).then(
        () => true,
        (err: { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 404,
      );
      if (up) break;
      if (Date.now() > deadline) throw new Error(`versitygw did not start; see ${dataDir}/versitygw.log`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await ensureLockedBucket(s3, BUCKET);
  } catch (err) {
    await server.stop();
    throw err;
  } finally {
    s3.destroy();
  }
  return { endpoint, credentials, stop: () => server.stop() };
}

describe('S3 stopped in the middle of an upload', { skip }, () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-evidence-outage-'));
  let port: number;
  let s3Server: OwnS3;
  const credentials = {
    accessKeyId: `outage${crypto.randomBytes(6).toString('hex')}`,
    secretAccessKey: crypto.randomBytes(24).toString('base64url'),
  };
  let s3: S3Client;
  let services: EvidenceServices;
  const config = () => {
    const base = testConfig('evidence-outage-unused');
    return {
      ...base,
      dataDir,
      s3: {
        ...base.s3,
        endpoint: s3Server.endpoint,
        bucket: BUCKET,
        accessKeyId: s3Server.credentials.accessKeyId,
        secretAccessKey: s3Server.credentials.secretAccessKey,
      },
    };
  };
  const stopS3 = async () => {
    await s3Server.stop();
  };
  const restartS3 = async () => {
    s3Server = await startOwnS3(dataDir, port, credentials);
  };
  const pendingUploads = async (prefix: string) =>
    (await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: prefix }))).Uploads?.length ?? 0;

  before(async () => {
    port = await freePort();
    s3Server = await startOwnS3(dataDir, port, credentials);
    s3 = createS3Client(config().s3);
    services = createEvidenceServices({ ...config(), evidence: loadConfig({}).evidence }, s3);
  });

  after(async () => {
    s3?.destroy();
    await s3Server?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('the attempt fails retryably, leaves no object; the retry succeeds once S3 is back; sealing sweeps the orphan upload', async () => {
    const incidentId = `inc-outage-${crypto.randomBytes(4).toString('hex')}`;
    const size = 40 * MiB;
    const put = (body: Readable) =>
      services.store.putArtifact({
        incidentId,
        step: 'memory',
        name: 'core.42',
        contentType: 'application/octet-stream',
        collector: { name: 'holdfast-collector', version: '1' },
        method: '/proc/42/mem',
        body,
      });
    const failed = await put(slowStream(size, 1, 5, { bytes: 20 * MiB, run: stopS3 })).then(
      () => assert.fail('the upload should fail while S3 is down'),
      (err: Error) => err,
    );
    assert.notEqual(
      (failed as { nonRetryable?: boolean }).nonRetryable,
      true,
      `retryable: ${failed.name} ${failed.message}`,
    );
    const failure = toActivityFailure(failed) as { nonRetryable?: boolean };
    assert.notEqual(failure.nonRetryable, true, 'the activity layer must let Temporal retry');

    await restartS3();
    const key = `incidents/${incidentId}/memory/core.42`;
    const versionsAfterFailure = await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: key }));
    assert.equal(versionsAfterFailure.Versions?.length ?? 0, 0, 'a failed upload never becomes an object');
    // S3 was down when the store tried to abort: the upload is left over until sealing sweeps it.
    assert.equal(await pendingUploads(`incidents/${incidentId}/`), 1, 'the orphaned multipart upload is visible');

    const ref = await put(slowStream(size, 1, 0));
    assert.equal(ref.size, size);
    assert.equal(ref.sha256, expectedSha(size, 1));

    const sealed = await services.sealEvidence({
      incidentId,
      workflowId: 'wf',
      runId: 'run',
      alerts: [],
      target: { cluster: 'test', namespace: 'shop', pod: 'web' },
      artifacts: [ref],
      failures: [],
    });
    assert.equal(await pendingUploads(`incidents/${incidentId}/`), 0, 'sealing aborted the orphan');
    const manifest = parseManifest(
      (await services.store.readSmall(sealed.manifest.key, sealed.manifest.versionId, 1e7)).bytes,
    );
    assert.deepEqual(
      manifest.artifacts.map((a) => [a.key, a.versionId, a.size, a.sha256]),
      [[key, ref.versionId, size, ref.sha256]],
    );
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: key }));
    assert.deepEqual(
      versions.Versions?.map((v) => v.VersionId),
      [ref.versionId],
      'exactly one (complete) version exists',
    );
  });

  test('through the incident workflow: Temporal retries the capture activity after S3 returns, the manifest holds the complete artifact only', async () => {
    const size = 30 * MiB;
    let attempts = 0;
    class OutageCluster extends FakeCluster {
      override async capture(
        kind: 'filesystem' | 'memory' | 'logs' | 'network',
        target: PodRef,
        opts: CaptureOptions,
      ): Promise<CaptureStream[]> {
        if (kind !== 'filesystem') return super.capture(kind, target, opts);
        attempts++;
        // Attempt 1: S3 dies after 12 MiB. Attempt 2 (Temporal's retry) starts only after that failure: bring S3 back first.
        if (attempts === 2) await restartS3();
        const body = attempts === 1 ? slowStream(size, 9, 5, { bytes: 12 * MiB, run: stopS3 }) : slowStream(size, 9, 0);
        return [
          {
            name: 'rootfs.tar',
            body,
            contentType: 'application/x-tar',
            method: 'tar',
            collector: { name: 'fake-collector', version: '1' },
            notes: [],
          },
        ];
      }
    }
    const h = await startHarness(
      `
notifiers:
  - { name: tier1, type: webhook }
playbooks:
  - name: outage
    capture: [filesystem]
    escalation: { tiers: [{ notifiers: [tier1], ackTimeout: 600s }] }
`,
      { cluster: new OutageCluster(), evidence: services.store, sealEvidence: services.sealEvidence },
    );
    try {
      const alert = sampleAlert();
      const handle = await h.open(alert);
      const status = await h.waitForStatus(
        handle,
        (s) => s.steps.some((st) => st.kind === 'seal' && (st.state === 'succeeded' || st.state === 'failed')),
        120_000,
      );
      assert.equal(attempts, 2, 'one failed attempt, one retry');
      const seal = status.steps.find((s) => s.kind === 'seal')!;
      assert.equal(seal.state, 'succeeded', seal.error);
      const capture = status.steps.find((s) => s.name === 'filesystem')!;
      assert.equal(capture.state, 'succeeded', capture.error);
      const manifestBytes = (await services.store.readSmall(status.manifestKey!, undefined, 1e7)).bytes;
      const manifest = parseManifest(manifestBytes);
      const fsArtifacts = manifest.artifacts.filter((a) => a.name === 'rootfs.tar');
      assert.equal(fsArtifacts.length, 1);
      assert.equal(fsArtifacts[0]!.size, size);
      assert.equal(fsArtifacts[0]!.sha256, expectedSha(size, 9));
      const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: fsArtifacts[0]!.key }));
      assert.deepEqual(
        versions.Versions?.map((v) => v.VersionId),
        [fsArtifacts[0]!.versionId],
      );
      assert.equal(await pendingUploads(`incidents/${manifest.incidentId}/`), 0);
    } finally {
      await h.close();
    }
  });
});
