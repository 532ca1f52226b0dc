import { createHash } from 'node:crypto';
import { parse, stringify } from 'yaml';

export interface RegistrationEnv {
  registerUrl: string;
  token: string;
  tenantId: string;
  hostname: string;
}

export interface UserDataOptions {
  /** How often the node agent reports (default 15). */
  heartbeatIntervalS?: number;
  /** Shell that prints the node's workload count; written to its own file, never to an env file. */
  workloadCommand?: string;
  /** The operator's own user-data: a `#cloud-config` document or a `#!` script. */
  extraUserData?: string;
}

/** What a VM reads back from its user-data. */
export interface RegistrationInfo extends RegistrationEnv {
  heartbeatIntervalS: number;
}

export interface UserDataPart {
  contentType: string;
  filename?: string;
  body: string;
}

export const REGISTRATION_ENV_PATH = '/etc/berth/registration.env';
export const BOOTSTRAP_PATH = '/usr/local/sbin/berth-bootstrap';
export const AGENT_PATH = '/usr/local/sbin/berth-agent';
export const NODE_ENV_PATH = '/etc/berth/node.env';
export const WORKLOAD_COMMAND_PATH = '/etc/berth/workload-command';
export const AGENT_SERVICE_PATH = '/etc/systemd/system/berth-agent.service';
export const AGENT_TIMER_PATH = '/etc/systemd/system/berth-agent.timer';
export const REGISTER_PART_FILENAME = 'berth-register.sh';
export const DEFAULT_HEARTBEAT_INTERVAL_S = 15;

/** The largest user-data each provider accepts, in bytes of the whole encoded document (UTF-8). */
export const USER_DATA_LIMITS: Record<'local' | 'hetzner' | 'digitalocean', number> = {
  local: 65_536,
  hetzner: 32_768,
  digitalocean: 65_536,
};

export const userDataBytes = (text: string): number => Buffer.byteLength(text, 'utf8');

