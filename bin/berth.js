#!/usr/bin/env node
// `npx berth ...` (the package's bin): the compiled CLI, dist/scripts/berth.js, when `npm run build`
// made one, so a production install needs no tsx; otherwise the TypeScript entry, scripts/berth.ts,
// in this process through tsx, as `npm run berth -- ...` does.
import fs from 'node:fs';

const compiled = new URL('../dist/scripts/berth.js', import.meta.url);
if (fs.existsSync(compiled)) {
  await import(compiled.href);
} else {
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    process.stderr.write('berth: neither dist/ (`npm run build`) nor tsx (`npm install`) is here; run one of them in the Berth folder first\n');
    process.exit(1);
  }
  tsx.register();
  await import('../scripts/berth.ts');
}
