/**
 * Investigator access to sealed evidence: the manifest, its signature and presigned artifact URLs, or
 * everything as one streamed tar. Every access is first written to the incident's custody log (an
 * access that cannot be recorded is refused) and logged with pino.
 */
import { pipeline } from 'node:stream/promises';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import tar from 'tar-stream';
import { FailureType, isFailure } from '../../common/failures';
import type { CustodyEntry, CustodyLog, EvidenceReader } from '../../common/ports';
import { MAX_MANIFEST_BYTES, parseManifest, sha256Hex } from '../../evidence/manifest';
import { manifestKey, relativeArtifactPath, signatureKey } from '../../evidence/names';
import { MAX_ENVELOPE_BYTES } from '../../evidence/attestation';
import { MAX_TIMESTAMP_BYTES } from '../../evidence/timestamp';
import type { EvidenceManifest } from '../../common/types';
import type { IncidentStatus, SealedManifest } from '../../workflows/definitions';
import type { IncidentsService } from '../incidents';
import { HttpProblem } from '../errors';
import { keysRoutes } from './keys';
import {
  EvidenceIncidentParams,
  EvidenceQuery,
  EvidenceResponse,
  LegalHoldBody,
  LegalHoldResponse,
} from '../schemas/evidence';

/**
 * What the incident's workflow recorded when it sealed: the manifest's SHA-256 always, its version and the
 * signature's for incidents sealed since IncidentStatus.sealed exists (older ones: only the seal step's hash).
 */
export type SealRecord = Pick<SealedManifest, 'sha256'> & Partial<Omit<SealedManifest, 'sha256'>>;
/** The seal record of an incident, or undefined while it has not sealed; throws a 404 problem for no such incident. */
export type SealRecords = (incidentId: string) => Promise<SealRecord | undefined>;

/** The seal record in an incident's status, or undefined when it has not sealed. */
export function sealRecordOf(status: Pick<IncidentStatus, 'sealed' | 'steps'>): SealRecord | undefined {
  if (status.sealed) return status.sealed;
  const step = status.steps.find((s) => s.kind === 'seal' && s.state === 'succeeded');
  const manifest = step?.artifacts.find((a) => a.name === 'manifest.json');
  return manifest ? { sha256: manifest.sha256 } : undefined;
}

/** Seal records from the incidents service (Temporal): what the workflow recorded, never what the bucket says. */
export function incidentSealRecords(incidents: Pick<IncidentsService, 'get'>): SealRecords {
  return async (incidentId) => sealRecordOf((await incidents.get(incidentId)).status);
}

export interface EvidenceRouteDeps {
  reader: EvidenceReader;
  custody: CustodyLog;
  /** Which manifest and signature versions each incident sealed: the only ones the routes serve. */
  sealRecords: SealRecords;
  /** Places or lifts legal holds (S3EvidenceStore.setLegalHold); without it the legal-hold route is absent. */
  legalHolds?: { setLegalHold(key: string, versionId: string | undefined, on: boolean): Promise<void> };
  /** Default presigned URL lifetime (seconds, at most 900). */
  urlExpirySeconds?: number;
  now?: () => Date;
}

interface Sealed {
  manifest: EvidenceManifest;
  manifestBytes: Buffer;
  manifestVersionId?: string;
  signature: Buffer;
  signatureVersionId?: string;
  keyId: string;
  /** The attestation files the manifest binds (exact versions, hashes checked), for seals since they exist. */
  extras: Array<{ name: 'attestation.dsse.json' | 'attestation.tsr'; key: string; versionId?: string; bytes: Buffer }>;
}

function isNotFound(err: unknown): boolean {
  return isFailure(err, FailureType.NotFound);
}

const notSealed = (incidentId: string) =>
  new HttpProblem(
    404,
    'Not Found',
    `no sealed evidence for incident ${incidentId} (not sealed yet, or no such incident)`,
  );

/** An object the incident recorded is missing or differs from its record: never serve a substitute. */
const notAsSealed = (incidentId: string, what: string) =>
  new HttpProblem(
    409,
    'Conflict',
    `the ${what} in the bucket is not the one incident ${incidentId} sealed (its SHA-256 differs from the ` +
      `incident's record): refusing to serve it; the bucket may have been tampered with`,
  );

