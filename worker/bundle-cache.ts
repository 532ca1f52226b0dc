import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Runtime, bundleWorkflowCode, type WorkflowBundlePath } from '@temporalio/worker';
import { WORKFLOWS_PATH } from './create-worker.js';

const WORKFLOWS_DIR = path.dirname(WORKFLOWS_PATH);

/** What the bundle is made of: the workflow sources (they import nothing else at run time) and the SDK. */
function bundleKey(): string {
  const hash = createHash('sha256');
  const sdk = createRequire(import.meta.url)('@temporalio/workflow/package.json') as { version: string };
  hash.update(`sdk ${sdk.version}\0`);
  for (const file of fs.readdirSync(WORKFLOWS_DIR).filter((f) => f.endsWith('.ts')).sort()) {
    hash.update(`${file}\0`).update(fs.readFileSync(path.join(WORKFLOWS_DIR, file))).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * The workflow bundle, built once per version of the workflow code and kept under the data dir,
 * so a worker restart skips the bundling step (seconds on a small machine).
 */
export async function cachedWorkflowBundle(cacheDir: string): Promise<WorkflowBundlePath & { cached: boolean }> {
  const codePath = path.join(cacheDir, `workflow-bundle-${bundleKey()}.js`);
  if (fs.existsSync(codePath)) return { codePath, cached: true };
  // Through the runtime's logger, so the bundler's report shows at debug level only.
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: Runtime.instance().logger });
  fs.mkdirSync(cacheDir, { recursive: true });
  // Written under another name first: two workers starting together never read half a bundle.
  const staging = `${codePath}.${process.pid}.tmp`;
  fs.writeFileSync(staging, code);
  fs.renameSync(staging, codePath);
  // Bundles of older workflow code: workers read their bundle once, at start.
  for (const file of fs.readdirSync(cacheDir)) {
    if (/^workflow-bundle-[0-9a-f]{16}\.js$/.test(file) && path.join(cacheDir, file) !== codePath) fs.rmSync(path.join(cacheDir, file), { force: true });
  }
  return { codePath, cached: false };
}