// Posts the one-time token to Berth through stdin, so it never shows in the process list. Network
// errors, 5xx and 429 are retried, after the answer's Retry-After when it has one (a registration
// cut short holds the token for a minute), until a final answer: any other 4xx, such as 401 (the
// token is spent, revoked or past its TTL) or 409 (the job has ended).
// The agent's credential is made here, kept across runs, and only its digest is sent: an answer
// lost after the token was spent is asked for again and carries nothing the VM lacks. (An API
// from before this answers with a credential of its own, which is used instead.)
// The answer is read with sed (no jq on a fresh VM) and checked before it reaches a file the
// agent sources. The node token goes to a header file curl reads, never onto a command line.
const BOOTSTRAP_SCRIPT = `#!/bin/sh
# Registers this machine with Berth. The token is single use; see ${REGISTRATION_ENV_PATH}.
set -eu
. "$1"
dir=$(dirname "$1")
if [ ! -s "$dir/agent.credential" ]; then
  (
    umask 077
    printf 'bnt_%s' "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\\n')" > "$dir/agent.credential.tmp"
  )
  mv -f "$dir/agent.credential.tmp" "$dir/agent.credential"
fi
own_token=$(cat "$dir/agent.credential")
own_sha256=$(printf '%s' "$own_token" | sha256sum | cut -d ' ' -f 1)
body=$(printf '{"token":"%s","hostname":"%s","credential_sha256":"%s"}' "$BERTH_REGISTER_TOKEN" "\${BERTH_NODE_HOSTNAME:-$(hostname)}" "$own_sha256")
answer=$(mktemp)
headers=$(mktemp)
trap 'rm -f "$answer" "$headers"' EXIT

field() {
  tr -d '\\r\\n' < "$answer" | sed -n "s/.*\\"$1\\"[[:space:]]*:[[:space:]]*\\"\\([^\\"]*\\)\\".*/\\1/p"
}

registered() {
  node_id=$(field node_id)
  node_token=$(field node_token)
  if [ -z "$node_token" ] && [ "$(field credential_sha256)" = "$own_sha256" ]; then node_token=$own_token; fi
  case "$node_id" in
    '' | *[!a-z0-9-]*) echo "berth-bootstrap: registered, but the answer has no valid node id" >&2; exit 1 ;;
  esac
  echo "berth-bootstrap: registered as node $node_id"
  if [ -z "$node_token" ]; then
    echo "berth-bootstrap: the answer has no node token; the agent is not started"
    exit 0
  fi
  case "$node_token" in
    bnt_*[!A-Za-z0-9_-]* | bnt_) echo "berth-bootstrap: the node token in the answer is not valid" >&2; exit 1 ;;
    bnt_*) ;;
    *) echo "berth-bootstrap: the node token in the answer is not valid" >&2; exit 1 ;;
  esac
  interval=\${BERTH_AGENT_INTERVAL:-${DEFAULT_HEARTBEAT_INTERVAL_S}}
  case "$interval" in '' | *[!0-9]*) interval=${DEFAULT_HEARTBEAT_INTERVAL_S} ;; esac
  (
    umask 077
    printf 'BERTH_NODE_ID=%s\\nBERTH_HEARTBEAT_URL=%s\\nBERTH_AGENT_INTERVAL=%s\\n' \\
      "$node_id" "\${BERTH_REGISTER_URL%/register}/nodes/$node_id/heartbeat" "$interval" > "$dir/node.env.tmp"
    printf 'Authorization: Bearer %s\\n' "$node_token" > "$dir/agent.header.tmp"
  )
  mv -f "$dir/agent.header.tmp" "$dir/agent.header"
  mv -f "$dir/node.env.tmp" "$dir/node.env"
  # The local provider runs the agent itself: its VMs are processes, not machines with systemd.
  if [ -z "\${BERTH_LOCAL_VM:-}" ] && command -v systemctl >/dev/null 2>&1; then
    if systemctl daemon-reload && systemctl enable --now berth-agent.timer; then
      echo "berth-bootstrap: agent started, every \${interval}s"
    else
      echo "berth-bootstrap: could not start berth-agent.timer" >&2
    fi
  fi
  exit 0
}

attempt=1
while :; do
  : > "$headers"
  code=$(printf '%s' "$body" | curl -sS --max-time 120 -D "$headers" -o "$answer" -w '%{http_code}' \\
    -H 'content-type: application/json' --data-binary @- "$BERTH_REGISTER_URL") || code=000
  case "$code" in
    2??) registered ;;
    408 | 429) ;;
    4??) echo "berth-bootstrap: registration refused ($code): $(cat "$answer")" >&2; exit 1 ;;
  esac
  delay=$(tr -d '\\r' < "$headers" | sed -n 's/^[Rr][Ee][Tt][Rr][Yy]-[Aa][Ff][Tt][Ee][Rr]:[[:space:]]*\\([0-9][0-9]*\\)[[:space:]]*$/\\1/p' | tail -n 1)
  if [ -z "$delay" ]; then
    delay=$((attempt * 2))
    if [ "$delay" -gt 10 ]; then delay=10; fi
  fi
  if [ "$delay" -gt 300 ]; then delay=300; fi
  echo "berth-bootstrap: not registered yet ($code), trying again in \${delay}s" >&2
  sleep "$delay"
  attempt=$((attempt + 1))
done
`;

