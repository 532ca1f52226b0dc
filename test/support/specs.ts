// The providers' official OpenAPI specs live outside the repository (../shared/specs/ next to the
// checkout). A clone elsewhere finds them through BERTH_SPECS_DIR or a parent folder's shared/specs.
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

function candidates(): string[] {
  const found = process.env.BERTH_SPECS_DIR ? [process.env.BERTH_SPECS_DIR] : [];
  for (let dir = ROOT; ; dir = path.dirname(dir)) {
    found.push(path.join(path.dirname(dir), 'shared', 'specs'));
    if (path.dirname(dir) === dir) break;
  }
  return [...found, '/work/shared/specs'];
}

/** The spec file's path, or undefined (with where it was looked for) when this machine lacks it. */
export function specFile(name: string): { path: string | undefined; searched: string[] } {
  const searched = candidates().map((dir) => path.join(dir, name));
  return { path: searched.find((file) => fs.existsSync(file)), searched };
}
