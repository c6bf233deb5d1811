import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import type { EvidenceStore, PutArtifactInput } from '../../activities/ports';
import type { ArtifactRef } from '../../common/types';

/** An in-memory EvidenceStore: hashes what it receives like the real one, keeps it for reading back. */
export class MemoryEvidenceStore implements EvidenceStore {
  readonly objects = new Map<string, { body: Buffer; ref: ArtifactRef }>();

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
    const ref: ArtifactRef = {
      name: input.name,
      key,
      versionId: crypto.randomUUID(),
      size,
      sha256: crypto.createHash('sha256').update(body).digest('hex'),
      contentType: input.contentType,
      capturedAt: new Date().toISOString(),
      collector: input.collector,
      method: input.method,
      notes: input.notes ?? [],
    };
    this.objects.set(key, { body, ref });
    return ref;
  }

  async getArtifact(key: string): Promise<Readable> {
    const found = this.objects.get(key);
    if (!found) throw new Error(`no such artifact ${key}`);
    return Readable.from([found.body]);
  }
}