// One heartbeat per run; a failed POST is simply tried again on the next tick. Numbers are
// formatted by awk, anything unreadable counts as 0, so the body is always valid JSON.
const AGENT_SCRIPT = `#!/bin/sh
# Berth node agent: reports this node's load once; berth-agent.timer runs it again and again.
# $1 is ${NODE_ENV_PATH}, written by berth-bootstrap; its folder keeps the agent's state.
set -u
. "$1"
dir=$(dirname "$1")
proc=\${BERTH_PROC:-/proc}

fraction() {
  awk -v v="$1" 'BEGIN { if (v !~ /^[0-9]*[.]?[0-9]+([eE][-+]?[0-9]+)?$/) v = 0; v += 0; if (v > 1) v = 1; printf "%.3f", v }'
}

count() {
  n=$(printf '%s\\n' "$1" | head -n 1 | tr -d ' \\t\\r' | sed 's/^0*//')
  case "$n" in '' | *[!0-9]*) n=0 ;; esac
  if [ "\${#n}" -gt 9 ]; then n=0; fi
  echo "$n"
}

from_load_file() {
  if [ -r "$BERTH_AGENT_LOAD_FILE" ]; then
    tr -d '\\r\\n' < "$BERTH_AGENT_LOAD_FILE" | sed -n "s/.*\\"$1\\"[[:space:]]*:[[:space:]]*\\([-+0-9.eE]*\\).*/\\1/p"
  fi
}

# Busy and total time of the first cpu line (guest time is already counted in user).
cpu_sample() {
  awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9 && i <= NF; i++) t += $i; printf "%.0f %.0f\\n", t - $5 - $6, t; exit }' "$proc/stat" 2>/dev/null
}

# Busy share since the previous run; the first run has none, so it samples twice 1 s apart.
cpu_load() {
  now=$(cpu_sample)
  if [ -z "$now" ]; then echo 0.000; return; fi
  prev=$(cat "$dir/agent.cpu" 2>/dev/null) || prev=''
  if [ -z "$prev" ]; then
    prev=$now
    sleep 1
    now=$(cpu_sample)
  fi
  printf '%s\\n' "$now" > "$dir/agent.cpu"
  fraction "$(echo "$prev $now" | awk '{ dt = $4 - $2; print (dt > 0 ? ($3 - $1) / dt : 0) }')"
}

mem_load() {
  if [ ! -r "$proc/meminfo" ]; then echo 0.000; return; fi
  fraction "$(awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } /^MemFree:/ { f = $2 }
    END { if (a == "") a = f; print (t > 0 ? 1 - a / t : 0) }' "$proc/meminfo")"
}

workload_count() {
  cmd="\${BERTH_ROOT:-}${WORKLOAD_COMMAND_PATH}"
  if [ ! -x "$cmd" ]; then echo 0; return; fi
  if command -v timeout >/dev/null 2>&1; then
    out=$(timeout 10 "$cmd" 2>/dev/null) || out=''
  else
    out=$("$cmd" 2>/dev/null) || out=''
  fi
  count "$out"
}

if [ -n "\${BERTH_AGENT_LOAD_FILE:-}" ]; then
  cpu=$(fraction "$(from_load_file cpu)")
  memory=$(fraction "$(from_load_file memory)")
  workloads=$(count "$(from_load_file workloads)")
else
  cpu=$(cpu_load)
  memory=$(mem_load)
  workloads=$(workload_count)
fi

# Moving work away is the workload's business: after a drain request the next report says
# drained. A drain-command hook, run before that, can come later.
drained=''
if [ -f "$dir/draining" ]; then drained=',"drained":true'; fi
body=$(printf '{"cpu":%s,"memory":%s,"workloads":%s%s}' "$cpu" "$memory" "$workloads" "$drained")

answer=$(printf '%s' "$body" | curl -sS -f --max-time 10 -H @"$dir/agent.header" \\
  -H 'content-type: application/json' --data-binary @- "$BERTH_HEARTBEAT_URL") || exit 0
state=$(printf '%s' "$answer" | tr -d '\\r\\n' | sed -n 's/.*"state"[[:space:]]*:[[:space:]]*"\\([a-z]*\\)".*/\\1/p')
case "$state" in
  drain) if [ ! -f "$dir/draining" ]; then : > "$dir/draining"; echo "berth-agent: asked to drain"; fi ;;
  active) if [ -f "$dir/draining" ]; then rm -f "$dir/draining"; echo "berth-agent: active again"; fi ;;
esac
exit 0
`;

// BERTH_ROOT is unset on a real VM; the local provider points it at the VM's rootfs.
const REGISTER_SCRIPT = `#!/bin/sh
exec sh "\${BERTH_ROOT:-}${BOOTSTRAP_PATH}" "\${BERTH_ROOT:-}${REGISTRATION_ENV_PATH}"
`;

const agentService = () => `[Unit]
Description=Berth node agent: one heartbeat
ConditionPathExists=${NODE_ENV_PATH}
After=network-online.target

[Service]
Type=oneshot
ExecStart=/bin/sh ${AGENT_PATH} ${NODE_ENV_PATH}
`;

const agentTimer = (intervalS: number) => `[Unit]
Description=Berth node agent, every ${intervalS}s

[Timer]
OnBootSec=${intervalS}s
OnUnitActiveSec=${intervalS}s
AccuracySec=1s

[Install]
WantedBy=timers.target
`;

/** The one Berth script part the local provider may run: exactly this text. */
export const isBerthRegisterPart = (part: UserDataPart): boolean =>
  part.contentType === 'text/x-shellscript' && part.filename === REGISTER_PART_FILENAME && part.body === REGISTER_SCRIPT;

const SAFE_VALUE = /^[A-Za-z0-9._:/@-]+$/;
// cloud-init merges cloud-config parts by replacing lists; the operator's part appends instead,
// so its write_files or runcmd cannot drop Berth's.
const OPERATOR_MERGE_TYPE = 'list(append)+dict(recurse_array)+str()';

/** What the operator's document is, from its first line: cloud-init decides the same way. */
export function userDataKind(text: string): 'cloud-config' | 'shellscript' | undefined {
  const first = text.split('\n', 1)[0]!.trimEnd();
  if (first === '#cloud-config') return 'cloud-config';
  if (first.startsWith('#!')) return 'shellscript';
  return undefined;
}

