/**
 * sealEvidence: once every capture has ended, write the incident's manifest.json and manifest.sig under
 * Object Lock. Only artifacts whose exact version is present in the store with the recorded size make it
 * into the manifest; anything else is listed as a failure with the reason.
 */
import type { Readable } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import type { HoldfastConfig } from '../common/config';
import {
  boundTamperFlags,
  MANIFEST_SCHEMA,
  type Alert,
  type AlertTally,
  type AlertTarget,
  type ArtifactRef,
  type EvidenceManifest,
  type ManifestContainer,
  type ManifestTarget,
} from '../common/types';
import { FailureType, InvalidInput, isFailure, toActivityFailure } from '../common/failures';
import { MAX_MANIFEST_BYTES, SIGNED_BYTES_DESCRIPTION, serializeManifest, sha256Hex } from '../evidence/manifest';
import {
  artifactKey,
  assertIncidentId,
  incidentPrefix,
  manifestKey,
  relativeArtifactPath,
  signatureKey,
} from '../evidence/names';
import { HOLDFAST_VERSION } from '../common/version';
import type { Signer, SmallObjectWriter, StoredObjectInfo, TimestampAuthority } from '../common/ports';
import type { RawBody, SealInput, SealResult } from './contract';
import { attest, type Attested } from './attest';

/** What sealing needs from the store (S3EvidenceStore implements it). */
export interface SealStore extends SmallObjectWriter {
  head(key: string, versionId?: string): Promise<StoredObjectInfo>;
  readSmall(
    key: string,
    versionId: string | undefined,
    maxBytes: number,
  ): Promise<{ bytes: Buffer; versionId?: string; metadata: Record<string, string> }>;
  abortIncompleteUploads(prefix: string): Promise<number>;
  open?(key: string, versionId?: string): Promise<{ body: Readable; size: number }>;
}

export interface SealDeps {
  store: SealStore;
  signer: Signer;
  retention: HoldfastConfig['retention'];
  legalHold?: boolean;
  /** The RFC 3161 TSA (HOLDFAST_TSA_URL); without one the attestation is sealed untimestamped, and says so. */
  timestamps?: TimestampAuthority;
  /** How long sealing waits for the TSA before going on without a timestamp (default 10 s). */
  timestampTimeoutMs?: number;
  now?: () => Date;
  log?: (message: string, fields: Record<string, unknown>) => void;
}

const LIMITS = {
  alerts: 1000,
  rawBodies: 1000,
  artifacts: 10_000,
  failures: 1000,
  error: 4000,
  id: 512,
  podRecord: 16 * 1024 * 1024,
};
const HEX64 = /^[0-9a-f]{64}$/;
const POD_RECORD_NAMES = ['pod.json', 'events-and-pod.json'];

function validate(input: SealInput): void {
  assertIncidentId(input?.incidentId);
  for (const field of ['workflowId', 'runId'] as const) {
    if (typeof input[field] !== 'string' || input[field].length === 0 || input[field].length > LIMITS.id)
      throw new InvalidInput(`${field} must be a non-empty string of at most ${LIMITS.id} characters`);
  }
  if (!Array.isArray(input.alerts) || input.alerts.length > LIMITS.alerts)
    throw new InvalidInput(`alerts must be an array of at most ${LIMITS.alerts}`);
  if (!Array.isArray(input.artifacts) || input.artifacts.length > LIMITS.artifacts)
    throw new InvalidInput(`artifacts must be an array of at most ${LIMITS.artifacts}`);
  if (!Array.isArray(input.failures) || input.failures.length > LIMITS.failures)
    throw new InvalidInput(`failures must be an array of at most ${LIMITS.failures}`);
  if (!input.target || typeof input.target.cluster !== 'string') throw new InvalidInput('target.cluster is required');
}

/** The workflow's alert tally, if its counts are non-negative integers (incidents before it had none). */
function tally(value: SealInput['alertTally']): AlertTally | undefined {
  if (!value) return undefined;
  const { received, kept, notKept, bodiesNotKept } = value;
  const counts = [received, kept, notKept, ...(bodiesNotKept === undefined ? [] : [bodiesNotKept])];
  if (!counts.every((n) => Number.isSafeInteger(n) && n >= 0)) return undefined;
  return { received, kept, notKept, ...(bodiesNotKept === undefined ? {} : { bodiesNotKept }) };
}

/**
 * The alert request bodies the incident kept, stored as evidence exactly as the API received them, each under
 * `intake/<sha256>.json`: the name is the hash every alert from it carries (rawSha256), checked again here.
 * A body that does not match its hash is not stored; the failure says so.
 */
