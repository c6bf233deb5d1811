/**
 * The S3 evidence store: artifacts are streamed (never buffered whole) into a multipart upload while
 * their SHA-256 and byte count are computed, and every object is written under Object Lock.
 */
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { DEFAULT_PART_SIZE, DEFAULT_QUEUE_SIZE, MAX_PRESIGN_SECONDS, type HoldfastConfig } from '../../common/config';
import { FailureType, HoldfastFailure } from '../../common/failures';
import type { ArtifactRef } from '../../common/types';
import type { EvidenceReader, EvidenceStore, PutArtifactInput, StoredObjectInfo } from '../../common/ports';
import { artifactKey, assertArtifactName, metadataValue } from '../../evidence/names';

// Defined with the settings that bound them (HOLDFAST_EVIDENCE_PART_MIB, _QUEUE, _URL_SECONDS).
export { DEFAULT_PART_SIZE, DEFAULT_QUEUE_SIZE, MAX_PRESIGN_SECONDS };

/** What the store throws; whether Temporal retries it follows from its type (common/failures.ts). */
export class EvidenceStoreError extends HoldfastFailure {
  constructor(message: string, type: FailureType, options?: { cause?: unknown }) {
    super(type, message, options);
  }
}

export interface S3EvidenceStoreOptions {
  s3: S3Client;
  bucket: string;
  retention: HoldfastConfig['retention'];
  /** Put a legal hold on every object written (in addition to retention). */
  legalHold?: boolean;
  partSize?: number;
  queueSize?: number;
  now?: () => Date;
}

type S3Error = Error & { $metadata?: { httpStatusCode?: number }; Code?: string };

/** Maps an S3/network error to retryable (passes through) or a named non-retryable EvidenceStoreError. */
export function classifyS3Error(err: unknown, what: string): unknown {
  if (err instanceof EvidenceStoreError) return err;
  const e = err as S3Error;
  const status = e?.$metadata?.httpStatusCode;
  const name = e?.name ?? '';
  const text = `${name} ${e?.message ?? ''}`;
  if (name === 'AbortError') return err;
  if (/InvalidBucketState|ObjectLockConfigurationNotFound|InvalidRequest.*(lock|retention)|object lock/i.test(text)) {
    return new EvidenceStoreError(
      `${what}: the bucket does not support Object Lock (${text.slice(0, 200)})`,
      FailureType.ObjectLockUnavailable,
      { cause: err },
    );
  }
  if (name === 'NoSuchBucket')
    return new EvidenceStoreError(`${what}: ${text.slice(0, 200)}`, FailureType.ObjectLockUnavailable, { cause: err });
  if (status === 403 || name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch') {
    return new EvidenceStoreError(`${what}: access denied (${text.slice(0, 200)})`, FailureType.PermissionDenied, {
      cause: err,
    });
  }
  if (status === 404 || name === 'NoSuchKey' || name === FailureType.NotFound || name === 'NoSuchVersion') {
    return new EvidenceStoreError(`${what}: not found`, FailureType.NotFound, { cause: err });
  }
  return err;
}

function contentTypeOf(value: string): string {
  return /^[A-Za-z0-9][\w.+-]{0,63}\/[\w.+-]{1,127}$/.test(value) ? value : 'application/octet-stream';
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('artifact streams must yield bytes');
}

/**
 * Cuts the bytes handed to lib-storage (zero-copy views) so that its part copies stay one part long.
 * lib-storage's chunker keeps the chunks it was given until they add up to MORE than a part, then
 * Buffer.concat()s all of them (the crossing chunk included) and sends the first partSize bytes: a
 * 1 MiB chunk crossing the boundary makes every part copy partSize + 1 MiB. A chunk is therefore split
 * at each part boundary and the bytes right after it go first in a piece of at most AFTER_BOUNDARY.
 * (Chunks of exactly partSize would not help: a part only goes out once more than partSize is held,
 * so each copy would be two parts long.)
 */
