// Only the core scenarios (overhead, bursts and their baselines, per-job counts) on the file-backed
// dev server, in about a minute and a half: for comparing two versions or settings in one sitting.
// `BERTH_TEMPORAL_CLI=... node --expose-gc --import tsx bench/core.ts [--quick]`; the JSON file's
// path is the last line of the output.
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { core } from './scenarios.js';
import { startStack } from './stack.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const QUICK = process.argv.includes('--quick');
const SIZES = QUICK ? { overhead: 20, bursts: [10, 50, 100] } : { overhead: 100, bursts: [10, 100, 1000] };

Runtime.install({ logger: new DefaultLogger('ERROR') });
const log = (line: string) => console.error(`bench: ${line}`);

const binary = process.env.BERTH_TEMPORAL_CLI;
if (!binary) throw new Error('BERTH_TEMPORAL_CLI is not set');

const stack = await startStack({ binary, temporal: 'file', databaseUrl: process.env.DATABASE_URL, log });
try {
  const results = { taken_at: new Date().toISOString(), mode: QUICK ? 'quick' : 'full', only: 'core', ...(await core(stack, SIZES, log, true)) };
  const outDir = path.resolve(process.env.BERTH_BENCH_DIR ?? path.join(ROOT, 'data', 'bench'));
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `core-${results.taken_at.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(file);
} finally {
  await stack.stop();
}
