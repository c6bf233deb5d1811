/**
 * RFC 3161 time-stamping of the attestation: the request Holdfast sends (SHA-256 message imprint, a random nonce,
 * certReq true so the TSA's certificate travels in the token), the checks on the response when sealing, and the
 * offline verification of a stored token (imprint, nonce, the CMS signature, the ESS signing-certificate binding,
 * and a chain to a TSA certificate the investigator supplies). Built on pkijs/asn1js; the TSA is reached through
 * the TimestampAuthority port (adapters/tsa).
 *
 * What is stamped: the SHA-256 of attestation.dsse.json exactly as stored (so `openssl ts -verify -data
 * attestation.dsse.json -in attestation.tsr` checks it), and what is stored is the TSA's TimeStampResp byte for byte.
 */
import crypto from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

export const TIMESTAMP_FILE = 'attestation.tsr';
/** A response carries one token and (certReq) the TSA's certificate chain: kilobytes, never megabytes. */
export const MAX_TIMESTAMP_BYTES = 256 * 1024;
export const TIMESTAMP_OVER = 'the SHA-256 of attestation.dsse.json exactly as stored';

const OID = {
  sha256: '2.16.840.1.101.3.4.2.1',
  sha1: '1.3.14.3.2.26',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  signedData: '1.2.840.113549.1.7.2',
  signingCertificate: '1.2.840.113549.1.9.16.2.12',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
  extKeyUsage: '2.5.29.37',
  timeStamping: '1.3.6.1.5.5.7.3.8',
} as const;

const HASH_NAMES: Record<string, string> = {
  [OID.sha256]: 'sha256',
  [OID.sha1]: 'sha1',
  [OID.sha384]: 'sha384',
  [OID.sha512]: 'sha512',
};

/** pkijs' crypto engine over Node's WebCrypto, passed explicitly (no global engine is set). */
function engine(): pkijs.ICryptoEngine {
  return new pkijs.CryptoEngine({
    name: 'node-webcrypto',
    crypto: crypto.webcrypto as unknown as pkijs.CryptoEngineParameters['crypto'],
  });
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function hex(view: ArrayBuffer | Uint8Array): string {
  return Buffer.from(view instanceof Uint8Array ? view : new Uint8Array(view)).toString('hex');
}

/** A DER TimeStampReq over a SHA-256 digest, with the given nonce (unsigned, big-endian) and certReq true. */
export function buildTimestampRequest(sha256: Uint8Array, nonce: Uint8Array, policy?: string): Buffer {
  if (sha256.length !== 32) throw new Error('a SHA-256 digest is 32 bytes');
  // Minimal DER: no redundant leading zero bytes (openssl refuses them), and one 0x00 only to keep it positive.
  let start = 0;
  while (start < nonce.length - 1 && nonce[start] === 0) start += 1;
  const trimmed = Buffer.from(nonce.subarray(start));
  const nonceBytes = trimmed[0]! & 0x80 ? Buffer.concat([Buffer.alloc(1), trimmed]) : trimmed;
  const req = new pkijs.TimeStampReq({
    version: 1,
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID.sha256, algorithmParams: new asn1js.Null() }),
      hashedMessage: new asn1js.OctetString({ valueHex: toArrayBuffer(sha256) }),
    }),
    ...(policy ? { reqPolicy: policy } : {}),
    nonce: new asn1js.Integer({ valueHex: toArrayBuffer(nonceBytes) }),
    certReq: true,
  });
  return Buffer.from(req.toSchema().toBER(false));
}

/** The nonce as an investigator sees it: lowercase hex of the INTEGER's value, without leading zero bytes. */
function nonceHex(value: asn1js.Integer | undefined): string | undefined {
  if (!value) return undefined;
  return hex(value.valueBlock.valueHexView).replace(/^(00)+(?=.)/, '');
}

export function normalizeNonce(nonce: Uint8Array): string {
  return hex(nonce).replace(/^(00)+(?=.)/, '');
}

export interface TimestampInfo {
  /** PKIStatus: 0 granted, 1 grantedWithMods; anything else carries no token. */
  status: number;
  statusText?: string;
  genTime?: string;
  policy?: string;
  serialNumber?: string;
  nonce?: string;
  imprint?: { algorithm: string; sha256?: string; hex: string };
  tsaName?: string;
}

interface Parsed {
  info: TimestampInfo;
  signedData?: pkijs.SignedData;
  tstInfo?: pkijs.TSTInfo;
}

