import assert from 'node:assert/strict';
import { test } from 'node:test';
import { incidentSummary, SUMMARY_RULE_BYTES, SUMMARY_TARGET_BYTES } from '../../common/incident-summary';
import { utf8ByteLength } from '../../common/k8s-names';
import type { Severity } from '../../common/types';

test('a pod incident: severity, cluster/namespace/pod and the rule in a code span', () => {
  assert.equal(
    incidentSummary(
      { cluster: 'prod', namespace: 'shop', pod: 'web-1', container: 'web' },
      { rule: 'Terminal shell in container', severity: 'high' },
    ),
    'high · prod/shop/web-1 · `Terminal shell in container`',
  );
  assert.equal(
    incidentSummary({ cluster: 'prod', node: 'ip-10-0-0-1.ec2.internal' }, { rule: 'Kernel module loaded' }),
    'prod/node/ip-10-0-0-1.ec2.internal · `Kernel module loaded`',
  );
  assert.equal(incidentSummary({ cluster: 'prod', namespace: 'shop', pod: 'web-1' }), 'prod/shop/web-1');
});

test('sender text cannot break the line, close the code span, or grow it without bound', () => {
  const line = incidentSummary(
    { cluster: 'prod', namespace: 'shop', pod: 'web-1' },
    {
      rule: 'x`](https://evil.example) **urgent**\n\u001b[2J\u202eevil\u2028' + 'y'.repeat(1000),
      severity: 'critical',
    },
  );
  // eslint-disable-next-line no-control-regex
  assert.ok(!/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/.test(line), JSON.stringify(line));
  // One code span: the only backticks are the two around the rule, so markdown sees no link or emphasis.
  assert.equal(line.split('`').length, 3, line);
  assert.ok(line.startsWith("critical · prod/shop/web-1 · `x'](https://evil.example) **urgent** [2J evil y"), line);
  assert.ok(line.endsWith('…`'), 'a long rule is cut, visibly');
  const rule = line.slice(line.indexOf('`') + 1, -1);
  assert.ok(utf8ByteLength(rule) <= SUMMARY_RULE_BYTES, `${utf8ByteLength(rule)} bytes`);
});

test('only validated names and known severities reach the line; a long target is cut', () => {
  assert.equal(
    incidentSummary(
      { cluster: 'prod', namespace: 'Shop [x](y)', pod: 'web 1' },
      { rule: 'r', severity: 'urgent' as Severity },
    ),
    'prod/?/? · `r`',
  );
  const pod = `${'a'.repeat(62)}.${'b'.repeat(62)}.${'c'.repeat(62)}.${'d'.repeat(62)}`;
  const line = incidentSummary({ cluster: 'c'.repeat(100), namespace: 'n'.repeat(63), pod }, { rule: 'r' });
  const where = line.slice(0, line.indexOf(' · '));
  assert.ok(utf8ByteLength(where) <= SUMMARY_TARGET_BYTES, `${utf8ByteLength(where)} bytes`);
  assert.ok(where.endsWith('…'));
  assert.ok(line.endsWith(' · `r`'), 'the rule stays in view');
});
