import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Runtime, bundleWorkflowCode, type WorkflowBundlePath } from '@temporalio/worker';
import { WORKFLOWS_PATH } from './create-worker.js';

// Value imports and re-exports of relative modules; `import type` is erased and bundles nothing.
const RELATIVE_IMPORT = /^\s*(?:import|export)\s+(?!type\s)(?:[^'"]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm;

/** Every project source file the bundle contains: the workflows and what they import, transitively. */
export function bundledSources(entry = WORKFLOWS_PATH): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const [, spec] of fs.readFileSync(file, 'utf8').matchAll(RELATIVE_IMPORT)) {
      // A `.js` specifier names the .ts source, or itself in the compiled build.
      visit(path.resolve(path.dirname(file), spec!.replace(/\.js$/, path.extname(entry))));
    }
  };
  visit(entry);
  return [...seen].sort();
}

/** What the bundle is made of: the project sources it contains and the SDK's version. */
function bundleKey(): string {
  const hash = createHash('sha256');
  const sdk = createRequire(import.meta.url)('@temporalio/workflow/package.json') as { version: string };
  hash.update(`sdk ${sdk.version}\0`);
  const root = path.dirname(path.dirname(WORKFLOWS_PATH));
  for (const file of bundledSources()) {
    hash
      .update(`${path.relative(root, file)}\0`)
      .update(fs.readFileSync(file))
      .update('\0');
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