/**
 * The manifest and signature exactly as the incident sealed them. The versions come from the workflow's record;
 * for incidents sealed before it held them, the newest signature names the manifest version, which is served only
 * if its SHA-256 is the one the seal step recorded. Either way a manifest or signature put in the bucket later is
 * never what an investigator gets.
 */
export async function loadSealed(reader: EvidenceReader, records: SealRecords, incidentId: string): Promise<Sealed> {
  const record = await records(incidentId);
  if (!record) throw notSealed(incidentId);
  let sig;
  try {
    sig = await reader.readSmall(signatureKey(incidentId), record.signatureVersionId, 4096);
  } catch (err) {
    if (isNotFound(err)) throw notSealed(incidentId);
    throw err;
  }
  if (record.signatureSha256 && sha256Hex(sig.bytes) !== record.signatureSha256)
    throw notAsSealed(incidentId, 'signature');
  const manifestVersion = record.versionId ?? sig.metadata['manifest-version-id'];
  let stored;
  try {
    stored = await reader.readSmall(manifestKey(incidentId), manifestVersion, MAX_MANIFEST_BYTES);
  } catch (err) {
    if (isNotFound(err)) throw notAsSealed(incidentId, 'manifest');
    throw err;
  }
  if (sha256Hex(stored.bytes) !== record.sha256) throw notAsSealed(incidentId, 'manifest');
  let manifest: EvidenceManifest;
  try {
    manifest = parseManifest(stored.bytes);
  } catch (err) {
    throw new HttpProblem(
      500,
      'Internal Server Error',
      `the stored manifest for ${incidentId} is malformed: ${(err as Error).message.slice(0, 200)}`,
    );
  }
  if (manifest.incidentId !== incidentId)
    throw new HttpProblem(500, 'Internal Server Error', `the stored manifest names another incident`);
  return {
    manifest,
    manifestBytes: stored.bytes,
    manifestVersionId: stored.versionId,
    signature: sig.bytes,
    signatureVersionId: sig.versionId,
    keyId: manifest.signing.keyId,
    extras: await loadAttestation(reader, incidentId, manifest),
  };
}

/**
 * The attestation envelope and timestamp the (already checked) manifest names, by the versions and SHA-256 it
 * binds: never the newest object under that name, never one whose bytes differ.
 */
async function loadAttestation(
  reader: EvidenceReader,
  incidentId: string,
  manifest: EvidenceManifest,
): Promise<Sealed['extras']> {
  const a = manifest.attestation;
  if (!a || typeof a !== 'object') return [];
  const wanted: Array<{
    name: Sealed['extras'][number]['name'];
    key: string;
    versionId?: string;
    sha256: string;
    max: number;
  }> = [
    { name: 'attestation.dsse.json', key: a.key, versionId: a.versionId, sha256: a.sha256, max: MAX_ENVELOPE_BYTES },
  ];
  if (a.timestamp?.obtained)
    wanted.push({
      name: 'attestation.tsr',
      key: a.timestamp.key,
      versionId: a.timestamp.versionId,
      sha256: a.timestamp.sha256,
      max: MAX_TIMESTAMP_BYTES,
    });
  const extras: Sealed['extras'] = [];
  for (const w of wanted) {
    if (w.key !== `incidents/${incidentId}/${w.name}`) throw notAsSealed(incidentId, w.name);
    let got;
    try {
      got = await reader.readSmall(w.key, w.versionId, w.max);
    } catch (err) {
      if (isNotFound(err)) throw notAsSealed(incidentId, w.name);
      throw err;
    }
    if (sha256Hex(got.bytes) !== w.sha256) throw notAsSealed(incidentId, w.name);
    extras.push({ name: w.name, key: w.key, versionId: got.versionId ?? w.versionId, bytes: got.bytes });
  }
  return extras;
}

function origin(request: FastifyRequest): CustodyEntry['from'] {
  const ua = request.headers['user-agent'];
  return { ip: request.ip, ...(typeof ua === 'string' ? { userAgent: ua.slice(0, 256) } : {}) };
}

