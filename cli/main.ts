/**
 * `holdfast`: list and act on incidents, fetch sealed evidence, and verify it offline.
 *
 *   holdfast incidents list [--status S] [--namespace N] [--pod P] [--page-size N] [--page-token T]
 *   holdfast incidents show <incidentId>
 *   holdfast incidents approve|reject <incidentId> --step S [--note N]
 *   holdfast incidents ack|cancel <incidentId> [--note N]
 *   holdfast incidents resolve <incidentId> [--undo] [--note N]
 *   holdfast incidents timeline <incidentId> [--format table|jsonl|timesketch|timesketch-csv] [--evidence DIR|FILE]
 *   holdfast evidence get <incidentId> (-o DIR | --bundle FILE) [--expires-in SECONDS]
 *   holdfast evidence verify <DIR|FILE> [--key PUBLIC_KEY.pem | --fetch-key] [--tsa-cert TSA_CERT.pem]
 *   holdfast evidence export <DIR|FILE> --format case [-o FILE] [--status-file STATUS.json]
 *   holdfast keys
 *
 * Global: --api URL (HOLDFAST_API_URL, default http://127.0.0.1:8080), --token T (HOLDFAST_TOKEN), --json.
 * Exit codes: 0 success/verified; 1 verification failed; 2 usage or API error; 3 hashes hold but the
 * signature was not checked (no key supplied); 4 everything else holds but the RFC 3161 timestamp was not
 * checked (no --tsa-cert, a TSA certificate the token does not chain to, or --tsa-cert and no token).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { parseArgs } from 'node:util';
import { INCIDENT_ID_PATTERN, relativeArtifactPath } from '../evidence/names';
import { stripControlChars } from '../common/k8s-names';
import type { IncidentStatus } from '../workflows/definitions';
import type { IncidentSummary } from '../api/incidents';
import { sha256Hex } from '../evidence/manifest';
import { verifyBundle, verifyDirectory, type VerifyReport } from '../evidence/verify';
import type { PublicKeyInfo } from '../common/ports';
import { loadCliConfig, type CliConfig } from '../common/config';
import { ApiError, apiClient, type ApiClient } from './http';
import { formatBytes, progressBar } from './progress';
import { incidentsTimeline } from './timeline';
import { evidenceExport } from './export';
import { PREFLIGHT_USAGE, preflightCommand } from './preflight';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
  /** HOLDFAST_API_URL / HOLDFAST_TOKEN (loadCliConfig); --api and --token take precedence. */
  config: CliConfig;
  fetch?: typeof fetch;
}

class UsageError extends Error {}

const USAGE = `usage:
  holdfast incidents list [--status S] [--namespace N] [--pod P] [--severity S] [--page-size N] [--page-token T]
  holdfast incidents show <incidentId>
  holdfast incidents approve <incidentId> --step STEP [--note TEXT]
  holdfast incidents reject <incidentId> --step STEP [--note TEXT]
  holdfast incidents ack <incidentId> [--note TEXT]
  holdfast incidents resolve <incidentId> [--undo] [--note TEXT]
  holdfast incidents cancel <incidentId> [--note TEXT]
  holdfast incidents timeline <incidentId> [--format table|jsonl|timesketch|timesketch-csv] [--evidence DIR|FILE]
  holdfast evidence get <incidentId> (-o DIR | --bundle FILE) [--expires-in SECONDS]
  holdfast evidence verify <DIR|FILE> [--key PUBLIC_KEY.pem | --fetch-key] [--tsa-cert TSA_CERT.pem]
  holdfast evidence export <DIR|FILE> --format case [-o FILE] [--status-file STATUS.json]
  holdfast keys
${PREFLIGHT_USAGE}   (exit 0 ready, 1 a needed check failed, 2 error)

global options: --api URL (env HOLDFAST_API_URL, default http://127.0.0.1:8080)
                --token TOKEN (env HOLDFAST_TOKEN)   --json   -h, --help
exit codes: 0 ok/verified, 1 verification failed, 2 usage or API error, 3 signature not checked (no key),
            4 timestamp not checked (no --tsa-cert, or the token does not chain to it)`;

