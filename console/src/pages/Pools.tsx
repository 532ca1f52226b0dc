// Node pools: the list, the create form (the API's field errors next to each field), and a
// pool's page with its nodes, CPU, the decision log (live) and desired/min/max editing.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, describe, get, post, request } from '../api.js';
import { Alert, ConfirmDialog, describedBy, Empty, Field, Link, Loading, StatusBadge, TemporalLink, useNow } from '../components.js';
import { plans as loadPlans, providers as loadProviders, regions as loadRegions } from '../data.js';
import { age, memory, money, plural, providerName, time } from '../format.js';
import { PlusIcon, TrashIcon } from '../icons.js';
import { navigate } from '../router.js';
import { openStream } from '../sse.js';
import type { ClusterNode, Plan, Pool, PoolDecision, ProviderStatus, Region } from '../types.js';

const cpu = (v: number | null) => (v === null ? 'no samples yet' : `${Math.round(v * 100)}%`);

function PoolState({ pool }: { pool: Pool }) {
  return <StatusBadge status={pool.state} />;
}

export function PoolsPage() {
  const [pools, setPools] = useState<Pool[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const refresh = useCallback(() => {
    get<{ pools: Pool[] }>('/cluster/pools')
      .then((r) => {
        setPools(r.pools);
        setError(null);
      })
      .catch((e) => setError(describe(e)));
  }, []);
  useEffect(() => {
    document.title = 'Pools · Berth';
    refresh();
    const timer = setInterval(() => document.visibilityState === 'visible' && refresh(), 10_000);
    return () => clearInterval(timer);
  }, [refresh]);
  return (
    <div class="page">
      <header class="page-header">
        <div>
          <h1 tabIndex={-1} data-page-title>
            Pools
          </h1>
          <p class="page-lede">Groups of identical nodes that keep themselves between a minimum and a maximum.</p>
        </div>
        <Link href="/pools/new" class="button button-primary">
          <PlusIcon /> Create pool
        </Link>
      </header>
      {error && <Alert title="The pools could not be loaded">{error}</Alert>}
      {!pools && !error && <Loading />}
      {pools && pools.length === 0 && (
        <Empty>
          No pools yet. <Link href="/pools/new">Create one</Link>.
        </Empty>
      )}
      {pools && pools.length > 0 && (
        <div class="table-wrap">
          <table class="table" data-testid="pools-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Template</th>
                <th scope="col" class="num">
                  Ready / desired
                </th>
                <th scope="col" class="num">
                  Min–max
                </th>
                <th scope="col" class="num">
                  CPU
                </th>
                <th scope="col">State</th>
                <th scope="col">Last action</th>
                <th scope="col">
                  <span class="visually-hidden">Links</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {pools.map((p) => (
                <tr data-pool={p.name}>
                  <td>
                    <Link href={`/pools/${p.name}`} class="strong">
                      {p.name}
                    </Link>
                  </td>
                  <td>
                    {providerName(p.template.provider)} · {p.template.region} · <span class="mono">{p.template.plan}</span>
                  </td>
                  <td class="num">
                    {p.nodes.ready} / {p.desired}
                  </td>
                  <td class="num">
                    {p.min}–{p.max}
                  </td>
                  <td class="num">{cpu(p.cpu_average)}</td>
                  <td>
                    <PoolState pool={p} />
                    {p.conditions.map((c) => (
                      <StatusBadge status={c.reason} tone="warn" />
                    ))}
                  </td>
                  <td class="muted">{p.last_action ? `${p.last_action.kind}: ${p.last_action.reason}` : '—'}</td>
                  <td class="row-actions">
                    <TemporalLink workflowId={p.workflow_id} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

/* ------------------------------------------------------------- create */

type Errors = Record<string, string>;

/** The API names fields as `template.plan`, `autoscaling.scale_in_cpu`; the form's ids follow. */
const fieldId = (field: string) => `pool-${field.replace(/\./g, '-')}`;

function ErrorField(props: { field: string; label: string; errors: Errors; hint?: ComponentChildren; optional?: boolean; children: ComponentChildren }) {
  return (
    <Field id={fieldId(props.field)} label={props.label} error={props.errors[props.field]} hint={props.hint} optional={props.optional}>
      {props.children}
    </Field>
  );
}

export function PoolNewPage() {
  const [providerList, setProviders] = useState<ProviderStatus[]>([]);
  const [regionList, setRegions] = useState<Region[]>([]);
  const [planList, setPlans] = useState<Plan[]>([]);
  const [catalogueError, setCatalogueError] = useState<string | null>(null);
  const [form, setForm] = useState({
    name: '',
    provider: 'local',
    region: '',
    plan: '',
    min: '1',
    max: '3',
    desired: '',
    autoscaling: false,
    scale_out_cpu: '0.7',
    scale_in_cpu: '0.2',
    window: '2m',
    cooldown: '3m',
    evaluation_interval: '',
  });
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);
  const set = (key: keyof typeof form, value: string | boolean) => setForm((f) => ({ ...f, [key]: value }));

  useEffect(() => {
    document.title = 'Create pool · Berth';
    formRef.current?.querySelector<HTMLInputElement>('input')?.focus();
    loadProviders()
      .then((l) => setProviders(l.filter((p) => p.configured)))
      .catch((e) => setCatalogueError(describe(e)));
  }, []);
  useEffect(() => {
    setRegions([]);
    loadRegions(form.provider)
      .then((r) => {
        setRegions(r);
        setCatalogueError(null);
        setForm((f) => ({ ...f, region: r.some((x) => x.name === f.region) ? f.region : (r[0]?.name ?? '') }));
      })
      .catch((e) => setCatalogueError(describe(e)));
  }, [form.provider]);
  useEffect(() => {
    if (!form.region) return;
    setPlans([]);
    loadPlans(form.provider, form.region)
      .then((r) => {
        setPlans(r.plans);
        setForm((f) => ({ ...f, plan: r.plans.some((x) => x.name === f.plan) ? f.plan : ([...r.plans].sort((a, b) => a.price_monthly - b.price_monthly)[0]?.name ?? '') }));
      })
      .catch((e) => setCatalogueError(describe(e)));
  }, [form.provider, form.region]);

  const num = (v: string) => (v.trim() === '' ? undefined : Number(v));

  async function submit(e: Event) {
    e.preventDefault();
    const local: Errors = {};
    if (!form.name.trim()) local.name = 'Give the pool a name.';
    for (const key of ['min', 'max'] as const) if (form[key].trim() === '' || !Number.isInteger(Number(form[key]))) local[key] = 'A whole number.';
    if (Object.keys(local).length) {
      setErrors(local);
      focusFirst(local);
      return;
    }
    const body = {
      name: form.name.trim(),
      template: { provider: form.provider, region: form.region, plan: form.plan },
      min: num(form.min),
      max: num(form.max),
      ...(form.desired.trim() && { desired: num(form.desired) }),
      ...(form.autoscaling && {
        autoscaling: { scale_out_cpu: num(form.scale_out_cpu), scale_in_cpu: num(form.scale_in_cpu), window: form.window, cooldown: form.cooldown },
      }),
      ...(form.evaluation_interval.trim() && { evaluation_interval: form.evaluation_interval.trim() }),
    };
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      const pool = await post<Pool>('/cluster/pools', body);
      navigate(`/pools/${pool.name}`);
    } catch (err) {
      if (err instanceof ApiError && err.field && document.getElementById(fieldId(err.field))) {
        const next = { [err.field]: err.message };
        setErrors(next);
        focusFirst(next);
      } else setGeneral(describe(err));
    } finally {
      setBusy(false);
    }
  }

  function focusFirst(errs: Errors) {
    const first = Object.keys(errs)[0];
    if (first) setTimeout(() => document.getElementById(fieldId(first))?.focus(), 0);
  }

  const input = (field: keyof typeof form, props: Record<string, unknown> = {}) => {
    const id = fieldId(field);
    return (
      <input
        id={id}
        name={field}
        value={form[field] as string}
        onInput={(e) => set(field, e.currentTarget.value)}
        autoComplete="off"
        {...describedBy(id, errors[field], false)}
        {...props}
      />
    );
  };

  return (
    <div class="page">
      <header class="page-header">
        <div>
          <p class="breadcrumb">
            <Link href="/pools">Pools</Link> <span aria-hidden="true">›</span> Create
          </p>
          <h1 tabIndex={-1}>Create pool</h1>
        </div>
      </header>
      <form class="card form" ref={formRef} onSubmit={(e) => void submit(e)} noValidate data-testid="pool-form">
        {general && <Alert title="The pool was not created">{general}</Alert>}
        <ErrorField field="name" label="Name" errors={errors} hint="A DNS label: lowercase letters, digits and dashes, at most 40. Nodes are named <pool>-<id>.">
          {input('name', { spellcheck: false, placeholder: 'web' })}
        </ErrorField>
        <fieldset class="form-group">
          <legend>Node template</legend>
          {catalogueError && <Alert tone="warn">{catalogueError}</Alert>}
          <div class="form-row">
            <ErrorField field="template.provider" label="Provider" errors={errors}>
              <select
                id={fieldId('template.provider')}
                value={form.provider}
                onChange={(e) => set('provider', e.currentTarget.value)}
                {...describedBy(fieldId('template.provider'), errors['template.provider'], false)}
              >
                {(providerList.length ? providerList : [{ name: 'local', configured: true }]).map((p) => (
                  <option value={p.name}>{providerName(p.name)}</option>
                ))}
              </select>
            </ErrorField>
            <ErrorField field="template.region" label="Region" errors={errors}>
              <select
                id={fieldId('template.region')}
                value={form.region}
                onChange={(e) => set('region', e.currentTarget.value)}
                {...describedBy(fieldId('template.region'), errors['template.region'], false)}
              >
                {regionList.map((r) => (
                  <option value={r.name}>
                    {r.name} — {r.description}
                  </option>
                ))}
              </select>
            </ErrorField>
            <ErrorField field="template.plan" label="Plan" errors={errors}>
              <select
                id={fieldId('template.plan')}
                value={form.plan}
                onChange={(e) => set('plan', e.currentTarget.value)}
                {...describedBy(fieldId('template.plan'), errors['template.plan'], false)}
              >
                {planList.map((p) => (
                  <option value={p.name}>
                    {p.name} — {p.vcpu} vCPU, {memory(p.memory_mb)}, {money(p.price_monthly, p.currency)}/mo
                  </option>
                ))}
              </select>
            </ErrorField>
          </div>
        </fieldset>
        <fieldset class="form-group">
          <legend>Size</legend>
          <div class="form-row">
            <ErrorField field="min" label="Minimum" errors={errors}>
              {input('min', { type: 'number', min: 0, inputMode: 'numeric' })}
            </ErrorField>
            <ErrorField field="max" label="Maximum" errors={errors}>
              {input('max', { type: 'number', min: 1, inputMode: 'numeric' })}
            </ErrorField>
            <ErrorField field="desired" label="Desired" errors={errors} optional hint="Defaults to the minimum.">
              {input('desired', { type: 'number', min: 0, inputMode: 'numeric' })}
            </ErrorField>
          </div>
        </fieldset>
        <fieldset class="form-group">
          <legend>Autoscaling</legend>
          <label class="checkbox">
            <input type="checkbox" checked={form.autoscaling} onChange={(e) => set('autoscaling', e.currentTarget.checked)} /> Scale on the nodes' CPU
          </label>
          {form.autoscaling && (
            <div class="form-row">
              <ErrorField field="autoscaling.scale_out_cpu" label="Scale out above" errors={errors} hint="CPU share, 0–1">
                {input('scale_out_cpu', { type: 'number', step: '0.05', min: 0, max: 1 })}
              </ErrorField>
              <ErrorField field="autoscaling.scale_in_cpu" label="Scale in below" errors={errors} hint="CPU share, 0–1">
                {input('scale_in_cpu', { type: 'number', step: '0.05', min: 0, max: 1 })}
              </ErrorField>
              <ErrorField field="autoscaling.window" label="Window" errors={errors} hint="e.g. 2m">
                {input('window')}
              </ErrorField>
              <ErrorField field="autoscaling.cooldown" label="Cooldown" errors={errors} hint="e.g. 3m">
                {input('cooldown')}
              </ErrorField>
            </div>
          )}
        </fieldset>
        <ErrorField field="evaluation_interval" label="Evaluation interval" errors={errors} optional hint="How often the pool looks at itself: 15s, 1m… (default 30s)">
          {input('evaluation_interval', { placeholder: '30s' })}
        </ErrorField>
        <div class="actions">
          <Link href="/pools" class="button">
            Cancel
          </Link>
          <button type="submit" class="button button-primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create pool'}
          </button>
        </div>
      </form>
    </div>
  );
}

/* ------------------------------------------------------------- detail */

export function PoolDetailPage({ name }: { name: string }) {
  const [pool, setPool] = useState<Pool | null>(null);
  const [nodes, setNodes] = useState<ClusterNode[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [decisions, setDecisions] = useState<PoolDecision[]>([]);
  const [gone, setGone] = useState(false);
  const [edit, setEdit] = useState({ desired: '', min: '', max: '' });
  const [editErrors, setEditErrors] = useState<Errors>({});
  const [editNote, setEditNote] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const now = useNow(15_000);

  const refresh = useCallback(async () => {
    try {
      const [p, n] = await Promise.all([get<Pool>(`/cluster/pools/${name}`), get<{ nodes: ClusterNode[] }>('/cluster/nodes')]);
      setPool(p);
      setNodes(n.nodes.filter((x) => x.pool === name));
      setError(null);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setGone(true);
      else setError(describe(err));
    }
  }, [name]);

  useEffect(() => {
    document.title = `Pool ${name} · Berth`;
    void refresh();
    const timer = setInterval(() => document.visibilityState === 'visible' && void refresh(), 10_000);
    const close = openStream(`/cluster/pools/${name}/events`, {
      isLast: (event) => event === 'deleted',
      onEvent: (event, data) => {
        if (event === 'decision') {
          const d = data as PoolDecision;
          setDecisions((list) => (list.some((x) => x.seq === d.seq) ? list : [d, ...list].slice(0, 500)));
          clearTimeout(pending.current);
          pending.current = setTimeout(() => void refresh(), 300);
        } else if (event === 'deleted') setGone(true);
      },
    });
    return () => {
      clearInterval(timer);
      clearTimeout(pending.current);
      close();
    };
  }, [name, refresh]);

  useEffect(() => {
    if (pool) setEdit((e) => (e.desired === '' && e.min === '' && e.max === '' ? { desired: String(pool.desired), min: String(pool.min), max: String(pool.max) } : e));
  }, [pool]);

  async function save(e: Event) {
    e.preventDefault();
    if (!pool) return;
    const patch: Record<string, number> = {};
    for (const key of ['min', 'max', 'desired'] as const) {
      const v = Number(edit[key]);
      if (edit[key].trim() === '' || !Number.isInteger(v)) {
        setEditErrors({ [key]: 'A whole number.' });
        return;
      }
      if (v !== pool[key]) patch[key] = v;
    }
    if (Object.keys(patch).length === 0) return setEditNote('Nothing changed.');
    setSaving(true);
    setEditErrors({});
    setEditNote(null);
    try {
      const updated = await request<Pool>('PATCH', `/cluster/pools/${name}`, { body: patch });
      setPool(updated);
      setEdit({ desired: String(updated.desired), min: String(updated.min), max: String(updated.max) });
      setEditNote('Saved. The pool acts on it now.');
    } catch (err) {
      if (err instanceof ApiError && err.field && ['min', 'max', 'desired'].includes(err.field)) setEditErrors({ [err.field]: err.message });
      else if (err instanceof ApiError && err.code === 'pool_changed') {
        setEditNote('The pool changed meanwhile; it has been read again. Check the numbers and save again.');
        setEdit({ desired: '', min: '', max: '' });
        await refresh();
      } else setEditNote(describe(err));
    } finally {
      setSaving(false);
    }
  }

  async function remove() {
    setDeleting(true);
    setDeleteError(null);
    try {
      await request('DELETE', `/cluster/pools/${name}`);
      setConfirm(false);
      await refresh();
    } catch (err) {
      setDeleteError(describe(err));
    } finally {
      setDeleting(false);
    }
  }

  if (gone && !pool) {
    return (
      <div class="page">
        <h1 tabIndex={-1}>Pool {name}</h1>
        <Alert tone="warn">
          There is no pool named {name}. <Link href="/pools">All pools</Link>
        </Alert>
      </div>
    );
  }
  if (!pool) return <div class="page">{error ? <Alert>{error}</Alert> : <Loading />}</div>;
  const live = nodes.filter((n) => n.status !== 'decommissioned');
  const editField = (key: 'desired' | 'min' | 'max', label: string) => (
    <Field id={`edit-${key}`} label={label} error={editErrors[key]}>
      <input
        id={`edit-${key}`}
        type="number"
        inputMode="numeric"
        min={0}
        value={edit[key]}
        onInput={(e) => setEdit((x) => ({ ...x, [key]: e.currentTarget.value }))}
        {...describedBy(`edit-${key}`, editErrors[key], false)}
        disabled={pool.state === 'deleting'}
      />
    </Field>
  );

  return (
    <div class="page">
      <header class="page-header">
        <div>
          <p class="breadcrumb">
            <Link href="/pools">Pools</Link> <span aria-hidden="true">›</span> {name}
          </p>
          <h1 tabIndex={-1} data-page-title>
            {name} <PoolState pool={pool} />
          </h1>
          <p class="page-lede">
            {providerName(pool.template.provider)} · {pool.template.region} · <span class="mono">{pool.template.plan}</span> · template v{pool.template_version}
          </p>
        </div>
        <div class="actions">
          <TemporalLink workflowId={pool.workflow_id} label="Reconciler workflow" />
          {pool.state === 'active' && (
            <button type="button" class="button button-danger" onClick={() => setConfirm(true)}>
              <TrashIcon size={14} /> Delete pool
            </button>
          )}
        </div>
      </header>
      {gone && <Alert tone="info">This pool has been deleted: all its nodes are gone.</Alert>}
      {error && <Alert tone="warn">{error}</Alert>}
      {pool.conditions.map((c) => (
        <Alert tone="warn" title={`${c.type}: ${c.reason}`}>
          {c.message}
        </Alert>
      ))}

      <div class="stats" data-testid="pool-stats">
        <Stat label="Ready" value={`${pool.nodes.ready} of ${pool.desired}`} note={`desired, min ${pool.min}, max ${pool.max}`} />
        <Stat label="Provisioning" value={String(pool.nodes.provisioning)} />
        <Stat label="Draining" value={String(pool.nodes.draining)} />
        <Stat label="Unhealthy" value={String(pool.nodes.unhealthy)} />
        <Stat label="CPU average" value={cpu(pool.cpu_average)} note={pool.autoscaling ? `over ${pool.autoscaling.window}` : 'autoscaling off'} testid="pool-cpu" />
        <Stat
          label="Capacity"
          value={`${pool.capacity.vcpu} vCPU`}
          note={`${memory(pool.capacity.memory_mb)} RAM · ${money(pool.capacity.price_monthly, pool.capacity.currency)}/mo`}
        />
      </div>

      <div class="grid-2">
        <section class="card" aria-labelledby="size-title">
          <h2 id="size-title">Size</h2>
          <form onSubmit={(e) => void save(e)} noValidate class="form-row" data-testid="pool-edit">
            {editField('desired', 'Desired')}
            {editField('min', 'Minimum')}
            {editField('max', 'Maximum')}
            <div class="form-row-actions">
              <button type="submit" class="button button-primary" disabled={saving || pool.state === 'deleting'}>
                {saving ? 'Saving…' : 'Save'}
              </button>
            </div>
          </form>
          {editNote && (
            <p class="note" role="status">
              {editNote}
            </p>
          )}
          <p class="note">
            Autoscaling:{' '}
            {pool.autoscaling
              ? `out above ${pool.autoscaling.scale_out_cpu ?? '—'}, in below ${pool.autoscaling.scale_in_cpu ?? '—'}, cooldown ${pool.autoscaling.cooldown}`
              : 'off'}{' '}
            · evaluated every {pool.evaluation_interval} · unhealthy after {pool.health.unhealthy_after}
          </p>
        </section>
        <section class="card" aria-labelledby="log-title">
          <h2 id="log-title">Decision log</h2>
          {decisions.length === 0 ? (
            <p class="muted">No decision recorded yet.</p>
          ) : (
            <ol class="decisions" data-testid="decision-log" aria-live="polite">
              {decisions.map((d) => (
                <li key={d.seq}>
                  <span class="decision-time">{time(d.at)}</span>
                  <span class="decision-kind">{d.kind}</span>
                  <span class="decision-reason">{d.reason}</span>
                </li>
              ))}
            </ol>
          )}
        </section>
      </div>

      <section class="section" aria-labelledby="pool-nodes-title">
        <h2 id="pool-nodes-title">Nodes ({live.length})</h2>
        {live.length === 0 ? (
          <Empty>No node yet.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="table" data-testid="pool-nodes">
              <thead>
                <tr>
                  <th scope="col">Hostname</th>
                  <th scope="col">VM</th>
                  <th scope="col">Status</th>
                  <th scope="col" class="num">
                    Age
                  </th>
                </tr>
              </thead>
              <tbody>
                {live.map((n) => (
                  <tr data-node-id={n.node_id}>
                    <td>
                      <Link href={`/cluster/nodes/${n.node_id}`} class="strong">
                        {n.hostname}
                      </Link>
                    </td>
                    <td class="mono">{n.vm_id ?? '—'}</td>
                    <td>
                      <StatusBadge status={n.status} />
                    </td>
                    <td class="num">{age(n.created_at, now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <p class="note">{plural(pool.nodes.provisioning, 'node')} being made; they appear here once registered.</p>
      </section>

      {confirm && (
        <ConfirmDialog
          title={`Delete pool ${name}?`}
          confirmLabel="Delete pool"
          busy={deleting}
          error={deleteError}
          onConfirm={() => void remove()}
          onCancel={() => setConfirm(false)}
        >
          <p>Every node of the pool is drained and removed, then the pool itself. Jobs still provisioning are cancelled.</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function Stat({ label, value, note, testid }: { label: string; value: string; note?: string; testid?: string }) {
  return (
    <div class="card stat">
      <div class="stat-label">{label}</div>
      <div class="stat-value" data-testid={testid}>
        {value}
      </div>
      {note && <div class="stat-note">{note}</div>}
    </div>
  );
}
