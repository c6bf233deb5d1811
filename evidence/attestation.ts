/**
 * The standards-grade record of an incident's evidence: an in-toto Statement v1 whose subjects are the artifacts
 * (name = the artifact's key relative to the incident, digest = its SHA-256) with a Holdfast predicate, in a DSSE
 * envelope signed with the same Ed25519 key as the manifest (keyid = the manifest's signing.keyId). Tools that
 * speak in-toto/DSSE (cosign, in-toto-attestation, witness, policy engines) read it without knowing Holdfast.
 *
 * DSSE signs PAE(payloadType, payload), never the JSON around it, so the envelope's bytes may be re-serialized
 * without breaking the signature; the RFC 3161 timestamp, however, covers the envelope bytes as stored.
 */
import crypto from 'node:crypto';
import type { Signer } from '../common/ports';
import type { ArtifactRef, ManifestTarget, TamperFlag } from '../common/types';
import { relativeArtifactPath } from './names';
import { verifySignature } from './manifest';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const DSSE_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** Names Holdfast's predicate; a URI by in-toto convention, not fetched by anyone. */
export const HOLDFAST_PREDICATE_TYPE = 'https://holdfast.io/attestation/incident-evidence/v1';
export const ATTESTATION_FILE = 'attestation.dsse.json';
/** An envelope is one subject per artifact: bounded like the manifest. */
export const MAX_ENVELOPE_BYTES = 64 * 1024 * 1024;

export interface StatementSubject {
  name: string;
  digest: { sha256: string };
}

/** What the workflow knows of each step (no artifacts: those are the subjects). */
export interface PredicateStep {
  name: string;
  kind: string;
  state: string;
  startedAt?: string;
  endedAt?: string;
  decision?: { approved: boolean; by: string; role?: string; at: string };
}

export interface HoldfastPredicate {
  incident: { id: string; workflowId: string; runId: string; sealedAt: string };
  target: {
    cluster: string;
    namespace?: string;
    pod?: string;
    podUid?: string;
    node?: string;
    containers: Array<{ name: string; image?: string; imageDigest?: string }>;
  };
  /** Every collector that produced a subject, with its image digest when it ran from an image. */
  collectors: Array<{ name: string; version: string; imageDigest?: string }>;
  steps: PredicateStep[];
  tamper: TamperFlag[];
  failures: Array<{ step: string; error: string }>;
  /** The signed manifest that lists the same artifacts (it names this attestation's SHA-256). */
  manifest: { file: 'manifest.json'; schema: string };
}

export interface Statement {
  _type: typeof STATEMENT_TYPE;
  subject: StatementSubject[];
  predicateType: string;
  predicate: HoldfastPredicate;
}

export interface DsseEnvelope {
  payload: string;
  payloadType: string;
  signatures: Array<{ keyid: string; sig: string }>;
}

/** DSSE v1 Pre-Authentication Encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN in ASCII decimal bytes. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${payload.length} `, 'utf8'),
    payload,
  ]);
}

/** The subjects: one per artifact, by its path relative to the incident (`<step>/<artifact>`). */
export function subjectsOf(incidentId: string, artifacts: ArtifactRef[]): StatementSubject[] {
  return artifacts.flatMap((a) => {
    const name = relativeArtifactPath(incidentId, a.key);
    return name ? [{ name, digest: { sha256: a.sha256 } }] : [];
  });
}

export interface StatementInput {
  incidentId: string;
  workflowId: string;
  runId: string;
  sealedAt: string;
  target: ManifestTarget;
  artifacts: ArtifactRef[];
  steps: PredicateStep[];
  tamper: TamperFlag[];
  failures: Array<{ step: string; error: string }>;
  manifestSchema: string;
}

export function buildStatement(input: StatementInput): Statement {
  const collectors = new Map<string, HoldfastPredicate['collectors'][number]>();
  for (const a of input.artifacts) {
    const c = a.collector;
    if (!c || typeof c.name !== 'string') continue;
    const entry = {
      name: c.name,
      version: String(c.version),
      ...(c.imageDigest ? { imageDigest: c.imageDigest } : {}),
    };
    collectors.set(JSON.stringify(entry), entry);
  }
  const t = input.target;
  return {
    _type: STATEMENT_TYPE,
    subject: subjectsOf(input.incidentId, input.artifacts),
    predicateType: HOLDFAST_PREDICATE_TYPE,
    predicate: {
      incident: { id: input.incidentId, workflowId: input.workflowId, runId: input.runId, sealedAt: input.sealedAt },
      target: {
        cluster: t.cluster,
        ...(t.namespace ? { namespace: t.namespace } : {}),
        ...(t.pod ? { pod: t.pod } : {}),
        ...(t.podUid ? { podUid: t.podUid } : {}),
        ...(t.node ? { node: t.node } : {}),
        containers: t.containers,
      },
      collectors: [...collectors.values()],
      steps: input.steps,
      tamper: input.tamper,
      failures: input.failures,
      manifest: { file: 'manifest.json', schema: input.manifestSchema },
    },
  };
}