/** Parses a DER TimeStampResp (bounded); throws with a reason when it is not one. */
function parseResponse(der: Uint8Array): Parsed {
  if (der.length > MAX_TIMESTAMP_BYTES)
    throw new Error(`the timestamp response is larger than ${MAX_TIMESTAMP_BYTES} bytes`);
  let resp: pkijs.TimeStampResp;
  try {
    resp = pkijs.TimeStampResp.fromBER(toArrayBuffer(der));
  } catch (err) {
    throw new Error(`not a DER TimeStampResp: ${(err as Error).message.slice(0, 200)}`);
  }
  const status = Number(resp.status.status);
  const statusText = resp.status.statusStrings
    ?.map((s) => s.valueBlock.value)
    .join('; ')
    .slice(0, 300);
  const info: TimestampInfo = { status, ...(statusText ? { statusText } : {}) };
  if (!resp.timeStampToken) return { info };
  if (resp.timeStampToken.contentType !== OID.signedData) throw new Error('the timestamp token is not CMS SignedData');
  const signedData = new pkijs.SignedData({ schema: resp.timeStampToken.content });
  const encap = signedData.encapContentInfo;
  if (encap.eContentType !== OID.tstInfo || !encap.eContent) throw new Error('the timestamp token holds no TSTInfo');
  const tstInfo = pkijs.TSTInfo.fromBER(encap.eContent.getValue());
  const algorithm = tstInfo.messageImprint.hashAlgorithm.algorithmId;
  const imprintHex = hex(tstInfo.messageImprint.hashedMessage.valueBlock.valueHexView);
  info.genTime = tstInfo.genTime.toISOString();
  info.policy = tstInfo.policy;
  info.serialNumber = hex(tstInfo.serialNumber.valueBlock.valueHexView);
  const nonce = nonceHex(tstInfo.nonce);
  if (nonce) info.nonce = nonce;
  info.imprint = { algorithm: HASH_NAMES[algorithm] ?? algorithm, hex: imprintHex };
  if (algorithm === OID.sha256) info.imprint.sha256 = imprintHex;
  if (tstInfo.tsa?.type === 4 && tstInfo.tsa.value instanceof pkijs.RelativeDistinguishedNames)
    info.tsaName = rdnText(tstInfo.tsa.value);
  return { info, signedData, tstInfo };
}

/** Reads what a response says, without judging it (for reports). */
export function describeTimestamp(der: Uint8Array): TimestampInfo {
  return parseResponse(der).info;
}

/**
 * At sealing: the response answers our request (granted, a token, SHA-256 imprint of our digest, our nonce).
 * Returns what the manifest records; throws with the reason otherwise (the seal then notes it and goes on).
 */
export function checkTimestampResponse(der: Uint8Array, sha256: Uint8Array, nonce: Uint8Array): TimestampInfo {
  const { info, signedData } = parseResponse(der);
  if (info.status !== 0 && info.status !== 1)
    throw new Error(`the TSA refused: status ${info.status}${info.statusText ? ` (${info.statusText})` : ''}`);
  if (!signedData) throw new Error('the TSA granted but sent no token');
  if (info.imprint?.sha256 !== hex(sha256)) throw new Error('the token stamps another digest than the one sent');
  if (info.nonce !== normalizeNonce(nonce)) throw new Error('the token carries another nonce than the one sent');
  if (!signedData.certificates?.some((c) => c instanceof pkijs.Certificate))
    throw new Error('the token carries no certificate although certReq was set');
  return info;
}

function certificatesIn(signedData: pkijs.SignedData): pkijs.Certificate[] {
  return (signedData.certificates ?? []).filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate);
}

/** The certificate that signed the token: by issuer and serial number, or by subject key identifier. */
function signerCertificate(signedData: pkijs.SignedData): pkijs.Certificate | undefined {
  const sid = signedData.signerInfos[0]?.sid;
  if (!sid) return undefined;
  return certificatesIn(signedData).find((cert) => {
    if (sid instanceof pkijs.IssuerAndSerialNumber)
      return cert.issuer.isEqual(sid.issuer) && cert.serialNumber.isEqual(sid.serialNumber);
    const ski = cert.extensions?.find((e) => e.extnID === '2.5.29.14')?.parsedValue as asn1js.OctetString | undefined;
    return Boolean(ski && (sid as asn1js.OctetString).isEqual?.(ski));
  });
}

/**
 * The ESS signing-certificate attribute (RFC 2634 / RFC 5035) binds the signer's certificate into what is signed:
 * without this check a token could carry a substituted certificate with the same key.
 */
