import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { repoRoot } from '../helpers/env';
import { evidenceBucketPolicy, evidenceBucketStatements } from '../../scripts/s3-accounts';

/** Every (action, resource) an identity is allowed, as `action resource` lines. */
function grants(statements: ReturnType<typeof evidenceBucketStatements>['api']): string[] {
  return statements.flatMap((s) => s.Action.flatMap((a) => s.Resource.map((r) => `${a} ${r}`)));
}

describe('the evidence bucket policy: each identity only what it needs', () => {
  const arn = 'arn:aws:s3:::holdfast-evidence';
  const plain = evidenceBucketStatements('holdfast-evidence', { legalHoldOnWrite: false });

  test('nobody may delete evidence, bypass governance or change the bucket', () => {
    for (const [who, list] of Object.entries(plain))
      for (const line of grants(list)) {
        assert.doesNotMatch(
          line,
          /BypassGovernance|Bucket(Policy|ObjectLock|Versioning)|DeleteBucket|^s3:\*/,
          `${who}: ${line}`,
        );
        if (/Delete/.test(line)) assert.equal(line, `s3:DeleteObjectVersion ${arn}/selftest/*`, `${who}: ${line}`);
      }
  });

  test('the API puts custody records only, and reads evidence; the worker writes evidence and its keys', () => {
    const api = grants(plain.api);
    assert.deepEqual(
      api.filter((l) => l.startsWith('s3:PutObject ')),
      [`s3:PutObject ${arn}/incidents/*/custody/*`],
    );
    assert.ok(api.includes(`s3:GetObjectVersion ${arn}/incidents/*`));
    assert.ok(!api.some((l) => l.includes('/keys/')), 'the API has no use for keys in the bucket');
    assert.ok(!api.some((l) => l.startsWith('s3:PutObjectRetention ') && !l.endsWith('/custody/*')));
    const worker = grants(plain.worker);
    assert.ok(worker.includes(`s3:PutObject ${arn}/incidents/*`));
    assert.ok(worker.includes(`s3:PutObject ${arn}/keys/*`));
    assert.ok(!worker.some((l) => l.startsWith('s3:PutObjectLegalHold')), 'no legal hold unless configured');
    const held = grants(evidenceBucketStatements('holdfast-evidence', { legalHoldOnWrite: true }).worker);
    assert.ok(held.includes(`s3:PutObjectLegalHold ${arn}/incidents/*`));
  });

  test('the bucket policy binds each set of statements to its account', () => {
    const policy = evidenceBucketPolicy('holdfast-evidence', { worker: 'W', api: 'A' }, { legalHoldOnWrite: false });
    assert.deepEqual(
      [
        ...new Set(
          policy.Statement.map((s) => `${s.Sid.startsWith('Api') ? 'api' : 'worker'}=${s.Principal.AWS.join()}`),
        ),
      ],
      ['worker=W', 'api=A'],
    );
  });
});

test('evidence/README.md documents the same IAM policies as the code grants', () => {
  const readme = fs.readFileSync(path.join(repoRoot, 'evidence', 'README.md'), 'utf8');
  const documented = (heading: string) => {
    const start = readme.indexOf(`${heading} (IAM policy):`);
    assert.ok(start >= 0, `evidence/README.md has "${heading} (IAM policy):"`);
    const block = /```json\n([\s\S]*?)\n```/.exec(readme.slice(start))![1]!;
    return JSON.parse(block) as { Statement: unknown };
  };
  const code = evidenceBucketStatements('holdfast-evidence', { legalHoldOnWrite: false });
  assert.deepEqual(documented('Worker').Statement, code.worker);
  assert.deepEqual(documented('API').Statement, code.api);
});