const OPTIONS = {
  api: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  output: { type: 'string', short: 'o' },
  bundle: { type: 'string' },
  'expires-in': { type: 'string' },
  key: { type: 'string' },
  'fetch-key': { type: 'boolean', default: false },
  'tsa-cert': { type: 'string' },
  status: { type: 'string' },
  namespace: { type: 'string' },
  pod: { type: 'string' },
  cluster: { type: 'string' },
  severity: { type: 'string' },
  source: { type: 'string' },
  'page-size': { type: 'string' },
  'page-token': { type: 'string' },
  step: { type: 'string' },
  note: { type: 'string' },
  undo: { type: 'boolean', default: false },
  format: { type: 'string' },
  evidence: { type: 'string' },
  'status-file': { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

interface EvidenceListing {
  incidentId: string;
  keyId: string;
  manifestBase64: string;
  manifestSha256: string;
  signatureBase64: string;
  expiresAt: string;
  artifacts: Array<{
    name: string;
    key: string;
    versionId?: string;
    size: number;
    sha256: string;
    path: string;
    url: string;
  }>;
  custodyKey: string;
  attestationBase64?: string;
  timestampBase64?: string;
}

function print(io: CliIo, line = ''): void {
  io.stdout.write(`${line}\n`);
}

function incidentIdArg(value: string | undefined): string {
  if (!value || !INCIDENT_ID_PATTERN.test(value))
    throw new UsageError(
      `"${(value ?? '').slice(0, 80)}" is not an incident id (lowercase letters, digits and dashes)`,
    );
  return value;
}

async function incidentsList(io: CliIo, api: ApiClient, values: Values): Promise<number> {
  const result = await api.getJson<{ incidents: IncidentSummary[]; nextPageToken?: string }>('/v1/incidents', {
    status: values.status,
    namespace: values.namespace,
    pod: values.pod,
    cluster: values.cluster,
    severity: values.severity,
    source: values.source,
    pageSize: values['page-size'],
    pageToken: values['page-token'],
  });
  if (values.json) {
    print(io, JSON.stringify(result, null, 2));
    return 0;
  }
  const rows = result.incidents.map((i) => [
    i.incidentId,
    i.status,
    i.severity ?? '',
    `${i.cluster ?? ''}/${i.namespace ?? ''}/${i.pod ?? ''}`,
    i.source ?? '',
    i.startedAt ?? '',
  ]);
  const header = ['INCIDENT', 'STATUS', 'SEVERITY', 'CLUSTER/NAMESPACE/POD', 'SOURCE', 'STARTED'];
  const widths = header.map((h, c) => Math.min(70, Math.max(h.length, ...rows.map((r) => r[c]!.length))));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => cell.slice(0, widths[c]).padEnd(widths[c]!))
      .join('  ')
      .trimEnd();
  print(io, line(header));
  for (const row of rows) print(io, line(row));
  if (rows.length === 0) print(io, '(no incidents)');
  if (result.nextPageToken) print(io, `more: --page-token ${result.nextPageToken}`);
  return 0;
}

/** What GET /v1/incidents/{id} answers (the workflow's status, its alerts, the activities running, its run). */
interface IncidentDetail {
  status: IncidentStatus;
  alerts: Array<{ alert: { rule: string; source: string; severity: string }; count: number; lastSeenAt: string }>;
  running: boolean;
  progress: Array<{ activity: string; details: unknown }>;
  workflowId?: string;
  runId?: string;
  temporalUiUrl?: string;
  nextIncidentId?: string;
}

/** The server's text on a terminal: control characters out, bounded. */
function safe(text: string | undefined, max = 300): string {
  return stripControlChars(text ?? '').slice(0, max);
}

async function incidentsShow(io: CliIo, api: ApiClient, values: Values, positionals: string[]): Promise<number> {
  const incidentId = incidentIdArg(positionals[0]);
  const detail = await api.getJson<IncidentDetail>(`/v1/incidents/${incidentId}`);
  if (values.json) {
    print(io, JSON.stringify(detail, null, 2));
    return 0;
  }
  const s = detail.status;
  const t = s.target;
  const where = t.pod
    ? `${t.cluster}/${t.namespace}/${t.pod}${t.container ? `/${t.container}` : ''}`
    : `${t.cluster}/node/${t.node}`;
  print(io, `incident ${safe(s.incidentId)}  ${safe(s.phase)}${detail.running ? '' : ' (closed)'}`);
  print(io, `  severity   ${safe(s.severity)}`);
  print(io, `  target     ${safe(where)}`);
  print(io, `  playbook   ${safe(s.playbook ?? '(not planned yet)')}${s.dryRun ? ' (dry run)' : ''}`);
  print(io, `  started    ${safe(s.startedAt)}${s.endedAt ? `   ended ${safe(s.endedAt)}` : ''}`);
  print(io, `  alerts     ${s.alertCount} (${detail.alerts.length} distinct)`);
  // An older API answers without them: print what there is.
  if (detail.workflowId)
    print(io, `  workflow   ${safe(detail.workflowId)}${detail.runId ? `   run ${safe(detail.runId, 64)}` : ''}`);
  if (detail.temporalUiUrl) print(io, `  temporal   ${safe(detail.temporalUiUrl, 1000)}`);
  // Alerts that arrived while it closed are not on this incident: say which incident holds them.
  if (s.handedOver)
    print(
      io,
      `  next       ${s.handedOver} alert(s) arrived while it closed: ${
        detail.nextIncidentId
          ? `incident ${safe(detail.nextIncidentId, 64)} holds them (holdfast incidents show ${safe(detail.nextIncidentId, 64)})`
          : 'they open the next incident (not open yet)'
      }`,
    );
  if (s.acknowledgedBy) print(io, `  acked by   ${safe(s.acknowledgedBy)}`);
  if (s.resolvedBy) print(io, `  ended by   ${safe(s.resolvedBy)}`);
  if (s.manifestKey) print(io, `  evidence   ${safe(s.manifestKey)}   (holdfast evidence get ${incidentId} -o DIR)`);
  for (const note of s.notes ?? []) print(io, `  note       ${safe(note, 300)}`);
  for (const t of s.tamper ?? [])
    print(io, `  TAMPER     ${safe(t.step, 64)} ${safe(t.kind, 32)}: ${safe(t.detail, 300)}`);
  print(io, '  steps');
  for (const step of s.steps) {
    const extra = [
      step.decision &&
        `${step.decision.approved ? 'approved' : 'rejected'} by ${safe(step.decision.by, 100)}${step.decision.note ? `: ${safe(step.decision.note, 100)}` : ''}`,
      step.error && safe(step.error, 200),
      step.verification &&
        `${step.verification.verdict === 'not effective' ? 'CONTAINMENT NOT EFFECTIVE' : `containment ${safe(step.verification.verdict, 20)}`}: ${safe(step.verification.reason, 300)}`,
      // Sealed without a third party's time: say why (a TSA that failed or was slow, or none configured).
      ...(step.kind === 'seal' ? step.notes.filter((n) => /timestamp/.test(n)).map((n) => safe(n, 400)) : []),
    ].filter(Boolean);
    print(
      io,
      `    ${safe(step.kind, 10).padEnd(9)} ${safe(step.name, 63).padEnd(16)} ${safe(step.state, 20).padEnd(18)} ${extra.join('; ')}`.trimEnd(),
    );
  }
  for (const n of s.notifications ?? [])
    print(
      io,
      `  paged ${safe(n.notifier, 63)} (${n.action}${n.step ? ` ${safe(n.step, 63)}` : ''}): ${n.state}${n.error ? ` - ${safe(n.error, 200)}` : ''}`,
    );
  const waiting = s.steps.filter((step) => step.state === 'awaiting-approval');
  for (const step of waiting) {
    print(io, `waiting for approval: ${step.name}`);
    print(io, `  holdfast incidents approve ${incidentId} --step ${step.name}`);
    print(io, `  holdfast incidents reject ${incidentId} --step ${step.name}`);
  }
  if (detail.running && !s.acknowledgedBy && waiting.length === 0)
    print(io, `acknowledge: holdfast incidents ack ${incidentId}`);
  return 0;
}

const ACTIONS = {
  approve: 'approve',
  reject: 'reject',
  ack: 'acknowledge',
  resolve: 'resolve',
  cancel: 'cancel',
} as const;

/** approve | reject | ack | resolve | cancel: one signal through the API, which answers 202 once it is delivered. */
async function incidentsAct(
  io: CliIo,
  api: ApiClient,
  verb: keyof typeof ACTIONS,
  values: Values,
  positionals: string[],
): Promise<number> {
  const incidentId = incidentIdArg(positionals[0]);
  const action = ACTIONS[verb];
  const gated = verb === 'approve' || verb === 'reject';
  if (gated && !values.step) throw new UsageError(`${verb} needs --step: the gated step (e.g. --step isolate)`);
  if (!gated && values.step) throw new UsageError(`--step is only for approve and reject`);
  if (values.step && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(values.step))
    throw new UsageError(`--step "${values.step.slice(0, 80)}" is not a step name`);
  if (values.undo && verb !== 'resolve') throw new UsageError('--undo is only for resolve');
  if (values.note !== undefined && values.note.length > 2000) throw new UsageError('--note is at most 2000 characters');
  const body = {
    ...(values.step ? { step: values.step } : {}),
    ...(values.note !== undefined ? { note: values.note } : {}),
    ...(values.undo ? { undoContainment: true } : {}),
  };
  const result = await api.postJson<{ incidentId: string; action: string; accepted: boolean }>(
    `/v1/incidents/${incidentId}/${action}`,
    body,
  );
  if (values.json) print(io, JSON.stringify(result, null, 2));
  else {
    const what = values.step ? `${verb} ${values.step}` : verb;
    print(io, `${incidentId}: ${what}${values.undo ? ' (undo containment)' : ''} accepted`);
    print(io, `follow it with: holdfast incidents show ${incidentId}`);
  }
  return 0;
}

/** Writes a file inside `dir` at a validated relative path, refusing to follow an existing symlink. */
function safeTarget(dir: string, rel: string): string {
  const target = path.join(dir, ...rel.split('/'));
  const resolved = path.resolve(target);
  if (!resolved.startsWith(path.resolve(dir) + path.sep)) throw new Error(`refusing to write outside ${dir}: ${rel}`);
  const existing = fs.lstatSync(resolved, { throwIfNoEntry: false });
  if (existing && !existing.isFile()) throw new Error(`refusing to overwrite ${resolved}: not a regular file`);
  fs.mkdirSync(path.dirname(resolved), { recursive: true });
  return resolved;
}

/** Streams a response body to a file with a progress bar, hashing on the way; returns size and SHA-256. */
async function saveWithProgress(
  io: CliIo,
  body: ReadableStream<Uint8Array>,
  file: string,
  label: string,
  total: number | undefined,
  mode?: number,
): Promise<{ size: number; sha256: string }> {
  const bar = progressBar(label, io.stderr);
  const hash = crypto.createHash('sha256');
  let size = 0;
  try {
    await pipeline(
      Readable.fromWeb(body as WebReadableStream<Uint8Array>),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          hash.update(chunk);
          size += chunk.length;
          bar.update(size, total);
          yield chunk;
        }
      },
      fs.createWriteStream(file, mode === undefined ? {} : { mode }),
    );
  } finally {
    bar.done();
  }
  return { size, sha256: hash.digest('hex') };
}

