import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ESLint } from 'eslint';

/**
 * The layer boundaries live in eslint.config.mjs; this proves each one bites. Every case lints a
 * one-line file placed (virtually) in a layer and expects the restricted-import rule to fire, or not.
 */
const root = path.resolve(__dirname, '..', '..', '..');
const RULE = '@typescript-eslint/no-restricted-imports';

async function restrictedImportErrors(file: string, code: string): Promise<number> {
  const eslint = new ESLint({
    cwd: root,
    // Type-aware rules need the file on disk in the project; the boundary rule does not.
    overrideConfig: {
      languageOptions: { parserOptions: { projectService: false, project: null } },
      rules: { '@typescript-eslint/no-floating-promises': 'off', '@typescript-eslint/no-unused-vars': 'off' },
    },
  });
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return result!.messages.filter((m) => m.ruleId === RULE).length;
}

const REFUSED: Array<[string, string, string]> = [
  [
    'a workflow importing an activity implementation',
    'workflows/x.ts',
    "import { createSealActivities } from '../activities/seal';",
  ],
  [
    'a workflow importing the activity contract as a value',
    'workflows/x.ts',
    "import { X } from '../activities/contract';",
  ],
  ['a workflow importing a Node builtin', 'workflows/x.ts', "import crypto from 'node:crypto';"],
  ['a workflow importing an adapter', 'workflows/x.ts', "import type { X } from '../adapters/kubernetes/cluster';"],
  ['a workflow importing the configuration', 'workflows/x.ts', "import { loadConfig } from '../common/config';"],
  ['a workflow importing the activity SDK', 'workflows/x.ts', "import { Context } from '@temporalio/activity';"],
  ['an activity importing a workflow', 'activities/x.ts', "import { statusQuery } from '../workflows/definitions';"],
  ['an activity importing the API', 'activities/steps/x.ts', "import { buildServer } from '../../api/server';"],
  [
    'an adapter importing a workflow',
    'adapters/kubernetes/x.ts',
    "import type { X } from '../../workflows/definitions';",
  ],
  [
    'an adapter importing an activity',
    'adapters/s3/x.ts',
    "import type { StepResult } from '../../activities/contract';",
  ],
  ['the API importing an adapter', 'api/x.ts', "import { S3EvidenceStore } from '../adapters/s3/evidence-store';"],
  ['the API importing an activity', 'api/routes/x.ts', "import { createActivities } from '../../activities';"],
  ['the CLI importing an adapter', 'cli/x.ts', "import { KubernetesCluster } from '../adapters/kubernetes/cluster';"],
  ['common/ importing the API', 'common/x.ts', "import { buildServer } from '../api/server';"],
  ['evidence/ importing an activity', 'evidence/x.ts', "import { createSealActivities } from '../activities/seal';"],
];

const ALLOWED: Array<[string, string, string]> = [
  ['a workflow importing the workflow SDK', 'workflows/x.ts', "import { condition } from '@temporalio/workflow';"],
  [
    'a workflow importing the activity contract type-only',
    'workflows/x.ts',
    "import type { StepResult } from '../activities/contract';",
  ],
  ['a workflow importing common/', 'workflows/x.ts', "import { FailureType } from '../common/failures';"],
  ['a workflow importing a sibling', 'workflows/x.ts', "import { statusQuery } from './definitions';"],
  ['an activity importing a port', 'activities/x.ts', "import type { Cluster } from '../common/ports';"],
  ['the API importing evidence/', 'api/x.ts', "import { parseManifest } from '../evidence/manifest';"],
  ['the API importing a workflow definition', 'api/x.ts', "import { statusQuery } from '../workflows/definitions';"],
];

describe('layer boundaries (eslint.config.mjs)', () => {
  for (const [what, file, code] of REFUSED) {
    test(`refused: ${what}`, async () => {
      assert.ok((await restrictedImportErrors(file, code)) > 0, `${file}: ${code}`);
    });
  }
  for (const [what, file, code] of ALLOWED) {
    test(`allowed: ${what}`, async () => {
      assert.equal(await restrictedImportErrors(file, code), 0, `${file}: ${code}`);
    });
  }
});
