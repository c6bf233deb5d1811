/**
 * Sealed evidence as CASE 1.5 / UCO 1.x JSON-LD (https://caseontology.org), for tools and courts that speak it:
 *
 * - the incident as an `investigation:Investigation` (form "incident") holding everything below;
 * - each step as an `investigation:InvestigativeAction`: performer = the Kubernetes identity that ran it (capture,
 *   containment, or the API for intake), participants = the people who approved or rejected it (from the workflow's
 *   status, when given), instruments = the collectors and tools with their versions and image digest, start/end
 *   time, status, and results = its artifacts as `observable:File`s with their SHA-256 plus its provenance record;
 * - the provenance chain: one `investigation:ProvenanceRecord` per step (exhibit `<incident>/<step>`), and the seal
 *   as the action whose objects are those records and whose result is the manifest's own record;
 * - tamper flags and failures as `core:Annotation`s on the action (or the investigation) they concern.
 *
 * Pure and deterministic: identifiers are UUIDs derived from the incident and the object, so the same evidence
 * exports the same graph. Strings from the target are carried as literals only (JSON-encoded), bounded.
 * The vocabulary was checked against case-utils 0.18.0's CASE 1.5.0 shapes; `case_validate` passes on the output
 * (test/integration/timeline-case.test.ts).
 */
import crypto from 'node:crypto';
import { boundTamperFlags, type ArtifactRef, type EvidenceManifest } from '../common/types';
import { relativeArtifactPath } from './names';
import type { StatusStep, TimelineStatus } from './timeline';

export const CASE_CONTEXT = {
  kb: 'http://holdfast.invalid/kb/',
  'case-investigation': 'https://ontology.caseontology.org/case/investigation/',
  'uco-action': 'https://ontology.unifiedcyberontology.org/uco/action/',
  'uco-core': 'https://ontology.unifiedcyberontology.org/uco/core/',
  'uco-identity': 'https://ontology.unifiedcyberontology.org/uco/identity/',
  'uco-observable': 'https://ontology.unifiedcyberontology.org/uco/observable/',
  'uco-tool': 'https://ontology.unifiedcyberontology.org/uco/tool/',
  'uco-types': 'https://ontology.unifiedcyberontology.org/uco/types/',
  xsd: 'http://www.w3.org/2001/XMLSchema#',
} as const;

/** The slice of the workflow's status the export uses: steps with their artifacts and decisions. */
export type CaseStatus = Omit<TimelineStatus, 'incidentId' | 'notifications'>;

export interface CaseExportInput {
  manifest: EvidenceManifest;
  /** SHA-256 of manifest.json's exact bytes (the manifest's own provenance record names it). */
  manifestSha256: string;
  manifestSize: number;
  status?: CaseStatus;
  /** The Holdfast version that exports (a tool of the export's own description). */
  exporterVersion: string;
}

type Node = Record<string, unknown> & { '@id': string; '@type': string | string[] };
const ref = (id: string) => ({ '@id': id });
const dateTime = (value: string) => ({ '@type': 'xsd:dateTime', '@value': value });
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
/** Target text as a literal: control characters out, bounded (JSON encoding does the rest). */
const clean = (value: unknown, max = 1000) =>
  String(value ?? '')
    .replace(CONTROL, ' ')
    .slice(0, max);
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const validTime = (value: unknown): value is string => typeof value === 'string' && ISO.test(value);