async function download(
  io: CliIo,
  url: string,
  file: string,
  label: string,
  total: number | undefined,
  fetchImpl: typeof fetch,
): Promise<{ size: number; sha256: string }> {
  const response = await fetchImpl(url);
  if (!response.ok || !response.body)
    throw new Error(`download of ${label} failed: ${response.status} ${response.statusText}`);
  return saveWithProgress(io, response.body, file, label, total, 0o444);
}

async function evidenceGet(io: CliIo, api: ApiClient, values: Values, positionals: string[]): Promise<number> {
  const incidentId = incidentIdArg(positionals[0]);
  const fetchImpl = io.fetch ?? fetch;
  if (Boolean(values.output) === Boolean(values.bundle))
    throw new UsageError('give exactly one of -o DIR or --bundle FILE');
  if (values.bundle) {
    const file = path.resolve(values.bundle);
    if (fs.lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink())
      throw new Error(`refusing to write through symlink ${file}`);
    const response = await api.getStream(`/v1/incidents/${incidentId}/evidence/bundle`);
    if (!response.body) throw new Error('empty bundle response');
    const { size } = await saveWithProgress(io, response.body, file, `${incidentId} bundle`, undefined);
    const result = {
      incidentId,
      bundle: file,
      bytes: size,
      manifestSha256: response.headers.get('x-holdfast-manifest-sha256') ?? undefined,
    };
    if (values.json) print(io, JSON.stringify(result, null, 2));
    else {
      print(io, `wrote ${file} (${formatBytes(size)})`);
      print(io, `verify it with: holdfast evidence verify ${file} --key <public-key.pem>`);
    }
    return 0;
  }
  const dir = path.resolve(values.output!);
  const expiresIn = values['expires-in'] ? Number(values['expires-in']) : undefined;
  if (expiresIn !== undefined && (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > 900))
    throw new UsageError('--expires-in must be 1–900 seconds');
  const listing = await api.getJson<EvidenceListing>(`/v1/incidents/${incidentId}/evidence`, { expiresIn });
  fs.mkdirSync(dir, { recursive: true });
  const manifestBytes = Buffer.from(listing.manifestBase64, 'base64');
  fs.writeFileSync(safeTarget(dir, 'manifest.json'), manifestBytes);
  fs.writeFileSync(safeTarget(dir, 'manifest.sig'), Buffer.from(listing.signatureBase64, 'base64'));
  const attestationFiles = [
    ['attestation.dsse.json', listing.attestationBase64],
    ['attestation.tsr', listing.timestampBase64],
  ] as const;
  for (const [name, base64] of attestationFiles)
    if (typeof base64 === 'string') fs.writeFileSync(safeTarget(dir, name), Buffer.from(base64, 'base64'));
  const warnings: string[] = [];
  if (sha256Hex(manifestBytes) !== listing.manifestSha256)
    warnings.push('manifest.json bytes do not match the sha256 the server announced');
  const downloaded: Array<{ path: string; size: number; sha256: string; matches: boolean }> = [];
  for (const artifact of listing.artifacts) {
    // The path comes from our own validation of the key, never from the server's "path" field.
    const rel = relativeArtifactPath(incidentId, artifact.key);
    if (!rel) {
      warnings.push(`skipped ${artifact.key.slice(0, 200)}: not a safe <step>/<artifact> key`);
      continue;
    }
    const file = safeTarget(dir, rel);
    if (fs.existsSync(file)) fs.chmodSync(file, 0o644);
    const got = await download(io, artifact.url, file, rel, artifact.size, fetchImpl);
    const matches = got.size === artifact.size && got.sha256 === artifact.sha256;
    if (!matches)
      warnings.push(
        `${rel}: downloaded ${got.size} bytes with sha256 ${got.sha256}, the manifest says ${artifact.size} / ${artifact.sha256}`,
      );
    downloaded.push({ path: rel, ...got, matches });
  }
  if (values.json)
    print(
      io,
      JSON.stringify(
        { incidentId, dir, keyId: listing.keyId, custodyKey: listing.custodyKey, artifacts: downloaded, warnings },
        null,
        2,
      ),
    );
  else {
    const extras = attestationFiles.filter(([, b]) => typeof b === 'string').map(([n]) => `${n}, `);
    print(
      io,
      `evidence for ${incidentId} in ${dir}: manifest.json, manifest.sig, ${extras.join('')}and ${downloaded.length} artifact(s)`,
    );
    for (const w of warnings) print(io, `warning: ${w}`);
    print(io, `this access is recorded in the custody log (${listing.custodyKey})`);
    print(
      io,
      `verify it with: holdfast evidence verify ${dir} --key <public-key.pem>   (signing key id ${listing.keyId})`,
    );
  }
  return warnings.length > 0 ? 1 : 0;
}

