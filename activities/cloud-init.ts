import { parse, stringify } from 'yaml';

export interface RegistrationEnv {
  registerUrl: string;
  token: string;
  tenantId: string;
  hostname: string;
}

export const REGISTRATION_ENV_PATH = '/etc/berth/registration.env';
export const BOOTSTRAP_PATH = '/usr/local/sbin/berth-bootstrap';

// Posts the one-time token to Berth through stdin, so it never shows in the process list. The
// answer can take a while: the API answers once the workflow has bound the node. Network errors
// and 5xx are retried for about five minutes; a 4xx is final (the token is spent or refused).
// Values are validated before they reach the env file this script sources.
const BOOTSTRAP_SCRIPT = `#!/bin/sh
# Registers this machine with Berth. The token is single use; see ${REGISTRATION_ENV_PATH}.
set -eu
. "$1"
body=$(printf '{"token":"%s","hostname":"%s"}' "$BERTH_REGISTER_TOKEN" "\${BERTH_NODE_HOSTNAME:-$(hostname)}")
answer=$(mktemp)
trap 'rm -f "$answer"' EXIT
attempt=1
while [ "$attempt" -le 30 ]; do
  code=$(printf '%s' "$body" | curl -sS --max-time 120 -o "$answer" -w '%{http_code}' \\
    -H 'content-type: application/json' --data-binary @- "$BERTH_REGISTER_URL") || code=000
  case "$code" in
    2??) cat "$answer"; echo; exit 0 ;;
    4??) echo "berth-bootstrap: registration refused ($code): $(cat "$answer")" >&2; exit 1 ;;
  esac
  delay=$((attempt * 2))
  if [ "$delay" -gt 10 ]; then delay=10; fi
  sleep "$delay"
  attempt=$((attempt + 1))
done
echo "berth-bootstrap: registration failed" >&2
exit 1
`;

const SAFE_VALUE = /^[A-Za-z0-9._:/@-]+$/;

/**
 * The cloud-init user-data a VM boots with, built as data and serialised by the YAML library.
 * Every value that lands in the shell-sourced env file is checked against a safe alphabet.
 */
export function buildUserData(env: RegistrationEnv): string {
  for (const [key, value] of Object.entries(env)) {
    if (!SAFE_VALUE.test(value)) throw new Error(`cloud-init value ${key} contains characters that are not allowed`);
  }
  const registrationEnv = [
    `BERTH_REGISTER_URL=${env.registerUrl}`,
    `BERTH_REGISTER_TOKEN=${env.token}`,
    `BERTH_TENANT_ID=${env.tenantId}`,
    `BERTH_NODE_HOSTNAME=${env.hostname}`,
    '',
  ].join('\n');
  const doc = {
    hostname: env.hostname,
    write_files: [
      { path: REGISTRATION_ENV_PATH, permissions: '0600', owner: 'root:root', content: registrationEnv },
      { path: BOOTSTRAP_PATH, permissions: '0755', owner: 'root:root', content: BOOTSTRAP_SCRIPT },
    ],
    runcmd: [['sh', BOOTSTRAP_PATH, REGISTRATION_ENV_PATH]],
  };
  return `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
}

/** The inverse of buildUserData: what a VM's bootstrap reads from its registration.env. */
export function readRegistrationEnv(userData: string): RegistrationEnv {
  const doc = parse(userData.replace(/^#cloud-config\n/, '')) as { write_files?: Array<{ path: string; content?: string }> };
  const content = doc.write_files?.find((f) => f.path === REGISTRATION_ENV_PATH)?.content ?? '';
  const value = (name: string) => {
    const found = new RegExp(`^${name}=(.+)$`, 'm').exec(content)?.[1];
    if (!found) throw new Error(`no ${name} in the user-data`);
    return found;
  };
  return {
    registerUrl: value('BERTH_REGISTER_URL'),
    token: value('BERTH_REGISTER_TOKEN'),
    tenantId: value('BERTH_TENANT_ID'),
    hostname: value('BERTH_NODE_HOSTNAME'),
  };
}
