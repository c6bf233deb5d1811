/**
 * `holdfast evidence export <DIR|FILE> --format case [-o OUT.jsonld] [--status-file STATUS.json]`
 *
 * Writes downloaded evidence as CASE/UCO JSON-LD (evidence/case-export.ts). The manifest is read from the
 * directory or bundle and described as it is: run `holdfast evidence verify` to check it. The people who approved
 * steps are in the workflow's status, not the manifest: pass `--status-file` with the output of
 * `holdfast incidents show <id> --json` to name them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HOLDFAST_VERSION } from '../common/version';
import { readBundle } from '../evidence/artifact-readers';
import { caseDocument, type CaseStatus } from '../evidence/case-export';
import { MAX_MANIFEST_BYTES, parseManifest, sha256Hex } from '../evidence/manifest';
import type { CliIo } from './main';

export const EXPORT_FORMATS = ['case'] as const;

async function manifestOf(target: string): Promise<Buffer> {
  const stat = fs.statSync(target, { throwIfNoEntry: false });
  if (!stat) throw new Error(`${target} does not exist`);
  if (stat.isDirectory()) {
    const file = path.join(target, 'manifest.json');
    const m = fs.lstatSync(file, { throwIfNoEntry: false });
    if (!m || !m.isFile() || m.size > MAX_MANIFEST_BYTES) throw new Error(`${target} holds no readable manifest.json`);
    return fs.readFileSync(file);
  }
  const bundle = await readBundle(target, () => undefined);
  if (!bundle.manifestBytes)
    throw new Error(
      `${target} holds no manifest.json${bundle.problems.length ? ` (${bundle.problems.join('; ')})` : ''}`,
    );
  return bundle.manifestBytes;
}

function statusOf(file: string | undefined, incidentId: string): CaseStatus | undefined {
  if (!file) return undefined;
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (!stat?.isFile() || stat.size > 16 * 1024 * 1024)
    throw new Error(`--status-file ${file} is not a file of at most 16 MiB`);
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { status?: unknown; incidentId?: unknown };
  // `holdfast incidents show --json` prints {status, alerts, …}; a bare status works too.
  const status = (parsed.status && typeof parsed.status === 'object' ? parsed.status : parsed) as CaseStatus & {
    incidentId?: unknown;
  };
  if (status.incidentId !== incidentId)
    throw new Error(
      `--status-file is about ${String(status.incidentId).slice(0, 80)}, the evidence about ${incidentId}`,
    );
  return status;
}

export async function evidenceExport(
  io: CliIo,
  options: { format?: string; output?: string; 'status-file'?: string },
  positionals: string[],
): Promise<number> {
  const target = positionals[0];
  if (!target) throw new Error('evidence export needs a directory or a bundle file');
  if (options.format !== 'case') throw new Error(`--format must be one of ${EXPORT_FORMATS.join(', ')}`);
  const bytes = await manifestOf(target);
  const manifest = parseManifest(bytes);
  const document = caseDocument({
    manifest,
    manifestSha256: sha256Hex(bytes),
    manifestSize: bytes.length,
    status: statusOf(options['status-file'], manifest.incidentId),
    exporterVersion: HOLDFAST_VERSION,
  });
  const text = `${JSON.stringify(document, null, 2)}\n`;
  if (options.output) {
    const out = path.resolve(options.output);
    if (fs.lstatSync(out, { throwIfNoEntry: false })?.isSymbolicLink())
      throw new Error(`refusing to write through symlink ${out}`);
    fs.writeFileSync(out, text);
    io.stderr.write(`wrote ${out}: CASE JSON-LD of ${manifest.incidentId} (${document['@graph'].length} objects)\n`);
  } else io.stdout.write(text);
  return 0;
}