function humanReport(io: CliIo, report: VerifyReport, keyNote: string): void {
  print(io, `Evidence ${report.incidentId ?? '(unknown incident)'} from ${report.source}`);
  if (report.manifestSha256) print(io, `  manifest.json sha256 ${report.manifestSha256}`);
  print(
    io,
    `  signature: ${report.signature.checked ? (report.signature.ok ? 'OK' : 'FAILED') : 'NOT CHECKED'} - ${report.signature.detail}`,
  );
  if (keyNote) print(io, `  key: ${keyNote}`);
  for (const a of report.artifacts) {
    print(
      io,
      `  ${a.ok ? 'ok    ' : 'FAILED'} ${a.path ?? a.key}  ${formatBytes(a.expectedSize)}${a.ok ? '' : `  - ${a.problem}`}`,
    );
  }
  for (const f of report.failures) print(io, `  (recorded as not captured) ${f.step}: ${f.error.slice(0, 300)}`);
  // Signed with the rest: the hashes can hold while the collection itself was interfered with.
  if (report.tamper && report.tamper.length > 0) {
    print(io, `  TAMPER: evidence collection was interfered with (${report.tamper.length} finding(s)):`);
    for (const t of report.tamper) print(io, `    ${t.step} ${t.kind}: ${JSON.stringify(t.detail).slice(1, -1)}`);
  } else if (report.tamper) print(io, '  tamper: none recorded');
  if (report.attestation) {
    const a = report.attestation;
    print(
      io,
      `  attestation (in-toto/DSSE): ${a.signature.checked ? (a.signature.ok ? 'OK' : 'FAILED') : 'NOT CHECKED'} - ${a.signature.detail}`,
    );
    print(
      io,
      `  attestation subjects: ${a.subjects.ok ? `OK - ${a.subjects.count} subject(s) equal the manifest's artifacts and their bytes` : 'FAILED'}`,
    );
    for (const p of a.subjects.problems.slice(0, 20)) print(io, `    FAILED ${safe(p, 400)}`);
  }
  if (report.timestamp) {
    const t = report.timestamp;
    const state =
      t.checked && t.ok
        ? 'OK'
        : !t.present
          ? 'NONE'
          : t.detail.startsWith('timestamp not checked')
            ? 'NOT CHECKED'
            : 'FAILED';
    print(io, `  timestamp (RFC 3161): ${state} - ${safe(t.detail, 600)}`);
    if (t.genTime)
      print(
        io,
        `    genTime ${t.genTime}  policy ${safe(t.policy, 100)}  nonce ${safe(t.nonce, 80)}  serial ${safe(t.serialNumber, 80)}`,
      );
    if (t.tsa || t.tsaSubject)
      print(io, `    TSA ${safe(t.tsa ?? '', 200)}${t.tsaSubject ? ` (${safe(t.tsaSubject, 200)})` : ''}`);
  }
  const others = report.problems.filter(
    (p) =>
      !p.startsWith('artifact ') &&
      !p.startsWith('signature:') &&
      !(report.attestation?.subjects.problems.some((sp) => p === `attestation: ${sp}`) ?? false),
  );
  // Problems can quote the evidence's own bytes (a parse error of a hostile envelope): made safe for a terminal.
  for (const p of others) print(io, `  problem: ${safe(p, 1000)}`);
  const failedArtifacts = report.artifacts.filter((a) => !a.ok).length;
  const stamped = report.timestamp?.checked && report.timestamp.ok ? `; timestamped ${report.timestamp.genTime}` : '';
  if (report.ok)
    print(
      io,
      `VERIFIED: signature and all ${report.artifacts.length} artifact hash(es) hold${report.attestation ? '; the attestation holds' : ''}${stamped}`,
    );
  else if (timestampOnlyUnchecked(report))
    print(
      io,
      `VERIFIED EXCEPT THE TIMESTAMP: signature and hashes hold, but the timestamp was NOT checked (${safe(report.timestamp?.detail, 300)})`,
    );
  else if (!report.signature.checked && report.problems.filter((p) => !p.startsWith('signature:')).length === 0) {
    print(
      io,
      `HASHES HOLD (${report.artifacts.length} artifact(s)) but the signature was NOT checked: no public key was supplied`,
    );
  } else
    print(
      io,
      `VERIFICATION FAILED: ${failedArtifacts} artifact(s) failed${report.signature.ok ? '' : ', signature not valid'}${others.length ? `, ${others.length} other problem(s)` : ''}`,
    );
}

