import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, get } from '../api.js';
import { signIn, signInReason } from '../auth.js';
import { Alert, describedBy, Field } from '../components.js';
import { useSignal } from '../store.js';

export function SignInPage() {
  const reason = useSignal(signInReason);
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    document.title = 'Sign in · Berth';
    input.current?.focus();
  }, []);

  async function submit(e: Event) {
    e.preventDefault();
    const value = key.trim();
    if (!value) return setError('Paste your admin key.');
    setBusy(true);
    setError(null);
    try {
      // Any authenticated read proves the key; the budget is small and always there.
      await get('/cluster/budget', { key: value });
      signIn(value);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError('This admin key was not accepted. Check that you pasted all of it, and that it has not been revoked.');
      else setError(err instanceof Error ? err.message : String(err));
      input.current?.focus();
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="signin" id="main">
      <form class="card signin-card" onSubmit={(e) => void submit(e)} noValidate>
        <div class="brand brand-large">
          <img src="/favicon.svg" alt="" width={32} height={32} />
          <span>Berth</span>
        </div>
        <h1>Sign in to the console</h1>
        <p class="muted">
          Use an admin key of your tenant. <code>npm start</code> prints the first one and keeps it in <code>data/secrets/admin-token</code>;{' '}
          <code>npm run berth -- key create</code> makes more.
        </p>
        {reason && <Alert tone="warn">{reason}</Alert>}
        <Field id="admin-key" label="Admin key" error={error} hint="Kept in this tab only, until you sign out or close it.">
          <input
            ref={input}
            id="admin-key"
            name="admin-key"
            type="password"
            autoComplete="off"
            spellcheck={false}
            value={key}
            onInput={(e) => setKey(e.currentTarget.value)}
            {...describedBy('admin-key', error)}
          />
        </Field>
        <button type="submit" class="button button-primary button-block" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
