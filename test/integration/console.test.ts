import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import axe from 'axe-core';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createS3Client } from '../../adapters/s3/client';
import { ALERT_FORMATS } from '../../alerts/registry';
import type { TokenHolder } from '../../api/auth';
import { temporalIncidents } from '../../api/incidents';
import { AlertIntake } from '../../api/intake';
import { createApiMetrics } from '../../api/metrics';
import { alertRoutes } from '../../api/routes/alerts';
import { CONSOLE_CSP, consoleRoutes } from '../../api/routes/console';
import { evidenceRouteGroup, incidentSealRecords } from '../../api/routes/evidence';
import { buildServer } from '../../api/server';
import { temporalSink } from '../../api/temporal-sink';
import { createEvidenceReadServices } from '../../evidence';
import { trustSigner } from '../../evidence/trusted-keys';
import { createEvidenceServices } from '../../worker/evidence';
import type { IncidentStatus } from '../../workflows/definitions';
import { FakeCluster } from '../fakes/cluster';
import { launchChromium } from '../helpers/browser';
import { missingServers, repoRoot, testConfig } from '../helpers/env';
import { startHarness, type Harness } from '../helpers/incident-harness';

// The console in Debian's Chromium against a real API server, a real worker and the real Temporal dev server:
// a responder signs in, sees the incident a posted alert opened, approves its gate, acknowledges and resolves.
const PLAYBOOKS = `
notifiers: [{ name: oncall, type: webhook }]
playbooks:
  - name: console-test
    capture: [logs]
    contain:
      - name: isolate
        approval: { required: true, timeout: 1h, onTimeout: reject }
    escalation: { tiers: [{ notifiers: [oncall], ackTimeout: 60s }] }
`;
const TOKENS: Record<string, TokenHolder> = {
  'intake-token-0123456789': { role: 'intake' },
  'responder-token-0123456789': { role: 'responder', name: 'alice' },
  'investigator-token-0123456789': { role: 'investigator', name: 'ivan' },
};
const token = (role: string) => Object.entries(TOKENS).find(([, h]) => h.role === role)![0];

// Sender text that would run if it were ever treated as markup: each sets a flag or opens a dialog.
const SCRIPT_TEXT = '<script>window.__pwned = "script"</script>';
const IMG_TEXT = '<img src=x onerror="window.__pwned = \'img\'; alert(1)">';

const CAPTURE_DELAY_MS = 8000;
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

