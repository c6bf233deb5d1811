/**
 * Least privilege on the evidence bucket: the worker and the API each get their own S3 account with only the
 * actions they need, granted by a bucket policy (versitygw's accounts with role `user` are bound by the bucket
 * policy alone; AWS takes the same statements as IAM policies, see evidence/README.md).
 *
 *   worker: write evidence (put, multipart, tags, retention and legal hold as sealing sets them on the object
 *           it writes), read it back, list and abort its own incomplete uploads. No delete of evidence, no
 *           retention change afterwards, no bypass of governance mode. The one delete it may attempt is of its
 *           storage self-test probe (`selftest/`), which Object Lock must refuse: that refusal is the test.
 *   api:    read evidence (the routes and the presigned URLs it signs), write custody records (and only those:
 *           `incidents/<id>/custody/`), place or lift legal holds (the custodian's route). No other put, no
 *           delete, no retention change.
 *
 * Used by `npm start` and `npm test` (scripts/stack.ts) and by docker-compose's s3-setup (scripts/provision.ts).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PutBucketPolicyCommand, type S3Client } from '@aws-sdk/client-s3';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3Accounts {
  worker: S3Credentials;
  api: S3Credentials;
}

export interface PolicyOptions {
  /** HOLDFAST_LEGAL_HOLD: the worker sets a legal hold on every object it writes, so it needs the action. */
  legalHoldOnWrite: boolean;
}

type Statement = { Sid: string; Effect: 'Allow' | 'Deny'; Action: string[]; Resource: string[] };

/**
 * The statements for each identity, without principals: the bucket policy adds them, an AWS IAM policy attached
 * to each role takes them as they are.
 */
export function evidenceBucketStatements(
  bucket: string,
  opts: PolicyOptions,
): { worker: Statement[]; api: Statement[] } {
  const arn = `arn:aws:s3:::${bucket}`;
  const onWrite = ['s3:PutObjectRetention', ...(opts.legalHoldOnWrite ? ['s3:PutObjectLegalHold'] : [])];
  return {
    worker: [
      {
        Sid: 'WorkerBucket',
        Effect: 'Allow',
        Action: ['s3:ListBucket', 's3:ListBucketMultipartUploads'],
        Resource: [arn],
      },
      {
        Sid: 'WorkerWritesAndReadsEvidence',
        Effect: 'Allow',
        Action: [
          's3:PutObject',
          ...onWrite,
          's3:PutObjectTagging',
          's3:PutObjectVersionTagging',
          's3:GetObject',
          's3:GetObjectVersion',
          's3:AbortMultipartUpload',
        ],
        Resource: [`${arn}/incidents/*`, `${arn}/keys/*`, `${arn}/selftest/*`],
      },
      // Only so the self-test can prove the lock refuses it (activities/selftest.ts); never on evidence.
      {
        Sid: 'WorkerSelfTestProbe',
        Effect: 'Allow',
        Action: ['s3:DeleteObjectVersion'],
        Resource: [`${arn}/selftest/*`],
      },
    ],
    api: [
      { Sid: 'ApiBucket', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [arn] },
      {
        Sid: 'ApiReadsEvidence',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:GetObjectVersion'],
        Resource: [`${arn}/incidents/*`],
      },
      {
        Sid: 'ApiWritesCustody',
        Effect: 'Allow',
        Action: ['s3:PutObject', ...onWrite],
        Resource: [`${arn}/incidents/*/custody/*`],
      },
      { Sid: 'ApiLegalHolds', Effect: 'Allow', Action: ['s3:PutObjectLegalHold'], Resource: [`${arn}/incidents/*`] },
    ],
  };
}

