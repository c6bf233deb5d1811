/**
 * Artifact readers (the timeline's `ArtifactReader` port) over the three places evidence is: a directory as
 * `holdfast evidence get -o DIR` writes it, a bundle tar, and the evidence store (the API). Each reads at most
 * the bytes asked for (the head, or the tail of a log) and never follows a path the manifest did not name.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { EvidenceReader } from '../common/ports';
import type { EvidenceManifest } from '../common/types';
import { MAX_MANIFEST_BYTES } from './manifest';
import { relativeArtifactPath } from './names';
import type { ArtifactBytes, ArtifactReader } from './timeline';

/** Keeps the first `max` bytes, or with `tail` the last `max`, of a stream; counts all of them. */
async function bounded(
  source: AsyncIterable<Buffer>,
  max: number,
  tail: boolean | undefined,
): Promise<{ bytes: Buffer; size: number }> {
  const chunks: Buffer[] = [];
  let kept = 0;
  let size = 0;
  for await (const chunk of source) {
    size += chunk.length;
    if (!tail) {
      if (kept < max) {
        const part = chunk.subarray(0, max - kept);
        chunks.push(part);
        kept += part.length;
      }
      continue;
    }
    chunks.push(chunk);
    kept += chunk.length;
    while (kept - chunks[0]!.length >= max) kept -= chunks.shift()!.length;
  }
  const all = Buffer.concat(chunks);
  return { bytes: tail ? all.subarray(Math.max(0, all.length - max)) : all, size };
}

/** A directory laid out as `holdfast evidence get -o DIR` writes it: only regular files inside it are read. */
export function directoryReader(dir: string): ArtifactReader {
  const root = fs.realpathSync(dir);
  return {
    async read(rel, { maxBytes, tail }) {
      const file = path.join(root, ...rel.split('/'));
      const stat = fs.lstatSync(file, { throwIfNoEntry: false });
      if (!stat || !stat.isFile() || !fs.realpathSync(file).startsWith(root + path.sep)) return undefined;
      const length = Math.min(maxBytes, stat.size);
      const position = tail ? stat.size - length : 0;
      const bytes = Buffer.alloc(length);
      const fd = fs.openSync(file, 'r');
      try {
        let done = 0;
        while (done < length) {
          const n = fs.readSync(fd, bytes, done, length - done, position + done);
          if (n === 0) break;
          done += n;
        }
        return { bytes: bytes.subarray(0, done), size: stat.size };
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}

/** What to keep of a bundle entry: undefined skips it. */
export type BundleSelector = (name: string) => { maxBytes: number; tail?: boolean } | undefined;

/**
 * One pass over a bundle tar: `manifest.json` (bounded) and the selected entries (each bounded as asked),
 * the rest streamed past. The result serves as an ArtifactReader.
 */
export async function readBundle(
  file: string,
  select: BundleSelector,
): Promise<{ manifestBytes?: Buffer; reader: ArtifactReader; problems: string[] }> {
  const kept = new Map<string, ArtifactBytes>();
  const problems: string[] = [];
  let manifestBytes: Buffer | undefined;
  const extract = tar.extract();
  const consume = (async () => {
    for await (const entry of extract) {
      const name = entry.header.name;
      const wanted =
        entry.header.type === 'file'
          ? name === 'manifest.json'
            ? { maxBytes: MAX_MANIFEST_BYTES }
            : select(name)
          : undefined;
      if (!wanted) {
        entry.resume();
        continue;
      }
      const got = await bounded(entry as AsyncIterable<Buffer>, wanted.maxBytes, wanted.tail);
      if (name === 'manifest.json') {
        if (got.bytes.length < got.size) problems.push(`manifest.json is larger than ${MAX_MANIFEST_BYTES} bytes`);
        else manifestBytes = got.bytes;
      } else if (kept.has(name)) problems.push(`${name.slice(0, 200)} appears twice in the bundle`);
      else kept.set(name, got);
    }
  })();
  try {
    await Promise.all([pipeline(fs.createReadStream(file), extract), consume]);
  } catch (err) {
    problems.push(`the bundle is not a complete tar archive: ${(err as Error).message.slice(0, 200)}`);
  }
  return { manifestBytes, reader: mapReader(kept), problems };
}

/** Artifacts already in memory (a bundle's selected entries; tests). */
export function mapReader(artifacts: Map<string, ArtifactBytes>): ArtifactReader {
  return {
    async read(rel, { maxBytes, tail }) {
      const got = artifacts.get(rel);
      if (!got) return undefined;
      const bytes = tail
        ? got.bytes.subarray(Math.max(0, got.bytes.length - maxBytes))
        : got.bytes.subarray(0, maxBytes);
      return { bytes, size: got.size };
    },
  };
}

/** The sealed versions in the evidence store, as the manifest names them (the API). */
export function storeReader(
  reader: Pick<EvidenceReader, 'open'>,
  manifest: EvidenceManifest,
  onRead?: (key: string, versionId: string | undefined) => void,
): ArtifactReader {
  const byPath = new Map(
    manifest.artifacts.flatMap((a) => {
      const rel = relativeArtifactPath(manifest.incidentId, a.key);
      return rel ? [[rel, a] as const] : [];
    }),
  );
  return {
    async read(rel, { maxBytes, tail }) {
      const artifact = byPath.get(rel);
      if (!artifact) return undefined;
      onRead?.(artifact.key, artifact.versionId);
      const opened = await reader.open(artifact.key, artifact.versionId);
      const body: Readable = opened.body;
      try {
        return await bounded(body as AsyncIterable<Buffer>, maxBytes, tail);
      } finally {
        body.destroy();
      }
    },
  };
}
