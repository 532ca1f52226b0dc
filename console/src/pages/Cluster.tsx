import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { describe, post, provisionWorkflowId, request } from '../api.js';
import { Alert, ConfirmDialog, Empty, Link, Loading, StatusBadge, TemporalLink, useNow } from '../components.js';
import { loadCluster, type ClusterData, type NodeRow } from '../data.js';
import { age, cents, plural, providerName, shortId } from '../format.js';
import { PlusIcon, TrashIcon, XIcon } from '../icons.js';
import { location, navigate } from '../router.js';
import { openStream } from '../sse.js';
import { useSignal } from '../store.js';
import { FINAL_PHASES, type Job, type PhaseEvent } from '../types.js';

/** A refresh of the lists at most this often when nothing streams (no tight polling). */
const REFRESH_MS = 10_000;
/** Job streams held at once: each is an open connection, and the browser allows 6 per host. */
const MAX_STREAMS = 3;

export const inFlight = (job: Job) => !FINAL_PHASES.has(job.phase) && job.phase !== 'decommissioning';

/** The cluster's lists, kept fresh by the job streams and a slow refresh. */
export function useCluster() {
  const [data, setData] = useState<ClusterData | null>(null);
  const [error, setError] = useState<string | null>(null);
  const streams = useRef(new Map<string, () => void>());
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const phases = useRef(new Map<string, string>());

  const refresh = useCallback(async () => {
    try {
      const next = await loadCluster();
      setData(next);
      setError(null);
    } catch (err) {
      setError(describe(err));
    }
  }, []);

  const soon = useCallback(() => {
    clearTimeout(pending.current);
    pending.current = setTimeout(() => void refresh(), 250);
  }, [refresh]);

  useEffect(() => {
    void refresh();
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void refresh();
    }, REFRESH_MS);
    const onVisible = () => document.visibilityState === 'visible' && void refresh();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearInterval(timer);
      clearTimeout(pending.current);
      document.removeEventListener('visibilitychange', onVisible);
      for (const close of streams.current.values()) close();
      streams.current.clear();
    };
  }, [refresh]);

  // Follow the jobs in flight: a phase change refreshes the lists at once.
  useEffect(() => {
    if (!data) return;
    for (const job of data.jobs) phases.current.set(job.job_id, job.phase);
    const wanted = new Set(
      data.jobs
        .filter(inFlight)
        .slice(0, MAX_STREAMS)
        .map((j) => j.job_id),
    );
    for (const [id, close] of streams.current) {
      if (!wanted.has(id)) {
        close();
        streams.current.delete(id);
      }
    }
    for (const id of wanted) {
      if (streams.current.has(id)) continue;
      const close = openStream(`/cluster/jobs/${id}/events`, {
        isLast: (_e, d) => FINAL_PHASES.has((d as PhaseEvent).phase),
        onEvent: (event, d) => {
          const phase = (d as PhaseEvent).phase;
          if (event === 'phase' && phases.current.get(id) !== phase) {
            phases.current.set(id, phase);
            soon();
          }
        },
        onEnd: () => {
          streams.current.delete(id);
          soon();
        },
      });
      streams.current.set(id, close);
    }
  }, [data, soon]);

  return { data, error, refresh };
}

function BudgetSummary({ data }: { data: ClusterData }) {
  const { budget } = data;
  const { tier, node_cap: cap } = budget;
  const nodes = cap === null ? `${plural(budget.nodes_counted, 'node')} (no cap on the ${tier} tier)` : `${budget.nodes_counted} of ${cap} nodes`;
  const money =
    budget.monthly_cents === null ? `${cents(budget.committed_cents)} this month (no budget set)` : `${cents(budget.committed_cents)} of ${cents(budget.monthly_cents)} this month`;
  const capShare = cap ? Math.min(1, budget.nodes_counted / cap) : null;
  const budgetShare = budget.monthly_cents ? Math.min(1, budget.committed_cents / budget.monthly_cents) : null;
  return (
    <section class="summary" aria-label="Capacity and budget">
      <p class="summary-sentence" data-testid="budget-summary">
        {nodes}, {money}
      </p>
      <div class="summary-cards">
        <div class="card stat">
          <div class="stat-label">Nodes counted</div>
          <div class="stat-value">
            {budget.nodes_counted}
            <span class="stat-of"> {cap === null ? '· no cap' : `of ${cap}`}</span>
          </div>
          {capShare !== null && <Meter share={capShare} label="Share of the node cap in use" />}
          <div class="stat-note">{tier} tier</div>
        </div>
        <div class="card stat">
          <div class="stat-label">Committed this month</div>
          <div class="stat-value">
            {cents(budget.committed_cents)}
            {budget.monthly_cents !== null && <span class="stat-of"> of {cents(budget.monthly_cents)}</span>}
          </div>
          {budgetShare !== null && <Meter share={budgetShare} label="Share of the monthly budget committed" />}
          <div class="stat-note">{budget.remaining_cents === null ? 'no monthly budget' : `${cents(budget.remaining_cents)} left`}</div>
        </div>
      </div>
    </section>
  );
}

