// Smoke check of `npm run bench -- --quick`: every figure is produced. How good the numbers are is
// for the full run to say; a slow machine must not fail this.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

it('produces every figure, a JSON file and a chart', { timeout: 300_000 }, async () => {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-out-'));
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(ROOT, 'bench/run.ts'), '--quick'], {
    cwd: ROOT,
    env: { ...process.env, BERTH_BENCH_DIR: outDir },
    maxBuffer: 16 * 2 ** 20,
  });
  const file = stdout.trim().split('\n').at(-1)!;
  expect(path.dirname(file)).toBe(outDir);
  const results = JSON.parse(fs.readFileSync(file, 'utf8'));
  const figures = [
    results.overhead.submit_to_create_ms.p99,
    results.overhead.register_to_ready_ms.p99,
    ...Object.values(results.throughput).flatMap((t: any) => [t.berth.jobs_per_second, t.engine.jobs_per_second, t.ratio]),
    results.held.worker_rss_mb,
    results.held.api_rss_mb,
    results.held.get_job_ms.p99,
    results.api.get_job.requests_per_second,
    results.api.bare_route.requests_per_second,
    results.api.ratio,
  ];
  for (const figure of figures) expect(Number.isFinite(figure) && figure > 0, String(figure)).toBe(true);
  expect(Object.keys(results.throughput)).toHaveLength(3);
  expect(results.machine.cpus).toBeGreaterThan(0);
  expect(fs.readFileSync(file.replace(/\.json$/, '.svg'), 'utf8')).toMatch(/^<svg[^>]*>[\s\S]*register → ready[\s\S]*<\/svg>\n$/);
  fs.rmSync(outDir, { recursive: true, force: true });
});
