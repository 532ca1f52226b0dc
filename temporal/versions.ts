// The Temporal versions of the production shape, in one place: `scripts/ensure-temporal-server.sh`
// builds these (it reads this file), `npm run cluster` and the topology test run them, and
// test/unit/compose.test.ts checks docker-compose.yml's images against them.
//
// The CLI v1.5.1 (the dev server of `npm start`) embeds server v1.29.1 and UI server v2.42.1;
// v1.29.7 is the newest v1.29 patch the Go module proxy serves, and builds without replace directives.
export const TEMPORAL_SERVER_VERSION = 'v1.29.7';
// The PostgreSQL schema versions that server's `schema/postgresql/v12/*/versioned` reach.
export const TEMPORAL_SCHEMA_VERSION = '1.18';
export const TEMPORAL_VISIBILITY_SCHEMA_VERSION = '1.9';
// The Web UI server, as embedded in the CLI v1.5.1 (github.com/temporalio/ui-server/v2).
export const TEMPORAL_UI_VERSION = 'v2.42.1';
// The CLI (scripts/ensure-temporal-cli.sh); compose's admin-tools image carries a CLI 1.5.x.
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

// Settings of the production shape that compose must share with what the topology test ran.
export const TEMPORAL_HISTORY_SHARDS = 4;
export const TEMPORAL_SQL_PLUGIN = 'postgres12';