function Meter({ share, label }: { share: number; label: string }) {
  const pct = Math.round(share * 100);
  return (
    <div class={`meter${share >= 0.9 ? ' meter-high' : ''}`} role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct} aria-valuetext={`${pct}%`}>
      <div class="meter-fill" style={{ width: `${pct}%` }} />
    </div>
  );
}

type Confirm = { kind: 'delete'; node: NodeRow } | { kind: 'cancel'; job: Job };

const STATUS_FILTERS: Record<string, { label: string; test(node: NodeRow): boolean }> = {
  live: { label: 'Live (ready, decommissioning)', test: (n) => n.status !== 'decommissioned' },
  ready: { label: 'Ready', test: (n) => n.status === 'ready' },
  decommissioning: { label: 'Decommissioning', test: (n) => n.status === 'decommissioning' },
  decommissioned: { label: 'Decommissioned', test: (n) => n.status === 'decommissioned' },
  all: { label: 'All', test: () => true },
};

const JOB_FILTERS: Record<string, { label: string; test(job: Job): boolean }> = {
  recent: { label: 'In flight and unsuccessful', test: (j) => j.phase !== 'ready' && j.phase !== 'decommissioned' },
  inflight: { label: 'In flight', test: inFlight },
  failed: { label: 'Failed or cancelled', test: (j) => j.phase === 'failed' || j.phase === 'cancelled' },
  all: { label: 'All', test: () => true },
};

