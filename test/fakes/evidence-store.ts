import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import type {
  CustodyEntry,
  CustodyLog,
  EvidenceReader,
  EvidenceStore,
  PutArtifactInput,
  StoredObjectInfo,
} from '../../common/ports';
import type { ArtifactRef } from '../../common/types';

class FakeNotFound extends Error {
  override name = 'NotFound';
}

/**
 * An in-memory EvidenceStore (and EvidenceReader / sealing store): hashes what it receives like the real
 * one, keeps every version for reading back.
 */
export class MemoryEvidenceStore implements EvidenceStore, EvidenceReader {
  readonly objects = new Map<string, { body: Buffer; ref: ArtifactRef }>();
  /** Every version of every object, by `key@versionId`; the latest version by key. */
  readonly versions = new Map<string, { body: Buffer; info: StoredObjectInfo }>();
  readonly latest = new Map<string, string>();
  /** Incomplete uploads the fake pretends are pending (for sealing's sweep). */
  pendingUploads = 0;

  private remember(
    key: string,
    body: Buffer,
    info: Omit<StoredObjectInfo, 'key' | 'versionId' | 'size'>,
  ): StoredObjectInfo {
    const versionId = crypto.randomUUID();
    const full: StoredObjectInfo = { key, versionId, size: body.length, ...info };
    this.versions.set(`${key}@${versionId}`, { body, info: full });
    this.latest.set(key, versionId);
    return full;
  }

  async putArtifact(input: PutArtifactInput): Promise<ArtifactRef> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of input.body) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      chunks.push(buf);
      size += buf.length;
      input.onProgress?.(size);
    }
    const body = Buffer.concat(chunks);
    const key = `incidents/${input.incidentId}/${input.step}/${input.name}`;
    const sha256 = crypto.createHash('sha256').update(body).digest('hex');
    const stored = this.remember(key, body, { sha256, contentType: input.contentType, metadata: {} });
    const ref: ArtifactRef = {
      name: input.name,
      key,
      versionId: stored.versionId,
      size,
      sha256,
      contentType: input.contentType,
      capturedAt: new Date().toISOString(),
      collector: input.collector,
      method: input.method,
      notes: [...(input.notes ?? [])],
    };
    this.objects.set(key, { body, ref });
    return ref;
  }

  private find(key: string, versionId?: string): { body: Buffer; info: StoredObjectInfo } {
    const version = versionId ?? this.latest.get(key);
    const found = version ? this.versions.get(`${key}@${version}`) : undefined;
    if (!found) throw new FakeNotFound(`no such object ${key}${versionId ? `@${versionId}` : ''}`);
    return found;
  }

  async getArtifact(key: string, versionId?: string): Promise<Readable> {
    return Readable.from([this.find(key, versionId).body]);
  }

  async putSmallObject(
    key: string,
    body: Buffer,
    contentType: string,
    metadata: Record<string, string> = {},
  ): Promise<StoredObjectInfo> {
    const sha256 = crypto.createHash('sha256').update(body).digest('hex');
    return this.remember(key, Buffer.from(body), { sha256, contentType, metadata: { ...metadata, sha256 } });
  }

  async head(key: string, versionId?: string): Promise<StoredObjectInfo> {
    return this.find(key, versionId).info;
  }

  async open(key: string, versionId?: string) {
    const found = this.find(key, versionId);
    return {
      body: Readable.from([found.body]),
      size: found.body.length,
      versionId: found.info.versionId,
      metadata: found.info.metadata,
    };
  }

  async readSmall(key: string, versionId: string | undefined, maxBytes: number) {
    const found = this.find(key, versionId);
    if (found.body.length > maxBytes) throw new Error(`${key} too large`);
    return { bytes: Buffer.from(found.body), versionId: found.info.versionId, metadata: found.info.metadata };
  }

  async presignGet(key: string, versionId: string | undefined, expiresInSeconds: number): Promise<string> {
    this.find(key, versionId);
    return `memory://${key}?versionId=${versionId ?? ''}&expires=${expiresInSeconds}`;
  }

  async listKeys(prefix: string, max = 1000): Promise<string[]> {
    return [...this.latest.keys()]
      .filter((k) => k.startsWith(prefix))
      .sort()
      .slice(0, max);
  }

  /** Legal holds set, by `key@versionId`. */
  readonly legalHolds = new Map<string, boolean>();

  async setLegalHold(key: string, versionId: string | undefined, on: boolean): Promise<void> {
    const found = this.find(key, versionId);
    this.legalHolds.set(`${key}@${found.info.versionId}`, on);
  }

  async abortIncompleteUploads(_prefix: string): Promise<number> {
    const n = this.pendingUploads;
    this.pendingUploads = 0;
    return n;
  }
}

/** An in-memory custody log that can be told to fail. */
export class MemoryCustodyLog implements CustodyLog {
  readonly entries: CustodyEntry[] = [];
  failing = false;

  async append(entry: CustodyEntry) {
    if (this.failing) throw new Error('custody store unavailable');
    this.entries.push(entry);
    return {
      key: `incidents/${entry.incidentId}/custody/${this.entries.length}.json`,
      versionId: String(this.entries.length),
    };
  }
}
