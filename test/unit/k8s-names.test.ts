import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  boundedText,
  isClusterName,
  isDns1123Label,
  isDns1123Subdomain,
  nameProblem,
  stripControlChars,
  truncateUtf8,
  utf8ByteLength,
} from '../../common/k8s-names';

describe('Kubernetes names', () => {
  test('RFC 1123 labels: lowercase alphanumerics and dashes, alphanumeric ends, at most 63', () => {
    for (const ok of ['a', 'shop', 'kube-system', 'a1-b2', '0', 'x'.repeat(63)])
      assert.equal(isDns1123Label(ok), true, ok);
    for (const bad of [
      '',
      'Shop',
      '-a',
      'a-',
      'a.b',
      'a_b',
      'x'.repeat(64),
      '../x',
      'a b',
      'a\nb',
      '$(rm -rf /)',
      'ü',
    ]) {
      assert.equal(isDns1123Label(bad), false, JSON.stringify(bad));
    }
    assert.equal(isDns1123Label(42), false);
  });

  test('RFC 1123 subdomains: dot-separated labels, at most 253', () => {
    for (const ok of ['web-7d9c6b5f4-x2x9q', 'ip-10-0-12-34.eu-west-1.compute.internal', 'a.b.c', 'x'.repeat(253)]) {
      assert.equal(isDns1123Subdomain(ok), true, ok);
    }
    for (const bad of [
      '',
      '.a',
      'a.',
      'a..b',
      '../etc/passwd',
      'a/b',
      'x'.repeat(254),
      'A.b',
      'a.-b',
      'web\n',
      '`id`',
    ]) {
      assert.equal(isDns1123Subdomain(bad), false, JSON.stringify(bad));
    }
  });

  test('cluster names: conservative, no path separators or ".."', () => {
    for (const ok of ['prod-eu-1', 'Prod_EU.1', 'a', 'x'.repeat(100)]) assert.equal(isClusterName(ok), true, ok);
    for (const bad of ['', '.hidden', '-x', 'a..b', '../prod', 'a/b', 'x'.repeat(101), 'a b', 'a:b']) {
      assert.equal(isClusterName(bad), false, JSON.stringify(bad));
    }
  });

  test('nameProblem names the kind and the rule but never echoes the value', () => {
    assert.equal(nameProblem('pod', 'web-1'), undefined);
    const problem = nameProblem('pod', '$(rm -rf /)');
    assert.match(problem ?? '', /^pod name is not valid: it must be an RFC 1123 subdomain/);
    assert.ok(!(problem ?? '').includes('rm -rf'));
    assert.equal(nameProblem('namespace', 5), 'namespace must be a string');
    assert.equal(nameProblem('node', ''), 'node must not be empty');
  });
});

describe('bounded text', () => {
  test('control, bidi and zero-width characters become spaces; newlines cannot forge lines', () => {
    assert.equal(stripControlChars('a\nb\r\nc\td\u0000e\u001b[2Jf\u202eg\u2028h\u200bi\u007f'), 'a b c d e [2Jf g h i');
    assert.equal(stripControlChars('  x  '), 'x');
  });

  test('truncateUtf8 bounds bytes without splitting characters', () => {
    assert.equal(truncateUtf8('short', 10), 'short');
    const cut = truncateUtf8('é'.repeat(100), 11);
    assert.ok(utf8ByteLength(cut) <= 11);
    assert.equal(cut, 'éééé…');
    const emoji = truncateUtf8('😀'.repeat(10), 10);
    assert.equal(emoji, '😀…');
    assert.equal(utf8ByteLength('😀é a'), Buffer.byteLength('😀é a'));
  });

  test('boundedText strips then truncates', () => {
    const out = boundedText('x\n'.repeat(5000), 4096);
    assert.ok(Buffer.byteLength(out) <= 4096);
    assert.ok(!out.includes('\n'));
    assert.ok(out.endsWith('…'));
  });
});
