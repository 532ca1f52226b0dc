// Cluster → Add node: provider → token → region → plan → details → confirm → run → done,
// as in the seed's walkthrough. Each step's errors are shown in the step, in words.
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, describe, get, post, provisionWorkflowId } from '../api.js';
import { Alert, ConfirmDialog, describedBy, Field, Link, Loading, PhaseStepIcon, TemporalLink, useNow } from '../components.js';
import { forgetCatalogue, plans as loadPlans, providers as loadProviders, regions as loadRegions } from '../data.js';
import { cents, clock, disk, hourly, memory, money, plural, providerName, shortId } from '../format.js';
import { ArrowLeftIcon, CheckCircleIcon, CheckIcon, KeyIcon, SortIcon, XCircleIcon } from '../icons.js';
import { navigate } from '../router.js';
import { openStream } from '../sse.js';
import {
  FINAL_PHASES,
  type DryRun,
  type JobDetail,
  type NodeRequest,
  type Phase,
  type PhaseEvent,
  type Plan,
  type PlansAnswer,
  type ProviderStatus,
  type Region,
} from '../types.js';

type StepId = 'provider' | 'token' | 'region' | 'plan' | 'details' | 'confirm' | 'run';

const STEPS: { id: StepId; label: string }[] = [
  { id: 'provider', label: 'Provider' },
  { id: 'token', label: 'Token' },
  { id: 'region', label: 'Region' },
  { id: 'plan', label: 'Plan' },
  { id: 'details', label: 'Hostname & SSH key' },
  { id: 'confirm', label: 'Confirm' },
  { id: 'run', label: 'Progress' },
];

const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const SSH_KEY = /^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( [^\n]*)?$/;
const LABEL_KEY = /^[a-z0-9]([a-z0-9./_-]{0,62})$/;
const LABEL_VALUE = /^[A-Za-z0-9._-]{0,63}$/;

interface Draft {
  provider: ProviderStatus | null;
  region: Region | null;
  plan: Plan | null;
  hostname: string;
  sshKey: string;
  labels: string;
}

type FieldErrors = Partial<Record<'hostname' | 'ssh_key' | 'labels', string>>;

const needsToken = (p: ProviderStatus | null) => !!p && p.name !== 'local' && !(p.configured && !p.fingerprint);

function parseLabels(text: string): { labels: Record<string, string>; error?: string } {
  const labels: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    const value = eq < 0 ? '' : line.slice(eq + 1).trim();
    if (!LABEL_KEY.test(key)) return { labels, error: `“${key}” is not a label key: lowercase letters, digits and . / _ - (at most 63)` };
    if (!LABEL_VALUE.test(value)) return { labels, error: `the value of ${key} may hold letters, digits and . _ - only (at most 63)` };
    labels[key] = value;
  }
  return { labels };
}

/** The API's messages are lower-case clauses; on their own in the page they read as sentences. */
const sentence = (text: string) => text.charAt(0).toUpperCase() + text.slice(1).replace(/\.$/, '');

const ADMISSION_HINTS: Record<string, string> = {
  budget_exceeded: 'Delete a node, choose a cheaper plan, or raise the monthly budget (PUT /cluster/budget).',
  node_cap_reached: 'Delete a node first, or move the tenant to a tier with more nodes.',
  plan_required: 'This tier cannot provision nodes; the team and enterprise tiers can.',
};

function nodeRequest(d: Draft): NodeRequest {
  const { labels } = parseLabels(d.labels);
  return {
    provider: d.provider!.name,
    region: d.region!.name,
    plan: d.plan!.name,
    ...(d.hostname.trim() && { hostname: d.hostname.trim() }),
    ...(d.sshKey.trim() && { ssh_key: d.sshKey.trim() }),
    ...(Object.keys(labels).length > 0 && { labels }),
  };
}

/** Focus the step's first field (or its heading) when it appears, and say which step it is. */
function useStepFocus(ref: { current: HTMLElement | null }, ready = true) {
  const done = useRef(false);
  useEffect(() => {
    const root = ref.current;
    if (!root || done.current) return;
    // Until its data is there, the heading holds the focus; then the first field takes it.
    const first = ready ? root.querySelector<HTMLElement>('[data-autofocus], input:not([type=hidden]):not([disabled]), select, textarea') : null;
    if (first) done.current = true;
    if (first || document.activeElement === document.body || !root.contains(document.activeElement)) (first ?? root.querySelector<HTMLElement>('h2'))?.focus();
  }, [ready]);
}

