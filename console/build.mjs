// Builds the console into console/dist, only when its sources changed since the last build: a
// hash of console/src, index.html, public/, the build config and package-lock.json is kept in
// console/dist/.build-hash. Run by scripts/prepare.sh (npm start, npm test); `--force` rebuilds.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const here = import.meta.dirname;
const dist = path.join(here, 'dist');
const stamp = path.join(dist, '.build-hash');
const inputs = ['src', 'public', 'index.html', 'vite.config.ts', 'tsconfig.json', 'build.mjs', '../package-lock.json'];

function files(entry) {
  const full = path.join(here, entry);
  if (!fs.existsSync(full)) return [];
  if (!fs.statSync(full).isDirectory()) return [full];
  return fs
    .readdirSync(full, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath ?? d.path, d.name));
}

function sourceHash() {
  const hash = createHash('sha256');
  for (const file of inputs.flatMap(files).sort()) {
    hash.update(path.relative(here, file)).update('\0').update(fs.readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

const hash = sourceHash();
const force = process.argv.includes('--force');
if (!force && fs.existsSync(path.join(dist, 'index.html')) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8').trim() === hash) {
  process.exit(0);
}
console.error('berth: building the console (console/dist)...');
const started = Date.now();
const { build } = await import('vite');
await build({ configFile: path.join(here, 'vite.config.ts'), logLevel: 'warn' });
fs.writeFileSync(stamp, `${hash}\n`);
console.error(`berth: console built in ${((Date.now() - started) / 1000).toFixed(1)}s`);
