// The container image cannot be built here (no Docker, no registry), so the Dockerfile is read as
// text: its last stage runs as an unprivileged user with a data dir that user owns, carries the
// compiled build and no TypeScript, and every command it and docker-compose.yml run is a file
// `npm run build` makes (test/e2e/compiled.test.ts runs those files).
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

interface Instruction {
  op: string;
  args: string;
}
/** Instructions by stage, continuation lines joined and comments dropped. */
function stages(text: string): Instruction[][] {
  const result: Instruction[][] = [];
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const line of lines) {
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (op.toUpperCase() === 'FROM') result.push([]);
    result.at(-1)?.push({ op: op.toUpperCase(), args });
  }
  return result;
}

const dockerfile = stages(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
const runtime = dockerfile.at(-1)!;
const all = (stage: Instruction[], op: string) => stage.filter((i) => i.op === op).map((i) => i.args);

/** What `npm run build` compiles: the files tsconfig.build.json takes, and where it puts them. */
function build(): { outDir: string; files: Set<string> } {
  const host = {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d: ts.Diagnostic) => {
      throw new Error(String(d.messageText));
    },
  };
  const config = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.build.json'), {}, host);
  const { outDir, rootDir } = config!.options;
  expect(path.resolve(rootDir!)).toBe(ROOT);
  return { outDir: path.relative(ROOT, outDir!), files: new Set(config!.fileNames.map((f) => path.relative(ROOT, f))) };
}

/** A command `node dist/x/y.js` names a file the build makes: x/y.ts, compiled by tsconfig.build.json. */
function expectCompiledEntry(command: string[]): void {
  const { outDir, files } = build();
  expect(command[0]).toBe('node');
  expect(command).toHaveLength(2); // no loader (--import tsx) and no other flag
  const entry = path.normalize(command[1]!);
  expect(entry.startsWith(`${outDir}/`) && entry.endsWith('.js'), entry).toBe(true);
  const source = path.relative(outDir, entry).replace(/\.js$/, '.ts');
  expect(fs.existsSync(path.join(ROOT, source)), source).toBe(true);
  expect(files.has(source), `${source} is compiled by tsconfig.build.json`).toBe(true);
}

describe('Dockerfile', () => {
  it('runs as the unprivileged user node, which owns the data dir', () => {
    const users = all(runtime, 'USER');
    expect(users.at(-1)).toBe('node');
    // Every step after the switch runs as node too: nothing switches back.
    expect(users.filter((u) => /^(root|0)(:|$)/.test(u))).toEqual([]);
    const dataDir = all(runtime, 'ENV')
      .map((e) => /^BERTH_DATA_DIR[= ](\S+)$/.exec(e)?.[1])
      .find(Boolean);
    expect(dataDir).toBeDefined();
    expect(all(runtime, 'RUN').some((r) => r.includes(`chown node:node ${dataDir}`) || r.includes(`chown -R node:node ${dataDir}`))).toBe(true);
    // The app's files come from the other stages, not from the build context, so no source is in the image.
    expect(all(runtime, 'COPY').filter((c) => !c.startsWith('--from=') && !/^package(-lock)?\.json /.test(c))).toEqual([]);
  });

  it('carries the compiled build of the build stage and runs no TypeScript', () => {
    const [buildStage] = dockerfile.filter((s) => all(s, 'RUN').some((r) => r.includes('npm run build')));
    const name = /\bAS\s+(\S+)/i.exec(buildStage?.[0]?.args ?? '')?.[1];
    expect(name).toBeDefined();
    expect(all(runtime, 'COPY')).toEqual(expect.arrayContaining([`--from=${name} /app/dist ./dist`, `--from=${name} /app/console/dist ./console/dist`]));
    expect(runtime.map((i) => i.args).join('\n')).not.toMatch(/tsx|\.ts\b/);
    expectCompiledEntry(JSON.parse(all(runtime, 'CMD').at(-1)!) as string[]);
  });
});

describe('docker-compose.yml', () => {
  it('runs the compiled entry points of the image', () => {
    const services = (
      parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, { build?: unknown; command?: string[] }> }
    ).services;
    const berth = Object.entries(services).filter(([, s]) => s.build);
    expect(berth.map(([name]) => name).sort()).toEqual(['berth-api', 'berth-worker']);
    expect(services['berth-api']!.command).toEqual(['node', 'dist/api/main.js']);
    expect(services['berth-worker']!.command).toEqual(['node', 'dist/worker/main.js']);
    for (const [, service] of berth) expectCompiledEntry(service.command!);
  });
});