/**
 * The user-data a VM boots with: a MIME multi-part document. Berth's cloud-config (built as data
 * and serialised by the YAML library) writes the files, Berth's script part registers, and the
 * operator's part, if any, comes last. cloud-init runs script parts in name order before runcmd,
 * so registration runs before the operator's script or runcmd. Every value that lands in the
 * shell-sourced env file is checked against a safe alphabet.
 */
export function buildUserData(env: RegistrationEnv, options: UserDataOptions = {}): string {
  for (const key of ['registerUrl', 'token', 'tenantId', 'hostname'] as const) {
    if (!SAFE_VALUE.test(env[key])) throw new Error(`cloud-init value ${key} contains characters that are not allowed`);
  }
  const interval = options.heartbeatIntervalS ?? DEFAULT_HEARTBEAT_INTERVAL_S;
  if (!Number.isInteger(interval) || interval < 1 || interval > 300) {
    throw new Error('cloud-init value heartbeatIntervalS must be whole seconds from 1 to 300');
  }
  const registrationEnv = [
    `BERTH_REGISTER_URL=${env.registerUrl}`,
    `BERTH_REGISTER_TOKEN=${env.token}`,
    `BERTH_TENANT_ID=${env.tenantId}`,
    `BERTH_NODE_HOSTNAME=${env.hostname}`,
    `BERTH_AGENT_INTERVAL=${interval}`,
    '',
  ].join('\n');
  const file = (path: string, permissions: string, content: string) => ({ path, permissions, owner: 'root:root', content });
  const writeFiles = [
    file(REGISTRATION_ENV_PATH, '0600', registrationEnv),
    file(BOOTSTRAP_PATH, '0755', BOOTSTRAP_SCRIPT),
    file(AGENT_PATH, '0755', AGENT_SCRIPT),
    file(AGENT_SERVICE_PATH, '0644', agentService()),
    file(AGENT_TIMER_PATH, '0644', agentTimer(interval)),
  ];
  if (options.workloadCommand !== undefined) {
    writeFiles.push(file(WORKLOAD_COMMAND_PATH, '0700', `#!/bin/sh\n${options.workloadCommand}\n`));
  }
  const config = `#cloud-config\n${stringify({ hostname: env.hostname, write_files: writeFiles }, { lineWidth: 0 })}`;

  const parts: MimePart[] = [
    { contentType: 'text/cloud-config', filename: 'berth.cfg', body: config },
    { contentType: 'text/x-shellscript', filename: REGISTER_PART_FILENAME, body: REGISTER_SCRIPT },
  ];
  if (options.extraUserData !== undefined) {
    const kind = userDataKind(options.extraUserData);
    if (kind === 'cloud-config') {
      parts.push({ contentType: 'text/cloud-config', filename: 'user-data.cfg', body: options.extraUserData, mergeType: OPERATOR_MERGE_TYPE });
    } else if (kind === 'shellscript') {
      parts.push({ contentType: 'text/x-shellscript', filename: 'user-data.sh', body: options.extraUserData });
    } else {
      throw new Error('extra user-data must start with #cloud-config or #! (a shell script)');
    }
  }
  return encodeMultipart(parts);
}

interface MimePart extends UserDataPart {
  filename: string;
  mergeType?: string;
}

// 7bit is only for short-lined printable ASCII; anything else travels as base64.
const isSevenBit = (text: string) => /^[\t\n\x20-\x7e]*$/.test(text) && text.split('\n').every((line) => line.length <= 998);

function encodeMultipart(parts: MimePart[]): string {
  const encoded = parts.map((part) => {
    const sevenBit = isSevenBit(part.body);
    const body = sevenBit
      ? part.body
      : (
          Buffer.from(part.body, 'utf8')
            .toString('base64')
            .match(/.{1,76}/g) ?? []
        ).join('\n');
    const headers = [
      `Content-Type: ${part.contentType}; charset="utf-8"`,
      'MIME-Version: 1.0',
      `Content-Transfer-Encoding: ${sevenBit ? '7bit' : 'base64'}`,
      `Content-Disposition: attachment; filename="${part.filename}"`,
      ...(part.mergeType ? [`Merge-Type: ${part.mergeType}`] : []),
    ];
    // The line break before a delimiter belongs to the delimiter, not to the body.
    return { raw: part.body, text: `${headers.join('\n')}\n\n${body}\n` };
  });
  // Derived from the content, so the same input gives the same document; salted on a clash.
  const digest = createHash('sha256')
    .update(parts.map((p) => p.body).join('\0'))
    .digest('hex');
  let boundary = '';
  for (let salt = 0; ; salt++) {
    boundary = `berth-${createHash('sha256').update(`${digest}:${salt}`).digest('hex').slice(0, 24)}`;
    if (!encoded.some((p) => p.text.includes(boundary) || p.raw.includes(boundary))) break;
  }
  const head = `Content-Type: multipart/mixed; boundary="${boundary}"\nMIME-Version: 1.0\n\n`;
  return `${head}${encoded.map((p) => `--${boundary}\n${p.text}`).join('')}--${boundary}--\n`;
}