function StepFrame({
  title,
  lede,
  children,
  onSubmit,
  id,
  ready = true,
}: {
  title: string;
  lede?: ComponentChildren;
  children: ComponentChildren;
  onSubmit?: () => void;
  id: StepId;
  ready?: boolean;
}) {
  const ref = useRef<HTMLFormElement>(null);
  useStepFocus(ref, ready);
  const submit = (e: Event) => {
    e.preventDefault();
    onSubmit?.();
  };
  // Enter on a radio button or a drop-down moves on too, like in a text field.
  const keydown = (e: KeyboardEvent) => {
    const target = e.target as HTMLInputElement;
    if (e.key === 'Enter' && (target.type === 'radio' || target.tagName === 'SELECT')) {
      e.preventDefault();
      ref.current?.requestSubmit();
    }
  };
  return (
    <form ref={ref} class="step" onSubmit={submit} onKeyDown={keydown} noValidate data-step={id} aria-labelledby={`step-${id}-title`}>
      <h2 id={`step-${id}-title`} tabIndex={-1}>
        {title}
      </h2>
      {lede && <p class="step-lede">{lede}</p>}
      {children}
    </form>
  );
}

function Actions({
  onBack,
  next = 'Next',
  busy = false,
  disabled = false,
  children,
}: {
  onBack?: () => void;
  next?: string | null;
  busy?: boolean;
  disabled?: boolean;
  children?: ComponentChildren;
}) {
  return (
    <div class="actions step-actions">
      {onBack && (
        <button type="button" class="button" onClick={onBack} disabled={busy}>
          <ArrowLeftIcon size={14} /> Back
        </button>
      )}
      {children}
      {next && (
        <button type="submit" class="button button-primary" disabled={busy || disabled} aria-disabled={busy || disabled ? 'true' : undefined}>
          {busy ? <span class="spinner" aria-hidden="true" /> : null}
          {next}
        </button>
      )}
    </div>
  );
}

/* ---------------------------------------------------------------- steps */

function ProviderStep({ draft, onNext }: { draft: Draft; onNext(p: ProviderStatus): void }) {
  const [list, setList] = useState<ProviderStatus[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [choice, setChoice] = useState<string>(draft.provider?.name ?? '');
  const [missing, setMissing] = useState(false);
  useEffect(() => {
    loadProviders()
      .then((l) => {
        setList(l);
        if (!choice && l.length) setChoice(l.find((p) => p.configured && p.name !== 'local')?.name ?? l[0]!.name);
      })
      .catch((e) => setError(describe(e)));
  }, []);
  const submit = () => {
    const p = list?.find((x) => x.name === choice);
    if (!p) return setMissing(true);
    onNext(p);
  };
  const status = (p: ProviderStatus) =>
    p.name === 'local'
      ? 'No token needed: VMs run as processes on the Berth host.'
      : p.fingerprint
        ? `Token stored (${p.fingerprint})`
        : p.configured
          ? 'Ready to use'
          : 'Needs an API token';
  return (
    <StepFrame
      id="provider"
      title="Where should the node run?"
      lede="Berth creates a VM at this provider, with cloud-init that registers it as a node."
      onSubmit={submit}
      ready={!!list}
    >
      {error && <Alert title="The providers could not be listed">{error}</Alert>}
      {!list && !error && <Loading label="Loading providers…" />}
      {list && (
        <fieldset class="choice-grid">
          <legend class="visually-hidden">Provider</legend>
          {list.map((p) => (
            <label class={`choice${choice === p.name ? ' choice-selected' : ''}`} key={p.name}>
              <input
                type="radio"
                name="provider"
                value={p.name}
                checked={choice === p.name}
                onChange={() => {
                  setChoice(p.name);
                  setMissing(false);
                }}
              />
              <span class="choice-title">{providerName(p.name)}</span>
              <span class="choice-note">
                {p.fingerprint && <KeyIcon size={13} />} {status(p)}
              </span>
            </label>
          ))}
        </fieldset>
      )}
      {missing && (
        <div class="field-error" role="alert">
          Choose a provider.
        </div>
      )}
      <Actions next="Next" disabled={!list} />
    </StepFrame>
  );
}

function TokenStep({ provider, onBack, onNext }: { provider: ProviderStatus; onBack(): void; onNext(p: ProviderStatus): void }) {
  const [another, setAnother] = useState(!provider.fingerprint);
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const name = providerName(provider.name);

  async function verify() {
    if (!another) return onNext(provider);
    const value = token.trim();
    if (!value) return setError(`Paste your ${name} API token.`);
    setBusy(true);
    setError(null);
    try {
      const res = await post<{ valid: true; fingerprint: string }>(`/cluster/providers/${provider.name}/verify`, { token: value });
      setToken('');
      forgetCatalogue(provider.name);
      onNext({ ...provider, configured: true, fingerprint: res.fingerprint });
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && err.code === 'invalid_token')
        setError(`${name} refused this token: ${err.message.replace(new RegExp(`^${provider.name}: `), '')}`);
      else if (err instanceof ApiError && err.status === 400) setError(`This is not a token ${name} could accept: ${err.message.replace(/^token: /, '')}.`);
      else if (err instanceof ApiError && err.status === 503) setError(`${name} did not answer the check. Nothing was stored; try again in a moment. (${err.message})`);
      else setError(describe(err));
    } finally {
      setBusy(false);
    }
  }

  const scopes =
    provider.name === 'hetzner'
      ? 'A token of the Hetzner Cloud project the servers go to (Security → API tokens), with Read & Write permission.'
      : 'A personal access token with full access, or the droplet, region, size, tag, SSH key and account scopes Berth needs.';

  return (
    <StepFrame
      id="token"
      title={`${name} API token`}
      lede="Berth checks the token with the provider, then stores it encrypted for this tenant. It is never shown again, here or anywhere."
      onSubmit={() => void verify()}
    >
      {!another ? (
        <div class="stored-token">
          <p>
            <KeyIcon size={16} /> A verified {name} token is stored: <strong class="mono">{provider.fingerprint}</strong>. Berth uses it by reference for this node.
          </p>
          <button type="button" class="link-button" onClick={() => setAnother(true)}>
            Use another token
          </button>
        </div>
      ) : (
        <>
          <Field id="token" label={`${name} API token`} hint={scopes} error={error}>
            <input
              id="token"
              name="provider-token"
              type="password"
              autoComplete="off"
              spellcheck={false}
              value={token}
              onInput={(e) => setToken(e.currentTarget.value)}
              {...describedBy('token', error)}
              disabled={busy}
              data-1p-ignore
            />
          </Field>
          {provider.fingerprint && (
            <button
              type="button"
              class="link-button"
              onClick={() => {
                setAnother(false);
                setError(null);
                setToken('');
              }}
            >
              Keep the stored token ({provider.fingerprint})
            </button>
          )}
        </>
      )}
      <Actions onBack={onBack} next={another ? (busy ? 'Verifying…' : 'Verify and continue') : 'Use this token'} busy={busy} />
    </StepFrame>
  );
}

