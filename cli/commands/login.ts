// login: saves the API's URL and an admin token for the later commands.
import { parseArgs } from 'node:util';
import { checkToken, Client } from '../client.js';
import { parsed, positionals, type Command } from '../command.js';
import { configPath, DEFAULT_URL, normalizeUrl, readConfig, writeConfig } from '../config.js';
import { CliError, NetworkError, UnauthorizedError } from '../errors.js';
import { print } from '../format.js';
import { readSecret } from '../secret.js';

export const loginCommands: Command[] = [
  {
    noun: 'login',
    verb: '',
    synopsis: '[--url URL] [--token TOKEN]',
    summary: `saves the API URL (default ${DEFAULT_URL}) and an admin token, read from stdin without --token, to the config file`,
    async run(args) {
      const { values, positionals: rest } = parsed('login', () => parseArgs({ args, allowPositionals: true, options: { url: { type: 'string' }, token: { type: 'string' } } }));
      positionals('login', 'login', rest);
      const file = configPath();
      const saved = readConfig(file);
      const url = normalizeUrl(values.url ?? process.env.BERTH_URL ?? saved.url ?? DEFAULT_URL, values.url ? '--url' : 'the URL');
      const token = values.token?.trim() || (await readSecret(`Admin token for ${url} (not shown): `));
      checkToken(token);
      // Try it first: a refused token is not saved; an API that is not up yet does not stop the login.
      let checked = true;
      try {
        await new Client({ url, token }).get('/keys');
      } catch (err) {
        if (err instanceof UnauthorizedError) throw new CliError(`the token is refused by ${url} (401 unauthorized); nothing saved`);
        if (!(err instanceof NetworkError)) throw err;
        checked = false;
        process.stderr.write(`berth: warning: the token is not checked: ${err.message}\n`);
      }
      writeConfig({ url, token }, file);
      print(`${checked ? 'logged in to' : 'saved, unchecked, for'} ${url}; the token is in ${file} (mode 0600)`);
    },
  },
];