interface Headers {
  get(name: string): string | undefined;
}

function parseHeaders(block: string): Headers {
  const fields = new Map<string, string>();
  let last: string | undefined;
  for (const line of block.split('\n')) {
    if (/^[ \t]/.test(line) && last) {
      fields.set(last, `${fields.get(last)} ${line.trim()}`);
    } else if (line.includes(':')) {
      last = line.slice(0, line.indexOf(':')).trim().toLowerCase();
      fields.set(last, line.slice(line.indexOf(':') + 1).trim());
    }
  }
  return { get: (name) => fields.get(name.toLowerCase()) };
}

const headerParam = (value: string | undefined, name: string): string | undefined =>
  value === undefined
    ? undefined
    : new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^\\s;]+))`, 'i')
        .exec(value)
        ?.slice(1)
        .find((v) => v !== undefined);

/** Splits user-data into its parts, decoded; a plain `#cloud-config` or `#!` document is one part. */
export function parseUserDataParts(userData: string): UserDataPart[] {
  const text = userData.replace(/\r\n/g, '\n');
  const split = text.indexOf('\n\n');
  const top = parseHeaders(split < 0 ? '' : text.slice(0, split));
  const boundary = headerParam(top.get('content-type'), 'boundary');
  if (!top.get('mime-version') || !/^multipart\//i.test(top.get('content-type') ?? '') || !boundary) {
    const kind = userDataKind(userData);
    return [{ contentType: kind === 'cloud-config' ? 'text/cloud-config' : kind === 'shellscript' ? 'text/x-shellscript' : 'text/plain', body: userData }];
  }
  const delimiter = `\n--${boundary}`;
  const sections = `\n${text.slice(split + 2)}`.split(delimiter).slice(1);
  const parts: UserDataPart[] = [];
  for (const section of sections) {
    if (section.startsWith('--')) break;
    const content = section.slice(section.indexOf('\n') + 1);
    const end = content.indexOf('\n\n');
    const headers = parseHeaders(end < 0 ? content : content.slice(0, end));
    const raw = end < 0 ? '' : content.slice(end + 2);
    const encoding = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
    const body = encoding === 'base64' ? Buffer.from(raw.replace(/\s+/g, ''), 'base64').toString('utf8') : raw;
    const contentType = (headers.get('content-type') ?? 'text/plain').split(';')[0]!.trim().toLowerCase();
    const filename = headerParam(headers.get('content-disposition'), 'filename');
    parts.push({ contentType, ...(filename !== undefined && { filename }), body });
  }
  return parts;
}

interface WriteFile {
  path: string;
  content?: string;
}

/** The inverse of buildUserData: what a VM's bootstrap reads from its registration.env. */
export function readRegistrationEnv(userData: string): RegistrationInfo {
  let content: string | undefined;
  for (const part of parseUserDataParts(userData)) {
    if (part.contentType !== 'text/cloud-config') continue;
    const doc = parse(part.body) as { write_files?: WriteFile[] } | null;
    content = doc?.write_files?.find((f) => f.path === REGISTRATION_ENV_PATH)?.content;
    if (content !== undefined) break;
  }
  const value = (name: string) => {
    const found = new RegExp(`^${name}=(.+)$`, 'm').exec(content ?? '')?.[1];
    if (!found) throw new Error(`no ${name} in the user-data`);
    return found;
  };
  const interval = Number(/^BERTH_AGENT_INTERVAL=(\d+)$/m.exec(content ?? '')?.[1] ?? DEFAULT_HEARTBEAT_INTERVAL_S);
  return {
    registerUrl: value('BERTH_REGISTER_URL'),
    token: value('BERTH_REGISTER_TOKEN'),
    tenantId: value('BERTH_TENANT_ID'),
    hostname: value('BERTH_NODE_HOSTNAME'),
    heartbeatIntervalS: interval,
  };
}
