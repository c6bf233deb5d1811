/**
 * `GET /v1/incidents/{id}/timeline` (role investigator, like the evidence it reads): one chronology of the
 * incident from its workflow status and its sealed evidence (evidence/timeline.ts). Artifacts are read from the
 * exact versions the incident sealed; the access is written to the custody log first, like any evidence read.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { CustodyLog, EvidenceReader } from '../../common/ports';
import type { EvidenceManifest } from '../../common/types';
import { storeReader } from '../../evidence/artifact-readers';
import { manifestKey, relativeArtifactPath, signatureKey } from '../../evidence/names';
import { buildTimeline } from '../../evidence/timeline';
import { HttpProblem } from '../errors';
import type { IncidentsService } from '../incidents';
import { EvidenceIncidentParams } from '../schemas/evidence';
import { TimelineResponse } from '../schemas/timeline';
import { incidentSealRecords, loadSealed, sealRecordOf, type SealRecords } from './evidence';

export interface TimelineRouteDeps {
  incidents: Pick<IncidentsService, 'get'>;
  reader: EvidenceReader;
  custody: CustodyLog;
  sealRecords: SealRecords;
  now?: () => Date;
}

/** The artifacts a timeline reads (changed files, processes, container logs). */
function readByTimeline(manifest: EvidenceManifest) {
  return manifest.artifacts.filter((a) => {
    const rel = relativeArtifactPath(manifest.incidentId, a.key);
    return (
      rel !== undefined &&
      (rel.endsWith('/changed-files.json') ||
        rel.endsWith('/processes.json') ||
        (rel.startsWith('logs/') && rel.endsWith('.log')))
    );
  });
}

export function timelineRoutes(deps: TimelineRouteDeps): FastifyPluginAsyncTypebox {
  const now = deps.now ?? (() => new Date());
  return async (app) => {
    app.get(
      '/v1/incidents/:incidentId/timeline',
      {
        preHandler: app.requireRole('investigator'),
        schema: {
          summary:
            'One chronology: alerts, steps and decisions, file changes, container log lines and process starts, each row naming its source',
          params: EvidenceIncidentParams,
          response: { 200: TimelineResponse },
        },
      },
      async (request) => {
        const { incidentId } = request.params;
        const detail = await deps.incidents.get(incidentId);
        const status = detail.status;
        let manifest: EvidenceManifest | undefined;
        if (sealRecordOf(status)) {
          const sealed = await loadSealed(deps.reader, deps.sealRecords, incidentId);
          manifest = sealed.manifest;
          const principal = request.principal!;
          const ua = request.headers['user-agent'];
          try {
            await deps.custody.append({
              incidentId,
              at: now().toISOString(),
              who: { name: principal.name, role: principal.role, via: principal.via },
              action: 'evidence.read',
              objects: [
                { key: manifestKey(incidentId), versionId: sealed.manifestVersionId },
                { key: signatureKey(incidentId), versionId: sealed.signatureVersionId },
                ...readByTimeline(manifest).map((a) => ({ key: a.key, versionId: a.versionId })),
              ],
              from: { ip: request.ip, ...(typeof ua === 'string' ? { userAgent: ua.slice(0, 256) } : {}) },
              outcome: 'granted',
              detail: 'timeline',
            });
          } catch (err) {
            request.log.error({ err, incidentId }, 'custody log write failed: timeline refused');
            throw new HttpProblem(
              503,
              'Service Unavailable',
              'the access could not be recorded in the custody log; try again',
            );
          }
        }
        return buildTimeline({
          incidentId,
          status,
          alerts: detail.alerts,
          ...(manifest ? { manifest, reader: storeReader(deps.reader, manifest) } : {}),
        });
      },
    );
  };
}

/** The route from the evidence services and the incidents service, for buildServer's `routes` (one line in api/main.ts). */
export function timelineRoute(
  services: { store: EvidenceReader; custody: CustodyLog },
  incidents: Pick<IncidentsService, 'get'>,
): FastifyPluginAsyncTypebox {
  return timelineRoutes({
    incidents,
    reader: services.store,
    custody: services.custody,
    sealRecords: incidentSealRecords(incidents),
  });
}
