import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { loadOrCreateTokens, parseTokenSpec, ROLES } from '../../api/auth';

const T = (n: number) => `token-${String(n).padStart(2, '0')}-0123456789abcdef`;

describe('HOLDFAST_TOKENS: people, not roles', () => {
  test('<role>:<person>=<token> names the person; the older <role>=<token> names the role', () => {
    const table = parseTokenSpec(
      ` responder:alice=${T(1)}, investigator:bob.smith@example.com=${T(2)},custodian:carol_1=${T(3)} ,intake=${T(4)},responder=${T(5)}`,
    );
    assert.deepEqual(
      [...table],
      [
        [T(1), { role: 'responder', name: 'alice' }],
        [T(2), { role: 'investigator', name: 'bob.smith@example.com' }],
        [T(3), { role: 'custodian', name: 'carol_1' }],
        [T(4), { role: 'intake' }],
        [T(5), { role: 'responder' }],
      ],
    );
  });

  test('one person may hold several tokens, in one role or several', () => {
    const table = parseTokenSpec(`responder:alice=${T(1)},investigator:alice=${T(2)},responder:alice=${T(3)}`);
    assert.equal(table.size, 3);
    assert.deepEqual(table.get(T(2)), { role: 'investigator', name: 'alice' });
  });

  test('refused: unknown role, missing token, empty or odd person, short token, one token for two entries', () => {
    const refused: Array<[string, RegExp]> = [
      [`admin:alice=${T(1)}`, /not <role>:<person>=<token>.*custodian/],
      [`alice=${T(1)}`, /not <role>:<person>=<token>/],
      [`=${T(1)}`, /not <role>:<person>=<token>/],
      [`responder:alice`, /not <role>:<person>=<token>/],
      [`responder:=${T(1)}`, /the person in "responder:"/],
      [`responder:al ice=${T(1)}`, /the person in/],
      [`responder:alice:x=${T(1)}`, /the person in/],
      [`responder:-alice=${T(1)}`, /the person in/],
      [`responder:${'a'.repeat(65)}=${T(1)}`, /the person in/],
      ['responder:alice=short', /the token of responder:alice must be at least 16 characters/],
      ['investigator=short', /the token of the investigator must be at least 16/],
      [
        `responder:alice=${T(1)},investigator:bob=${T(1)}`,
        /the token of investigator:bob is also given to another entry/,
      ],
    ];
    for (const [spec, message] of refused) assert.throws(() => parseTokenSpec(spec), message, spec);
  });

  test('an error never echoes a token', () => {
    const secret = 'very-secret-token-value-0123456789';
    for (const spec of [
      `admin:alice=${secret}`,
      `responder:bad name=${secret}`,
      `responder:a=${secret},investigator:b=${secret}`,
    ])
      assert.throws(
        () => parseTokenSpec(spec),
        (err: Error) => !err.message.includes(secret.slice(10)),
      );
  });

  test('generated tokens.env: one role-only token per role, custodian included, mode 0600, read back the same', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-tokens-'));
    try {
      const created = loadOrCreateTokens(undefined, dir);
      assert.equal(created.created, true);
      assert.deepEqual(
        [...created.table.values()].map((h) => h.role),
        [...ROLES],
      );
      assert.ok([...created.table.values()].every((h) => h.name === undefined));
      assert.equal(fs.statSync(created.file!).mode & 0o777, 0o600);
      const again = loadOrCreateTokens('', dir);
      assert.equal(again.created, false);
      assert.deepEqual([...again.table], [...created.table]);
      const configured = loadOrCreateTokens(`custodian:carol=${T(9)}`, dir);
      assert.deepEqual([...configured.table], [[T(9), { role: 'custodian', name: 'carol' }]]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
