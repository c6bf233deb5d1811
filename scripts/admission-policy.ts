/**
 * deploy/admission-policy.yaml with the collector pinned: its `pinnedImage` variable set to a digest reference
 * (the worker's HOLDFAST_COLLECTOR_IMAGE). A tag is refused: the policy exists to pin the image.
 *
 *   node dist/scripts/admission-policy.js registry.example.com/holdfast/collector@sha256:<digest> | kubectl apply -f -
 */
import path from 'node:path';
import YAML from 'yaml';
import { pinnedDigest } from '../adapters/kubernetes/collector/settings';
import { readManifest, type ManifestObject } from './rbac-namespaced';

interface PolicyVariable {
  name: string;
  expression: string;
}

/** The policy's objects with `pinnedImage` set to `image` (a digest reference, else an error). */
export function pinAdmissionPolicy(objects: ManifestObject[], image: string): ManifestObject[] {
  // pinnedDigest only accepts [a-z0-9._-/:@] and a sha256: nothing that could end the CEL string literal
  if (!pinnedDigest(image))
    throw new Error(`"${image.slice(0, 200)}" is not a digest reference (REPOSITORY@sha256:<64 hex>)`);
  let pinned = 0;
  const out = objects.map((object) => {
    if (object.kind !== 'ValidatingAdmissionPolicy') return object;
    const spec = object.spec as { variables?: PolicyVariable[] };
    const variables = (spec.variables ?? []).map((v) => {
      if (v.name !== 'pinnedImage') return v;
      pinned++;
      return { ...v, expression: `'${image}'` };
    });
    return { ...object, spec: { ...spec, variables } };
  });
  if (pinned !== 1) throw new Error('the admission policy has no pinnedImage variable');
  return out;
}

export function readAdmissionPolicy(): ManifestObject[] {
  return readManifest(path.join(__dirname, '..', '..', 'deploy', 'admission-policy.yaml'));
}

if (require.main === module) {
  try {
    const objects = pinAdmissionPolicy(readAdmissionPolicy(), process.argv[2] ?? '');
    process.stdout.write(objects.map((o) => YAML.stringify(o)).join('---\n'));
  } catch (err) {
    process.stderr.write(
      `admission-policy: ${(err as Error).message}\nusage: node dist/scripts/admission-policy.js REPOSITORY@sha256:<digest>\n`,
    );
    process.exit(2);
  }
}
