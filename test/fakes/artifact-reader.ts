import type { ArtifactBytes, ArtifactReader } from '../../evidence/timeline';

/** The timeline's ArtifactReader port over artifacts held in memory; records what the builder asked for. */
export class FakeArtifactReader implements ArtifactReader {
  readonly asked: Array<{ path: string; maxBytes: number; tail?: boolean }> = [];
  constructor(private readonly artifacts: Map<string, Buffer>) {}

  async read(path: string, options: { maxBytes: number; tail?: boolean }): Promise<ArtifactBytes | undefined> {
    this.asked.push({ path, ...options });
    const bytes = this.artifacts.get(path);
    if (!bytes) return undefined;
    const part = options.tail
      ? bytes.subarray(Math.max(0, bytes.length - options.maxBytes))
      : bytes.subarray(0, options.maxBytes);
    return { bytes: part, size: bytes.length };
  }
}