async function evidenceVerify(io: CliIo, values: Values, positionals: string[], api: () => ApiClient): Promise<number> {
  const target = positionals[0];
  if (!target) throw new UsageError('evidence verify needs a directory or a bundle file');
  if (values.key && values['fetch-key']) throw new UsageError('give --key or --fetch-key, not both');
  const stat = fs.statSync(target, { throwIfNoEntry: false });
  if (!stat) throw new UsageError(`${target} does not exist`);
  let publicKeyPem: string | undefined;
  let keyNote = '';
  if (values.key) {
    publicKeyPem = fs.readFileSync(values.key, 'utf8');
    keyNote = `supplied independently from ${values.key}`;
  }
  let resolveKey: ((keyId: string) => Promise<string | undefined>) | undefined;
  if (values['fetch-key']) {
    resolveKey = async (keyId) =>
      (await api().getJson<{ keys: PublicKeyInfo[] }>('/v1/keys')).keys.find((k) => k.keyId === keyId)?.publicKeyPem;
    keyNote =
      'FETCHED FROM THE HOLDFAST SERVER (/v1/keys), NOT independently supplied: this proves consistency with the server, not authenticity';
  }
  if (!publicKeyPem && !resolveKey)
    keyNote = 'the key was not independently supplied (no --key): the signature cannot be checked';
  const bar = progressBar('verifying', io.stderr, Boolean(io.stderr.isTTY) && !values.json);
  const tsaCertPem = values['tsa-cert'] ? fs.readFileSync(values['tsa-cert'], 'utf8') : undefined;
  const options = {
    publicKeyPem,
    resolveKey,
    tsaCertPem,
    onProgress: (bytes: number, total: number) => bar.update(bytes, total),
  };
  const report = stat.isDirectory() ? await verifyDirectory(target, options) : await verifyBundle(target, options);
  bar.done();
  if (values.json) print(io, JSON.stringify({ ...report, keyNote }, null, 2));
  else humanReport(io, report, keyNote);
  if (report.ok) return 0;
  const onlySignatureUnchecked = !report.signature.checked && report.problems.every((p) => p.startsWith('signature:'));
  if (onlySignatureUnchecked) return 3;
  return timestampOnlyUnchecked(report) ? 4 : 1;
}