function essCertificateMatches(signedData: pkijs.SignedData, cert: pkijs.Certificate): { ok: boolean; detail: string } {
  try {
    return essCertificateCheck(signedData, cert);
  } catch {
    // The attribute's shape is the token's (another party's) bytes: anything unexpected is a malformed token.
    return { ok: false, detail: 'the signing-certificate attribute is malformed' };
  }
}

function essCertificateCheck(signedData: pkijs.SignedData, cert: pkijs.Certificate): { ok: boolean; detail: string } {
  const attrs = signedData.signerInfos[0]?.signedAttrs?.attributes ?? [];
  const attr = attrs.find((a) => a.type === OID.signingCertificateV2 || a.type === OID.signingCertificate);
  if (!attr) return { ok: false, detail: 'the token has no signing-certificate attribute (RFC 3161 requires one)' };
  const signingCert = attr.values[0] as asn1js.Sequence | undefined;
  const certs = signingCert?.valueBlock.value[0] as asn1js.Sequence | undefined;
  const first = certs?.valueBlock.value[0] as asn1js.Sequence | undefined;
  if (!first) return { ok: false, detail: 'the signing-certificate attribute is empty' };
  let algorithm: string = attr.type === OID.signingCertificate ? 'sha1' : 'sha256';
  let hashIndex = 0;
  const head = first.valueBlock.value[0];
  if (attr.type === OID.signingCertificateV2 && head instanceof asn1js.Sequence) {
    const oid = (head.valueBlock.value[0] as asn1js.ObjectIdentifier).valueBlock.toString();
    algorithm = HASH_NAMES[oid] ?? oid;
    hashIndex = 1;
  }
  const certHash = first.valueBlock.value[hashIndex];
  if (!(certHash instanceof asn1js.OctetString))
    return { ok: false, detail: 'the signing-certificate attribute is malformed' };
  if (!['sha1', 'sha256', 'sha384', 'sha512'].includes(algorithm))
    return { ok: false, detail: `the signing-certificate attribute uses an unknown hash ${algorithm.slice(0, 64)}` };
  const der = Buffer.from(cert.toSchema().toBER(false));
  const actual = crypto.createHash(algorithm).update(der).digest('hex');
  return actual === hex(certHash.valueBlock.valueHexView)
    ? { ok: true, detail: `signing certificate bound by ${algorithm}` }
    : {
        ok: false,
        detail: 'the certificate in the token is not the one the TSA signed for (signing-certificate hash differs)',
      };
}

function hasTimeStampingUsage(cert: pkijs.Certificate): boolean {
  const eku = cert.extensions?.find((e) => e.extnID === OID.extKeyUsage);
  const purposes = (eku?.parsedValue as pkijs.ExtKeyUsage | undefined)?.keyPurposes ?? [];
  return Boolean(eku?.critical) && purposes.includes(OID.timeStamping);
}