/** Signs the statement into a DSSE envelope; returns the envelope's bytes as they are stored (2-space JSON, newline). */
export async function signEnvelope(statement: Statement, signer: Signer): Promise<Buffer> {
  const payload = Buffer.from(JSON.stringify(statement), 'utf8');
  const sig = await signer.sign(pae(DSSE_PAYLOAD_TYPE, payload));
  const envelope: DsseEnvelope = {
    payload: payload.toString('base64'),
    payloadType: DSSE_PAYLOAD_TYPE,
    signatures: [{ keyid: signer.keyId, sig: sig.toString('base64') }],
  };
  return Buffer.from(`${JSON.stringify(envelope, null, 2)}\n`, 'utf8');
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** DSSE allows standard or URL-safe base64 when reading. */
function decodeBase64(value: string): Buffer | undefined {
  if (!BASE64.test(value)) return undefined;
  return Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** Parses envelope bytes (bounded); throws with a reason an investigator can read. */
export function parseEnvelope(bytes: Buffer): { envelope: DsseEnvelope; payload: Buffer } {
  if (bytes.length > MAX_ENVELOPE_BYTES)
    throw new Error(`${ATTESTATION_FILE} is larger than ${MAX_ENVELOPE_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new Error(`${ATTESTATION_FILE} is not valid JSON: ${(err as Error).message.slice(0, 200)}`);
  }
  const e = value as Partial<DsseEnvelope>;
  if (!e || typeof e !== 'object' || typeof e.payload !== 'string' || typeof e.payloadType !== 'string')
    throw new Error(`${ATTESTATION_FILE} is not a DSSE envelope (payload, payloadType)`);
  if (!Array.isArray(e.signatures) || e.signatures.length === 0 || e.signatures.length > 16)
    throw new Error(`${ATTESTATION_FILE} has no signatures (or more than 16)`);
  for (const s of e.signatures)
    if (!s || typeof s.sig !== 'string' || (s.keyid !== undefined && typeof s.keyid !== 'string'))
      throw new Error(`${ATTESTATION_FILE} has a malformed signature entry`);
  const payload = decodeBase64(e.payload);
  if (!payload) throw new Error(`${ATTESTATION_FILE} payload is not base64`);
  return { envelope: e as DsseEnvelope, payload };
}

/** The envelope's signature by `keyId`, checked with the supplied public key over PAE(payloadType, payload). */
export function verifyEnvelopeSignature(
  envelope: DsseEnvelope,
  payload: Buffer,
  publicKeyPem: string,
  keyId: string,
): { ok: boolean; detail: string } {
  if (envelope.payloadType !== DSSE_PAYLOAD_TYPE)
    return { ok: false, detail: `payloadType is "${envelope.payloadType.slice(0, 100)}", not ${DSSE_PAYLOAD_TYPE}` };
  const candidates = envelope.signatures.filter((s) => s.keyid === keyId);
  if (candidates.length === 0) return { ok: false, detail: `no signature with keyid ${keyId} (the manifest's key)` };
  const signed = pae(envelope.payloadType, payload);
  for (const s of candidates) {
    const sig = decodeBase64(s.sig);
    if (sig && verifySignature(signed, sig, publicKeyPem))
      return { ok: true, detail: `valid Ed25519 DSSE signature by key ${keyId}` };
  }
  return {
    ok: false,
    detail: `INVALID: the DSSE signature with keyid ${keyId} does not verify over PAE(payloadType, payload)`,
  };
}

/** Parses the statement out of a payload and checks its shape; throws with a reason. */
export function parseStatement(payload: Buffer): Statement {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new Error('the envelope payload is not JSON');
  }
  const s = value as Partial<Statement>;
  if (!s || s._type !== STATEMENT_TYPE) throw new Error(`the envelope payload is not an in-toto ${STATEMENT_TYPE}`);
  if (s.predicateType !== HOLDFAST_PREDICATE_TYPE)
    throw new Error(`predicateType is "${String(s.predicateType).slice(0, 100)}", not ${HOLDFAST_PREDICATE_TYPE}`);
  if (!Array.isArray(s.subject)) throw new Error('the statement has no subject list');
  for (const [i, sub] of s.subject.entries())
    if (!sub || typeof sub.name !== 'string' || typeof sub.digest?.sha256 !== 'string')
      throw new Error(`statement subject #${i} is malformed`);
  return s as Statement;
}

/**
 * Subjects against the manifest's artifacts and the bytes at hand: the same set of names with the same digests,
 * and each digest the SHA-256 of the bytes found. Returns one problem per mismatch (empty when all hold).
 */
export function checkSubjects(
  statement: Statement,
  incidentId: string,
  manifestArtifacts: ArtifactRef[],
  actual: Map<string, { sha256: string }>,
): string[] {
  const problems: string[] = [];
  const expected = new Map(subjectsOf(incidentId, manifestArtifacts).map((s) => [s.name, s.digest.sha256]));
  const seen = new Set<string>();
  for (const sub of statement.subject) {
    const name = sub.name.slice(0, 200);
    if (seen.has(sub.name)) problems.push(`subject ${name} is listed twice`);
    seen.add(sub.name);
    const inManifest = expected.get(sub.name);
    if (inManifest === undefined) problems.push(`subject ${name} is not an artifact of the manifest`);
    else if (inManifest !== sub.digest.sha256)
      problems.push(
        `subject ${name}: digest ${sub.digest.sha256.slice(0, 64)} differs from the manifest's ${inManifest}`,
      );
    const found = actual.get(sub.name);
    if (!found) problems.push(`subject ${name}: no such file`);
    else if (found.sha256 !== sub.digest.sha256)
      problems.push(
        `subject ${name}: the bytes hash to ${found.sha256}, the attestation says ${sub.digest.sha256.slice(0, 64)}`,
      );
  }
  for (const name of expected.keys())
    if (!seen.has(name)) problems.push(`manifest artifact ${name} is not a subject of the attestation`);
  return problems;
}

export function sha256OfBytes(bytes: Uint8Array): Buffer {
  return crypto.createHash('sha256').update(bytes).digest();
}