function RegionStep({ draft, onBack, onNext, onAnotherToken }: { draft: Draft; onBack(): void; onNext(r: Region): void; onAnotherToken(): void }) {
  const provider = draft.provider!;
  const [list, setList] = useState<Region[] | null>(null);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [choice, setChoice] = useState(draft.region?.name ?? '');
  useEffect(() => {
    loadRegions(provider.name)
      .then((l) => {
        setList(l);
        if (!choice && l.length) setChoice(l[0]!.name);
      })
      .catch((e) => setError(e));
  }, []);
  const tokenProblem = error instanceof ApiError && error.code === 'provider_token_invalid';
  return (
    <StepFrame
      id="region"
      ready={!!list}
      title="Region"
      lede={`The ${providerName(provider.name)} locations this account can use.`}
      onSubmit={() => {
        const r = list?.find((x) => x.name === choice);
        if (r) onNext(r);
      }}
    >
      {error && (
        <Alert title={tokenProblem ? `${providerName(provider.name)} refused the stored token` : 'The regions could not be loaded'}>
          {describe(error)}{' '}
          {tokenProblem && (
            <button type="button" class="link-button" onClick={onAnotherToken}>
              Use another token
            </button>
          )}
        </Alert>
      )}
      {!list && !error && <Loading label="Loading regions…" />}
      {list && (
        <Field id="region" label="Region" hint={list.length === 0 ? 'This provider lists no region.' : plural(list.length, 'region')}>
          <select id="region" name="region" value={choice} onChange={(e) => setChoice(e.currentTarget.value)} {...describedBy('region', null)}>
            {list.map((r) => (
              <option value={r.name}>
                {r.name} — {r.description}
              </option>
            ))}
          </select>
        </Field>
      )}
      <Actions onBack={onBack} disabled={!list || list.length === 0} />
    </StepFrame>
  );
}

type SortKey = 'name' | 'vcpu' | 'memory_mb' | 'disk_gb' | 'arch' | 'price_monthly' | 'price_hourly';

