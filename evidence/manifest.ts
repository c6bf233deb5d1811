/**
 * The manifest's exact bytes and their signature. What is signed: the bytes of manifest.json exactly as
 * stored (UTF-8 JSON, 2-space indentation, one trailing newline), with Ed25519 (RFC 8032, no pre-hash).
 * manifest.sig holds the raw 64-byte signature. See README.md for verifying with openssl alone.
 */
import crypto from 'node:crypto';
import { MANIFEST_SCHEMA, type EvidenceManifest } from '../common/types';

export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;
export const SIGNED_BYTES_DESCRIPTION =
  'the exact bytes of manifest.json as stored (UTF-8), Ed25519 without pre-hash; manifest.sig is the raw 64-byte signature';

export function serializeManifest(manifest: EvidenceManifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
}

export function sha256Hex(data: Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** True when `signature` is a valid Ed25519 signature of exactly `bytes` under `publicKeyPem`. */
export function verifySignature(bytes: Uint8Array, signature: Uint8Array, publicKeyPem: string): boolean {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey(publicKeyPem);
  } catch {
    return false;
  }
  if (key.asymmetricKeyType !== 'ed25519' || signature.length !== 64) return false;
  try {
    return crypto.verify(null, bytes, key, signature);
  } catch {
    return false;
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Parses manifest bytes and checks the fields verification relies on. Throws with a reason. */
export function parseManifest(bytes: Buffer): EvidenceManifest {
  if (bytes.length > MAX_MANIFEST_BYTES)
    throw new Error(`manifest is ${bytes.length} bytes, more than ${MAX_MANIFEST_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new Error(`manifest.json is not valid JSON: ${(err as Error).message.slice(0, 200)}`);
  }
  const m = value as Partial<EvidenceManifest>;
  if (!m || typeof m !== 'object' || m.schema !== MANIFEST_SCHEMA)
    throw new Error(`manifest.json is not a ${MANIFEST_SCHEMA} document`);
  if (
    typeof m.incidentId !== 'string' ||
    !Array.isArray(m.artifacts) ||
    !m.signing ||
    typeof m.signing.keyId !== 'string'
  ) {
    throw new Error('manifest.json lacks incidentId, artifacts or signing.keyId');
  }
  for (const [i, a] of m.artifacts.entries()) {
    if (
      !a ||
      typeof a.key !== 'string' ||
      typeof a.name !== 'string' ||
      !Number.isSafeInteger(a.size) ||
      a.size < 0 ||
      typeof a.sha256 !== 'string' ||
      !HEX64.test(a.sha256)
    ) {
      throw new Error(`manifest.json artifact #${i} is malformed`);
    }
  }
  return m as EvidenceManifest;
}
