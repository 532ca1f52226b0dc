// What a command is, and the small helpers every command uses to read its arguments.
import { Client } from './client.js';
import { resolveTarget } from './config.js';
import { UsageError } from './errors.js';
import { parseOutput, type Output } from './format.js';

export interface Command {
  noun: string;
  verb: string;
  /** The arguments as `--help` shows them, after `<noun> <verb>`. */
  synopsis: string;
  summary: string;
  run(args: string[]): Promise<void>;
}

/** Runs a `parseArgs` call; its complaints (an unknown option, a missing value) are usage errors. */
export function parsed<T>(noun: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('ERR_PARSE_ARGS')) throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''), noun);
    throw err;
  }
}

export const outputOption = { output: { type: 'string', short: 'o' } } as const;

export function output(values: { output?: string | undefined }, noun: string): Output {
  return parseOutput(values.output, noun);
}

/** Exactly `names.length` positionals: their values, in order. */
export function positionals(command: string, noun: string, given: string[], ...names: string[]): string[] {
  if (given.length < names.length) throw new UsageError(`${command}: missing ${names.slice(given.length).join(' ')}`, noun);
  if (given.length > names.length) throw new UsageError(`${command}: unexpected argument "${given[names.length]}"`, noun);
  return given;
}

export function wholeNumber(value: string | undefined, flag: string, noun: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,6}$/.test(value.trim())) throw new UsageError(`${flag} must be a whole number, not "${value}"`, noun);
  return Number(value);
}

export function apiClient(): Client {
  return new Client(resolveTarget());
}

/** A path segment from user input, safe in a URL. */
export const seg = (value: string) => encodeURIComponent(value);