const AFTER_BOUNDARY = 16 * 1024;
function partSlicer(partSize: number): (buf: Buffer) => Generator<Buffer> {
  let fed = 0;
  return function* slices(buf: Buffer): Generator<Buffer> {
    for (let offset = 0; offset < buf.length;) {
      const inPart = fed % partSize;
      const room = inPart === 0 && fed > 0 ? AFTER_BOUNDARY : partSize - inPart;
      const n = Math.min(buf.length - offset, room);
      yield offset === 0 && n === buf.length ? buf : buf.subarray(offset, offset + n);
      offset += n;
      fed += n;
    }
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The running SHA-256 and byte count of an artifact body, each count reported through onProgress. */
interface BodyTally {
  readonly hash: crypto.Hash;
  size: number;
  add(buf: Buffer): void;
}

function bodyTally(onProgress?: (bytes: number) => void): BodyTally {
  const tally: BodyTally = {
    hash: crypto.createHash('sha256'),
    size: 0,
    add(buf) {
      tally.hash.update(buf);
      tally.size += buf.length;
      onProgress?.(tally.size);
    },
  };
  return tally;
}

/** What both upload paths of putArtifact share: the artifact, where it goes, what it is stored with. */
interface ArtifactWrite {
  input: PutArtifactInput;
  key: string;
  capturedAt: string;
  contentType: string;
  metadata: Record<string, string>;
  /** Bucket, key, content type and the Object Lock parameters of every write. */
  base: { Bucket: string; Key: string; ContentType: string } & ReturnType<S3EvidenceStore['lockParams']>;
  tally: BodyTally;
}

export class S3EvidenceStore implements EvidenceStore, EvidenceReader {
  readonly bucket: string;
  private readonly s3: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly now: () => Date;

  constructor(private readonly options: S3EvidenceStoreOptions) {
    this.s3 = options.s3;
    this.bucket = options.bucket;
    this.partSize = Math.max(5 * 1024 * 1024, options.partSize ?? DEFAULT_PART_SIZE);
    this.queueSize = Math.max(1, Math.min(16, options.queueSize ?? DEFAULT_QUEUE_SIZE));
    this.now = options.now ?? (() => new Date());
  }

  /** The Object Lock parameters every write carries. */
  lockParams(): {
    ObjectLockMode: 'GOVERNANCE' | 'COMPLIANCE';
    ObjectLockRetainUntilDate: Date;
    ObjectLockLegalHoldStatus?: 'ON';
  } {
    const until = new Date(this.now().getTime() + this.options.retention.days * 86_400_000);
    return {
      ObjectLockMode: this.options.retention.mode,
      ObjectLockRetainUntilDate: until,
      ...(this.options.legalHold ? { ObjectLockLegalHoldStatus: 'ON' as const } : {}),
    };
  }

  /**
   * Streams `body` to `incidents/<incidentId>/<step>/<name>`. Bodies that fit in one part go up with a
   * single PutObject whose metadata (and S3-verified x-amz-checksum-sha256) carry the file hash; larger
   * ones go through a lib-storage multipart upload, and their hash, known only at the end, is attached
   * as the object version's `sha256` tag (S3 metadata cannot change after creation). On any failure the
   * multipart upload is aborted; nothing is returned, so nothing half-written reaches a manifest.
   */
  async putArtifact(input: PutArtifactInput): Promise<ArtifactRef> {
    const key = artifactKey(input.incidentId, input.step, assertArtifactName(input.name));
    const capturedAt = this.now().toISOString();
    const contentType = contentTypeOf(input.contentType);
    const metadata: Record<string, string> = {
      'captured-at': capturedAt,
      'incident-id': input.incidentId,
      step: input.step,
      'collector-name': metadataValue(input.collector.name),
      'collector-version': metadataValue(input.collector.version),
      ...(input.collector.imageDigest ? { 'collector-image-digest': metadataValue(input.collector.imageDigest) } : {}),
      method: metadataValue(input.method),
    };
    const write: ArtifactWrite = {
      input,
      key,
      capturedAt,
      contentType,
      metadata,
      base: { Bucket: this.bucket, Key: key, ContentType: contentType, ...this.lockParams() },
      tally: bodyTally(input.onProgress),
    };

    const iterator = (input.body as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    // Set once the multipart path starts, so that cancelling or failing aborts the upload.
    const multipart: { upload?: Upload } = {};
    const onAbort = () => {
      void multipart.upload?.abort();
      input.body.destroy(new Error('upload cancelled'));
    };
    input.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (input.signal?.aborted) throw Object.assign(new Error('upload cancelled'), { name: 'AbortError' });
      // Read up to one part: if the artifact ends within it, one PutObject with the hash up front.
      const head: Buffer[] = [];
      let headBytes = 0;
      while (headBytes < this.partSize) {
        const next = await iterator.next();
        if (next.done) return await this.putSingleObject(write, head);
        const buf = toBuffer(next.value);
        write.tally.add(buf);
        head.push(buf);
        headBytes += buf.length;
      }
      return await this.putMultipart(write, head, iterator, multipart);
    } catch (err) {
      if (!input.body.destroyed) input.body.destroy();
      if (multipart.upload?.uploadId) await this.abortUpload(key, multipart.upload.uploadId);
      throw classifyS3Error(err, `storing ${key}`);
    } finally {
      input.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** The whole body (at most one part) in one PutObject, its SHA-256 in the metadata and verified by S3. */
  private async putSingleObject(write: ArtifactWrite, chunks: Buffer[]): Promise<ArtifactRef> {
    const body = Buffer.concat(chunks);
    const digest = write.tally.hash.digest();
    const put = await this.s3.send(
      new PutObjectCommand({
        ...write.base,
        Body: body,
        ContentLength: body.length,
        ChecksumSHA256: digest.toString('base64'),
        Metadata: { ...write.metadata, sha256: digest.toString('hex') },
      }),
      { abortSignal: write.input.signal },
    );
    const versionId = put.VersionId;
    if (!versionId)
      throw new EvidenceStoreError(
        `bucket ${this.bucket} returned no version id for ${write.key}: versioning/Object Lock is off`,
        FailureType.ObjectLockUnavailable,
      );
    return this.ref(write, versionId, digest.toString('hex'), []);
  }

  /**
   * The parts already read, then the rest of the body, through a lib-storage multipart upload (exposed in
   * `multipart.upload` so the caller can abort it); the SHA-256, known only at the end, becomes a tag.
   */
  private async putMultipart(
    write: ArtifactWrite,
    head: Buffer[],
    iterator: AsyncIterator<unknown>,
    multipart: { upload?: Upload },
  ): Promise<ArtifactRef> {
    const { tally } = write;
    const rest = async function* (this: void): AsyncGenerator<Buffer> {
      while (head.length > 0) yield* slices(head.shift()!);
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        const buf = toBuffer(next.value);
        tally.add(buf);
        yield* slices(buf);
      }
    };
    const slices = partSlicer(this.partSize);
    const upload = new Upload({
      client: this.s3,
      params: {
        ...write.base,
        Body: Readable.from(rest(), { objectMode: false, highWaterMark: 1 }),
        Metadata: write.metadata,
      },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    multipart.upload = upload;
    const done = await upload.done();
    const versionId = done.VersionId;
    const sha256 = tally.hash.digest('hex');
    if (!versionId)
      throw new EvidenceStoreError(
        `bucket ${this.bucket} returned no version id for ${write.key}: versioning/Object Lock is off`,
        FailureType.ObjectLockUnavailable,
      );
    const extraNotes: string[] = [];
    try {
      await this.s3.send(
        new PutObjectTaggingCommand({
          Bucket: this.bucket,
          Key: write.key,
          VersionId: versionId,
          Tagging: {
            TagSet: [
              { Key: 'sha256', Value: sha256 },
              { Key: 'size', Value: String(tally.size) },
            ],
          },
        }),
      );
    } catch (err) {
      // The complete, locked artifact is already stored and its hash goes into the signed manifest:
      // a missing convenience tag is not worth re-capturing the evidence.
      extraNotes.push(
        `the sha256 tag could not be set on the stored object (${(err as Error).name}); the manifest carries the hash`,
      );
    }
    return this.ref(write, versionId, sha256, extraNotes);
  }

  /** The stored artifact's reference. Notes are read after the body ended: a collector adds the bounds it hit while streaming. */
  private ref(write: ArtifactWrite, versionId: string, sha256: string, extraNotes: string[]): ArtifactRef {
    const { input, key, contentType, capturedAt } = write;
    const notes = [...(input.notes ?? []), ...extraNotes];
    return {
      name: input.name,
      key,
      versionId,
      size: write.tally.size,
      sha256,
      contentType,
      capturedAt,
      collector: input.collector,
      method: input.method,
      notes,
    };
  }

  /** Aborts one multipart upload, retrying briefly; a leftover is swept by abortIncompleteUploads at sealing. */
  private async abortUpload(key: string, uploadId: string): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.s3.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
        return true;
      } catch (err) {
        if ((err as S3Error).$metadata?.httpStatusCode === 404 || (err as S3Error).name === 'NoSuchUpload') return true;
        await sleep(250 * 2 ** attempt);
      }
    }
    return false;
  }

  /** Aborts every incomplete multipart upload under a prefix (e.g. an incident's); returns how many. */
  async abortIncompleteUploads(prefix: string): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (let page = 0; page < 100; page++) {
      const listed = await this.s3.send(
        new ListMultipartUploadsCommand({
          Bucket: this.bucket,
          Prefix: prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
          MaxUploads: 1000,
        }),
      );
      for (const u of listed.Uploads ?? []) {
        if (u.Key && u.UploadId && u.Key.startsWith(prefix) && (await this.abortUpload(u.Key, u.UploadId))) aborted++;
      }
      if (!listed.IsTruncated) break;
      keyMarker = listed.NextKeyMarker;
      uploadIdMarker = listed.NextUploadIdMarker;
    }
    return aborted;
  }

  async getArtifact(key: string, versionId?: string): Promise<Readable> {
    return (await this.open(key, versionId)).body;
  }

  /** Writes a small object (manifest, signature, custody record) under Object Lock, with its SHA-256 verified by S3. */
  async putSmallObject(
    key: string,
    body: Buffer,
    contentType: string,
    metadata: Record<string, string> = {},
  ): Promise<StoredObjectInfo> {
    const digest = crypto.createHash('sha256').update(body).digest();
    try {
      const put = await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ContentType: contentType,
          ChecksumSHA256: digest.toString('base64'),
          Metadata: { ...metadata, sha256: digest.toString('hex') },
          ...this.lockParams(),
        }),
      );
      if (!put.VersionId)
        throw new EvidenceStoreError(
          `bucket ${this.bucket} returned no version id for ${key}: versioning/Object Lock is off`,
          FailureType.ObjectLockUnavailable,
        );
      return {
        key,
        versionId: put.VersionId,
        size: body.length,
        sha256: digest.toString('hex'),
        contentType,
        metadata,
      };
    } catch (err) {
      throw classifyS3Error(err, `storing ${key}`);
    }
  }

  async head(key: string, versionId?: string): Promise<StoredObjectInfo> {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key, VersionId: versionId }));
      return {
        key,
        versionId: head.VersionId,
        size: head.ContentLength ?? 0,
        sha256: head.Metadata?.sha256,
        contentType: head.ContentType,
        metadata: head.Metadata ?? {},
        retention: head.ObjectLockMode
          ? {
              mode: head.ObjectLockMode,
              retainUntil: head.ObjectLockRetainUntilDate?.toISOString(),
              legalHold: head.ObjectLockLegalHoldStatus === 'ON',
            }
          : undefined,
      };
    } catch (err) {
      throw classifyS3Error(err, `reading ${key}`);
    }
  }

  async open(
    key: string,
    versionId?: string,
  ): Promise<{ body: Readable; size: number; versionId?: string; metadata: Record<string, string> }> {
    try {
      const got = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, VersionId: versionId }));
      if (!got.Body) throw new EvidenceStoreError(`${key}: empty response`, FailureType.NotFound);
      return {
        body: got.Body as Readable,
        size: got.ContentLength ?? 0,
        versionId: got.VersionId,
        metadata: got.Metadata ?? {},
      };
    } catch (err) {
      throw classifyS3Error(err, `reading ${key}`);
    }
  }

  /** Reads a small object whole, refusing anything larger than `maxBytes`. */
  async readSmall(
    key: string,
    versionId: string | undefined,
    maxBytes: number,
  ): Promise<{ bytes: Buffer; versionId?: string; metadata: Record<string, string> }> {
    const opened = await this.open(key, versionId);
    if (opened.size > maxBytes) {
      opened.body.destroy();
      throw new EvidenceStoreError(
        `${key} is ${opened.size} bytes, more than the ${maxBytes} allowed`,
        FailureType.InvalidInput,
      );
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of opened.body) {
      const buf = toBuffer(chunk);
      total += buf.length;
      if (total > maxBytes) {
        opened.body.destroy();
        throw new EvidenceStoreError(`${key} is larger than the ${maxBytes} bytes allowed`, FailureType.InvalidInput);
      }
      chunks.push(buf);
    }
    return { bytes: Buffer.concat(chunks), versionId: opened.versionId, metadata: opened.metadata };
  }

  /** Keys under a prefix (latest versions), at most `max`. */
  async listKeys(prefix: string, max = 1000): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.s3.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ContinuationToken: token,
            MaxKeys: Math.min(1000, max),
          }),
        );
        for (const o of page.Contents ?? []) if (o.Key && keys.length < max) keys.push(o.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token && keys.length < max);
    } catch (err) {
      throw classifyS3Error(err, `listing ${prefix}`);
    }
    return keys;
  }

  async presignGet(key: string, versionId: string | undefined, expiresInSeconds: number): Promise<string> {
    const expiresIn = Math.max(1, Math.min(MAX_PRESIGN_SECONDS, Math.floor(expiresInSeconds)));
    return getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.bucket, Key: key, VersionId: versionId }), {
      expiresIn,
    });
  }

  /** Places or lifts a legal hold on one object version (independent of retention). */
  async setLegalHold(key: string, versionId: string | undefined, on: boolean): Promise<void> {
    try {
      await this.s3.send(
        new PutObjectLegalHoldCommand({
          Bucket: this.bucket,
          Key: key,
          VersionId: versionId,
          LegalHold: { Status: on ? 'ON' : 'OFF' },
        }),
      );
    } catch (err) {
      throw classifyS3Error(err, `legal hold on ${key}`);
    }
  }
}
