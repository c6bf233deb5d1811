/**
 * Offline verification of an evidence directory or bundle, trusting nothing Holdfast serves: the
 * signature over the exact manifest bytes (with a public key the investigator supplies), then the size
 * and SHA-256 of every artifact, streamed. Used by `holdfast evidence verify` and the tests.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { boundTamperFlags, type EvidenceManifest, type ManifestAttestation, type TamperFlag } from '../common/types';
import { MAX_MANIFEST_BYTES, parseManifest, sha256Hex, verifySignature } from './manifest';
import { keyIdOf } from './signer';
import { relativeArtifactPath } from './names';
import {
  ATTESTATION_FILE,
  checkSubjects,
  MAX_ENVELOPE_BYTES,
  parseEnvelope,
  parseStatement,
  verifyEnvelopeSignature,
} from './attestation';
import { MAX_TIMESTAMP_BYTES, TIMESTAMP_FILE, verifyTimestamp, type TimestampInfo } from './timestamp';

export type KeySource = 'file' | 'server' | 'none';

export interface ArtifactCheck {
  name: string;
  key: string;
  path?: string;
  expectedSize: number;
  expectedSha256: string;
  actualSize?: number;
  actualSha256?: string;
  ok: boolean;
  problem?: string;
}

export interface VerifyReport {
  /** True only when the signature verified with a supplied key and every artifact matched. */
  ok: boolean;
  source: string;
  incidentId?: string;
  manifestSha256?: string;
  keyId?: string;
  keySource: KeySource;
  /** The supplied key's id, to compare with the manifest's keyId. */
  suppliedKeyId?: string;
  signature: { checked: boolean; ok: boolean; detail: string };
  artifacts: ArtifactCheck[];
  failures: Array<{ step: string; error: string }>;
  /** The manifest's tamper flags (validated and bounded); absent from manifests sealed before they existed. */
  tamper?: TamperFlag[];
  /** The in-toto attestation in its DSSE envelope; absent when the manifest names none (older seals). */
  attestation?: AttestationCheck;
  /** Its RFC 3161 timestamp; absent with the attestation. */
  timestamp?: TimestampCheck;
  problems: string[];
}

export interface AttestationCheck {
  sha256?: string;
  signature: { checked: boolean; ok: boolean; detail: string };
  /** Subjects equal the manifest's artifacts and each digest matches the bytes. */
  subjects: { ok: boolean; count: number; problems: string[] };
}

export interface TimestampCheck {
  /** The seal obtained a token (the manifest says so). */
  present: boolean;
  /** Verified against a supplied TSA certificate (--tsa-cert): the token's time is trustworthy. */
  checked: boolean;
  ok: boolean;
  genTime?: string;
  policy?: string;
  nonce?: string;
  serialNumber?: string;
  tsa?: string;
  tsaSubject?: string;
  detail: string;
}

export interface VerifyOptions {
  publicKeyPem?: string;
  keySource?: KeySource;
  /** When no publicKeyPem: look a key up by the manifest's keyId (e.g. from the server, if the user asked). */
  resolveKey?: (keyId: string) => Promise<string | undefined>;
  /** Called with bytes hashed so far (for a progress bar). */
  onProgress?: (bytes: number, total: number) => void;
  /** The TSA certificate(s), PEM (the TSA's own or its CA), the timestamp token must chain to (--tsa-cert). */
  tsaCertPem?: string;
}

interface Inputs {
  manifestBytes?: Buffer;
  signature?: Buffer;
  envelope?: Buffer;
  timestampToken?: Buffer;
  hashes: Map<string, { size: number; sha256: string }>;
  problems: string[];
}

