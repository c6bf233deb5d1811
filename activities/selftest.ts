import crypto from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { HoldfastConfig } from '../common/config';
import { FailureType, nonRetryableFailure } from '../common/failures';
import type { StorageSelfTestResult } from './contract';

export interface SelfTestDeps {
  s3: S3Client;
  bucket: string;
  retention: HoldfastConfig['retention'];
}

/**
 * Proves the evidence bucket really enforces Object Lock: writes a small object under retention,
 * reads it back, and checks that deleting that exact version is refused by the server.
 */
export function createSelfTestActivities(deps: SelfTestDeps) {
  return {
    async storageSelfTest(probeId: string): Promise<StorageSelfTestResult> {
      if (!/^[A-Za-z0-9-]{1,64}$/.test(probeId)) {
        throw nonRetryableFailure(FailureType.InvalidInput, `invalid probe id "${probeId.slice(0, 80)}"`);
      }
      const key = `selftest/${probeId}.txt`;
      const body = Buffer.from(`holdfast storage self-test ${probeId}\n`);
      const sha256 = crypto.createHash('sha256').update(body).digest('hex');
      // Self-test objects are kept one day, not the evidence retention.
      const retainUntil = new Date(Date.now() + 24 * 3600 * 1000);
      const put = await deps.s3.send(
        new PutObjectCommand({
          Bucket: deps.bucket,
          Key: key,
          Body: body,
          ContentType: 'text/plain',
          ChecksumAlgorithm: 'SHA256',
          Metadata: { sha256 },
          ObjectLockMode: deps.retention.mode,
          ObjectLockRetainUntilDate: retainUntil,
        }),
      );
      if (!put.VersionId) {
        throw nonRetryableFailure(
          FailureType.ObjectLockUnavailable,
          `bucket ${deps.bucket} returned no version id: versioning/Object Lock is off`,
        );
      }
      const got = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key, VersionId: put.VersionId }));
      const readBack = Buffer.from(await got.Body!.transformToByteArray());
      const readBackMatches = crypto.createHash('sha256').update(readBack).digest('hex') === sha256;

      let lockedDeleteRefused = false;
      let refusal = '';
      try {
        await deps.s3.send(new DeleteObjectCommand({ Bucket: deps.bucket, Key: key, VersionId: put.VersionId }));
      } catch (err) {
        lockedDeleteRefused = true;
        refusal = `${(err as Error).name}: ${(err as Error).message}`.slice(0, 500);
      }
      return {
        key,
        versionId: put.VersionId,
        sha256,
        retainUntil: retainUntil.toISOString(),
        readBackMatches,
        lockedDeleteRefused,
        refusal,
      };
    },
  };
}
