// The reference page in a real browser: it renders every operation of the document from this
// server alone (no request leaves the origin, nothing breaks the page's Content-Security-Policy).
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { OPERATIONS } from '../../api/openapi.js';
import { launchChromium } from '../browser/chromium.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let browser: Browser;
beforeAll(async () => {
  stack = await startStack({ worker: false });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

it('renders every operation, loading nothing from elsewhere', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
  const origin = new URL(stack.publicUrl).origin;
  const elsewhere: string[] = [];
  const problems: string[] = [];
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.protocol !== 'data:' && url.origin !== origin) elsewhere.push(req.url());
  });
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`${res.status()} ${res.url()}`);
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(msg.text());
  });
  page.on('pageerror', (err) => problems.push(err.message));

  await page.goto(`${stack.publicUrl}/cp/api/v1/docs`);
  await page.waitForSelector('.opblock', { timeout: 30_000 });
  expect(await page.locator('.opblock').count()).toBe(OPERATIONS.length);
  expect(await page.locator('.title').first().textContent()).toMatch(/Berth API/);

  // Open one operation: its parameters and answers, with the error codes.
  await page.locator('#operations-Nodes-createNode .opblock-summary').click();
  await page.waitForSelector('#operations-Nodes-createNode .responses-table');
  const answers = await page.locator('#operations-Nodes-createNode .responses-table').first().textContent();
  expect(answers).toMatch(/unknown_plan/);
  expect(answers).toMatch(/202/);
  // To look at it: BERTH_REFERENCE_SCREENSHOT=/tmp/reference.png
  if (process.env.BERTH_REFERENCE_SCREENSHOT) await page.screenshot({ path: process.env.BERTH_REFERENCE_SCREENSHOT });

  expect(elsewhere).toEqual([]);
  expect(problems).toEqual([]);
  await page.close();
}, 60_000);
