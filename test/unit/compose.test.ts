import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { SEARCH_ATTRIBUTE_NAMES } from '../../common/search-attributes';
import { repoRoot } from '../helpers/env';

// No Docker engine here: validate what can be validated without one.
const compose = YAML.parse(fs.readFileSync(path.join(repoRoot, 'docker-compose.yml'), 'utf8')) as {
  services: Record<
    string,
    { image?: string; build?: string; command?: string[]; depends_on?: unknown; environment?: Record<string, string> }
  >;
};
const dockerfile = fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');

test('docker-compose has Temporal on PostgreSQL with its UI, S3 with Object Lock, and the Holdfast worker and API', () => {
  const services = compose.services;
  for (const name of [
    'postgresql',
    'temporal',
    'temporal-ui',
    'temporal-setup',
    's3',
    's3-setup',
    'holdfast-worker',
    'holdfast-api',
  ]) {
    assert.ok(services[name], `service ${name}`);
  }
  assert.equal(services.temporal!.environment!.DB, 'postgres12');
  assert.deepEqual(
    services.s3!.command!.slice(0, 3),
    ['posix', '--versioning-dir', '/data/versions'],
    'versioning (needed for Object Lock)',
  );
  assert.deepEqual(services['holdfast-worker']!.command, ['node', 'dist/worker/main.js']);
  assert.deepEqual(services['holdfast-api']!.command, ['node', 'dist/api/main.js']);
  assert.deepEqual(services['s3-setup']!.command, ['node', 'dist/scripts/provision.js']);
});

test('every image is pinned, and the commands compose runs exist in the build', () => {
  for (const [name, service] of Object.entries(compose.services)) {
    if (service.image) assert.match(service.image, /:v?[0-9]+\.[0-9]+/, `${name} pins a version`);
    else assert.equal(service.build, '.', `${name} builds the Holdfast image`);
    const script = service.command?.[0] === 'node' ? service.command[1] : undefined;
    if (script) assert.ok(fs.existsSync(path.join(repoRoot, script)), `${script} is built by tsc`);
  }
});

test('compose registers the same search attributes as the embedded server, and the Dockerfile builds like the scripts', () => {
  const setup = JSON.stringify(compose.services['temporal-setup']!.command);
  for (const name of SEARCH_ATTRIBUTE_NAMES) assert.ok(setup.includes(name), `${name} registered`);
  assert.match(dockerfile, /RUN npm ci/);
  assert.match(dockerfile, /npm run build/);
  assert.match(dockerfile, /^FROM node:20/m);
  assert.match(dockerfile, /^USER node$/m);
});

test('the Dockerfile copies every source folder the build compiles', () => {
  const tsconfig = JSON.parse(fs.readFileSync(path.join(repoRoot, 'tsconfig.json'), 'utf8')) as { include: string[] };
  // test/ and bench/ are not shipped: the image creates them empty.
  for (const folder of tsconfig.include.filter((f) => f !== 'test' && f !== 'bench')) {
    assert.match(dockerfile, new RegExp(`^COPY ${folder} \\./${folder}$`, 'm'), `COPY ${folder}`);
  }
});

test('compose: the API never mounts the signing key and has its own S3 account; only s3-setup holds the root one', () => {
  const merged = YAML.parse(fs.readFileSync(path.join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, { environment?: Record<string, string>; volumes?: string[] }>;
  };
  const { services } = merged;
  const worker = services['holdfast-worker']!;
  const api = services['holdfast-api']!;
  const volumeOf = (mount: string) => mount.split(':')[0];
  const workerData = worker.volumes!.find((v) => v.split(':')[1] === worker.environment!.HOLDFAST_DATA_DIR)!;
  assert.ok(workerData, 'the worker keeps its data dir (and the signing key in it) on a volume');
  assert.ok(!api.volumes!.map(volumeOf).includes(volumeOf(workerData)), "the API does not mount the worker's volume");
  assert.equal(api.environment!.HOLDFAST_SIGNING_KEY_FILE, undefined);
  const trust = api.environment!.HOLDFAST_TRUSTED_KEYS_FILE!;
  assert.ok(
    api.volumes!.some((v) => v.endsWith(':ro') && trust.startsWith(`${v.split(':')[1]}/`)),
    'the trust file is read-only for the API',
  );
  const account = (name: string) => services[name]!.environment!.AWS_ACCESS_KEY_ID;
  assert.match(account('holdfast-worker')!, /HOLDFAST_S3_WORKER_ACCESS_KEY/);
  assert.match(account('holdfast-api')!, /HOLDFAST_S3_API_ACCESS_KEY/);
  assert.match(account('s3-setup')!, /HOLDFAST_S3_ACCESS_KEY\b/);
  for (const [name, service] of Object.entries(services))
    if (name !== 's3-setup' && name !== 's3')
      assert.doesNotMatch(JSON.stringify(service.environment ?? {}), /HOLDFAST_S3_SECRET_KEY/, `${name}: no root key`);
});

test('compose: the API spools on its own named volume (202 `spooled: true` outlives the container), never on the image', () => {
  const { services, volumes } = YAML.parse(fs.readFileSync(path.join(repoRoot, 'docker-compose.yml'), 'utf8'), {
    merge: true,
  }) as { services: Record<string, { environment?: Record<string, string>; volumes?: string[] }>; volumes: object };
  const api = services['holdfast-api']!;
  const spool = api.environment!.HOLDFAST_SPOOL_DIR!;
  assert.ok(spool, 'HOLDFAST_SPOOL_DIR is set');
  const mount = api.volumes!.find((v) => !v.endsWith(':ro') && spool.startsWith(`${v.split(':')[1]}/`));
  assert.ok(mount, `${spool} is on a writable volume`);
  assert.ok(Object.keys(volumes).includes(mount.split(':')[0]!), `${mount}: a named volume, kept across restarts`);
});

test('deploy/api.yaml: the readiness probe is /readyz/intake and the spool is on a volume bounded above its own limit', () => {
  const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(repoRoot, 'deploy', 'api.yaml'), 'utf8')).map(
    (d) => d.toJSON() as { kind: string; spec?: { template: { spec: unknown } } },
  );
  type Container = {
    name: string;
    env: Array<{ name: string; value: string }>;
    readinessProbe: { httpGet: { path: string } };
    volumeMounts: Array<{ name: string; mountPath: string }>;
  };
  const pod = docs.find((d) => d.kind === 'Deployment')!.spec!.template.spec as {
    containers: Container[];
    volumes: Array<{ name: string; emptyDir?: { sizeLimit?: string } }>;
  };
  const api = pod.containers.find((c) => c.name === 'api')!;
  // /readyz follows Temporal: with it, Temporal away would take every API pod out of the Service.
  assert.equal(api.readinessProbe.httpGet.path, '/readyz/intake');
  const env = Object.fromEntries(api.env.map((e) => [e.name, e.value]));
  const mount = api.volumeMounts.find((m) => env.HOLDFAST_SPOOL_DIR!.startsWith(`${m.mountPath}/`))!;
  assert.ok(mount, 'the spool is on a mounted volume (the root filesystem is read-only)');
  const sizeLimit = pod.volumes.find((v) => v.name === mount.name)!.emptyDir!.sizeLimit!;
  const limitMiB = Number(/^(\d+)Gi$/.exec(sizeLimit)![1]) * 1024;
  // Past its sizeLimit the kubelet evicts the pod, spool and all: the spool must refuse (503) first.
  assert.ok(Number(env.HOLDFAST_SPOOL_MAX_MB) < limitMiB, `${env.HOLDFAST_SPOOL_MAX_MB} MB < ${sizeLimit}`);
});
