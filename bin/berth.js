#!/usr/bin/env node
// `npx berth ...` (the package's bin): runs the TypeScript entry, scripts/berth.ts, in this
// process through tsx, as `npm run berth -- ...` does.
let tsx;
try {
  tsx = await import('tsx/esm/api');
} catch {
  process.stderr.write('berth: tsx is not installed here; run `npm install` in the Berth folder first\n');
  process.exit(1);
}
tsx.register();
await import('../scripts/berth.ts');
