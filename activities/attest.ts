/**
 * Part of sealing: the in-toto attestation of the incident's artifacts in a DSSE envelope (signed with the
 * manifest's key), stored locked as `attestation.dsse.json`, then an RFC 3161 timestamp of the envelope's bytes
 * from the configured TSA, stored as `attestation.tsr` (the TSA's response byte for byte). A TSA that fails, lies
 * or is slow never blocks sealing: the manifest and the seal result say why there is no timestamp.
 */
import crypto from 'node:crypto';
import type { Signer, SmallObjectWriter, TimestampAuthority } from '../common/ports';
import type { ArtifactRef, ManifestAttestation, ManifestTarget, ManifestTimestamp, TamperFlag } from '../common/types';
import { MANIFEST_SCHEMA } from '../common/types';
import {
  buildStatement,
  DSSE_PAYLOAD_TYPE,
  HOLDFAST_PREDICATE_TYPE,
  MAX_ENVELOPE_BYTES,
  signEnvelope,
  STATEMENT_TYPE,
  type PredicateStep,
} from '../evidence/attestation';
import { sha256Hex } from '../evidence/manifest';
import { attestationKey, timestampKey } from '../evidence/names';
import {
  buildTimestampRequest,
  checkTimestampResponse,
  normalizeNonce,
  TIMESTAMP_OVER,
  verifyTimestamp,
} from '../evidence/timestamp';
import { InvalidInput } from '../common/failures';
import type { SealResult } from './contract';

export interface AttestDeps {
  store: SmallObjectWriter;
  signer: Signer;
  timestamps?: TimestampAuthority;
  timestampTimeoutMs?: number;
  log?: (message: string, fields: Record<string, unknown>) => void;
}

export interface AttestInput {
  incidentId: string;
  workflowId: string;
  runId: string;
  sealedAt: string;
  target: ManifestTarget;
  artifacts: ArtifactRef[];
  steps: unknown;
  tamper: TamperFlag[];
  failures: Array<{ step: string; error: string }>;
}

export interface Attested {
  record: ManifestAttestation;
  result: Pick<SealResult, 'attestation' | 'timestamp' | 'timestampNote'>;
  timestampNote?: string;
}

const DEFAULT_TSA_TIMEOUT_MS = 10_000;
const LIMITS = { steps: 200, text: 200 };

const text = (v: unknown, max = LIMITS.text): string | undefined =>
  typeof v === 'string' && v.length > 0 ? v.slice(0, max) : undefined;

/** The workflow's steps, validated and bounded (they are signed as written). */
export function boundSteps(value: unknown): PredicateStep[] {
  if (!Array.isArray(value)) return [];
  return value.slice(0, LIMITS.steps).flatMap((raw: unknown) => {
    const s = raw as Partial<PredicateStep> | null;
    const name = text(s?.name, 63);
    if (!name) return [];
    const step: PredicateStep = { name, kind: text(s?.kind, 32) ?? 'unknown', state: text(s?.state, 32) ?? 'unknown' };
    const startedAt = text(s?.startedAt, 40);
    const endedAt = text(s?.endedAt, 40);
    if (startedAt) step.startedAt = startedAt;
    if (endedAt) step.endedAt = endedAt;
    const d = s?.decision;
    if (d && typeof d.approved === 'boolean') {
      const role = text(d.role, 32);
      step.decision = {
        approved: d.approved,
        by: text(d.by) ?? 'unknown',
        at: text(d.at, 40) ?? '',
        ...(role ? { role } : {}),
      };
    }
    return [step];
  });
}

