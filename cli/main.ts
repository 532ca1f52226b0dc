// The `berth` command: finds the command, runs it, and turns any failure into one line on stderr
// and an exit code (1, 2 for usage, 130 when interrupted).
import { configPath } from './config.js';
import type { Command } from './command.js';
import { DATABASE_NOUNS, DATABASE_USAGE } from './commands/database.js';
import { jobCommands } from './commands/job.js';
import { loginCommands } from './commands/login.js';
import { nodeCommands } from './commands/node.js';
import { poolCommands } from './commands/pool.js';
import { providerCommands } from './commands/provider.js';
import { CliError, UsageError } from './errors.js';

const COMMANDS: Command[] = [...loginCommands, ...nodeCommands, ...jobCommands, ...providerCommands, ...poolCommands];
const API_NOUNS = new Set(COMMANDS.map((c) => c.noun));

/** Every command, or those of one noun; `brief`: their synopses only (after a usage error). */
export function usage(noun?: string, brief = false): string {
  const entry = (synopsis: string, summary: string) => (summary && !brief ? `  ${synopsis}\n        ${summary}` : `  ${synopsis}`);
  const only = noun && (API_NOUNS.has(noun) || DATABASE_NOUNS.has(noun)) ? noun : undefined;
  const api = COMMANDS.filter((c) => !only || c.noun === only).map((c) => entry([c.noun, c.verb, c.synopsis].filter(Boolean).join(' '), c.summary));
  const db = DATABASE_USAGE.filter(([synopsis]) => !only || synopsis.startsWith(`${only} `)).map(([s, summary]) => entry(s, summary));
  const lines = [
    'usage: berth <command> [options]        (npm run berth -- <command>, or npx berth <command>)',
    ...(api.length ? ['', 'Nodes, jobs, providers and pools, through the API (BERTH_URL and BERTH_TOKEN, else `berth login`):', ...api] : []),
    ...(db.length ? ['', 'Tenants, keys and the vault, on the database (BERTH_DATA_DIR or DATABASE_URL, as the API):', ...db] : []),
    ...(brief ? ['', `\`berth ${only ? `${only} ` : ''}--help\` says more.`] : []),
  ];
  if (brief) return lines.join('\n');
  return [
    ...lines,
    '',
    'Options:',
    "  -o, --output json|table   on listing and show commands: an aligned table (default), or the API's JSON as is",
    '  -h, --help                this list; `berth <group> --help` shows one group (node, job, provider, pool, ...)',
    '',
    'Environment:',
    '  BERTH_URL, BERTH_TOKEN    the API (default http://127.0.0.1:8080) and an admin token; they win over the config file',
    `  BERTH_CONFIG              the config file \`berth login\` writes (now ${configPath()})`,
    '',
    'Exit codes: 0 done, 1 failed (one line on stderr: berth: <message> (<code>, field <field>)), 2 usage, 130 interrupted.',
  ].join('\n');
}

function report(err: unknown): number {
  const raw = err instanceof Error ? err.message : String(err);
  const message = raw.replace(/\s*\n\s*/g, ' ').trim();
  process.stderr.write(`berth: ${message}\n`);
  if (err instanceof UsageError) {
    process.stderr.write(`\n${usage(err.noun, true)}\n`);
    return 2;
  }
  if (err instanceof CliError) return err.exitCode;
  if (process.env.BERTH_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return 1;
}

export async function main(argv: string[]): Promise<number> {
  try {
    const [noun, verb] = argv;
    if (noun === undefined) throw new UsageError('no command');
    if (noun === 'help' || noun === '--help' || noun === '-h') {
      process.stdout.write(`${usage(verb)}\n`);
      return 0;
    }
    const dashDash = argv.indexOf('--');
    if (argv.slice(0, dashDash < 0 ? undefined : dashDash).some((a) => a === '--help' || a === '-h')) {
      process.stdout.write(`${usage(noun)}\n`);
      return 0;
    }
    if (DATABASE_NOUNS.has(noun)) {
      const { runDatabaseCommand } = await import('./commands/database.js');
      await runDatabaseCommand(argv);
      return 0;
    }
    const command = COMMANDS.find((c) => c.noun === noun && (c.verb === '' || c.verb === verb));
    if (!command) {
      if (!API_NOUNS.has(noun)) throw new UsageError(`unknown command "${noun}"`);
      throw new UsageError(verb === undefined || verb.startsWith('-') ? `${noun}: missing a command` : `unknown command "${noun} ${verb}"`, noun);
    }
    await command.run(argv.slice(command.verb === '' ? 1 : 2));
    return 0;
  } catch (err) {
    return report(err);
  }
}
