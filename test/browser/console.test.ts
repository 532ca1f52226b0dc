// The web console in a real browser (the distribution's Chromium, driven by playwright-core),
// against the real stack: the API serving console/dist, a worker, local VMs and the Hetzner
// emulator. Every wizard step is screenshotted under data/screenshots/ on every run.
import fs from 'node:fs';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { consoleRoutes } from '../../console/server.js';
import { freePort } from '../../temporal/dev-server.js';
import { startHetznerEmulator, type HetznerEmulator } from '../emulators/hetzner.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';
import { DOCS_SCREENSHOT, launchChromium, SCREENSHOT_DIR } from './chromium.js';

// Long enough for a local VM to call back on a busy machine, short enough for the timeout test.
const REGISTRATION_TTL_MS = 15_000;
const WRONG_TOKEN = 'not-the-right-token-1234';
// Workflow ids are per namespace on the shared dev server: a name no other test file uses.
const POOL = `console-${Math.random().toString(36).slice(2, 8)}`;

interface Recorded {
  url: string;
  at: number;
  body: Promise<string>;
}

let emu: HetznerEmulator;
let stack: Stack;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const responses: Recorded[] = [];
const urls: string[] = [];
let verifiedAt = Infinity;
const pageErrors: string[] = [];

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** A property of the focused element (the page's DOM is not typed here: the tests run in Node). */
const focused = (property: 'id' | 'value') => page.evaluate<string | undefined>(`document.activeElement?.${property}`);

/** The current wizard step's form (or the run and result steps). */
const step = (id: string) => page.locator(`[data-step="${id}"]`);

async function signIn(p: Page, base: string): Promise<void> {
  await p.goto(`${base}/`);
  await p.getByLabel('Admin key').fill(ADMIN_TOKEN);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('heading', { level: 1, name: 'Cluster' }).waitFor();
}

async function openWizard(): Promise<void> {
  await page.goto(`${stack.publicUrl}/cluster`);
  await page.getByRole('link', { name: 'Add node' }).click();
  await step('provider').waitFor();
}

/** Provider → (token) → region → plan → details → confirm, screenshotting each step under `prefix`. */
async function walkToConfirm(options: { provider: RegExp; region?: string; plan: string; hostname?: string; labels?: string; prefix?: string }) {
  const snap = async (name: string) => options.prefix && (await shot(`${options.prefix}-${name}`));
  await page.getByRole('radio', { name: options.provider }).check();
  await snap('1-provider');
  await step('provider').getByRole('button', { name: 'Next' }).click();
  await page.locator('[data-step="token"], [data-step="region"]').first().waitFor();
  // A stored token is reused.
  if (await step('token').isVisible()) await step('token').getByRole('button', { name: 'Use this token' }).click();
  await step('region').getByLabel('Region').waitFor();
  if (options.region) await step('region').getByLabel('Region').selectOption(options.region);
  await snap('3-region');
  // The step's first field has the focus, and Enter there is Next.
  await expect.poll(() => focused('id')).toBe('region');
  await page.keyboard.press('Enter');
  await step('plan').getByTestId('plan-table').waitFor();
  await step('plan').locator(`input[type=radio][value="${options.plan}"]`).check();
  await snap('4-plan');
  await step('plan').getByRole('button', { name: 'Next' }).click();
  await step('details').waitFor();
  if (options.hostname) await page.getByRole('textbox', { name: /^Hostname/ }).fill(options.hostname);
  if (options.labels) {
    await page.getByText('Advanced').click();
    await page.getByLabel('Labels').fill(options.labels);
  }
  await snap('5-details');
  await step('details').getByRole('button', { name: 'Review' }).click();
  await step('confirm').locator('.preview-sentence, .alert').first().waitFor();
}

let setupError: unknown;

beforeAll(async () => {
  // First: without a browser every test here fails (not skips), with the reason and how to install one.
  try {
    browser = await launchChromium();
  } catch (err) {
    setupError = err;
    return;
  }
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  emu = await startHetznerEmulator({ bootDelayMs: 100 });
  stack = await startStack({
    registrationTtlMs: REGISTRATION_TTL_MS,
    registry: { apiUrls: { hetzner: emu.url }, http: { timeoutMs: 1_000, backoffMs: 50, maxWaitMs: 5_000 }, pollIntervalMs: 50 },
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 880 }, deviceScaleFactor: 1 });
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  // Refusals the tests provoke (401, 422, 400, 404) are logged by the browser as failed loads: not errors of the page.
  page.on('console', (msg) => msg.type() === 'error' && !msg.text().startsWith('Failed to load resource') && pageErrors.push(msg.text()));
  page.on('framenavigated', (frame) => frame === page.mainFrame() && urls.push(frame.url()));
  page.on('request', (req) => urls.push(req.url()));
  page.on('response', (res) => {
    const isStream = (res.headers()['content-type'] ?? '').includes('event-stream');
    responses.push({
      url: res.url(),
      at: Date.now(),
      body: isStream ? Promise.resolve('') : res.text().catch(() => ''),
    });
  });
});

beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await emu?.close();
});

describe('the console', { timeout: 120_000 }, () => {
  it('is served at / with index.html for client routes, cache headers, and the API untouched', async () => {
    const root = await fetch(`${stack.publicUrl}/`);
    expect(root.status).toBe(200);
    expect(root.headers.get('cache-control')).toBe('no-cache');
    const html = await root.text();
    expect(html).toContain('<div id="app">');
    const asset = /\/assets\/[^"]+\.js/.exec(html)![0];
    const js = await fetch(`${stack.publicUrl}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toContain('immutable');
    const route = await fetch(`${stack.publicUrl}/pools/web`);
    expect(await route.text()).toBe(html);
    expect((await fetch(`${stack.publicUrl}/assets/missing-123.js`)).status).toBe(404);
    const api404 = await fetch(`${stack.publicUrl}/cp/api/v1/nope`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(api404.status).toBe(404);
    expect(await api404.json()).toMatchObject({ error: { code: 'not_found' } });
    expect((await fetch(`${stack.publicUrl}/cp/api/v1/cluster/nodes`)).status).toBe(401);
    expect(await (await fetch(`${stack.publicUrl}/console-config.json`)).json()).toEqual({ temporalUiUrl: null, namespace: 'default' });

    // Without a build: a 503 that says how to make one.
    const bare = consoleRoutes({ distDir: path.join(stack.dataDir, 'no-console') });
    const missing = await bare.request('/');
    expect(missing.status).toBe(503);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('console_not_built');
    const missingHtml = await bare.request('/cluster', { headers: { accept: 'text/html' } });
    expect(await missingHtml.text()).toContain('node console/build.mjs');
  });

  it('signs in with the admin key, and says so in words when the key is wrong', async () => {
    await page.goto(`${stack.publicUrl}/`);
    await page.getByLabel('Admin key').fill('berth_wrong_key_0000000000000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#admin-key-error').textContent()).toContain('This admin key was not accepted');
    await shot('0-sign-in-refused');
    await signIn(page, stack.publicUrl);
    expect(page.url()).toBe(`${stack.publicUrl}/cluster`);
    await page.getByTestId('budget-summary').waitFor();
    expect(await page.getByTestId('budget-summary').textContent()).toMatch(/0 nodes \(no cap on the enterprise tier\), €0\.00 this month \(no budget set\)/);
  });

  it('walks the wizard on the local provider to the green check, and the node is listed', async () => {
    await openWizard();
    await walkToConfirm({ provider: /^Local/, plan: 'local-1', hostname: 'console-local-1', prefix: 'local' });
    // Local needs no token: the step is skipped, and the indicator says so.
    await expect.poll(() => page.locator('.stepper').textContent()).toContain('Local needs no token');
    const sentence = await step('confirm').getByTestId('preview-sentence').textContent();
    expect(sentence).toBe('We will create a local-1 VM in local for ~€1.00/mo. Provisioning will take ~1 min.');
    expect(await step('confirm').getByTestId('budget-after').textContent()).toBe('No monthly budget is set.');
    await shot('local-6-confirm');
    await step('confirm').getByRole('button', { name: 'Run' }).click();
    await step('run').waitFor();
    await shot('local-7-run');
    await page.getByTestId('wizard-done').waitFor({ timeout: 45_000 });
    await shot('local-8-done');
    expect(await page.getByTestId('wizard-done').textContent()).toContain('console-local-1 is ready');

    await page.getByRole('link', { name: 'Open node detail' }).click();
    await page.getByRole('heading', { level: 1, name: /console-local-1/ }).waitFor();
    await expect.poll(() => page.getByTestId('phase-history').textContent()).toMatch(/queued.*provisioning.*bootstrapping.*registering.*ready/);
    await shot('local-9-node-detail');

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Cluster' }).click();
    const row = page.getByTestId('nodes-table').locator('tr', { hasText: 'console-local-1' });
    await row.waitFor();
    expect(await row.textContent()).toMatch(/console-local-1Local\s*locallocal-1.*ready.*€1\.00/);
    expect(await page.getByTestId('budget-summary').textContent()).toContain('1 node (no cap on the enterprise tier), €1.00 this month');
  });

  it('on Hetzner: refuses a wrong token in place, verifies a typed one, and reaches the green check', async () => {
    await openWizard();
    await page.getByRole('radio', { name: /^Hetzner Cloud/ }).check();
    await shot('hetzner-1-provider');
    await expect.poll(() => focused('value')).toBe('hetzner');
    await page.keyboard.press('Enter');
    const token = page.getByRole('textbox', { name: 'Hetzner Cloud API token' });
    await token.waitFor();
    // Focus moved to the step's field.
    await expect.poll(() => focused('id')).toBe('token');
    await token.fill(WRONG_TOKEN);
    await page.getByRole('button', { name: 'Verify and continue' }).click();
    await expect.poll(() => page.locator('#token-error').textContent()).toMatch(/Hetzner Cloud refused this token: .+/);
    await shot('hetzner-2-token-refused');
    verifiedAt = Date.now();
    await token.fill(emu.token);
    await shot('hetzner-2-token');
    await page.keyboard.press('Enter');
    await step('region').getByLabel('Region').waitFor();
    expect(await token.isVisible().catch(() => false)).toBe(false);
    await step('region').getByLabel('Region').selectOption('ash');
    await shot('hetzner-3-region');
    await step('region').getByRole('button', { name: 'Next' }).click();

    const table = step('plan').getByTestId('plan-table');
    await table.waitFor();
    expect(await step('plan').textContent()).toContain('Prices indicative. Confirm with provider.');
    const names = () => table.locator('tbody tr td:nth-child(2)').allTextContents();
    const cheapestFirst = await names();
    await table.getByRole('button', { name: 'Monthly' }).click(); // already ascending: now descending
    await expect.poll(names).toEqual([...cheapestFirst].reverse());
    await table.getByRole('button', { name: 'vCPU' }).click();
    expect(await table.locator('th[aria-sort="ascending"]').textContent()).toContain('vCPU');
    await step('plan').locator('input[type=radio][value="cpx11"]').check();
    await shot('hetzner-4-plan');
    if (process.env.BERTH_DOCS_SCREENSHOTS) {
      // `npm run screenshots`: the README's picture of the wizard, without the empty page below it.
      fs.mkdirSync(path.dirname(DOCS_SCREENSHOT), { recursive: true });
      await page.setViewportSize({ width: 1280, height: 640 });
      await page.screenshot({ path: DOCS_SCREENSHOT, fullPage: true });
      await page.setViewportSize({ width: 1280, height: 880 });
    }
    await step('plan').getByRole('button', { name: 'Next' }).click();
    await page.getByRole('textbox', { name: /^Hostname/ }).fill('console-hetzner-1');
    await page.getByLabel('SSH public key').fill('not a key');
    await step('details').getByRole('button', { name: 'Review' }).click();
    await expect.poll(() => page.locator('#ssh_key-error').textContent()).toContain('not an OpenSSH public key');
    await page.getByLabel('SSH public key').fill('');
    await shot('hetzner-5-details');
    await step('details').getByRole('button', { name: 'Review' }).click();

    const plans = await stack.request('GET', '/cp/api/v1/cluster/providers/hetzner/plans?region=ash');
    const cpx11 = plans.body.plans.find((p: { name: string }) => p.name === 'cpx11');
    const price = `€${cpx11.price_monthly.toFixed(2)}`;
    await step('confirm').getByTestId('preview-sentence').waitFor();
    expect(await step('confirm').getByTestId('preview-sentence').textContent()).toBe(`We will create a cpx11 VM in ash for ~${price}/mo. Provisioning will take ~3 min.`);
    await shot('hetzner-6-confirm');
    await step('confirm').getByRole('button', { name: 'Run' }).click();
    await step('run').waitFor();
    await shot('hetzner-7-run');
    await page.getByTestId('wizard-done').waitFor({ timeout: 45_000 });
    await shot('hetzner-8-done');
    expect(emu.servers().filter((s) => s.name.startsWith('berth-'))).toHaveLength(1);

    // A stored token: shown by its fingerprint, reused, with "use another token".
    await openWizard();
    await page.getByRole('radio', { name: /^Hetzner Cloud/ }).check();
    await step('provider').getByRole('button', { name: 'Next' }).click();
    await expect.poll(() => step('token').textContent()).toContain(`…${emu.token.slice(-4)}`);
    expect(await step('token').getByRole('button', { name: 'Use another token' }).isVisible()).toBe(true);
    await shot('hetzner-2-token-stored');
  });

  it('a sold-out plan fails with the provider reason, and the page says the VM was cleaned up', async () => {
    emu.faults.soldOut('cpx31', 'ash');
    await openWizard();
    await walkToConfirm({ provider: /^Hetzner Cloud/, region: 'ash', plan: 'cpx31', hostname: 'sold-out-1' });
    await step('confirm').getByRole('button', { name: 'Run' }).click();
    await page.getByTestId('wizard-failed').waitFor({ timeout: 30_000 });
    await shot('sold-out-8-failed');
    expect(await page.getByTestId('failure-reason').textContent()).toContain('server type cpx31 is currently unavailable in location ash');
    expect(await page.getByTestId('cleanup').textContent()).toMatch(/Nothing is left running/);
    expect(emu.servers().filter((s) => s.name.includes('sold-out'))).toHaveLength(0);
  });

  it('shows a budget refusal with its reason and disables Run', async () => {
    const budget = await stack.request('GET', '/cp/api/v1/cluster/budget');
    await stack.request('PUT', '/cp/api/v1/cluster/budget', { monthly_cents: budget.body.committed_cents + 50 });
    try {
      await openWizard();
      await walkToConfirm({ provider: /^Local/, plan: 'local-1' });
      const refusal = page.locator('#admission-refusal');
      await refusal.waitFor();
      expect(await refusal.textContent()).toMatch(/Berth would refuse this node.*budget/i);
      expect(await step('confirm').getByTestId('budget-after').textContent()).toMatch(/€0\.50 over the €\d+\.\d\d monthly budget/);
      expect(await step('confirm').getByRole('button', { name: 'Run' }).isDisabled()).toBe(true);
      await shot('budget-6-confirm-refused');
    } finally {
      await stack.request('PUT', '/cp/api/v1/cluster/budget', { monthly_cents: null });
    }
  });

  it('a never-register node fails with its reason, and the page says the VM was deleted', async () => {
    await openWizard();
    await walkToConfirm({ provider: /^Local/, plan: 'local-1', hostname: 'silent-1', labels: 'berth.dev/simulate=never-register' });
    expect(await step('confirm').textContent()).toContain('berth.dev/simulate=never-register');
    await step('confirm').getByRole('button', { name: 'Run' }).click();
    await step('run').waitFor();
    await expect.poll(() => page.locator('[data-phase="bootstrapping"]').getAttribute('data-state'), { timeout: 20_000 }).toBe('current');
    await shot('never-register-7-run');
    const failed = page.getByTestId('wizard-failed');
    await failed.waitFor({ timeout: REGISTRATION_TTL_MS + 30_000 });
    await shot('never-register-8-failed');
    expect(await page.getByTestId('failure-reason').textContent()).toContain('the VM did not call back within 15s');
    expect(await page.getByTestId('cleanup').textContent()).toMatch(/the VM \S+ was deleted at Local/);
  });

  it('deletes a node and cancels a job from the cluster page, each after a confirmation; the local VMs are gone', async () => {
    await page.goto(`${stack.publicUrl}/cluster`);
    const row = page.getByTestId('nodes-table').locator('tr', { hasText: 'console-local-1' });
    await row.getByRole('button', { name: /Delete/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete node console-local-1?' });
    await dialog.waitFor();
    await shot('cluster-delete-confirm');
    await dialog.getByRole('button', { name: 'Delete node' }).click();
    await dialog.waitFor({ state: 'detached' });

    const jobId = await stack.createNode({ hostname: 'to-cancel', labels: { 'berth.dev/simulate': 'never-register' } });
    await stack.waitForPhase(jobId, ['bootstrapping']);
    expect((await stack.local.all()).length).toBeGreaterThan(0);
    await page.goto(`${stack.publicUrl}/cluster`);
    const jobRow = page.locator(`tr[data-job-id="${jobId}"]`);
    await jobRow.getByRole('button', { name: /Cancel/ }).click();
    const cancel = page.getByRole('dialog', { name: /Cancel job/ });
    await cancel.waitFor();
    await shot('cluster-cancel-confirm');
    await cancel.getByRole('button', { name: 'Cancel job' }).click();
    await cancel.waitFor({ state: 'detached' });
    await stack.waitForPhase(jobId, ['cancelled'], 30_000);
    await expect.poll(() => jobRow.locator('[data-status]').getAttribute('data-status'), { timeout: 15_000 }).toBe('cancelled');
    await expect.poll(async () => (await stack.local.all()).length, { timeout: 30_000 }).toBe(0);
    await shot('cluster-after-cancel');
  });

  it('creates a pool through the form (the API field error in place first), and shows its nodes and decisions', async () => {
    await page.goto(`${stack.publicUrl}/pools`);
    await page.getByRole('link', { name: 'Create pool' }).click();
    const form = page.getByTestId('pool-form');
    await form.waitFor();
    await page.getByLabel('Name').fill(POOL);
    await expect.poll(() => page.getByLabel('Plan').inputValue()).toBe('local-1');
    await page.getByLabel('Minimum').fill('2');
    await page.getByLabel('Maximum').fill('1');
    await page.getByRole('button', { name: 'Create pool' }).click();
    const minError = page.locator('#pool-min-error');
    await expect.poll(() => minError.textContent()).toContain('min (2) is greater than max (1)');
    expect(await page.getByLabel('Minimum').getAttribute('aria-invalid')).toBe('true');
    await shot('pool-1-field-error');
    await page.getByLabel('Minimum').fill('1');
    await page.getByLabel('Maximum').fill('2');
    await page.getByLabel(/Evaluation interval/).fill('2s');
    await page.getByRole('button', { name: 'Create pool' }).click();
    await page.waitForURL(`${stack.publicUrl}/pools/${POOL}`);
    await expect.poll(() => page.getByTestId('decision-log').locator('li').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await expect.poll(() => page.getByTestId('pool-nodes').locator('tr[data-node-id]').count(), { timeout: 45_000 }).toBe(1);
    await expect.poll(() => page.getByTestId('pool-stats').textContent(), { timeout: 15_000 }).toContain('1 of 1');
    await shot('pool-2-detail');

    // desired up through the form, refused above max in place.
    await page.getByLabel('Desired').fill('3');
    await page.getByTestId('pool-edit').getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.locator('#edit-desired-error').textContent()).toContain('must be between min (1) and max (2)');
    await page.getByLabel('Desired').fill('2');
    await page.getByTestId('pool-edit').getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByTestId('pool-stats').textContent(), { timeout: 15_000 }).toContain('of 2');
    await expect.poll(() => page.getByTestId('decision-log').textContent(), { timeout: 20_000 }).toMatch(/desired|add|start/i);

    await page.getByRole('button', { name: 'Delete pool' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete pool' }).click();
    await expect.poll(() => page.getByText('This pool has been deleted').isVisible(), { timeout: 60_000 }).toBe(true);
    await shot('pool-3-deleted');
  });

  it('links jobs to the Temporal Web UI when the API knows where it is', async () => {
    const app = createApp({
      db: stack.db,
      temporal: stack.client,
      providers: stack.providers,
      taskQueue: stack.taskQueue,
      registrationTtlMs: REGISTRATION_TTL_MS,
      logger: pino({ level: 'silent' }),
      temporalUiUrl: 'http://127.0.0.1:8233/',
      namespace: 'default',
    });
    const port = await freePort();
    const server: ServerType = await new Promise((resolve) => {
      const s = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(s));
    });
    const other = await context.newPage();
    try {
      const base = `http://127.0.0.1:${port}`;
      await signIn(other, base);
      await other.goto(`${base}/cluster?jobs=all`);
      const link = other.locator('a.temporal-link').first();
      await link.waitFor();
      const jobId = (await other.locator('tr[data-job-id]').first().getAttribute('data-job-id'))!;
      expect(await link.getAttribute('href')).toBe(`http://127.0.0.1:8233/namespaces/default/workflows/provision-${jobId}`);
      expect(await link.getAttribute('target')).toBe('_blank');
    } finally {
      await other.close();
      server.close();
    }
  });

  it('keeps the admin key and provider tokens out of URLs, local storage and every response', async () => {
    const storage = await page.evaluate<{ local: string; session: string }>('({ local: JSON.stringify({ ...localStorage }), session: JSON.stringify({ ...sessionStorage }) })');
    for (const secret of [ADMIN_TOKEN, emu.token, WRONG_TOKEN]) {
      expect(storage.local).not.toContain(secret);
      for (const url of urls) expect(decodeURIComponent(url)).not.toContain(secret);
    }
    // The key lives in this tab's session storage only, and "Sign out" forgets it.
    expect(storage.session).toContain(ADMIN_TOKEN);
    expect(storage.session).not.toContain(emu.token);
    expect(verifiedAt).toBeLessThan(Infinity);
    const after = responses.filter((r) => r.at >= verifiedAt);
    expect(after.length).toBeGreaterThan(20);
    for (const r of after) {
      const body = await Promise.race([r.body, new Promise<string>((resolve) => setTimeout(() => resolve(''), 2_000))]);
      expect(body, r.url).not.toContain(emu.token);
      expect(body, r.url).not.toContain(WRONG_TOKEN);
      expect(body, r.url).not.toContain(ADMIN_TOKEN);
    }
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin key').waitFor();
    expect(await page.evaluate<string>('JSON.stringify({ ...sessionStorage })')).not.toContain(ADMIN_TOKEN);
    expect(pageErrors).toEqual([]);
  });
});