const RDN_NAMES: Record<string, string> = { '2.5.4.3': 'CN', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.6': 'C' };

/** A distinguished name for a report (a name from a token is the TSA's text: bounded, control characters out). */
function rdnText(rdn: pkijs.RelativeDistinguishedNames): string {
  return rdn.typesAndValues
    .map((tv) => `${RDN_NAMES[tv.type] ?? tv.type}=${String(tv.value.valueBlock.value)}`)
    .join(', ')
    .slice(0, 600)
    .replace(/\p{Cc}/gu, '?')
    .slice(0, 300);
}

function subjectOf(cert: pkijs.Certificate): string {
  return rdnText(cert.subject);
}

/** Reads PEM certificates (one or more blocks); throws when there is none. */
export function parsePemCertificates(pem: string): pkijs.Certificate[] {
  const blocks = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)];
  if (blocks.length === 0) throw new Error('no PEM CERTIFICATE block');
  return blocks
    .slice(0, 16)
    .map((m) => pkijs.Certificate.fromBER(toArrayBuffer(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'))));
}

export interface TimestampVerification {
  /** The token is intact: parsed, stamps the expected digest, its CMS signature verifies with its own certificate. */
  intact: boolean;
  /** The signer chains to (or is) a supplied TSA certificate, valid at genTime, with the timeStamping usage. */
  trusted: boolean;
  info?: TimestampInfo;
  tsaSubject?: string;
  problems: string[];
  /** Why the trust was not established, when the token is intact but not trusted. */
  untrustedReason?: string;
}

/**
 * Offline verification of a stored TimeStampResp against the bytes it must stamp (the envelope as stored).
 * `trustedPem` is the TSA certificate (or its CA) the investigator supplies; without it the token can be intact
 * but not trusted.
 */
export async function verifyTimestamp(
  der: Uint8Array,
  stamped: Uint8Array,
  trustedPem: string | undefined,
  expectedNonce?: string,
): Promise<TimestampVerification> {
  const result: TimestampVerification = { intact: false, trusted: false, problems: [] };
  const expectedSha256 = crypto.createHash('sha256').update(stamped).digest();
  let parsed: Parsed;
  try {
    parsed = parseResponse(der);
  } catch (err) {
    result.problems.push((err as Error).message);
    return result;
  }
  const { info, signedData, tstInfo } = parsed;
  result.info = info;
  if (!signedData || !tstInfo) {
    result.problems.push(`the response holds no token (status ${info.status})`);
    return result;
  }
  if (info.imprint?.sha256 === undefined)
    result.problems.push(`the token's imprint uses ${info.imprint?.algorithm}, not SHA-256`);
  else if (info.imprint.sha256 !== hex(expectedSha256))
    result.problems.push(`the token stamps ${info.imprint.sha256}, not the envelope's SHA-256 ${hex(expectedSha256)}`);
  if (expectedNonce !== undefined && info.nonce !== expectedNonce)
    result.problems.push(
      `the token's nonce ${info.nonce ?? '(none)'} is not the one the manifest recorded (${expectedNonce})`,
    );
  const signer = signerCertificate(signedData);
  if (!signer) {
    result.problems.push("the token does not carry its signer's certificate");
    return result;
  }
  result.tsaSubject = subjectOf(signer);
  let signatureOk = false;
  try {
    // pkijs also re-hashes the stamped bytes against the TSTInfo imprint here.
    signatureOk = await signedData.verify(
      { signer: 0, checkChain: false, extendedMode: false, data: toArrayBuffer(stamped) },
      engine(),
    );
  } catch (err) {
    result.problems.push(
      `the token's CMS signature does not verify: ${String((err as Error)?.message ?? (err as { message?: string })?.message ?? err).slice(0, 200)}`,
    );
  }
  if (!signatureOk && !result.problems.some((p) => p.includes('CMS signature')))
    result.problems.push("the token's CMS signature does not verify (the token was altered)");
  const ess = essCertificateMatches(signedData, signer);
  if (!ess.ok) result.problems.push(ess.detail);
  result.intact = result.problems.length === 0;
  if (!result.intact) return result;
  if (!trustedPem) {
    result.untrustedReason = 'no TSA certificate was supplied (--tsa-cert)';
    return result;
  }
  let anchors: pkijs.Certificate[];
  try {
    anchors = parsePemCertificates(trustedPem);
  } catch (err) {
    result.untrustedReason = `the supplied TSA certificate is unreadable: ${(err as Error).message}`;
    return result;
  }
  if (!hasTimeStampingUsage(signer)) {
    result.untrustedReason = `the signer ${result.tsaSubject} lacks the critical extendedKeyUsage timeStamping`;
    return result;
  }
  const signerDer = Buffer.from(signer.toSchema().toBER(false));
  const isAnchor = anchors.some((a) => Buffer.from(a.toSchema().toBER(false)).equals(signerDer));
  const genTime = tstInfo.genTime;
  if (isAnchor) {
    const valid = signer.notBefore.value <= genTime && genTime <= signer.notAfter.value;
    if (!valid) result.untrustedReason = `the TSA certificate was not valid at genTime ${genTime.toISOString()}`;
    else result.trusted = true;
    return result;
  }
  try {
    const chain = new pkijs.CertificateChainValidationEngine({
      trustedCerts: anchors,
      // The supplied anchors take precedence over any same-named copy the token carries (that copy is not signed).
      certs: certificatesIn(signedData).filter((c) => !anchors.some((a) => a.subject.isEqual(c.subject))),
      checkDate: genTime,
    });
    const verdict = await chain.verify({}, engine());
    if (verdict.result) result.trusted = true;
    else
      result.untrustedReason = `the token's signer (${result.tsaSubject}) does not chain to the supplied TSA certificate: ${verdict.resultMessage.slice(0, 200)}`;
  } catch (err) {
    result.untrustedReason = `the token's signer (${result.tsaSubject}) does not chain to the supplied TSA certificate: ${String((err as { resultMessage?: string })?.resultMessage ?? (err as Error)?.message ?? err).slice(0, 200)}`;
  }
  return result;
}