/** Everything holds but the timestamp, which was not checked (no --tsa-cert, another TSA, or no token to check). */
function timestampOnlyUnchecked(report: VerifyReport): boolean {
  return (
    report.signature.checked &&
    report.signature.ok &&
    report.problems.length === 0 &&
    report.timestamp !== undefined &&
    !report.timestamp.checked
  );
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  if (argv[0] === 'preflight') return preflightCommand(argv.slice(1), io);
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    io.stderr.write(`holdfast: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [group, command, ...rest] = positionals;
  if (values.help || !group) {
    (values.help ? io.stdout : io.stderr).write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  let client: ApiClient | undefined;
  const api = () => (client ??= apiClient(values.api ?? io.config.apiUrl, values.token ?? io.config.token, io.fetch));
  try {
    if (group === 'incidents' && command === 'list') return await incidentsList(io, api(), values);
    if (group === 'incidents' && command === 'show') return await incidentsShow(io, api(), values, rest);
    if (group === 'incidents' && command === 'timeline') return await incidentsTimeline(io, api, values, rest);
    if (group === 'incidents' && command && Object.hasOwn(ACTIONS, command))
      return await incidentsAct(io, api(), command as keyof typeof ACTIONS, values, rest);
    if (group === 'evidence' && command === 'get') return await evidenceGet(io, api(), values, rest);
    if (group === 'evidence' && command === 'verify') return await evidenceVerify(io, values, rest, api);
    if (group === 'evidence' && command === 'export') return await evidenceExport(io, values, rest);
    if (group === 'keys') {
      const keys = await api().getJson<{ keys: PublicKeyInfo[] }>('/v1/keys');
      if (values.json) print(io, JSON.stringify(keys, null, 2));
      else for (const k of keys.keys) print(io, `# key id ${k.keyId} (${k.algorithm})\n${k.publicKeyPem.trimEnd()}`);
      return 0;
    }
    throw new UsageError(`unknown command "${positionals.slice(0, 2).join(' ')}"`);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`holdfast: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    io.stderr.write(`holdfast: ${err instanceof ApiError ? err.message : (err as Error).message}\n`);
    return 2;
  }
}

/** Entry point for bin/holdfast.js. */
export function main(): void {
  run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, config: loadCliConfig() }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`holdfast: ${(err as Error).message}\n`);
      process.exitCode = 2;
    },
  );
}

if (require.main === module) main();