function PlanStep({ draft, onBack, onNext }: { draft: Draft; onBack(): void; onNext(p: Plan): void }) {
  const provider = draft.provider!;
  const region = draft.region!;
  const [answer, setAnswer] = useState<PlansAnswer | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [choice, setChoice] = useState(draft.plan?.name ?? '');
  const [missing, setMissing] = useState(false);
  const [sort, setSort] = useState<{ key: SortKey; dir: 'asc' | 'desc' }>({ key: 'price_monthly', dir: 'asc' });
  useEffect(() => {
    loadPlans(provider.name, region.name)
      .then(setAnswer)
      .catch((e) => setError(describe(e)));
  }, []);
  const rows = useMemo(() => {
    const list = [...(answer?.plans ?? [])];
    const { key, dir } = sort;
    list.sort((a, b) => {
      const x = a[key];
      const y = b[key];
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return (dir === 'asc' ? c : -c) || a.price_monthly - b.price_monthly;
    });
    return list;
  }, [answer, sort]);
  const header = (key: SortKey, label: string, num = true) => {
    const active = sort.key === key;
    return (
      <th scope="col" class={num ? 'num' : undefined} aria-sort={active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
        <button type="button" class="sort" onClick={() => setSort({ key, dir: active && sort.dir === 'asc' ? 'desc' : 'asc' })}>
          {label}
          <SortIcon size={12} dir={active ? sort.dir : null} />
        </button>
      </th>
    );
  };
  return (
    <StepFrame
      id="plan"
      ready={!!answer}
      title="Plan"
      lede={`Server types ${providerName(provider.name)} offers in ${region.name}, with their prices there.`}
      onSubmit={() => {
        const p = answer?.plans.find((x) => x.name === choice);
        if (!p) return setMissing(true);
        onNext(p);
      }}
    >
      <Alert tone="info" title="Prices indicative. Confirm with provider.">
        {answer?.note && answer.note.charAt(0).toUpperCase() + answer.note.slice(1)}.
      </Alert>
      {error && <Alert title="The plans could not be loaded">{error}</Alert>}
      {!answer && !error && <Loading label="Loading plans…" />}
      {answer && answer.plans.length === 0 && <Alert tone="warn">No plan has a price in {region.name}. Go back and choose another region.</Alert>}
      {answer && answer.plans.length > 0 && (
        <div class="table-wrap">
          <table class="table plan-table" data-testid="plan-table">
            <caption class="visually-hidden">Plans in {region.name}; column headers sort the table</caption>
            <thead>
              <tr>
                <th scope="col">
                  <span class="visually-hidden">Choose</span>
                </th>
                {header('name', 'Plan', false)}
                {header('vcpu', 'vCPU')}
                {header('memory_mb', 'RAM')}
                {header('disk_gb', 'Disk')}
                {header('arch', 'Arch', false)}
                {header('price_monthly', 'Monthly')}
                {header('price_hourly', 'Hourly')}
              </tr>
            </thead>
            <tbody>
              {rows.map((p) => (
                <tr
                  key={p.name}
                  class={choice === p.name ? 'row-selected' : undefined}
                  onClick={() => {
                    setChoice(p.name);
                    setMissing(false);
                  }}
                >
                  <td>
                    <input
                      type="radio"
                      name="plan"
                      id={`plan-${p.name}`}
                      value={p.name}
                      checked={choice === p.name}
                      onChange={() => {
                        setChoice(p.name);
                        setMissing(false);
                      }}
                      aria-label={`${p.name}: ${p.vcpu} vCPU, ${memory(p.memory_mb)} RAM, ${disk(p.disk_gb)} disk, ${money(p.price_monthly, p.currency)} a month`}
                    />
                  </td>
                  <td>
                    <label for={`plan-${p.name}`} class="mono strong">
                      {p.name}
                    </label>
                  </td>
                  <td class="num">{p.vcpu}</td>
                  <td class="num">{memory(p.memory_mb)}</td>
                  <td class="num">{disk(p.disk_gb)}</td>
                  <td>{p.arch}</td>
                  <td class="num strong">{money(p.price_monthly, p.currency)}</td>
                  <td class="num muted">{hourly(p.price_hourly, p.currency)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {missing && (
        <div class="field-error" role="alert">
          Choose a plan.
        </div>
      )}
      <Actions onBack={onBack} disabled={!answer || answer.plans.length === 0} />
    </StepFrame>
  );
}

function DetailsStep({
  draft,
  errors: initial,
  onBack,
  onNext,
}: {
  draft: Draft;
  errors: FieldErrors;
  onBack(): void;
  onNext(d: Pick<Draft, 'hostname' | 'sshKey' | 'labels'>): void;
}) {
  const [hostname, setHostname] = useState(draft.hostname);
  const [sshKey, setSshKey] = useState(draft.sshKey);
  const [labels, setLabels] = useState(draft.labels);
  const [errors, setErrors] = useState<FieldErrors>(initial);
  const submit = () => {
    const next: FieldErrors = {};
    if (hostname.trim() && !HOSTNAME.test(hostname.trim())) next.hostname = 'A host name is letters, digits and dashes (at most 63), not starting or ending with a dash.';
    if (sshKey.trim() && !SSH_KEY.test(sshKey.trim())) next.ssh_key = 'This is not an OpenSSH public key (it starts with ssh-ed25519, ssh-rsa, ecdsa-sha2-… and has one line).';
    const parsed = parseLabels(labels);
    if (parsed.error) next.labels = parsed.error;
    setErrors(next);
    if (Object.keys(next).length === 0) onNext({ hostname: hostname.trim(), sshKey: sshKey.trim(), labels });
  };
  return (
    <StepFrame id="details" title="Hostname and SSH key" lede="Both are optional." onSubmit={submit}>
      <Field id="hostname" label="Hostname" optional hint="Without one, the VM is named after its job (berth-<job id>)." error={errors.hostname}>
        <input
          id="hostname"
          name="hostname"
          type="text"
          autoComplete="off"
          spellcheck={false}
          value={hostname}
          placeholder="worker-1"
          onInput={(e) => setHostname(e.currentTarget.value)}
          {...describedBy('hostname', errors.hostname)}
        />
      </Field>
      <Field
        id="ssh_key"
        label="SSH public key"
        optional
        hint="For break-glass console access. Berth adds it to the provider account once and puts it on the VM."
        error={errors.ssh_key}
      >
        <textarea
          id="ssh_key"
          name="ssh_key"
          rows={3}
          spellcheck={false}
          value={sshKey}
          placeholder="ssh-ed25519 AAAA… you@laptop"
          onInput={(e) => setSshKey(e.currentTarget.value)}
          {...describedBy('ssh_key', errors.ssh_key)}
        />
      </Field>
      <details class="advanced" open={!!errors.labels || !!labels.trim()}>
        <summary>Advanced</summary>
        <Field
          id="labels"
          label="Labels"
          optional
          hint="One key=value a line, put on the VM. berth.dev/simulate=never-register makes a local VM that never calls back."
          error={errors.labels}
        >
          <textarea
            id="labels"
            name="labels"
            rows={3}
            spellcheck={false}
            value={labels}
            placeholder="team=web"
            onInput={(e) => setLabels(e.currentTarget.value)}
            {...describedBy('labels', errors.labels)}
          />
        </Field>
      </details>
      <Actions onBack={onBack} next="Review" />
    </StepFrame>
  );
}

function ConfirmStep({
  draft,
  onBack,
  onFieldError,
  onStarted,
}: {
  draft: Draft;
  onBack(): void;
  onFieldError(errors: FieldErrors): void;
  onStarted(jobId: string, startedAt: number): void;
}) {
  const [preview, setPreview] = useState<DryRun | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [runError, setRunError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const body = useMemo(() => nodeRequest(draft), [draft]);
  // One key per confirmed request: a double click or a retry after a lost answer is the same job.
  const idempotencyKey = useMemo(() => `console-${crypto.randomUUID()}`, [draft]);

  const fieldError = (err: unknown): boolean => {
    if (!(err instanceof ApiError) || !err.field) return false;
    const field = err.field.startsWith('labels') ? 'labels' : err.field;
    if (field === 'hostname' || field === 'ssh_key' || field === 'labels') {
      onFieldError({ [field]: err.message });
      return true;
    }
    return false;
  };

  useEffect(() => {
    post<DryRun>('/cluster/nodes?dry_run=true', body)
      .then(setPreview)
      .catch((err) => {
        if (!fieldError(err)) setError(describe(err));
      });
  }, []);

  async function run() {
    if (!preview?.admission.allowed) return;
    setBusy(true);
    setRunError(null);
    try {
      const started = Date.now();
      const res = await post<{ job_id: string }>('/cluster/nodes', body, { headers: { 'Idempotency-Key': idempotencyKey } });
      onStarted(res.job_id, started);
    } catch (err) {
      if (!fieldError(err)) setRunError(describe(err));
      setBusy(false);
    }
  }

  const plan = preview?.plan ?? draft.plan!;
  const cost = preview ? money(preview.monthly_cost.amount, preview.monthly_cost.currency) : money(plan.price_monthly, plan.currency);
  const eta = draft.provider!.name === 'local' ? '~1 min' : '~3 min';
  const admission = preview?.admission;
  const budget = preview?.budget;
  const labels = preview ? Object.entries(preview.would_create.labels) : [];
  return (
    <StepFrame id="confirm" title="Confirm" onSubmit={() => void run()} ready={false}>
      {error && <Alert title="Berth cannot make this node">{error}</Alert>}
      {!preview && !error && <Loading label="Checking the request with Berth (nothing is created)…" />}
      {preview && (
        <>
          <p class="preview-sentence" data-testid="preview-sentence">
            We will create a <strong class="mono">{plan.name}</strong> VM in <strong class="mono">{preview.would_create.region}</strong> for ~{cost}/mo. Provisioning will take{' '}
            {eta}.
          </p>
          <dl class="facts">
            <dt>Provider</dt>
            <dd>{providerName(preview.would_create.provider)}</dd>
            <dt>Region</dt>
            <dd>
              {draft.region!.name} <span class="muted">— {draft.region!.description}</span>
            </dd>
            <dt>Plan</dt>
            <dd>
              <span class="mono">{plan.name}</span>: {plan.vcpu} vCPU, {memory(plan.memory_mb)} RAM, {disk(plan.disk_gb)} disk, {plan.arch}
            </dd>
            <dt>Hostname</dt>
            <dd>{preview.would_create.hostname ?? <span class="muted">named after the job (berth-&lt;job id&gt;)</span>}</dd>
            <dt>SSH key</dt>
            <dd class="truncate">{draft.sshKey ? draft.sshKey.split(' ').slice(0, 1).concat(draft.sshKey.split(' ').slice(2)).join(' … ') : <span class="muted">none</span>}</dd>
            {labels.length > 0 && (
              <>
                <dt>Labels</dt>
                <dd class="mono">{labels.map(([k, v]) => `${k}=${v}`).join(', ')}</dd>
              </>
            )}
            <dt>Monthly cost</dt>
            <dd>
              ~{cost} <span class="muted">(indicative; the provider's invoice is authoritative)</span>
            </dd>
            <dt>Budget after it</dt>
            <dd data-testid="budget-after">
              {budget!.monthly_cents === null ? (
                'No monthly budget is set.'
              ) : budget!.remaining_after_cents! >= 0 ? (
                <>
                  {cents(budget!.remaining_after_cents!)} of {cents(budget!.monthly_cents)} left this month
                </>
              ) : (
                <>
                  {cents(-budget!.remaining_after_cents!)} over the {cents(budget!.monthly_cents)} monthly budget
                </>
              )}
            </dd>
          </dl>
          {admission?.allowed ? (
            <Alert tone="ok" title="Admitted">
              Your tier, node cap and budget allow this node.
            </Alert>
          ) : (
            <Alert tone="bad" title="Berth would refuse this node" id="admission-refusal">
              {sentence(admission?.message ?? '')}. {ADMISSION_HINTS[admission?.code ?? ''] ?? ''}
            </Alert>
          )}
        </>
      )}
      {runError && <Alert title="The node was not started">{runError}</Alert>}
      <Actions onBack={onBack} next={busy ? 'Starting…' : 'Run'} busy={busy} disabled={!preview || !admission?.allowed} />
    </StepFrame>
  );
}

/* ------------------------------------------------------------- progress */

const RUN_PHASES: { phase: Phase; label: string; note: string }[] = [
  { phase: 'provisioning', label: 'Provisioning', note: 'Creating the VM at the provider' },
  { phase: 'bootstrapping', label: 'Bootstrapping', note: 'The VM boots and runs cloud-init' },
  { phase: 'registering', label: 'Registering', note: 'The node called back; binding it to the tenant' },
  { phase: 'ready', label: 'Ready', note: 'The node is part of the cluster' },
];
const ORDER: Phase[] = ['queued', 'verifying', 'provisioning', 'bootstrapping', 'registering', 'ready'];

function RunStep({ jobId, startedAt, draft, onEnd }: { jobId: string; startedAt: number; draft: Draft; onEnd(job: JobDetail): void }) {
  const [seen, setSeen] = useState<Map<Phase, string>>(new Map());
  const [current, setCurrent] = useState<Phase>('queued');
  const [cancel, setCancel] = useState<'closed' | 'open' | 'busy'>('closed');
  const [cancelError, setCancelError] = useState<string | null>(null);
  const [streamNote, setStreamNote] = useState<string | null>(null);
  const now = useNow(1000);
  const ref = useRef<HTMLDivElement>(null);
  useStepFocus(ref);

  useEffect(() => {
    let done = false;
    const finish = async () => {
      if (done) return;
      done = true;
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          onEnd(await get<JobDetail>(`/cluster/jobs/${jobId}`));
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    };
    const close = openStream(`/cluster/jobs/${jobId}/events`, {
      isLast: (_e, d) => FINAL_PHASES.has((d as PhaseEvent).phase),
      onEvent: (event, d) => {
        if (event !== 'phase') return;
        const e = d as PhaseEvent;
        setStreamNote(null);
        setSeen((m) => new Map(m).set(e.phase, e.at));
        setCurrent(e.phase);
      },
      onEnd: () => void finish(),
      onError: () => setStreamNote('The live stream dropped; reconnecting…'),
    });
    return close;
  }, [jobId]);

  const failedPath = current === 'decommissioning' || current === 'failed' || current === 'cancelled';
  const last = [...RUN_PHASES].reverse().find((p) => seen.has(p.phase))?.phase;
  const stateOf = (phase: Phase): 'done' | 'current' | 'pending' | 'failed' => {
    if (failedPath) return phase === last ? 'failed' : seen.has(phase) ? 'done' : 'pending';
    if (phase === 'ready' && seen.has('ready')) return 'done';
    if (phase === current) return 'current';
    if (seen.has(phase) || ORDER.indexOf(phase) < ORDER.indexOf(current)) return 'done';
    return 'pending';
  };
  const since = (at: string | undefined) => (at ? `+${clock(Date.parse(at) - startedAt)}` : '');
  const status =
    current === 'queued' || current === 'verifying'
      ? 'Checking the provider credentials…'
      : current === 'decommissioning'
        ? 'Cleaning up: deleting the VM and revoking its token…'
        : (RUN_PHASES.find((p) => p.phase === current)?.note ?? current);

  async function doCancel() {
    setCancel('busy');
    setCancelError(null);
    try {
      await post(`/cluster/jobs/${jobId}/cancel`);
      setCancel('closed');
    } catch (err) {
      setCancelError(describe(err));
      setCancel('open');
    }
  }

  return (
    <div class="step" ref={ref} data-step="run">
      <h2 tabIndex={-1} id="step-run-title">
        Adding {draft.hostname || 'the node'}
      </h2>
      <p class="step-lede">
        Job <span class="mono">{shortId(jobId)}</span> · {providerName(draft.provider!.name)} {draft.plan!.name} in {draft.region!.name} ·{' '}
        <TemporalLink workflowId={provisionWorkflowId(jobId)} label="Open in Temporal" />
      </p>
      <div class="elapsed" aria-live="off">
        <span class="elapsed-label">Elapsed</span>
        <span class="elapsed-value" data-testid="elapsed">
          {clock(now - startedAt)}
        </span>
      </div>
      <ol class="phases" aria-label="Progress">
        {RUN_PHASES.map((p) => {
          const state = stateOf(p.phase);
          return (
            <li class={`phase phase-${state}`} data-phase={p.phase} data-state={state} aria-current={state === 'current' ? 'step' : undefined}>
              <PhaseStepIcon state={state} />
              <div class="phase-text">
                <span class="phase-label">{p.label}</span>
                <span class="phase-note">{p.note}</span>
              </div>
              <span class="phase-time">{state === 'done' || state === 'failed' ? since(seen.get(p.phase)) : state === 'current' ? 'in progress' : 'waiting'}</span>
            </li>
          );
        })}
      </ol>
      <p class="run-status" role="status" aria-live="polite" data-testid="run-status">
        {status}
      </p>
      {streamNote && <Alert tone="warn">{streamNote}</Alert>}
      <div class="actions step-actions">
        <button type="button" class="button" onClick={() => navigate('/cluster')}>
          Back to the cluster (the job goes on)
        </button>
        {!failedPath && (
          <button type="button" class="button button-danger-quiet" onClick={() => setCancel('open')}>
            Cancel job
          </button>
        )}
      </div>
      {cancel !== 'closed' && (
        <ConfirmDialog
          title="Cancel this job?"
          confirmLabel="Cancel job"
          busy={cancel === 'busy'}
          error={cancelError}
          onConfirm={() => void doCancel()}
          onCancel={() => {
            setCancel('closed');
            setCancelError(null);
          }}
        >
          <p>Berth stops making the node, deletes its VM and revokes its registration token.</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function ResultStep({ job, startedAt, onAgain, onRetry }: { job: JobDetail; startedAt: number; onAgain(): void; onRetry(): void }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => ref.current?.querySelector<HTMLElement>('h2')?.focus(), []);
  const ok = job.phase === 'ready';
  const readyAt = job.progress.find((p) => p.phase === 'ready')?.at;
  if (ok) {
    return (
      <div class="step result result-ok" ref={ref} data-step="done" data-testid="wizard-done">
        <div class="result-icon result-icon-ok">
          <CheckCircleIcon size={56} />
        </div>
        <h2 tabIndex={-1}>{job.hostname ?? 'The node'} is ready</h2>
        <p>
          Node <span class="mono">{job.node_id}</span> registered and joined the cluster{readyAt ? ` in ${clock(Date.parse(readyAt) - startedAt)}` : ''}. Its VM is{' '}
          <span class="mono">{job.vm_id}</span> at {providerName(job.provider)}.
        </p>
        <div class="actions">
          <Link href={`/cluster/nodes/${job.node_id}`} class="button button-primary">
            Open node detail
          </Link>
          <button type="button" class="button" onClick={onAgain}>
            Add another node
          </button>
          <Link href="/cluster" class="button button-quiet">
            Back to the cluster
          </Link>
        </div>
      </div>
    );
  }
  const cancelled = job.phase === 'cancelled';
  const cleaned = job.progress.some((p) => p.phase === 'decommissioning');
  return (
    <div class="step result result-bad" ref={ref} data-step="failed" data-testid="wizard-failed">
      <div class="result-icon result-icon-bad">
        <XCircleIcon size={56} />
      </div>
      <h2 tabIndex={-1}>{cancelled ? 'The job was cancelled' : 'The node could not be added'}</h2>
      <div class="result-reason">
        <strong>Reason:</strong> <span data-testid="failure-reason">{job.error ?? (cancelled ? 'cancelled on request' : 'unknown')}</span>
      </div>
      <div class="cleanup" data-testid="cleanup">
        <strong>Cleaned up:</strong>{' '}
        {job.vm_id
          ? `the VM ${job.vm_id} was deleted at ${providerName(job.provider)} and the node's registration token revoked.`
          : cleaned
            ? `any VM made for the job was deleted at ${providerName(job.provider)} and its registration token revoked.`
            : 'nothing had been created.'}{' '}
        Nothing is left running, and the job no longer counts against your cap or budget.
      </div>
      <div class="actions">
        <button type="button" class="button button-primary" onClick={onRetry}>
          Try again
        </button>
        <Link href={`/cluster/jobs/${job.job_id}`} class="button">
          Job detail
        </Link>
        <Link href="/cluster" class="button button-quiet">
          Back to the cluster
        </Link>
      </div>
    </div>
  );
}

/* --------------------------------------------------------------- wizard */

const EMPTY: Draft = { provider: null, region: null, plan: null, hostname: '', sshKey: '', labels: '' };

export function WizardPage() {
  const [step, setStep] = useState<StepId>('provider');
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const [run, setRun] = useState<{ jobId: string; startedAt: number } | null>(null);
  const [result, setResult] = useState<JobDetail | null>(null);
  const [announce, setAnnounce] = useState('');
  const [confirmKey, setConfirmKey] = useState(0);

  const skipToken = !needsToken(draft.provider);
  const steps = STEPS.filter((s) => s.id !== 'token' || !skipToken);
  const index = steps.findIndex((s) => s.id === step);

  const go = (next: StepId) => {
    setStep(next);
    const i = steps.findIndex((s) => s.id === next);
    const label = STEPS.find((s) => s.id === next)!.label;
    setAnnounce(`Step ${i + 1} of ${steps.length}: ${label}`);
  };
  useEffect(() => {
    document.title = 'Add node · Berth';
  }, []);

  const update = (patch: Partial<Draft>) => setDraft((d) => ({ ...d, ...patch }));

  let body: JSX.Element;
  if (result && run) {
    body = (
      <ResultStep
        job={result}
        startedAt={run.startedAt}
        onAgain={() => {
          setResult(null);
          setRun(null);
          setDraft({ ...EMPTY, provider: draft.provider });
          go('provider');
        }}
        onRetry={() => {
          setResult(null);
          setRun(null);
          setConfirmKey((k) => k + 1);
          go('confirm');
        }}
      />
    );
  } else if (step === 'provider') {
    body = (
      <ProviderStep
        draft={draft}
        onNext={(p) => {
          const changed = p.name !== draft.provider?.name;
          update({ provider: p, ...(changed && { region: null, plan: null }) });
          go(needsToken(p) ? 'token' : 'region');
        }}
      />
    );
  } else if (step === 'token') {
    body = (
      <TokenStep
        provider={draft.provider!}
        onBack={() => go('provider')}
        onNext={(p) => {
          update({ provider: p });
          go('region');
        }}
      />
    );
  } else if (step === 'region') {
    body = (
      <RegionStep
        draft={draft}
        onBack={() => go(skipToken ? 'provider' : 'token')}
        onAnotherToken={() => {
          update({ provider: { name: draft.provider!.name, configured: false } });
          go('token');
        }}
        onNext={(r) => {
          update({ region: r, ...(r.name !== draft.region?.name && { plan: null }) });
          go('plan');
        }}
      />
    );
  } else if (step === 'plan') {
    body = (
      <PlanStep
        draft={draft}
        onBack={() => go('region')}
        onNext={(p) => {
          update({ plan: p });
          go('details');
        }}
      />
    );
  } else if (step === 'details') {
    body = (
      <DetailsStep
        draft={draft}
        errors={fieldErrors}
        onBack={() => go('plan')}
        onNext={(d) => {
          setFieldErrors({});
          update(d);
          setConfirmKey((k) => k + 1);
          go('confirm');
        }}
      />
    );
  } else if (step === 'confirm') {
    body = (
      <ConfirmStep
        key={confirmKey}
        draft={draft}
        onBack={() => go('details')}
        onFieldError={(errors) => {
          setFieldErrors(errors);
          go('details');
        }}
        onStarted={(jobId, startedAt) => {
          setRun({ jobId, startedAt });
          go('run');
        }}
      />
    );
  } else {
    body = <RunStep jobId={run!.jobId} startedAt={run!.startedAt} draft={draft} onEnd={setResult} />;
  }

  const doneOk = result?.phase === 'ready';
  return (
    <div class="page wizard">
      <header class="page-header">
        <div>
          <p class="breadcrumb">
            <Link href="/cluster">Cluster</Link> <span aria-hidden="true">›</span> Add node
          </p>
          <h1 tabIndex={-1} data-page-title>
            Add node
          </h1>
        </div>
      </header>
      <div class="visually-hidden" aria-live="polite" role="status">
        {announce}
      </div>
      <div class="wizard-layout">
        <nav aria-label="Wizard steps" class="stepper">
          <ol>
            {steps.map((s, i) => {
              const state = result ? (doneOk || s.id !== 'run' ? 'done' : 'failed') : i < index ? 'done' : i === index ? 'current' : 'pending';
              const canGoBack = !run && state === 'done';
              const content = (
                <>
                  <span class="stepper-mark" aria-hidden="true">
                    {state === 'done' ? <CheckIcon size={14} /> : state === 'failed' ? <XCircleIcon size={14} /> : i + 1}
                  </span>
                  <span class="stepper-label">
                    {s.label}
                    <span class="visually-hidden">{state === 'done' ? ' (done)' : state === 'current' ? ' (current step)' : state === 'failed' ? ' (failed)' : ''}</span>
                  </span>
                </>
              );
              return (
                <li class={`stepper-item stepper-${state}`} aria-current={state === 'current' ? 'step' : undefined} key={s.id}>
                  {canGoBack ? (
                    <button type="button" class="stepper-button" onClick={() => go(s.id)}>
                      {content}
                    </button>
                  ) : (
                    <span class="stepper-button">{content}</span>
                  )}
                </li>
              );
            })}
          </ol>
          {skipToken && draft.provider && <p class="stepper-note">{providerName(draft.provider.name)} needs no token.</p>}
        </nav>
        <div class="card wizard-card">{body}</div>
      </div>
    </div>
  );
}