async function evaluate(source: string, inputs: Inputs, opts: VerifyOptions): Promise<VerifyReport> {
  let options = opts;
  const report: VerifyReport = {
    ok: false,
    source,
    keySource: options.publicKeyPem ? (options.keySource ?? 'file') : 'none',
    signature: { checked: false, ok: false, detail: '' },
    artifacts: [],
    failures: [],
    problems: [...inputs.problems],
  };
  if (!inputs.manifestBytes) {
    report.problems.push('manifest.json is missing');
    return report;
  }
  report.manifestSha256 = sha256Hex(inputs.manifestBytes);
  let manifest: EvidenceManifest | undefined;
  try {
    manifest = parseManifest(inputs.manifestBytes);
  } catch (err) {
    report.problems.push((err as Error).message);
  }
  if (!options.publicKeyPem && options.resolveKey && manifest) {
    const resolved = await options.resolveKey(manifest.signing.keyId).catch(() => undefined);
    if (resolved) {
      options = { ...options, publicKeyPem: resolved, keySource: 'server' };
      report.keySource = 'server';
    } else report.problems.push(`no public key with id ${manifest.signing.keyId} could be fetched`);
  }
  if (!inputs.signature) report.signature = { checked: false, ok: false, detail: 'manifest.sig is missing' };
  else if (!options.publicKeyPem)
    report.signature = {
      checked: false,
      ok: false,
      detail: 'no public key supplied: the signature was NOT checked (pass --key <public-key.pem>)',
    };
  else {
    try {
      report.suppliedKeyId = keyIdOf(options.publicKeyPem);
    } catch {
      report.problems.push('the supplied public key is not a readable PEM public key');
    }
    const ok = verifySignature(inputs.manifestBytes, inputs.signature, options.publicKeyPem);
    report.signature = {
      checked: true,
      ok,
      detail: ok
        ? `valid Ed25519 signature over manifest.json by key ${report.suppliedKeyId}`
        : `INVALID: manifest.sig is not a valid signature of manifest.json under key ${report.suppliedKeyId ?? '(unreadable)'}` +
          (manifest && report.suppliedKeyId && manifest.signing.keyId !== report.suppliedKeyId
            ? ` (the manifest names key ${manifest.signing.keyId})`
            : ''),
    };
  }
  if (!report.signature.ok) report.problems.push(`signature: ${report.signature.detail}`);
  if (!manifest) return report;
  report.incidentId = manifest.incidentId;
  report.keyId = manifest.signing.keyId;
  report.failures = Array.isArray(manifest.failures) ? manifest.failures : [];
  if (manifest.tamper !== undefined) report.tamper = boundTamperFlags(manifest.tamper);
  for (const a of manifest.artifacts) {
    const rel = relativeArtifactPath(manifest.incidentId, a.key);
    const check: ArtifactCheck = {
      name: a.name,
      key: a.key,
      path: rel,
      expectedSize: a.size,
      expectedSha256: a.sha256,
      ok: false,
    };
    const found = rel ? inputs.hashes.get(rel) : undefined;
    if (!rel) check.problem = 'its key is not a safe <step>/<artifact> path under the incident';
    else if (!found) check.problem = 'missing';
    else {
      check.actualSize = found.size;
      check.actualSha256 = found.sha256;
      if (found.size !== a.size) check.problem = `size ${found.size}, expected ${a.size}`;
      else if (found.sha256 !== a.sha256) check.problem = `sha256 ${found.sha256}, expected ${a.sha256}`;
      else check.ok = true;
    }
    if (!check.ok) report.problems.push(`artifact ${a.name} (${rel ?? a.key}): ${check.problem}`);
    report.artifacts.push(check);
  }
  if (manifest.attestation !== undefined) await checkAttestation(report, manifest, inputs, options);
  else if (options.tsaCertPem)
    report.timestamp = {
      present: false,
      checked: false,
      ok: false,
      detail: 'timestamp not checked: this manifest was sealed without an attestation or timestamp',
    };
  report.ok =
    report.signature.checked &&
    report.signature.ok &&
    report.problems.length === 0 &&
    (report.timestamp === undefined || report.timestamp.ok || !report.timestamp.present) &&
    !(options.tsaCertPem && report.timestamp && !report.timestamp.checked);
  return report;
}

/** What a token says (time, policy, nonce, serial), for the report. */
function describe(info: TimestampInfo | undefined): Partial<TimestampCheck> {
  if (!info) return {};
  return {
    ...(info.genTime ? { genTime: info.genTime } : {}),
    ...(info.policy ? { policy: info.policy } : {}),
    ...(info.nonce ? { nonce: info.nonce } : {}),
    ...(info.serialNumber ? { serialNumber: info.serialNumber } : {}),
  };
}

/**
 * The attestation the (signed) manifest binds: the envelope's bytes are the ones it names, its DSSE signature holds
 * under the supplied key, its subjects are exactly the manifest's artifacts and hash to the bytes at hand; then the
 * RFC 3161 token: the one the manifest names, stamping the envelope's SHA-256, intact, and trusted only when it
 * chains to the TSA certificate the investigator supplied.
 */