/** A UUID (version 5 layout) derived from the incident and a name: the same evidence, the same identifiers. */
function uuidFor(incidentId: string, name: string): string {
  const h = crypto.createHash('sha256').update(`${incidentId}\u0000${name}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** CASE's action status vocabulary for a Holdfast step state. */
function actionStatus(state: string | undefined): string {
  switch (state) {
    case 'succeeded':
      return 'Success';
    case 'failed':
      return 'Fail';
    case 'running':
      return 'Ongoing';
    case 'pending':
    case 'awaiting-approval':
      return 'Pending';
    default:
      return 'Unknown';
  }
}

/** Which identity runs a step of this kind (see deploy/rbac.yaml: reads as capture, changes as containment). */
function identityFor(kind: string | undefined): 'capture' | 'containment' | 'api' | 'worker' {
  if (kind === 'capture') return 'capture';
  if (kind === 'preserve' || kind === 'contain' || kind === 'undo') return 'containment';
  if (kind === 'intake') return 'api';
  return 'worker';
}

/** Offline (no status), a step's kind from its artifact directory. */
function kindOfDir(dir: string): string {
  if (dir === 'intake') return 'intake';
  if (dir === 'preserve' || dir === 'contain') return dir;
  return 'capture';
}

interface Step {
  name: string;
  kind?: string;
  state?: string;
  startedAt?: string;
  endedAt?: string;
  decision?: StatusStep['decision'];
  artifacts: ArtifactRef[];
}

/** The steps: the status's, each with the artifacts it lists; artifacts no step lists, grouped by directory. */
function stepsOf(manifest: EvidenceManifest, status: CaseStatus | undefined): Step[] {
  const byKey = new Map(manifest.artifacts.map((a) => [a.key, a]));
  const claimed = new Set<string>();
  const steps: Step[] = [];
  for (const s of (status?.steps ?? []).slice(0, 200)) {
    const artifacts = (s.artifacts ?? []).flatMap((a) => {
      const found = byKey.get(a.key);
      if (!found || claimed.has(a.key)) return [];
      claimed.add(a.key);
      return [found];
    });
    steps.push({ ...s, artifacts });
  }
  const rest = new Map<string, ArtifactRef[]>();
  for (const a of manifest.artifacts) {
    if (claimed.has(a.key)) continue;
    const dir = relativeArtifactPath(manifest.incidentId, a.key)?.split('/')[0];
    if (!dir) continue;
    rest.set(dir, [...(rest.get(dir) ?? []), a]);
  }
  for (const [dir, artifacts] of rest) {
    const existing = steps.find((s) => s.name === dir && s.artifacts.length === 0);
    const times = artifacts
      .map((a) => a.capturedAt)
      .filter(validTime)
      .sort();
    if (existing) existing.artifacts = artifacts;
    else
      steps.push({
        name: dir,
        kind: kindOfDir(dir),
        state: 'succeeded',
        startedAt: times[0],
        endedAt: times[times.length - 1],
        artifacts,
      });
  }
  return steps;
}

/** The CASE JSON-LD document of sealed evidence. */
export function caseDocument(input: CaseExportInput): { '@context': typeof CASE_CONTEXT; '@graph': Node[] } {
  const { manifest, status } = input;
  const incidentId = manifest.incidentId;
  const id = (type: string, name: string) => `kb:${type}-${uuidFor(incidentId, `${type}:${name}`)}`;
  const graph: Node[] = [];
  const investigationObjects: string[] = [];
  const add = (node: Node, inInvestigation = true) => {
    graph.push(node);
    if (inInvestigation) investigationObjects.push(node['@id']);
    return node['@id'];
  };

  // The target: the pod as the manifest knows it.
  const t = manifest.target;
  const targetName = t.pod ? `${t.cluster}/${t.namespace ?? ''}/${t.pod}` : `${t.cluster}/node/${t.node ?? 'unknown'}`;
  const target = add({
    '@id': id('observable-object', 'target'),
    '@type': 'uco-observable:ObservableObject',
    'uco-core:name': clean(targetName, 600),
    'uco-core:description': clean(
      [
        t.podUid && `pod UID ${t.podUid}`,
        t.node && `node ${t.node}`,
        ...t.containers.map(
          (c) =>
            `container ${c.name}${c.image ? ` image ${c.image}` : ''}${c.imageDigest ? ` (${c.imageDigest})` : ''}`,
        ),
      ]
        .filter(Boolean)
        .join('; ') || 'Kubernetes target',
      4000,
    ),
  });

  // Who ran the steps: Holdfast's identities, and the people who decided.
  const identityNames = {
    capture: 'Holdfast capture identity (Kubernetes service account: reads and collection)',
    containment: 'Holdfast containment identity (Kubernetes service account: changes)',
    api: 'Holdfast API (alert intake)',
    worker: 'Holdfast worker',
  } as const;
  const identities = new Map<string, string>();
  const identity = (which: keyof typeof identityNames) => {
    if (!identities.has(which))
      identities.set(
        which,
        add({ '@id': id('identity', which), '@type': 'uco-identity:Identity', 'uco-core:name': identityNames[which] }),
      );
    return identities.get(which)!;
  };
  const persons = new Map<string, string>();
  const person = (name: string) => {
    const key = clean(name, 128);
    if (!persons.has(key))
      persons.set(key, add({ '@id': id('person', key), '@type': 'uco-identity:Person', 'uco-core:name': key }));
    return persons.get(key)!;
  };

  // Instruments: each distinct collector (name, version, image digest), and Holdfast itself.
  const tools = new Map<string, string>();
  const tool = (c: ArtifactRef['collector'] | undefined) => {
    const name = clean(c?.name ?? 'unknown', 200);
    const version = clean(c?.version ?? 'unknown', 200);
    const digest = c?.imageDigest ? clean(c.imageDigest, 200) : undefined;
    const key = `${name}\u0000${version}\u0000${digest ?? ''}`;
    if (!tools.has(key))
      tools.set(
        key,
        add({
          '@id': id('tool', key),
          '@type': 'uco-tool:Tool',
          'uco-core:name': name,
          'uco-tool:version': version,
          'uco-tool:toolType': digest ? 'collector container image' : 'Holdfast component',
          ...(digest ? { 'uco-core:description': `container image ${digest}` } : {}),
        }),
      );
    return tools.get(key)!;
  };
  const holdfast = tool({ name: 'holdfast', version: clean(input.exporterVersion, 100) });

  // Artifacts as files with their SHA-256.
  const fileNode = (name: string, path: string, size: number, sha256: string, extra: Record<string, unknown> = {}) => {
    const fileId = id('file', path);
    const hashId = add(
      {
        '@id': id('hash', path),
        '@type': 'uco-types:Hash',
        'uco-types:hashMethod': 'SHA256',
        'uco-types:hashValue': { '@type': 'xsd:hexBinary', '@value': sha256 },
      },
      false,
    );
    graph.push(
      {
        '@id': id('file-facet', path),
        '@type': 'uco-observable:FileFacet',
        'uco-observable:fileName': clean(name, 255),
        'uco-observable:filePath': clean(path, 1024),
        'uco-observable:sizeInBytes': size,
      },
      {
        '@id': id('content-data-facet', path),
        '@type': 'uco-observable:ContentDataFacet',
        'uco-observable:sizeInBytes': size,
        'uco-observable:hash': [ref(hashId)],
      },
    );
    return add({
      '@id': fileId,
      '@type': 'uco-observable:File',
      'uco-core:hasFacet': [ref(id('file-facet', path)), ref(id('content-data-facet', path))],
      ...extra,
    });
  };

  const steps = stepsOf(manifest, status);
  const actions = new Map<string, string>();
  const records: string[] = [];
  for (const step of steps) {
    const files = step.artifacts.map((a) => {
      const path = relativeArtifactPath(incidentId, a.key) ?? a.name;
      return fileNode(a.name, path, a.size, a.sha256, {
        ...(validTime(a.capturedAt) ? { 'uco-core:objectCreatedTime': dateTime(a.capturedAt) } : {}),
        'uco-core:description': clean(
          `${a.method}${a.versionId ? `; S3 version ${a.versionId}` : ''}${a.notes.length ? `; notes: ${a.notes.join('; ')}` : ''}`,
          4000,
        ),
      });
    });
    const record = add({
      '@id': id('provenance-record', step.name),
      '@type': 'case-investigation:ProvenanceRecord',
      'case-investigation:exhibitNumber': `${incidentId}/${clean(step.name, 64)}`,
      'case-investigation:rootExhibitNumber': incidentId,
      'uco-core:description': `artifacts of step ${clean(step.name, 64)}`,
      ...(files.length ? { 'uco-core:object': files.map(ref) } : {}),
    });
    records.push(record);
    const instruments = [...new Set([holdfast, ...step.artifacts.map((a) => tool(a.collector))])];
    const participants = step.decision ? [person(step.decision.by)] : [];
    const action = add({
      '@id': id('investigative-action', step.name),
      '@type': 'case-investigation:InvestigativeAction',
      'uco-core:name': clean(step.name, 64),
      'uco-core:description': clean(
        `Holdfast ${step.kind ?? 'step'} step ${step.name}${step.decision ? `; ${step.decision.approved ? 'approved' : 'rejected'} by ${step.decision.by}${step.decision.role ? ` (${step.decision.role})` : ''} at ${step.decision.at}${step.decision.note ? `: ${step.decision.note}` : ''}` : ''}`,
        2000,
      ),
      'uco-action:actionStatus': actionStatus(step.state),
      'uco-action:performer': ref(identity(identityFor(step.kind))),
      ...(participants.length ? { 'uco-action:participant': participants.map(ref) } : {}),
      'uco-action:instrument': instruments.map(ref),
      'uco-action:object': [ref(target)],
      ...(validTime(step.startedAt) ? { 'uco-action:startTime': dateTime(step.startedAt) } : {}),
      ...(validTime(step.endedAt) ? { 'uco-action:endTime': dateTime(step.endedAt) } : {}),
      'uco-action:result': [...files, record].map(ref),
    });
    actions.set(step.name, action);
  }

  // The seal closes the chain: it took every step's record and produced the signed manifest.
  const manifestFile = fileNode('manifest.json', 'manifest.json', input.manifestSize, input.manifestSha256, {
    ...(validTime(manifest.sealedAt) ? { 'uco-core:objectCreatedTime': dateTime(manifest.sealedAt) } : {}),
    'uco-core:description': clean(
      `Holdfast evidence manifest, signed with Ed25519 key ${manifest.signing.keyId} (manifest.sig); retention ${manifest.retention.mode} ${manifest.retention.days} days${manifest.retention.legalHold ? ', legal hold' : ''}`,
      1000,
    ),
  });
  const manifestRecord = add({
    '@id': id('provenance-record', 'manifest'),
    '@type': 'case-investigation:ProvenanceRecord',
    'case-investigation:exhibitNumber': `${incidentId}/manifest`,
    'case-investigation:rootExhibitNumber': incidentId,
    'uco-core:description': 'the signed manifest naming every artifact by SHA-256',
    'uco-core:object': [ref(manifestFile)],
  });
  const seal = add({
    '@id': id('investigative-action', 'seal:manifest'),
    '@type': 'case-investigation:InvestigativeAction',
    'uco-core:name': 'seal',
    'uco-core:description': 'Holdfast sealed the evidence: wrote and signed manifest.json under Object Lock',
    'uco-action:actionStatus': 'Success',
    'uco-action:performer': ref(identity('worker')),
    'uco-action:instrument': [ref(holdfast)],
    ...(records.length ? { 'uco-action:object': records.map(ref) } : {}),
    ...(validTime(manifest.sealedAt) ? { 'uco-action:endTime': dateTime(manifest.sealedAt) } : {}),
    'uco-action:result': [ref(manifestFile), ref(manifestRecord)],
  });

  // Tamper flags and failures: annotations on what they concern.
  const concerning = (step: string) => actions.get(step) ?? seal;
  boundTamperFlags(manifest.tamper).forEach((f, i) =>
    add({
      '@id': id('annotation', `tamper:${i}`),
      '@type': 'uco-core:Annotation',
      'uco-core:statement': `evidence collection was interfered with (${f.step}, ${f.kind}): ${f.detail}`,
      'uco-core:tag': ['tamper', f.kind],
      'uco-core:object': [ref(concerning(f.step))],
    }),
  );
  (Array.isArray(manifest.failures) ? manifest.failures : []).slice(0, 1000).forEach((f, i) =>
    add({
      '@id': id('annotation', `failure:${i}`),
      '@type': 'uco-core:Annotation',
      'uco-core:statement': clean(`not captured (${f.step}): ${f.error}`, 4000),
      'uco-core:tag': ['failure'],
      'uco-core:object': [ref(concerning(clean(f.step, 64)))],
    }),
  );
  if (manifest.tamper === undefined)
    add({
      '@id': id('annotation', 'tamper:absent'),
      '@type': 'uco-core:Annotation',
      'uco-core:statement':
        'this manifest was sealed before Holdfast recorded tamper flags: none are known, none were looked for',
      'uco-core:tag': ['tamper'],
      'uco-core:object': [ref(seal)],
    });

  const investigation: Node = {
    '@id': id('investigation', 'incident'),
    '@type': 'case-investigation:Investigation',
    'uco-core:name': incidentId,
    'case-investigation:investigationForm': 'incident',
    'case-investigation:focus': clean(
      `${targetName}: ${manifest.alerts
        .slice(0, 5)
        .map((a) => a.rule)
        .join(', ')}`,
      1000,
    ),
    ...(status?.phase ? { 'case-investigation:investigationStatus': clean(status.phase, 40) } : {}),
    ...(validTime(status?.startedAt) ? { 'uco-core:startTime': dateTime(status.startedAt) } : {}),
    ...(validTime(status?.endedAt) ? { 'uco-core:endTime': dateTime(status.endedAt) } : {}),
    'uco-core:description': clean(
      `Holdfast incident ${incidentId}, workflow ${manifest.workflowId} run ${manifest.runId}; ${manifest.alerts.length} alert(s) kept`,
      2000,
    ),
    'uco-core:object': investigationObjects.map(ref),
  };
  return { '@context': CASE_CONTEXT, '@graph': [investigation, ...graph] };
}