export function ClusterPage() {
  const { data, error, refresh } = useCluster();
  const loc = useSignal(location);
  const params = new URLSearchParams(loc.search);
  const status = params.get('status') ?? 'live';
  const provider = params.get('provider') ?? '';
  const pool = params.get('pool') ?? '';
  const jobFilter = params.get('jobs') ?? 'recent';
  const now = useNow(15_000);
  const [confirm, setConfirm] = useState<Confirm | null>(null);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const setFilter = (key: string, value: string, fallback: string) => {
    const next = new URLSearchParams(loc.search);
    if (value === fallback) next.delete(key);
    else next.set(key, value);
    const qs = next.toString();
    navigate(`/cluster${qs ? `?${qs}` : ''}`, { replace: true });
  };

  const pools = useMemo(() => [...new Set((data?.nodes ?? []).map((n) => n.pool).filter((p): p is string => !!p))].sort(), [data]);
  const nodes = (data?.nodes ?? []).filter(
    (n) => (STATUS_FILTERS[status] ?? STATUS_FILTERS.live!).test(n) && (!provider || n.provider === provider) && (!pool || (pool === '-' ? !n.pool : n.pool === pool)),
  );
  const jobPool = params.get('job_pool') ?? '';
  const jobPools = useMemo(() => [...new Set((data?.jobs ?? []).map((j) => j.pool).filter((p): p is string => !!p))].sort(), [data]);
  const jobs = (data?.jobs ?? []).filter(
    (j) => (JOB_FILTERS[jobFilter] ?? JOB_FILTERS.recent!).test(j) && (!provider || j.provider === provider) && (!jobPool || (jobPool === '-' ? !j.pool : j.pool === jobPool)),
  );

  async function runConfirmed() {
    if (!confirm) return;
    setBusy(true);
    setActionError(null);
    try {
      if (confirm.kind === 'delete') {
        await request('DELETE', `/cluster/nodes/${confirm.node.node_id}`);
        setNotice(`Deleting ${confirm.node.hostname}: its VM is being removed.`);
      } else {
        await post(`/cluster/jobs/${confirm.job.job_id}/cancel`);
        setNotice(`Cancelled job ${shortId(confirm.job.job_id)}: its VM is being torn down.`);
      }
      setConfirm(null);
      await refresh();
    } catch (err) {
      setActionError(describe(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="page">
      <header class="page-header">
        <div>
          <h1 tabIndex={-1} data-page-title>
            Cluster
          </h1>
          <p class="page-lede">Nodes Berth made for this tenant, and the jobs that made them.</p>
        </div>
        <Link href="/cluster/add" class="button button-primary">
          <PlusIcon /> Add node
        </Link>
      </header>

      {error && <Alert title="The cluster could not be loaded">{error}</Alert>}
      {notice && (
        <Alert tone="ok">
          {notice}{' '}
          <button type="button" class="link-button" onClick={() => setNotice(null)}>
            Dismiss
          </button>
        </Alert>
      )}
      {!data && !error && <Loading label="Loading the cluster…" />}
      {data && <BudgetSummary data={data} />}

      {data && (
        <>
          <section aria-labelledby="nodes-title" class="section">
            <div class="section-header">
              <h2 id="nodes-title">Nodes</h2>
              <div class="filters" role="group" aria-label="Filter nodes">
                <label>
                  Status
                  <select value={status} onChange={(e) => setFilter('status', e.currentTarget.value, 'live')} name="status">
                    {Object.entries(STATUS_FILTERS).map(([value, f]) => (
                      <option value={value}>{f.label}</option>
                    ))}
                  </select>
                </label>
                <label>
                  Provider
                  <select value={provider} onChange={(e) => setFilter('provider', e.currentTarget.value, '')} name="provider">
                    <option value="">All providers</option>
                    {['hetzner', 'digitalocean', 'local'].map((p) => (
                      <option value={p}>{providerName(p)}</option>
                    ))}
                  </select>
                </label>
                <label>
                  Pool
                  <select value={pool} onChange={(e) => setFilter('pool', e.currentTarget.value, '')} name="pool">
                    <option value="">All nodes</option>
                    <option value="-">Not in a pool</option>
                    {pools.map((p) => (
                      <option value={p}>{p}</option>
                    ))}
                  </select>
                </label>
              </div>
            </div>
            {nodes.length === 0 ? (
              <Empty>
                {data.nodes.length === 0 ? (
                  <>
                    No nodes yet. <Link href="/cluster/add">Add the first one</Link>.
                  </>
                ) : (
                  'No node matches these filters.'
                )}
              </Empty>
            ) : (
              <div class="table-wrap">
                <table class="table" data-testid="nodes-table">
                  <thead>
                    <tr>
                      <th scope="col">Hostname</th>
                      <th scope="col">Provider</th>
                      <th scope="col">Region</th>
                      <th scope="col">Plan</th>
                      <th scope="col">Pool</th>
                      <th scope="col">Status</th>
                      <th scope="col" class="num">
                        Age
                      </th>
                      <th scope="col" class="num">
                        Monthly
                      </th>
                      <th scope="col">
                        <span class="visually-hidden">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {nodes.map((n) => (
                      <tr key={n.node_id} data-node-id={n.node_id}>
                        <td>
                          <Link href={`/cluster/nodes/${n.node_id}`} class="strong">
                            {n.hostname}
                          </Link>
                        </td>
                        <td>{providerName(n.provider)}</td>
                        <td>{n.region ?? '—'}</td>
                        <td class="mono">{n.plan ?? '—'}</td>
                        <td>{n.pool ? <Link href={`/pools/${n.pool}`}>{n.pool}</Link> : <span class="muted">—</span>}</td>
                        <td>
                          <StatusBadge status={n.status} />
                        </td>
                        <td class="num" title={n.created_at}>
                          {age(n.created_at, now)}
                        </td>
                        <td class="num">
                          {n.price_monthly_cents !== null ? (
                            cents(n.price_monthly_cents)
                          ) : (
                            <span class="muted" title="registered by hand: no plan">
                              —
                            </span>
                          )}
                        </td>
                        <td class="row-actions">
                          {n.status === 'ready' && (
                            <button
                              type="button"
                              class="button button-small button-quiet"
                              onClick={() => setConfirm({ kind: 'delete', node: n })}
                              aria-label={`Delete node ${n.hostname}`}
                            >
                              <TrashIcon size={14} /> Delete
                            </button>
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>

          <section aria-labelledby="jobs-title" class="section">
            <div class="section-header">
              <h2 id="jobs-title">Jobs</h2>
              <div class="filters" role="group" aria-label="Filter jobs">
                <label>
                  Show
                  <select value={jobFilter} onChange={(e) => setFilter('jobs', e.currentTarget.value, 'recent')} name="jobs">
                    {Object.entries(JOB_FILTERS).map(([value, f]) => (
                      <option value={value}>{f.label}</option>
                    ))}
                  </select>
                </label>
                <label>
                  Pool
                  <select value={jobPool} onChange={(e) => setFilter('job_pool', e.currentTarget.value, '')} name="job_pool">
                    <option value="">All jobs</option>
                    <option value="-">Not from a pool</option>
                    {jobPools.map((p) => (
                      <option value={p}>{p}</option>
                    ))}
                    {jobPool && jobPool !== '-' && !jobPools.includes(jobPool) && <option value={jobPool}>{jobPool}</option>}
                  </select>
                </label>
              </div>
            </div>
            {jobs.length === 0 ? (
              <Empty>No job to show.</Empty>
            ) : (
              <div class="table-wrap">
                <table class="table" data-testid="jobs-table">
                  <thead>
                    <tr>
                      <th scope="col">Job</th>
                      <th scope="col">Hostname</th>
                      <th scope="col">Provider · region · plan</th>
                      <th scope="col">Pool</th>
                      <th scope="col">Phase</th>
                      <th scope="col">Error</th>
                      <th scope="col" class="num">
                        Started
                      </th>
                      <th scope="col">
                        <span class="visually-hidden">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {jobs.map((j) => (
                      <tr key={j.job_id} data-job-id={j.job_id}>
                        <td>
                          <Link href={`/cluster/jobs/${j.job_id}`} class="mono">
                            {shortId(j.job_id)}
                          </Link>
                        </td>
                        <td>{j.hostname ?? <span class="muted">—</span>}</td>
                        <td>
                          {providerName(j.provider)} · {j.region} · <span class="mono">{j.plan}</span>
                        </td>
                        <td>{j.pool ? <Link href={`/pools/${j.pool}`}>{j.pool}</Link> : <span class="muted">—</span>}</td>
                        <td>
                          <StatusBadge status={j.phase} />
                        </td>
                        <td class="error-cell">{j.error ?? <span class="muted">—</span>}</td>
                        <td class="num" title={j.created_at}>
                          {age(j.created_at, now)} ago
                        </td>
                        <td class="row-actions">
                          <TemporalLink workflowId={provisionWorkflowId(j.job_id)} />
                          {inFlight(j) && (
                            <button
                              type="button"
                              class="button button-small button-quiet"
                              onClick={() => setConfirm({ kind: 'cancel', job: j })}
                              aria-label={`Cancel job ${j.job_id}`}
                            >
                              <XIcon size={14} /> Cancel
                            </button>
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        </>
      )}

      {confirm?.kind === 'delete' && (
        <ConfirmDialog
          title={`Delete node ${confirm.node.hostname}?`}
          confirmLabel="Delete node"
          busy={busy}
          error={actionError}
          onConfirm={() => void runConfirmed()}
          onCancel={() => {
            setConfirm(null);
            setActionError(null);
          }}
        >
          <p>
            Berth deletes its VM{confirm.node.vm_id ? ` (${providerName(confirm.node.provider)} ${confirm.node.vm_id})` : ''} and revokes the node's credential. This cannot be
            undone.
          </p>
        </ConfirmDialog>
      )}
      {confirm?.kind === 'cancel' && (
        <ConfirmDialog
          title={`Cancel job ${shortId(confirm.job.job_id)}?`}
          confirmLabel="Cancel job"
          busy={busy}
          error={actionError}
          onConfirm={() => void runConfirmed()}
          onCancel={() => {
            setConfirm(null);
            setActionError(null);
          }}
        >
          <p>The job stops{confirm.job.hostname ? ` making ${confirm.job.hostname}` : ''}; its VM is deleted and its registration token revoked.</p>
        </ConfirmDialog>
      )}
    </div>
  );
}
