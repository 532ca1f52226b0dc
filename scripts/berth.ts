// `npm run berth -- <command>` (or `npx berth`): the operator's command line. Nodes, jobs,
// providers and pools go through the API (cli/); tenants, keys and the vault work on the database
// the API uses (cli/commands/database.ts). `berth --help` lists every command.
import { main } from '../cli/main.js';

process.exitCode = await main(process.argv.slice(2));