export function evidenceRoutes(deps: EvidenceRouteDeps): FastifyPluginAsyncTypebox {
  const now = deps.now ?? (() => new Date());
  const defaultExpiry = Math.min(900, Math.max(1, deps.urlExpirySeconds ?? 300));

  return async (app) => {
    const investigator = { preHandler: app.requireRole('investigator') };

    /** Records the access before anything is handed out; an unrecordable access is refused. */
    const record = async (
      request: FastifyRequest,
      incidentId: string,
      action: CustodyEntry['action'],
      objects: CustodyEntry['objects'],
    ) => {
      const principal = request.principal!;
      const entry: CustodyEntry = {
        incidentId,
        at: now().toISOString(),
        who: { name: principal.name, role: principal.role, via: principal.via },
        action,
        objects,
        from: origin(request),
        outcome: 'granted',
      };
      try {
        const stored = await deps.custody.append(entry);
        request.log.info({ custody: { ...entry, objects: entry.objects.length, key: stored.key } }, 'evidence access');
        return stored;
      } catch (err) {
        request.log.error({ err, incidentId, action, who: principal.name }, 'custody log write failed: access refused');
        throw new HttpProblem(
          503,
          'Service Unavailable',
          'the access could not be recorded in the custody log; try again',
        );
      }
    };

    app.get(
      '/v1/incidents/:incidentId/evidence',
      {
        ...investigator,
        schema: {
          summary: 'Sealed evidence: the manifest, its signature and a presigned URL per artifact',
          params: EvidenceIncidentParams,
          querystring: EvidenceQuery,
          response: { 200: EvidenceResponse },
        },
      },
      async (request) => {
        const { incidentId } = request.params;
        const expiresIn = request.query.expiresIn ?? defaultExpiry;
        const sealed = await loadSealed(deps.reader, deps.sealRecords, incidentId);
        const artifacts = sealed.manifest.artifacts.flatMap((a) => {
          const path = relativeArtifactPath(incidentId, a.key);
          return path ? [{ ...a, path }] : [];
        });
        const custody = await record(request, incidentId, 'evidence.read', [
          { key: manifestKey(incidentId), versionId: sealed.manifestVersionId },
          { key: signatureKey(incidentId), versionId: sealed.signatureVersionId },
          ...sealed.extras.map((x) => ({ key: x.key, versionId: x.versionId })),
          ...artifacts.map((a) => ({ key: a.key, versionId: a.versionId })),
        ]);
        const extra = (name: string) => sealed.extras.find((x) => x.name === name)?.bytes.toString('base64');
        const attestationBase64 = extra('attestation.dsse.json');
        const timestampBase64 = extra('attestation.tsr');
        const issued = now();
        return {
          incidentId,
          keyId: sealed.keyId,
          manifest: sealed.manifest,
          manifestBase64: sealed.manifestBytes.toString('base64'),
          manifestSha256: sha256Hex(sealed.manifestBytes),
          manifestVersionId: sealed.manifestVersionId,
          signatureBase64: sealed.signature.toString('base64'),
          signatureVersionId: sealed.signatureVersionId,
          expiresAt: new Date(issued.getTime() + expiresIn * 1000).toISOString(),
          artifacts: await Promise.all(
            artifacts.map(async (a) => ({
              name: a.name,
              key: a.key,
              versionId: a.versionId,
              size: a.size,
              sha256: a.sha256,
              contentType: a.contentType,
              path: a.path,
              url: await deps.reader.presignGet(a.key, a.versionId, expiresIn),
            })),
          ),
          custodyKey: custody.key,
          ...(attestationBase64 ? { attestationBase64 } : {}),
          ...(timestampBase64 ? { timestampBase64 } : {}),
        };
      },
    );

    const legalHolds = deps.legalHolds;
    if (legalHolds) {
      app.post(
        '/v1/incidents/:incidentId/evidence/legal-hold',
        {
          preHandler: app.requireRole('investigator', 'custodian'),
          schema: {
            summary:
              'Place (on: true; investigator or custodian) or lift (on: false; custodian only) a legal hold on the manifest, signature and every artifact',
            params: EvidenceIncidentParams,
            body: LegalHoldBody,
            response: { 200: LegalHoldResponse },
          },
        },
        async (request) => {
          const { incidentId } = request.params;
          // Lifting a hold lets evidence expire with its retention: the custodian's decision, not an investigator's.
          if (!request.body.on && request.principal!.role !== 'custodian')
            throw new HttpProblem(
              403,
              'Forbidden',
              `lifting a legal hold needs the custodian role; this token's role is ${request.principal!.role}`,
            );
          const sealed = await loadSealed(deps.reader, deps.sealRecords, incidentId);
          const objects = [
            { key: manifestKey(incidentId), versionId: sealed.manifestVersionId },
            { key: signatureKey(incidentId), versionId: sealed.signatureVersionId },
            ...sealed.extras.map((x) => ({ key: x.key, versionId: x.versionId })),
            ...sealed.manifest.artifacts
              .filter((a) => relativeArtifactPath(incidentId, a.key))
              .map((a) => ({ key: a.key, versionId: a.versionId })),
          ];
          await record(request, incidentId, 'evidence.legal-hold', objects);
          for (const o of objects) await legalHolds.setLegalHold(o.key, o.versionId, request.body.on);
          request.log.info(
            { incidentId, legalHold: request.body.on, objects: objects.length, by: request.principal!.name },
            'legal hold changed',
          );
          return { incidentId, legalHold: request.body.on, objects: objects.length };
        },
      );
    }

    app.get(
      '/v1/incidents/:incidentId/evidence/bundle',
      {
        ...investigator,
        schema: {
          summary:
            'Everything as one streamed tar: manifest.json, manifest.sig, attestation.dsse.json and attestation.tsr (when sealed with them), <step>/<artifact>…',
          params: EvidenceIncidentParams,
        },
      },
      async (request, reply) => {
        const { incidentId } = request.params;
        const sealed = await loadSealed(deps.reader, deps.sealRecords, incidentId);
        const artifacts = sealed.manifest.artifacts.flatMap((a) => {
          const path = relativeArtifactPath(incidentId, a.key);
          return path ? [{ ...a, path }] : [];
        });
        await record(request, incidentId, 'evidence.bundle', [
          { key: manifestKey(incidentId), versionId: sealed.manifestVersionId },
          { key: signatureKey(incidentId), versionId: sealed.signatureVersionId },
          ...sealed.extras.map((x) => ({ key: x.key, versionId: x.versionId })),
          ...artifacts.map((a) => ({ key: a.key, versionId: a.versionId })),
        ]);
        const pack = tar.pack();
        const mtime = new Date(sealed.manifest.sealedAt);
        const fill = async () => {
          pack.entry(
            { name: 'manifest.json', size: sealed.manifestBytes.length, mode: 0o444, mtime },
            sealed.manifestBytes,
          );
          pack.entry({ name: 'manifest.sig', size: sealed.signature.length, mode: 0o444, mtime }, sealed.signature);
          for (const x of sealed.extras)
            pack.entry({ name: x.name, size: x.bytes.length, mode: 0o444, mtime }, x.bytes);
          for (const a of artifacts) {
            // One artifact at a time, straight from S3 into the tar: never a whole artifact in memory.
            const opened = await deps.reader.open(a.key, a.versionId);
            if (opened.size !== a.size) {
              opened.body.destroy();
              throw new Error(
                `${a.key}@${a.versionId}: stored size ${opened.size} differs from the manifest's ${a.size}`,
              );
            }
            const entry = pack.entry({ name: a.path, size: a.size, mode: 0o444, mtime: new Date(a.capturedAt) });
            await pipeline(opened.body, entry);
          }
          pack.finalize();
        };
        fill().catch((err: unknown) => {
          request.log.error({ err, incidentId }, 'evidence bundle aborted mid-stream');
          pack.destroy(err as Error);
        });
        return reply
          .type('application/x-tar')
          .header('content-disposition', `attachment; filename="${incidentId}-evidence.tar"`)
          .header('x-holdfast-manifest-sha256', sha256Hex(sealed.manifestBytes))
          .send(pack);
      },
    );
  };
}

/**
 * Both evidence route groups from the evidence services, ready for buildServer's `routes`:
 * `routes: evidenceRouteGroup(createEvidenceReadServices(config, s3), incidentSealRecords(incidents))`.
 */
export function evidenceRouteGroup(
  services: {
    store: EvidenceReader & NonNullable<EvidenceRouteDeps['legalHolds']>;
    custody: CustodyLog;
    keys: Parameters<typeof keysRoutes>[0];
    settings: { urlExpirySeconds: number };
  },
  sealRecords: SealRecords,
): FastifyPluginAsync[] {
  return [
    evidenceRoutes({
      reader: services.store,
      custody: services.custody,
      sealRecords,
      legalHolds: services.store,
      urlExpirySeconds: services.settings.urlExpirySeconds,
    }),
    keysRoutes(services.keys),
  ];
}
