import { useEffect } from 'preact/hooks';
import { adminKey, signOut } from './auth.js';
import { Link } from './components.js';
import { location, match, navigate } from './router.js';
import { useSignal } from './store.js';
import { ClusterPage } from './pages/Cluster.js';
import { NodeDetailPage } from './pages/NodeDetail.js';
import { PoolDetailPage, PoolNewPage, PoolsPage } from './pages/Pools.js';
import { SignInPage } from './pages/SignIn.js';
import { WizardPage } from './pages/Wizard.js';

function route(path: string) {
  let m: Record<string, string> | null;
  if (path === '/' || path === '/index.html') return { key: 'home', page: null };
  if (path === '/cluster') return { key: 'cluster', page: <ClusterPage /> };
  if (path === '/cluster/add') return { key: 'add', page: <WizardPage /> };
  if ((m = match('/cluster/nodes/:id', path))) return { key: `node/${m.id}`, page: <NodeDetailPage nodeId={m.id!} /> };
  if ((m = match('/cluster/jobs/:id', path))) return { key: `job/${m.id}`, page: <NodeDetailPage jobId={m.id!} /> };
  if (path === '/pools') return { key: 'pools', page: <PoolsPage /> };
  if (path === '/pools/new') return { key: 'pool-new', page: <PoolNewPage /> };
  if ((m = match('/pools/:name', path))) return { key: `pool/${m.name}`, page: <PoolDetailPage name={m.name!} /> };
  return {
    key: 'missing',
    page: (
      <div class="page">
        <h1 tabIndex={-1} data-page-title>
          Page not found
        </h1>
        <p>
          There is nothing at {path}. <Link href="/cluster">Go to the cluster</Link>.
        </p>
      </div>
    ),
  };
}

export function App() {
  const key = useSignal(adminKey);
  const loc = useSignal(location);

  useEffect(() => {
    if (loc.path === '/' || loc.path === '/index.html') navigate('/cluster', { replace: true });
  }, [loc.path]);

  // A new page: focus its title, so keyboard and screen reader users start at the top.
  useEffect(() => {
    const h1 = document.querySelector<HTMLElement>('main h1[data-page-title]');
    const main = document.getElementById('main');
    const active = document.activeElement;
    if (h1 && (!active || active === document.body || !main?.contains(active))) h1.focus({ preventScroll: true });
  }, [loc.path]);

  if (!key) return <SignInPage />;
  const { key: pageKey, page } = route(loc.path);
  const section = loc.path.startsWith('/pools') ? 'pools' : 'cluster';
  return (
    <>
      <a href="#main" class="skip-link">
        Skip to content
      </a>
      <header class="topbar">
        <div class="topbar-inner">
          <Link href="/cluster" class="brand" aria-label="Berth, cluster">
            <img src="/favicon.svg" alt="" width={24} height={24} />
            <span>Berth</span>
          </Link>
          <nav aria-label="Main" class="nav">
            <Link href="/cluster" aria-current={section === 'cluster' ? 'page' : undefined}>
              Cluster
            </Link>
            <Link href="/pools" aria-current={section === 'pools' ? 'page' : undefined}>
              Pools
            </Link>
          </nav>
          <button type="button" class="button button-quiet button-small" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" key={pageKey}>
        {page}
      </main>
    </>
  );
}
