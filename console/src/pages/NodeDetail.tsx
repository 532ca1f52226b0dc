// A node and the job that made it: what the node reported, its agent's last report, its VM, its
// job's phases, delete.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, describe, get, post, provisionWorkflowId, request } from '../api.js';
import { Alert, ConfirmDialog, Link, Loading, StatusBadge, TemporalLink, useNow } from '../components.js';
import { plans } from '../data.js';
import { age, cents, clock, dateTime, disk, memory, money, providerName, shortId } from '../format.js';
import { TrashIcon, XIcon } from '../icons.js';
import { openStream } from '../sse.js';
import { FINAL_PHASES, type JobDetail, type NodeDetail, type PhaseEvent, type Plan } from '../types.js';
import { inFlight } from './Cluster.js';

interface Loaded {
  node: NodeDetail | null;
  job: JobDetail | null;
  plan: Plan | null;
}

/** The answer, or null when the API says there is no such thing (404). */
async function getOrNull<T>(path: string): Promise<T | null> {
  try {
    return await get<T>(path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

async function load(nodeId: string | undefined, jobId: string | undefined): Promise<Loaded> {
  let node = nodeId ? await getOrNull<NodeDetail>(`/cluster/nodes/${nodeId}`) : null;
  const id = jobId ?? node?.job_id;
  const job = id ? await getOrNull<JobDetail>(`/cluster/jobs/${id}`) : null;
  if (!node && job?.node_id) node = await getOrNull<NodeDetail>(`/cluster/nodes/${job.node_id}`);
  const provider = job?.provider ?? node?.provider;
  const region = job?.region ?? node?.region;
  const planName = job?.plan ?? node?.plan;
  let plan: Plan | null = null;
  if (provider && region && planName) {
    try {
      plan = (await plans(provider, region)).plans.find((p) => p.name === planName) ?? null;
    } catch {
      plan = null;
    }
  }
  return { node, job, plan };
}

export function NodeDetailPage({ nodeId, jobId }: { nodeId?: string; jobId?: string }) {
  const [data, setData] = useState<Loaded | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<'delete' | 'cancel' | null>(null);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const now = useNow(10_000);

  const refresh = useCallback(async () => {
    try {
      setData(await load(nodeId, jobId));
      setError(null);
    } catch (err) {
      setError(describe(err));
    }
  }, [nodeId, jobId]);

  useEffect(() => {
    void refresh();
    const timer = setInterval(() => document.visibilityState === 'visible' && void refresh(), 10_000);
    return () => clearInterval(timer);
  }, [refresh]);

  const job = data?.job ?? null;
  const node = data?.node ?? null;
  const live = !!job && inFlight(job);
  useEffect(() => {
    if (!job || !live) return;
    return openStream(`/cluster/jobs/${job.job_id}/events`, {
      isLast: (_e, d) => FINAL_PHASES.has((d as PhaseEvent).phase),
      onEvent: (_e, d) => (d as PhaseEvent).phase !== job.phase && void refresh(),
      onEnd: () => void refresh(),
    });
  }, [job?.job_id, live]);

  useEffect(() => {
    document.title = `${node?.hostname ?? job?.hostname ?? 'Node'} · Berth`;
  }, [node, job]);

  async function act() {
    setBusy(true);
    setActionError(null);
    try {
      if (confirm === 'delete' && node) await request('DELETE', `/cluster/nodes/${node.node_id}`);
      if (confirm === 'cancel' && job) await post(`/cluster/jobs/${job.job_id}/cancel`);
      setConfirm(null);
      await refresh();
    } catch (err) {
      setActionError(describe(err));
    } finally {
      setBusy(false);
    }
  }

  if (error && !data)
    return (
      <div class="page">
        <Alert title="This node could not be loaded">{error}</Alert>
      </div>
    );
  if (!data)
    return (
      <div class="page">
        <Loading />
      </div>
    );
  if (!node && !job) {
    return (
      <div class="page">
        <h1 tabIndex={-1} data-page-title>
          Not found
        </h1>
        <Alert tone="warn">
          There is no such {nodeId ? 'node' : 'job'} for this tenant. <Link href="/cluster">Back to the cluster</Link>
        </Alert>
      </div>
    );
  }
  const title = node?.hostname ?? job?.hostname ?? `job ${shortId(job!.job_id)}`;
  const p = data.plan;
  const progress = job?.progress ?? [];
  const start = progress[0] ? Date.parse(progress[0].at) : 0;

  return (
    <div class="page">
      <header class="page-header">
        <div>
          <p class="breadcrumb">
            <Link href="/cluster">Cluster</Link> <span aria-hidden="true">›</span> {node ? 'Node' : 'Job'}
          </p>
          <h1 tabIndex={-1} data-page-title>
            {title} {node ? <StatusBadge status={node.status} /> : job && <StatusBadge status={job.phase} />}
          </h1>
        </div>
        <div class="actions">
          {job && <TemporalLink workflowId={provisionWorkflowId(job.job_id)} label="Provision workflow" />}
          {node && node.status !== 'ready' && <TemporalLink workflowId={`decommission-${node.node_id}`} label="Decommission workflow" />}
          {job && live && (
            <button type="button" class="button" onClick={() => setConfirm('cancel')}>
              <XIcon size={14} /> Cancel job
            </button>
          )}
          {node?.status === 'ready' && (
            <button type="button" class="button button-danger" onClick={() => setConfirm('delete')}>
              <TrashIcon size={14} /> Delete node
            </button>
          )}
        </div>
      </header>
      {error && <Alert tone="warn">{error}</Alert>}
      {job?.error && <Alert title={job.phase === 'cancelled' ? 'The job was cancelled' : 'The job failed'}>{job.error}</Alert>}

      <div class="grid-2">
        <section class="card" aria-labelledby="facts-title">
          <h2 id="facts-title">Node</h2>
          {node ? (
            <dl class="facts">
              <dt>Node id</dt>
              <dd class="mono">{node.node_id}</dd>
              <dt>Hostname</dt>
              <dd>{node.hostname}</dd>
              <dt>Status</dt>
              <dd>
                <StatusBadge status={node.status} />
              </dd>
              <dt>Pool</dt>
              <dd>{node.pool ? <Link href={`/pools/${node.pool}`}>{node.pool}</Link> : <span class="muted">none</span>}</dd>
              <dt>Registered</dt>
              <dd>
                {dateTime(node.created_at)} <span class="muted">({age(node.created_at, now)} ago)</span>
              </dd>
              {p && (
                <>
                  <dt>Capacity</dt>
                  <dd>
                    {p.vcpu} vCPU, {memory(p.memory_mb)} RAM, {disk(p.disk_gb)} disk, {p.arch}
                  </dd>
                </>
              )}
            </dl>
          ) : (
            <p class="muted">No node was registered by this job.</p>
          )}
        </section>

        <section class="card" aria-labelledby="vm-title">
          <h2 id="vm-title">VM</h2>
          {job || node?.region ? (
            <dl class="facts">
              <dt>Provider</dt>
              <dd>{providerName(job?.provider ?? node!.provider)}</dd>
              <dt>VM id</dt>
              <dd class="mono">{job?.vm_id ?? node?.vm_id ?? <span class="muted">none</span>}</dd>
              {job && (
                <>
                  <dt>VM name</dt>
                  <dd class="mono">berth-{job.job_id}</dd>
                </>
              )}
              <dt>Region</dt>
              <dd>{job?.region ?? node?.region}</dd>
              <dt>Plan</dt>
              <dd class="mono">{job?.plan ?? node?.plan}</dd>
              <dt>Monthly cost</dt>
              <dd>
                {node?.price_monthly_cents != null ? (
                  `${cents(node.price_monthly_cents)} (reserved against the budget)`
                ) : p ? (
                  `~${money(p.price_monthly, p.currency)} (indicative)`
                ) : (
                  <span class="muted">not known (no catalogue)</span>
                )}
              </dd>
            </dl>
          ) : (
            <p class="muted">This node was registered by hand: no job made it.</p>
          )}
        </section>
      </div>

      {node && (
        <div class="grid-2 section">
          <AgentCard node={node} now={now} />
          <FactsCard facts={node.facts} />
        </div>
      )}

      {job && (
        <section class="card section" aria-labelledby="history-title">
          <h2 id="history-title">
            Job <span class="mono">{shortId(job.job_id)}</span>: phase history
          </h2>
          <ol class="timeline" data-testid="phase-history">
            {progress.map((step, i) => (
              <li>
                {/* A phase the job has left is done, whatever it was. */}
                <StatusBadge status={step.phase} tone={i < progress.length - 1 ? 'done' : undefined} />
                <span class="timeline-time">{dateTime(step.at)}</span>
                <span class="muted">+{clock(Date.parse(step.at) - start)}</span>
              </li>
            ))}
          </ol>
        </section>
      )}

      {confirm === 'delete' && node && (
        <ConfirmDialog
          title={`Delete node ${node.hostname}?`}
          confirmLabel="Delete node"
          busy={busy}
          error={actionError}
          onConfirm={() => void act()}
          onCancel={() => setConfirm(null)}
        >
          <p>
            Berth deletes its VM{node.vm_id ? ` (${node.vm_id})` : ''} at {providerName(node.provider)} and revokes the node. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}
      {confirm === 'cancel' && job && (
        <ConfirmDialog title="Cancel this job?" confirmLabel="Cancel job" busy={busy} error={actionError} onConfirm={() => void act()} onCancel={() => setConfirm(null)}>
          <p>Berth stops making the node, deletes its VM and revokes its registration token.</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

const percent = (share: number) => `${Math.round(share * 100)}%`;

/** The drain state, from the agent's report: asked, done, or neither. */
function drainState(node: NodeDetail, now: number): string {
  const { drain_requested_at: asked, drained_at: done } = node.agent;
  if (done) return `drained ${age(done, now)} ago`;
  if (asked) return `draining (asked ${age(asked, now)} ago)`;
  return 'not draining';
}

function AgentCard({ node, now }: { node: NodeDetail; now: number }) {
  const a = node.agent;
  return (
    <section class="card" aria-labelledby="agent-title" data-testid="agent-report">
      <h2 id="agent-title">Agent's last report</h2>
      {a.last_heartbeat_at === null ? (
        <p class="muted">The node agent has not reported yet.</p>
      ) : (
        <dl class="facts">
          <dt>Last heartbeat</dt>
          <dd title={a.last_heartbeat_at} data-testid="last-heartbeat">
            {age(a.last_heartbeat_at, now)} ago
          </dd>
          <dt>CPU</dt>
          <dd>{a.cpu === null ? <span class="muted">—</span> : percent(a.cpu)}</dd>
          <dt>Memory</dt>
          <dd>{a.memory === null ? <span class="muted">—</span> : percent(a.memory)}</dd>
          <dt>Workloads</dt>
          <dd>{a.workloads ?? <span class="muted">—</span>}</dd>
          <dt>Last busy</dt>
          <dd>{a.busy_at ? `${age(a.busy_at, now)} ago` : <span class="muted">never</span>}</dd>
          <dt>Drain</dt>
          <dd data-testid="drain-state">{drainState(node, now)}</dd>
        </dl>
      )}
    </section>
  );
}

function FactsCard({ facts }: { facts: NodeDetail['facts'] }) {
  const entries = Object.entries(facts).sort(([a], [b]) => a.localeCompare(b));
  return (
    <section class="card" aria-labelledby="reported-title">
      <h2 id="reported-title">Facts at registration</h2>
      {entries.length === 0 ? (
        <p class="muted">The VM reported no facts.</p>
      ) : (
        <dl class="facts" data-testid="node-facts">
          {entries.map(([key, value]) => (
            <>
              <dt class="mono">{key}</dt>
              <dd class="mono">{String(value)}</dd>
            </>
          ))}
        </dl>
      )}
    </section>
  );
}