/** The bucket policy granting each account its statements, and nothing else (versitygw; AWS bucket policies alike). */
export function evidenceBucketPolicy(bucket: string, accounts: { worker: string; api: string }, opts: PolicyOptions) {
  const statements = evidenceBucketStatements(bucket, opts);
  const bind = (principal: string, list: Statement[]) => list.map((s) => ({ ...s, Principal: { AWS: [principal] } }));
  return {
    Version: '2012-10-17',
    Statement: [...bind(accounts.worker, statements.worker), ...bind(accounts.api, statements.api)],
  };
}

/** The worker's and the API's credentials for an embedded S3, generated once per data directory (0600). */
export function embeddedS3Accounts(dataDir: string): S3Accounts {
  const file = path.join(dataDir, 's3-accounts.json');
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as S3Accounts;
  const account = (name: string): S3Credentials => ({
    accessKeyId: `holdfast${name}${crypto.randomBytes(6).toString('hex')}`,
    secretAccessKey: crypto.randomBytes(24).toString('base64url'),
  });
  const accounts = { worker: account('worker'), api: account('api') };
  fs.writeFileSync(file, JSON.stringify(accounts), { mode: 0o600 });
  return accounts;
}

const sha256Hex = (data: string | Buffer) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key: crypto.BinaryLike, data: string) => crypto.createHmac('sha256', key).update(data).digest();

/** AWS Signature V4 headers for one request without a query string (what versitygw's admin API takes). */
export function signV4(
  request: { method: string; url: string; body: string },
  credentials: S3Credentials,
  region: string,
  now = new Date(),
): Record<string, string> {
  const url = new URL(request.url);
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const payloadHash = sha256Hex(request.body);
  const headers: Record<string, string> = {
    host: url.host,
    'x-amz-content-sha256': payloadHash,
    'x-amz-date': amzDate,
  };
  const names = Object.keys(headers).sort();
  const canonical = [
    request.method,
    url.pathname,
    '',
    names.map((n) => `${n}:${headers[n]}\n`).join(''),
    names.join(';'),
    payloadHash,
  ].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
  let key = hmac(`AWS4${credentials.secretAccessKey}`, day);
  for (const part of [region, 's3', 'aws4_request']) key = hmac(key, part);
  const signature = crypto.createHmac('sha256', key).update(toSign).digest('hex');
  return {
    ...headers,
    authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`,
  };
}

/**
 * Creates an account with role `user` through versitygw's admin API (`PATCH /create-user`, as its
 * `versitygw admin create-user` does; the gateway serves it on the S3 port unless --admin-port is set). An
 * account that already exists (a restart with the same data directory) is left as it is.
 */
export async function createVersityUser(
  endpoint: string,
  admin: S3Credentials,
  user: S3Credentials,
  region = 'us-east-1',
) {
  const xml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const body =
    `<Account><Access>${xml(user.accessKeyId)}</Access><Secret>${xml(user.secretAccessKey)}</Secret>` +
    `<Role>user</Role><UserID>0</UserID><GroupID>0</GroupID><ProjectID>0</ProjectID></Account>`;
  const url = `${endpoint.replace(/\/+$/, '')}/create-user`;
  const response = await fetch(url, {
    method: 'PATCH',
    headers: signV4({ method: 'PATCH', url, body }, admin, region),
    body,
  });
  if (response.ok) return;
  const text = await response.text();
  if (response.status === 409 && text.includes('XAdminUserExists')) return;
  throw new Error(`versitygw create-user ${user.accessKeyId}: HTTP ${response.status} ${text.slice(0, 300)}`);
}

/** Creates both accounts (versitygw) and binds them to the bucket with the least-privilege policy. */
export async function provisionS3Accounts(
  s3: S3Client,
  endpoint: string,
  root: S3Credentials,
  bucket: string,
  accounts: S3Accounts,
  opts: PolicyOptions,
): Promise<void> {
  for (const account of [accounts.worker, accounts.api]) await createVersityUser(endpoint, root, account);
  const policy = evidenceBucketPolicy(
    bucket,
    { worker: accounts.worker.accessKeyId, api: accounts.api.accessKeyId },
    opts,
  );
  await s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
}
