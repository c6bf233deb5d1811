/**
 * The ports activities depend on. Adapters (Kubernetes, S3, notifiers, signer) implement them and are
 * injected through createActivities(deps); tests substitute in-memory fakes from test/fakes/.
 */
import type { Readable } from 'node:stream';
import type { ArtifactRef, CollectorInfo } from '../common/types';

export interface PutArtifactInput {
  incidentId: string;
  step: string;
  name: string;
  contentType: string;
  collector: CollectorInfo;
  method: string;
  notes?: string[];
  body: Readable;
  /** Called as bytes flow, so long uploads can heartbeat their progress. */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
}

export interface EvidenceStore {
  /** Streams the body into the store with Object Lock retention; returns its hash and size. */
  putArtifact(input: PutArtifactInput): Promise<ArtifactRef>;
  /** Reads an artifact back as a stream (bounded by the object's size). */
  getArtifact(key: string, versionId?: string): Promise<Readable>;
}
