/**
 * A real RFC 3161 time-stamping authority for tests: Debian's `openssl ts -reply` with a test CA and a TSA
 * certificate (extendedKeyUsage critical timeStamping) generated in a temp dir, optionally behind a small HTTP
 * handler. openssl is always spawned with an argv array: nothing here goes through a shell.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function openssl(args: string[], cwd?: string): Promise<{ stdout: string; stderr: string }> {
  return run('openssl', args, { cwd, maxBuffer: 4 * 1024 * 1024 });
}

/** `openssl ts -verify` of a stored response against the stamped file and a CA, as evidence/README.md shows. */
export async function opensslVerifyToken(data: string, tsr: string, caFile: string): Promise<string> {
  const args = ['-data', data, '-in', tsr, '-CAfile', caFile];
  return (await openssl(['ts', '-verify', ...args])).stdout;
}

export interface TestTsa {
  dir: string;
  /** The CA certificate (PEM file) the TSA certificate chains to. */
  caCertFile: string;
  /** The TSA's own certificate (PEM file). */
  tsaCertFile: string;
  configFile: string;
  /** Answers a DER TimeStampReq with a DER TimeStampResp, as `openssl ts -reply` does. */
  reply(query: Buffer): Promise<Buffer>;
  remove(): void;
}

/** Generates a CA, a TSA certificate signed by it, and an `openssl ts` configuration, in a fresh temp dir. */
export async function createTestTsa(name = 'Holdfast Test TSA'): Promise<TestTsa> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-tsa-'));
  const p = (f: string) => path.join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
    '-days',
    '30',
    '-subj',
    `/O=Holdfast tests/CN=${name} CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await openssl([
    'req',
    '-new',
    ...ec,
    '-keyout',
    p('tsa.key'),
    '-out',
    p('tsa.csr'),
    '-subj',
    `/O=Holdfast tests/CN=${name}`,
  ]);
  fs.writeFileSync(
    p('tsa-ext.cnf'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,nonRepudiation',
      'extendedKeyUsage=critical,timeStamping',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
      '',
    ].join('\n'),
  );
  await openssl([
    'x509',
    '-req',
    '-in',
    p('tsa.csr'),
    '-CA',
    p('ca.pem'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-out',
    p('tsa.pem'),
    '-days',
    '30',
    '-extfile',
    p('tsa-ext.cnf'),
  ]);
  fs.writeFileSync(p('tsaserial'), '01\n');
  fs.writeFileSync(
    p('ts.cnf'),
    [
      '[ tsa ]',
      'default_tsa = tsa_config1',
      '[ tsa_config1 ]',
      `serial = ${p('tsaserial')}`,
      'crypto_device = builtin',
      `signer_cert = ${p('tsa.pem')}`,
      `certs = ${p('ca.pem')}`,
      `signer_key = ${p('tsa.key')}`,
      'signer_digest = sha256',
      'default_policy = 1.3.6.1.4.1.99999.1',
      'other_policies = 1.3.6.1.4.1.99999.2',
      'digests = sha256, sha384, sha512',
      'accuracy = secs:1',
      'ordering = yes',
      'tsa_name = yes',
      'ess_cert_id_chain = no',
      'ess_cert_id_alg = sha256',
      '',
    ].join('\n'),
  );
  let n = 0;
  return {
    dir,
    caCertFile: p('ca.pem'),
    tsaCertFile: p('tsa.pem'),
    configFile: p('ts.cnf'),
    async reply(query) {
      const id = `${process.pid}-${n++}-${crypto.randomBytes(4).toString('hex')}`;
      const q = p(`q-${id}.tsq`);
      const r = p(`r-${id}.tsr`);
      fs.writeFileSync(q, query);
      try {
        await openssl(['ts', '-reply', '-config', p('ts.cnf'), '-queryfile', q, '-out', r]);
        return fs.readFileSync(r);
      } finally {
        fs.rmSync(q, { force: true });
        fs.rmSync(r, { force: true });
      }
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TsaServer {
  url: string;
  requests: number;
  close(): Promise<void>;
}

/** Serves `POST /` (application/timestamp-query) with the TSA's replies; `delayMs` makes it slow. */
export async function startTsaServer(tsa: TestTsa, options: { delayMs?: number } = {}): Promise<TsaServer> {
  const state = { requests: 0 };
  const server = http.createServer((req, res) => {
    state.requests += 1;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 64 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      const answer = async () => {
        if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
        if (
          req.method !== 'POST' ||
          req.headers['content-type'] !== 'application/timestamp-query' ||
          size > 64 * 1024
        ) {
          res.writeHead(400).end();
          return;
        }
        const reply = await tsa.reply(Buffer.concat(chunks));
        res
          .writeHead(200, { 'content-type': 'application/timestamp-reply', 'content-length': reply.length })
          .end(reply);
      };
      answer().catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