async function storeRawBodies(
  deps: SealDeps,
  incidentId: string,
  bodies: RawBody[],
  failures: Array<{ step: string; error: string }>,
): Promise<ArtifactRef[]> {
  const stored: ArtifactRef[] = [];
  for (const body of bodies.slice(0, LIMITS.rawBodies)) {
    const bytes = typeof body?.base64 === 'string' ? Buffer.from(body.base64, 'base64') : Buffer.alloc(0);
    const sha256 = sha256Hex(bytes);
    if (typeof body?.sha256 !== 'string' || !HEX64.test(body.sha256) || sha256 !== body.sha256) {
      failures.push({ step: 'seal', error: `a request body does not match its recorded sha256: not stored` });
      continue;
    }
    const key = artifactKey(incidentId, 'intake', `${sha256}.json`);
    const written = await deps.store.putSmallObject(key, bytes, 'application/json', { 'sha256-at-intake': sha256 });
    stored.push({
      name: `${sha256}.json`,
      key,
      ...(written.versionId ? { versionId: written.versionId } : {}),
      size: bytes.length,
      sha256,
      contentType: 'application/json',
      capturedAt: (deps.now ?? (() => new Date()))().toISOString(),
      collector: { name: 'holdfast-api', version: HOLDFAST_VERSION },
      method: 'intake: an alert request body exactly as the API received it; alerts from it carry this rawSha256',
      notes: [],
    });
  }
  return stored;
}

/** Why an artifact reference cannot go into the manifest, or undefined when it is sound. */
async function checkArtifact(store: SealStore, incidentId: string, ref: ArtifactRef): Promise<string | undefined> {
  if (!ref || typeof ref.key !== 'string' || !relativeArtifactPath(incidentId, ref.key))
    return `key "${String(ref?.key).slice(0, 200)}" is not under this incident`;
  if (typeof ref.sha256 !== 'string' || !HEX64.test(ref.sha256)) return 'no valid sha256';
  if (!Number.isSafeInteger(ref.size) || ref.size < 0) return 'no valid size';
  if (!ref.versionId) return 'no version id (the store did not confirm a locked version)';
  let head: StoredObjectInfo;
  try {
    head = await store.head(ref.key, ref.versionId);
  } catch (err) {
    if (isFailure(err, FailureType.NotFound)) return `version ${ref.versionId} is not in the store`;
    throw err;
  }
  if (head.size !== ref.size) return `stored size ${head.size} differs from the recorded ${ref.size} (partial object)`;
  if (head.sha256 && head.sha256 !== ref.sha256)
    return `stored sha256 ${head.sha256} differs from the recorded ${ref.sha256}`;
  return undefined;
}

interface PodRecord {
  pod?: { uid?: unknown; node?: unknown; namespace?: unknown; name?: unknown };
  containers?: Array<{ name?: unknown; image?: unknown; imageID?: unknown }>;
}

const str = (v: unknown, max = 512): string | undefined =>
  typeof v === 'string' && v.length > 0 ? v.slice(0, max) : undefined;

function digestOf(imageID: string | undefined): string | undefined {
  const match = imageID?.match(/(sha256:[0-9a-f]{64})$/);
  return match?.[1];
}

/** The target: the alert's, completed from the captured pod record (only if its bytes match their recorded hash). */
async function buildTarget(store: SealStore, target: AlertTarget, artifacts: ArtifactRef[]): Promise<ManifestTarget> {
  const result: ManifestTarget = {
    cluster: target.cluster.slice(0, 253),
    ...(target.namespace ? { namespace: target.namespace } : {}),
    ...(target.pod ? { pod: target.pod } : {}),
    ...(target.node ? { node: target.node } : {}),
    containers: [],
    notes: [],
  };
  if (!target.pod) {
    result.notes.push('host-level incident: no pod');
    return result;
  }
  const record = POD_RECORD_NAMES.map((name) => artifacts.find((a) => a.name === name)).find(Boolean);
  if (!record) {
    result.notes.push('pod UID, node and container images unknown: no pod record (pod.json) was captured');
    return result;
  }
  try {
    const { bytes } = await store.readSmall(record.key, record.versionId, LIMITS.podRecord);
    if (sha256Hex(bytes) !== record.sha256) {
      result.notes.push(
        `pod record ${record.key} does not match its recorded sha256: target details not taken from it`,
      );
      return result;
    }
    const parsed = JSON.parse(bytes.toString('utf8')) as PodRecord;
    const uid = str(parsed.pod?.uid, 64);
    const node = str(parsed.pod?.node, 253);
    if (uid) result.podUid = uid;
    if (node) result.node = node;
    for (const c of (parsed.containers ?? []).slice(0, 100)) {
      const name = str(c?.name, 253);
      if (!name) continue;
      const container: ManifestContainer = { name };
      const image = str(c.image, 1024);
      const digest = digestOf(str(c.imageID, 1024));
      if (image) container.image = image;
      if (digest) container.imageDigest = digest;
      else result.notes.push(`container ${name}: the runtime reported no image digest`);
      result.containers.push(container);
    }
    result.notes.push(`pod UID, node and containers from ${record.key} (sha256 ${record.sha256})`);
  } catch (err) {
    if (!isFailure(err, FailureType.NotFound) && !(err instanceof SyntaxError)) throw err;
    result.notes.push(`pod record ${record.key} unreadable: ${(err as Error).message.slice(0, 200)}`);
  }
  return result;
}

