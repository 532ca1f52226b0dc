// The browser for the console tests: the distribution's Chromium (scripts/prepare.sh installs it
// for `npm test`; this machine has no browser download site). Missing, the tests fail, loudly.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium', '/snap/bin/chromium', '/usr/bin/google-chrome'];

export function findChromium(): string {
  const fromEnv = process.env.BERTH_CHROMIUM;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new Error(`BERTH_CHROMIUM=${fromEnv} does not exist`);
    return fromEnv;
  }
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      const found = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (found) return found;
    } catch {
      // not on PATH
    }
  }
  const found = CANDIDATES.find((p) => fs.existsSync(p));
  if (found) return found;
  throw new Error(
    'Chromium is not installed, so the browser tests cannot run. `npm test` installs it (apt-get install -y chromium, as root); ' +
      'install it by hand with `apt-get update && apt-get install -y chromium`, or point BERTH_CHROMIUM at a Chromium binary.',
  );
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: findChromium(),
    headless: true,
    // Root in a container: Chromium's sandbox needs user namespaces it may not have.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--no-default-browser-check', '--password-store=basic'],
  });
}

/** Where each run's screenshots go (git-ignored), and the committed one. */
export const ROOT = path.resolve(import.meta.dirname, '../..');
export const SCREENSHOT_DIR = path.join(ROOT, 'data', 'screenshots');
export const DOCS_SCREENSHOT = path.join(ROOT, 'docs', 'console-wizard.png');
