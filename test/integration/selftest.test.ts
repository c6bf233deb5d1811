import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { DeleteObjectCommand, GetObjectRetentionCommand } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { createS3Client } from '../../adapters/s3/client';
import { createWorker } from '../../worker/main';
import { missingServers, quietTemporalRuntime, testConfig } from '../helpers/env';

const skip = missingServers();

describe('smoke: workflow → activity → S3 with Object Lock, on the real servers', { skip }, () => {
  const config = testConfig(`selftest-${crypto.randomUUID()}`);
  let running: Awaited<ReturnType<typeof createWorker>>;
  let workerDone: Promise<void>;
  let connection: Connection;
  let client: Client;

  before(async () => {
    quietTemporalRuntime();
    running = await createWorker(config);
    workerDone = running.worker.run();
    connection = await Connection.connect({ address: config.temporal.address! });
    client = new Client({ connection, namespace: config.temporal.namespace });
  });

  after(async () => {
    running.worker.shutdown();
    await workerDone;
    await running.close();
    await connection.close();
  });

  test('the self-test workflow writes a locked object, reads it back, and the server refuses its deletion', async () => {
    const probeId = crypto.randomUUID();
    const result = await client.workflow.execute('selfTestWorkflow', {
      taskQueue: config.temporal.taskQueue,
      workflowId: `selftest-${probeId}`,
      args: [probeId],
      workflowExecutionTimeout: '60 seconds',
    });
    assert.equal(result.key, `selftest/${probeId}.txt`);
    assert.ok(result.versionId.length > 0, 'a version id');
    assert.equal(result.readBackMatches, true);
    assert.equal(result.lockedDeleteRefused, true, 'deleting a locked version must be refused');
    assert.match(result.refusal, /AccessDenied|locked|retention|WORM/i);

    // Check the lock from outside the workflow too: the retention is on the object and deletion is still refused.
    const s3 = createS3Client(config.s3);
    try {
      const retention = await s3.send(
        new GetObjectRetentionCommand({ Bucket: config.s3.bucket, Key: result.key, VersionId: result.versionId }),
      );
      assert.equal(retention.Retention?.Mode, config.retention.mode);
      assert.ok(retention.Retention?.RetainUntilDate && retention.Retention.RetainUntilDate.getTime() > Date.now());
      await assert.rejects(
        s3.send(new DeleteObjectCommand({ Bucket: config.s3.bucket, Key: result.key, VersionId: result.versionId })),
        (err: Error) => /AccessDenied|locked|retention|WORM/i.test(`${err.name} ${err.message}`),
      );
    } finally {
      s3.destroy();
    }
  });
});