async function checkAttestation(
  report: VerifyReport,
  manifest: EvidenceManifest,
  inputs: Inputs,
  options: VerifyOptions,
): Promise<void> {
  const bound = manifest.attestation as ManifestAttestation | null;
  const check: AttestationCheck = {
    signature: { checked: false, ok: false, detail: '' },
    subjects: { ok: false, count: 0, problems: [] },
  };
  report.attestation = check;
  if (!bound || typeof bound !== 'object' || typeof bound.sha256 !== 'string') {
    check.signature.detail = "the manifest's attestation record is malformed";
    report.problems.push(`attestation: ${check.signature.detail}`);
    return;
  }
  const ts = bound.timestamp;
  const tsa = ts && typeof ts === 'object' && typeof ts.tsa === 'string' ? ts.tsa.slice(0, 300) : undefined;
  if (!inputs.envelope) {
    report.problems.push(`attestation: ${ATTESTATION_FILE} is missing (the manifest names it)`);
    check.signature.detail = `${ATTESTATION_FILE} is missing`;
    return;
  }
  check.sha256 = sha256Hex(inputs.envelope);
  if (check.sha256 !== bound.sha256)
    report.problems.push(
      `attestation: ${ATTESTATION_FILE} hashes to ${check.sha256}, the manifest binds ${String(bound.sha256).slice(0, 64)} (the envelope was changed)`,
    );
  try {
    const { envelope, payload } = parseEnvelope(inputs.envelope);
    if (!options.publicKeyPem)
      check.signature = {
        checked: false,
        ok: false,
        detail: 'no public key supplied: the envelope signature was NOT checked',
      };
    else {
      check.signature = {
        checked: true,
        ...verifyEnvelopeSignature(envelope, payload, options.publicKeyPem, manifest.signing.keyId),
      };
      if (!check.signature.ok) report.problems.push(`attestation: envelope signature ${check.signature.detail}`);
    }
    const statement = parseStatement(payload);
    if (statement.predicate?.incident?.id !== manifest.incidentId)
      report.problems.push('attestation: the predicate names another incident than the manifest');
    check.subjects.count = statement.subject.length;
    check.subjects.problems = checkSubjects(statement, manifest.incidentId, manifest.artifacts, inputs.hashes);
    check.subjects.ok = check.subjects.problems.length === 0;
    for (const p of check.subjects.problems.slice(0, 100)) report.problems.push(`attestation: ${p}`);
  } catch (err) {
    report.problems.push(`attestation: ${(err as Error).message}`);
    if (!check.signature.checked)
      check.signature = { checked: Boolean(options.publicKeyPem), ok: false, detail: (err as Error).message };
  }
  if (!ts || typeof ts !== 'object' || ts.obtained !== true) {
    const reason =
      ts && typeof ts === 'object' && typeof ts.reason === 'string' ? ts.reason.slice(0, 400) : 'no timestamp recorded';
    report.timestamp = {
      present: false,
      checked: false,
      ok: false,
      ...(tsa ? { tsa } : {}),
      detail: options.tsaCertPem ? `timestamp not checked: there is none (${reason})` : `none: ${reason}`,
    };
    return;
  }
  const result: TimestampCheck = { present: true, checked: false, ok: false, ...(tsa ? { tsa } : {}), detail: '' };
  report.timestamp = result;
  if (!inputs.timestampToken) {
    result.detail = `${TIMESTAMP_FILE} is missing (the manifest names it)`;
    report.problems.push(`timestamp: ${result.detail}`);
    return;
  }
  const problems: string[] = [];
  const tokenSha = sha256Hex(inputs.timestampToken);
  if (tokenSha !== ts.sha256)
    problems.push(
      `${TIMESTAMP_FILE} hashes to ${tokenSha}, the manifest binds ${String(ts.sha256).slice(0, 64)} (the token was changed)`,
    );
  const v = await verifyTimestamp(inputs.timestampToken, inputs.envelope, options.tsaCertPem, String(ts.nonce)).catch(
    (err: unknown) => ({
      intact: false,
      trusted: false,
      info: undefined,
      tsaSubject: undefined,
      untrustedReason: undefined,
      problems: [`the token could not be checked: ${String((err as Error)?.message ?? err).slice(0, 200)}`],
    }),
  );
  Object.assign(result, describe(v.info), v.tsaSubject ? { tsaSubject: v.tsaSubject } : {});
  problems.push(...v.problems);
  if (problems.length > 0) {
    result.detail = problems.join('; ');
    for (const p of problems) report.problems.push(`timestamp: ${p}`);
    return;
  }
  if (!v.trusted) {
    result.detail = `timestamp not checked: ${v.untrustedReason ?? 'no trusted TSA certificate'}`;
    return;
  }
  result.checked = true;
  result.ok = true;
  result.detail = `valid RFC 3161 timestamp of ${ATTESTATION_FILE} at ${v.info?.genTime} by ${v.tsaSubject}`;
}