describe('the web console in a real browser', { skip: missingServers() }, () => {
  let h: Harness;
  let app: FastifyInstance;
  let url: string;
  let browser: Browser;
  const dialogs: string[] = [];
  const dirs: string[] = [];
  /** The incident the responder resolved: sealed, for the investigator's evidence test. */
  let resolvedId: string | undefined;
  const pageErrors: string[] = [];
  /** What Chromium reports of CSP or Trusted Types refusals: the console must run clean under its own policy. */
  const policyViolations: string[] = [];

  before(async () => {
    // Real evidence on the real S3 server: the worker seals with its key, the API (its own data dir, the
    // public key provisioned) lists and bundles what was sealed.
    const config = testConfig('console-unused');
    const s3 = createS3Client(config.s3);
    const [workerDir, apiDir] = ['worker', 'api'].map((n) =>
      fs.mkdtempSync(path.join(os.tmpdir(), `hf-console-${n}-`)),
    );
    dirs.push(workerDir!, apiDir!);
    const sealing = createEvidenceServices({ ...config, dataDir: workerDir! }, s3);
    trustSigner(path.join(apiDir!, 'trusted-keys.pem'), sealing.signer);
    const reading = createEvidenceReadServices({ ...config, dataDir: apiDir! }, s3);
    // The log capture takes a while, so a page opened at once sees the step running with its progress line.
    h = await startHarness(PLAYBOOKS, {
      evidence: sealing.store,
      sealEvidence: sealing.sealEvidence,
      cluster: new FakeCluster({ delays: { 'capture.logs': CAPTURE_DELAY_MS } }),
    });
    const incidents = temporalIncidents(h.client, h.client.options.namespace);
    const metrics = createApiMetrics();
    const intake = new AlertIntake(temporalSink(h.client, new Map([['test', h.taskQueue]])), {
      repeatWindowMs: 1000,
      maxBatch: 20,
      maxInFlight: 16,
      maxKeys: 1000,
    });
    const dir = path.join(repoRoot, 'dist', 'console');
    assert.ok(fs.existsSync(path.join(dir, 'app.js')), 'the console is built (npm run build) into dist/console');
    app = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: {},
      tokens: new Map(Object.entries(TOKENS)),
      incidents,
      temporalUi: { url: 'http://temporal-ui.test:8233', namespace: h.client.options.namespace },
      metrics,
      routes: [
        alertRoutes({ intake, metrics, formats: ALERT_FORMATS, defaultCluster: 'test' }),
        ...evidenceRouteGroup(reading, incidentSealRecords(incidents)),
        consoleRoutes({ dir }),
      ],
    });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    await h?.close();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function newPage(viewport = DESKTOP): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (message) => {
      if (/Content Security Policy|Trusted Type/i.test(message.text())) policyViolations.push(message.text());
    });
    return { context, page };
  }

  async function signIn(page: Page, role: string) {
    await page.goto(`${url}/console`);
    await page.getByLabel('API token').fill(token(role));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
  }

  async function postAlert(pod: string) {
    const body = {
      uuid: crypto.randomUUID(),
      output: `12:00:00.000000000: Notice shell in ${pod} ${SCRIPT_TEXT} ${IMG_TEXT}`,
      priority: 'Critical',
      rule: `Terminal shell ${IMG_TEXT}`,
      time: new Date().toISOString(),
      source: 'syscall',
      tags: ['container', 'shell'],
      hostname: 'worker-1',
      output_fields: {
        'container.name': 'web',
        'k8s.ns.name': 'shop',
        'k8s.pod.name': pod,
        'proc.cmdline': 'bash -i',
      },
    };
    const res = await fetch(`${url}/v1/alerts/falco`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token('intake')}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    assert.equal(res.status, 202, text);
    return (JSON.parse(text) as { incidentId: string }).incidentId;
  }

  async function apiStatus(id: string): Promise<IncidentStatus> {
    const res = await fetch(`${url}/v1/incidents/${id}`, {
      headers: { authorization: `Bearer ${token('responder')}` },
    });
    return ((await res.json()) as { status: IncidentStatus }).status;
  }

  async function axeViolations(page: Page): Promise<string[]> {
    // Evaluated over the DevTools protocol, which the page's CSP does not govern; axe only reads the DOM.
    await page.evaluate(axe.source);
    const results = (await page.evaluate(
      'axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))',
    )) as Array<{ id: string; impact: string; nodes: number }>;
    return results.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.nodes})`);
  }

  test('a responder signs in, sees the incident from a posted alert, approves its gate, acknowledges and resolves; alert text stays text', async () => {
    const pod = `web-${crypto.randomBytes(3).toString('hex')}`;
    const id = await postAlert(pod);
    const { context, page } = await newPage();

    const response = await page.goto(`${url}/console/`);
    const headers = response!.headers();
    assert.equal(headers['content-security-policy'], CONSOLE_CSP);
    assert.match(CONSOLE_CSP, /default-src 'self'/);
    assert.match(CONSOLE_CSP, /frame-ancestors 'none'/);
    assert.equal(headers['x-content-type-options'], 'nosniff');

    assert.deepEqual(await axeViolations(page), [], 'no serious or critical accessibility violations (sign-in)');
    await signIn(page, 'responder');
    assert.equal(await page.getByTestId('who').textContent(), 'alice (responder)');
    // The list polls: the incident shows up within a poll or two of the alert.
    const link = page.locator(`a[href="#/incidents/${id}"]`);
    await link.waitFor({ timeout: 30_000 });
    assert.equal(await link.textContent(), `test/shop/${pod}`);
    assert.deepEqual(await axeViolations(page), [], 'no serious or critical accessibility violations (list)');
    await link.click();

    // The gate: pending approval, the step waiting, an Approve button for the responder.
    await page.getByTestId('state-isolate').filter({ hasText: 'awaiting-approval' }).waitFor({ timeout: 30_000 });
    await page.getByRole('heading', { name: 'Waiting for approval' }).waitFor();

    // Alert text is sender text: shown literally, never run.
    await page.getByText(SCRIPT_TEXT).first().waitFor();
    await page.getByText(IMG_TEXT).first().waitFor();
    assert.ok(
      (await page.getByRole('heading', { name: `Terminal shell ${IMG_TEXT}` }).count()) >= 1,
      'the rule is a heading whose text is the markup',
    );
    assert.equal(await page.evaluate('window.__pwned'), undefined, 'no alert text ran');
    assert.equal(await page.locator('img').count(), 0, 'no element was made from alert text');
    assert.equal(await page.locator('script').count(), 1, 'only the console’s own script');
    assert.deepEqual(dialogs, []);

    // The Temporal UI link for the full history.
    const history = page.getByRole('link', { name: 'Open in the Temporal UI' });
    assert.match((await history.getAttribute('href'))!, /^http:\/\/temporal-ui\.test:8233\/namespaces\//);
    assert.equal(await history.getAttribute('rel'), 'noopener noreferrer');

    // The token never leaves the tab's session storage: no cookie, not in the URL, not in localStorage.
    assert.deepEqual(await context.cookies(), []);
    assert.ok(!page.url().includes(token('responder')));
    assert.equal(await page.evaluate('sessionStorage.getItem("holdfast.token")'), token('responder'));
    assert.equal(await page.evaluate('localStorage.length'), 0);

    const desktopViolations = await axeViolations(page);
    assert.deepEqual(desktopViolations, [], 'no serious or critical accessibility violations (incident page)');
    // The README's screenshots: HOLDFAST_SCREENSHOT_DIR=docs refreshes them; otherwise they go to the run's data.
    const shots = process.env.HOLDFAST_SCREENSHOT_DIR ?? process.env.HOLDFAST_TEST_DATA_DIR ?? os.tmpdir();
    fs.mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, 'console-desktop.png'), fullPage: true });
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: path.join(shots, 'console-phone.png') });
    assert.ok(fs.statSync(path.join(shots, 'console-phone.png')).size > 1000, 'a phone screenshot was taken');
    const overflow = (await page.evaluate('document.documentElement.scrollWidth')) as number;
    assert.ok(overflow <= PHONE.width, `no sideways scrolling on a phone (${overflow} px wide)`);
    await page.setViewportSize(DESKTOP);

    await page.getByRole('button', { name: 'Approve isolate' }).click();
    await page.getByTestId('message').filter({ hasText: 'approve isolate accepted' }).waitFor();
    await page.getByTestId('state-isolate').filter({ hasText: 'succeeded' }).waitFor({ timeout: 30_000 });
    await page.getByText('Approved by alice (responder)').waitFor();
    assert.equal(h.cluster.calls.filter((c) => c.op === 'isolate' && c.target.endsWith(pod)).length, 1);

    await page.getByTestId('phase').filter({ hasText: 'escalating' }).waitFor({ timeout: 30_000 });
    await page.getByLabel('Note (recorded with the action)').fill('looking at it');
    await page.getByRole('button', { name: 'Acknowledge' }).click();
    await page.getByTestId('phase').filter({ hasText: 'acknowledged' }).waitFor({ timeout: 30_000 });
    assert.equal((await apiStatus(id)).acknowledgedBy, 'alice');

    await page.getByLabel('undo it').check();
    await page.getByRole('button', { name: 'Resolve' }).click();
    await page.getByTestId('phase').filter({ hasText: 'resolved' }).waitFor({ timeout: 30_000 });
    // Resolved is shown while the undo still runs; the page stops polling once the incident has closed.
    await page.locator('.live').waitFor({ state: 'detached', timeout: 30_000 });
    const final = await apiStatus(id);
    assert.equal(final.resolvedBy, 'alice');
    assert.ok(
      final.steps.some((s) => s.kind === 'undo' && s.name === 'isolate'),
      `containment undone as chosen: ${final.steps.map((s) => `${s.kind}:${s.name}`).join(', ')}`,
    );
    // Closed: no more actions offered, and polling stopped (no live marker).
    assert.equal(await page.getByRole('button', { name: 'Acknowledge' }).count(), 0);
    assert.equal(await page.locator('.live').count(), 0);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(policyViolations, [], 'the console runs under its CSP and Trusted Types without a refusal');
    // And the policy is in force: an HTML write from a string is refused, so a future slip would fail loudly.
    const write = await page.evaluate(
      '(() => { try { document.createElement("div").innerHTML = "<b>x</b>"; return "written"; } catch (e) { return e.name; } })()',
    );
    assert.equal(write, 'TypeError', 'Trusted Types refuse innerHTML from a string');
    resolvedId = id;
    await context.close();
  });

  test('an investigator lists the sealed evidence with sizes and hashes and downloads the bundle', async () => {
    assert.ok(resolvedId, 'the responder test resolved an incident');
    const sealed = await apiStatus(resolvedId);
    const logs = sealed.steps.find((s) => s.name === 'logs')!.artifacts[0]!;
    const { context, page } = await newPage();
    await signIn(page, 'investigator');
    await page.goto(`${url}/console/#/incidents/${resolvedId}`);
    await page.getByRole('button', { name: 'List sealed evidence' }).click();
    const listing = page.getByTestId('evidence');
    // The listing, or the API's refusal shown as the page's error (which the assertion then quotes).
    await page.locator('[data-testid="evidence"], [role="alert"]').first().waitFor({ timeout: 15_000 });
    assert.equal(await page.getByRole('alert').count(), 0, await page.getByRole('alert').allInnerTexts().then(String));
    const row = listing.locator('tr', { hasText: `logs/${logs.name}` });
    assert.equal(await row.count(), 1, await listing.innerText());
    assert.match(await row.innerText(), new RegExp(`${logs.size} B\\s+${logs.sha256}`));
    const manifestSha = (await listing.locator('dd code').first().textContent())!;
    assert.equal(manifestSha, sealed.sealed!.sha256);

    const downloading = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download bundle (.tar)' }).click();
    const download = await downloading;
    assert.equal(download.suggestedFilename(), `${resolvedId}-evidence.tar`);
    const saved = path.join(dirs[0]!, 'bundle.tar');
    await download.saveAs(saved);
    const tar = fs.readFileSync(saved);
    // A tar's first entry header starts with its name: the manifest comes first.
    assert.equal(tar.subarray(0, 'manifest.json'.length).toString(), 'manifest.json');
    assert.ok(tar.includes(Buffer.from(`logs/${logs.name}`)), 'the logs artifact is in the bundle');
    await page.getByText(`manifest SHA-256 ${sealed.sealed!.sha256}`, { exact: false }).waitFor();
    await context.close();
  });

  test('an intake token sees nothing: no incidents are requested or shown', async () => {
    const { context, page } = await newPage();
    const calls: string[] = [];
    page.on('request', (r) => calls.push(new URL(r.url()).pathname));
    await signIn(page, 'intake');
    await page.getByTestId('no-access').waitFor();
    assert.equal(await page.getByTestId('incidents').count(), 0);
    assert.ok(!calls.some((p) => p.startsWith('/v1/incidents')), calls.join(' '));
    assert.deepEqual(await axeViolations(page), []);
    await context.close();
  });

  test('an investigator watches a capture run live and is offered no responder action; a wrong token is refused', async () => {
    const pod = `web-${crypto.randomBytes(3).toString('hex')}`;
    const id = await postAlert(pod);
    const { context, page } = await newPage(PHONE);
    await signIn(page, 'investigator');
    await page.goto(`${url}/console/#/incidents/${id}`);
    // Live: the capture is seen running with its progress line, then the page moves on by itself.
    await page.getByTestId('state-logs').filter({ hasText: 'running' }).waitFor({ timeout: CAPTURE_DELAY_MS });
    await page.locator('[data-step="logs"] .progress').waitFor({ timeout: CAPTURE_DELAY_MS });
    await page.getByTestId('state-logs').filter({ hasText: 'succeeded' }).waitFor({ timeout: 30_000 });
    await page.getByTestId('state-isolate').filter({ hasText: 'awaiting-approval' }).waitFor({ timeout: 30_000 });
    assert.equal(await page.getByRole('button', { name: 'Approve isolate' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Acknowledge' }).count(), 0);
    await page.getByText('Only a responder token can approve or reject.').waitFor();
    await page.getByRole('button', { name: 'List sealed evidence' }).waitFor();
    assert.deepEqual(await axeViolations(page), [], 'no serious or critical accessibility violations (phone)');

    await page.getByRole('button', { name: 'Sign out' }).click();
    assert.equal(await page.evaluate('sessionStorage.getItem("holdfast.token")'), null);
    await page.getByLabel('API token').fill('not-a-valid-token-0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: '401' }).waitFor();
    await context.close();
    await h.client.workflow.getHandle(`incident/test/shop/${pod}`).signal('cancel', { by: 'test' });
  });
});