export async function sealEvidenceWith(deps: SealDeps, input: SealInput): Promise<SealResult> {
  validate(input);
  const now = deps.now ?? (() => new Date());
  const incidentId = input.incidentId;
  // Uploads a crashed or cancelled capture left behind are aborted: no partial object survives sealing.
  const swept = await deps.store.abortIncompleteUploads(incidentPrefix(incidentId));
  const failures = input.failures.map((f) => ({
    step: String(f?.step ?? 'unknown').slice(0, 128),
    error: String(f?.error ?? '').slice(0, LIMITS.error),
  }));
  const artifacts: ArtifactRef[] = [];
  const seen = new Set<string>();
  for (const ref of input.artifacts) {
    const problem = seen.has(`${ref?.key}@${ref?.versionId}`)
      ? 'listed twice'
      : await checkArtifact(deps.store, incidentId, ref);
    seen.add(`${ref?.key}@${ref?.versionId}`);
    if (problem)
      failures.push({
        step: 'seal',
        error: `artifact ${String(ref?.name).slice(0, 200)} left out of the manifest: ${problem}`,
      });
    else
      artifacts.push({ ...ref, notes: (ref.notes ?? []).map((n) => String(n).slice(0, LIMITS.error)).slice(0, 100) });
  }
  artifacts.push(...(await storeRawBodies(deps, incidentId, input.rawBodies ?? [], failures)));
  const target = await buildTarget(deps.store, input.target, artifacts);
  const alertTally = tally(input.alertTally);
  const sealedAt = now().toISOString();
  const tamper = input.tamper !== undefined ? boundTamperFlags(input.tamper) : undefined;
  // The attestation first: the manifest binds its exact version and SHA-256 (and the timestamp's, or why none).
  const attested: Attested = await attest(deps, {
    incidentId,
    workflowId: input.workflowId,
    runId: input.runId,
    sealedAt,
    target,
    artifacts,
    steps: input.steps,
    tamper: tamper ?? [],
    failures,
  });
  const manifest: EvidenceManifest = {
    schema: MANIFEST_SCHEMA,
    incidentId,
    workflowId: input.workflowId,
    runId: input.runId,
    sealedAt,
    signing: {
      algorithm: 'Ed25519',
      keyId: deps.signer.keyId,
      signatureFile: 'manifest.sig',
      signedBytes: SIGNED_BYTES_DESCRIPTION,
    },
    retention: { mode: deps.retention.mode, days: deps.retention.days, legalHold: deps.legalHold ?? false },
    alerts: input.alerts as Alert[],
    ...(alertTally ? { alertTally } : {}),
    target,
    artifacts,
    failures,
    // Validated and bounded again here: the manifest is signed as written.
    ...(tamper !== undefined ? { tamper } : {}),
    attestation: attested.record,
  };
  const bytes = serializeManifest(manifest);
  if (bytes.length > MAX_MANIFEST_BYTES)
    throw new InvalidInput(`manifest would be ${bytes.length} bytes, more than ${MAX_MANIFEST_BYTES}`);
  const signature = await deps.signer.sign(bytes);
  const stored = await deps.store.putSmallObject(manifestKey(incidentId), bytes, 'application/json', {
    'key-id': deps.signer.keyId,
    'workflow-id': encodeURIComponent(input.workflowId).slice(0, 256),
  });
  // The signature names the manifest version it signs: readers pair them even if sealing ran twice.
  const sig = await deps.store.putSmallObject(signatureKey(incidentId), signature, 'application/octet-stream', {
    'key-id': deps.signer.keyId,
    'manifest-sha256': stored.sha256 ?? sha256Hex(bytes),
    ...(stored.versionId ? { 'manifest-version-id': stored.versionId } : {}),
  });
  deps.log?.('evidence sealed', {
    incidentId,
    artifacts: artifacts.length,
    failures: failures.length,
    abortedUploads: swept,
    manifestVersionId: stored.versionId,
    timestamp: attested.record.timestamp.obtained ? attested.record.timestamp.genTime : attested.timestampNote,
  });
  return {
    manifest: {
      key: stored.key,
      versionId: stored.versionId,
      size: stored.size,
      sha256: stored.sha256 ?? sha256Hex(bytes),
    },
    signature: { key: sig.key, versionId: sig.versionId, size: sig.size, sha256: sig.sha256 ?? sha256Hex(signature) },
    keyId: deps.signer.keyId,
    ...attested.result,
  };
}

/** The activity: `sealEvidence` with adapter errors mapped to retryable / non-retryable ApplicationFailures. */
export function createSealActivities(deps: SealDeps) {
  return {
    async sealEvidence(input: SealInput): Promise<SealResult> {
      try {
        return await sealEvidenceWith(deps, input);
      } catch (err) {
        const failure = toActivityFailure(err);
        if (failure instanceof ApplicationFailure) throw failure;
        // Anything else (network, 5xx, throttling) is retryable: S3 may come back.
        throw ApplicationFailure.create({
          message: (err as Error)?.message ?? String(err),
          type:
            (err as Error)?.name === 'Error'
              ? FailureType.EvidenceStoreUnavailable
              : ((err as Error)?.name ?? FailureType.EvidenceStoreUnavailable),
          nonRetryable: false,
          cause: err instanceof Error ? err : undefined,
        });
      }
    },
  };
}