/** The TSA's answer within the deadline, or an error saying why not; a hanging port is abandoned, not awaited. */
async function askTsa(tsa: TimestampAuthority, request: Buffer, timeoutMs: number): Promise<Buffer> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`the TSA ${tsa.name} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([tsa.timestamp(request, controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function timestampEnvelope(
  deps: AttestDeps,
  incidentId: string,
  envelope: Buffer,
): Promise<{ record: ManifestTimestamp; result: Attested['result'] }> {
  const tsa = deps.timestamps;
  if (!tsa) {
    const reason = 'no TSA configured (HOLDFAST_TSA_URL is unset): the attestation is not timestamped';
    return { record: { obtained: false, reason }, result: { timestampNote: reason } };
  }
  const digest = crypto.createHash('sha256').update(envelope).digest();
  const nonce = crypto.randomBytes(16);
  let response: Buffer;
  let info;
  try {
    response = await askTsa(
      tsa,
      buildTimestampRequest(digest, nonce),
      deps.timestampTimeoutMs ?? DEFAULT_TSA_TIMEOUT_MS,
    );
    info = checkTimestampResponse(response, digest, nonce);
    // Never store a token that would fail verification: its CMS signature and signing-certificate binding hold.
    const intact = await verifyTimestamp(response, envelope, undefined, normalizeNonce(nonce));
    if (!intact.intact) throw new Error(intact.problems.join('; '));
  } catch (err) {
    // Sealing goes on: the evidence is no less signed for lacking a third party's time.
    const reason = `timestamp not obtained from ${tsa.name}: ${String((err as Error)?.message ?? err).slice(0, 300)}`;
    deps.log?.('timestamp not obtained; sealing without it', { incidentId, tsa: tsa.name, reason });
    return { record: { obtained: false, tsa: tsa.name, reason }, result: { timestampNote: reason } };
  }
  // A store failure here is not the TSA's: it fails the seal like any other write, to be retried.
  const stored = await deps.store.putSmallObject(timestampKey(incidentId), response, 'application/timestamp-reply', {
    'envelope-sha256': digest.toString('hex'),
    'gen-time': info.genTime ?? '',
  });
  const bound = {
    key: stored.key,
    ...(stored.versionId ? { versionId: stored.versionId } : {}),
    size: response.length,
    sha256: sha256Hex(response),
  };
  return {
    record: {
      obtained: true,
      file: 'attestation.tsr',
      ...bound,
      tsa: tsa.name,
      over: TIMESTAMP_OVER,
      genTime: info.genTime!,
      policy: info.policy ?? '',
      serialNumber: info.serialNumber ?? '',
      nonce: normalizeNonce(nonce),
    },
    result: { timestamp: { ...bound, genTime: info.genTime! } },
  };
}

export async function attest(deps: AttestDeps, input: AttestInput): Promise<Attested> {
  const statement = buildStatement({
    incidentId: input.incidentId,
    workflowId: input.workflowId,
    runId: input.runId,
    sealedAt: input.sealedAt,
    target: input.target,
    artifacts: input.artifacts,
    steps: boundSteps(input.steps),
    tamper: input.tamper,
    failures: input.failures,
    manifestSchema: MANIFEST_SCHEMA,
  });
  const envelope = await signEnvelope(statement, deps.signer);
  // Verification refuses larger envelopes: never seal one.
  if (envelope.length > MAX_ENVELOPE_BYTES)
    throw new InvalidInput(`the attestation would be ${envelope.length} bytes, more than ${MAX_ENVELOPE_BYTES}`);
  const stored = await deps.store.putSmallObject(
    attestationKey(input.incidentId),
    envelope,
    'application/vnd.dsse.envelope.v1+json',
    { 'key-id': deps.signer.keyId, 'payload-type': encodeURIComponent(DSSE_PAYLOAD_TYPE) },
  );
  const bound = {
    key: stored.key,
    ...(stored.versionId ? { versionId: stored.versionId } : {}),
    size: envelope.length,
    sha256: sha256Hex(envelope),
  };
  const stamped = await timestampEnvelope(deps, input.incidentId, envelope);
  return {
    record: {
      file: 'attestation.dsse.json',
      ...bound,
      statementType: STATEMENT_TYPE,
      payloadType: DSSE_PAYLOAD_TYPE,
      predicateType: HOLDFAST_PREDICATE_TYPE,
      timestamp: stamped.record,
    },
    result: { attestation: bound, ...stamped.result },
    ...(stamped.result.timestampNote ? { timestampNote: stamped.result.timestampNote } : {}),
  };
}