async function hashFile(file: string, onBytes: (n: number) => void): Promise<{ size: number; sha256: string }> {
  const hash = crypto.createHash('sha256');
  let size = 0;
  for await (const chunk of fs.createReadStream(file) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
    onBytes(chunk.length);
  }
  return { size, sha256: hash.digest('hex') };
}

function readBounded(file: string, max: number): Buffer | undefined {
  if (!fs.existsSync(file)) return undefined;
  const stat = fs.statSync(file);
  if (!stat.isFile() || stat.size > max)
    throw new Error(`${path.basename(file)} is not a regular file of at most ${max} bytes`);
  return fs.readFileSync(file);
}

/** Verifies a directory laid out as `holdfast evidence get -o DIR` writes it. */
export async function verifyDirectory(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const inputs: Inputs = { hashes: new Map(), problems: [] };
  inputs.manifestBytes = readBounded(path.join(dir, 'manifest.json'), MAX_MANIFEST_BYTES);
  inputs.signature = readBounded(path.join(dir, 'manifest.sig'), 4096);
  inputs.envelope = readBounded(path.join(dir, ATTESTATION_FILE), MAX_ENVELOPE_BYTES);
  inputs.timestampToken = readBounded(path.join(dir, TIMESTAMP_FILE), MAX_TIMESTAMP_BYTES);
  if (inputs.manifestBytes) {
    let manifest: EvidenceManifest | undefined;
    try {
      manifest = parseManifest(inputs.manifestBytes);
    } catch {
      // evaluate() reports it.
    }
    const total = manifest?.artifacts.reduce((n, a) => n + a.size, 0) ?? 0;
    let done = 0;
    for (const a of manifest?.artifacts ?? []) {
      const rel = relativeArtifactPath(manifest!.incidentId, a.key);
      if (!rel) continue;
      const file = path.join(dir, ...rel.split('/'));
      // Never follow a symlink out of the evidence directory.
      const stat = fs.lstatSync(file, { throwIfNoEntry: false });
      if (!stat) continue;
      if (!stat.isFile() || !fs.realpathSync(file).startsWith(fs.realpathSync(dir) + path.sep)) {
        inputs.problems.push(`${rel} is not a regular file inside ${dir}`);
        continue;
      }
      inputs.hashes.set(
        rel,
        await hashFile(file, (n) => {
          done += n;
          options.onProgress?.(done, total);
        }),
      );
    }
  }
  return evaluate(dir, inputs, options);
}

/** Verifies a tar bundle (as served by /evidence/bundle), streaming every entry through SHA-256. */
export async function verifyBundle(file: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const inputs: Inputs = { hashes: new Map(), problems: [] };
  const extract = tar.extract();
  const total = fs.statSync(file).size;
  let done = 0;
  const consume = (async () => {
    for await (const entry of extract) {
      const name = entry.header.name;
      if (entry.header.type !== 'file') {
        inputs.problems.push(`unexpected ${entry.header.type} entry ${name.slice(0, 200)} in the bundle`);
        entry.resume();
        continue;
      }
      const small: Record<string, number> = {
        'manifest.json': MAX_MANIFEST_BYTES,
        'manifest.sig': 4096,
        [ATTESTATION_FILE]: MAX_ENVELOPE_BYTES,
        [TIMESTAMP_FILE]: MAX_TIMESTAMP_BYTES,
      };
      if (Object.hasOwn(small, name)) {
        const max = small[name]!;
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of entry as AsyncIterable<Buffer>) {
          size += chunk.length;
          if (size > max) throw new Error(`${name} in the bundle is larger than ${max} bytes`);
          chunks.push(chunk);
        }
        const bytes = Buffer.concat(chunks);
        if (name === 'manifest.json') inputs.manifestBytes = bytes;
        else if (name === 'manifest.sig') inputs.signature = bytes;
        else if (name === ATTESTATION_FILE) inputs.envelope = bytes;
        else inputs.timestampToken = bytes;
        continue;
      }
      const hash = crypto.createHash('sha256');
      let size = 0;
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
        done += chunk.length;
        options.onProgress?.(done, total);
      }
      if (inputs.hashes.has(name)) inputs.problems.push(`${name.slice(0, 200)} appears twice in the bundle`);
      inputs.hashes.set(name, { size, sha256: hash.digest('hex') });
    }
  })();
  try {
    await Promise.all([pipeline(fs.createReadStream(file), extract), consume]);
  } catch (err) {
    inputs.problems.push(`the bundle is not a complete tar archive: ${(err as Error).message.slice(0, 200)}`);
  }
  return evaluate(file, inputs, options);
}
