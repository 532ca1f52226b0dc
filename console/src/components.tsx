// Shared pieces: status badges (icon + word, never colour alone), alerts, fields, dialogs, links.
import type { AnchorHTMLAttributes, ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { consoleConfig, workflowUrl } from './api.js';
import { AlertIcon, CheckCircleIcon, CheckIcon, CircleIcon, ClockIcon, ExternalIcon, InfoIcon, MinusCircleIcon, Spinner, XCircleIcon } from './icons.js';
import { onLinkClick } from './router.js';
import type { ConsoleConfig } from './types.js';

export type Tone = 'ok' | 'busy' | 'bad' | 'warn' | 'idle' | 'info' | 'done';

const PHASE_TONES: Record<string, Tone> = {
  queued: 'idle',
  verifying: 'busy',
  provisioning: 'busy',
  bootstrapping: 'busy',
  registering: 'busy',
  ready: 'ok',
  decommissioning: 'warn',
  failed: 'bad',
  cancelled: 'idle',
  decommissioned: 'idle',
  active: 'ok',
  deleting: 'warn',
};

function ToneIcon({ tone }: { tone: Tone }) {
  switch (tone) {
    case 'ok':
      return <CheckCircleIcon size={14} />;
    case 'busy':
      return <Spinner size={12} />;
    case 'bad':
      return <XCircleIcon size={14} />;
    case 'warn':
      return <AlertIcon size={14} />;
    case 'info':
      return <InfoIcon size={14} />;
    case 'done':
      return <CheckIcon size={14} />;
    default:
      return <MinusCircleIcon size={14} />;
  }
}

/** A phase or status as a word with an icon; the colour only repeats what they say. */
export function StatusBadge({ status, tone }: { status: string; tone?: Tone }) {
  const t = tone ?? PHASE_TONES[status] ?? 'idle';
  return (
    <span class={`badge badge-${t}`} data-status={status}>
      <ToneIcon tone={t} />
      <span>{status}</span>
    </span>
  );
}

export function Alert({ tone = 'bad', title, children, id }: { tone?: 'bad' | 'warn' | 'info' | 'ok'; title?: string; children?: ComponentChildren; id?: string }) {
  const icon = tone === 'ok' ? <CheckCircleIcon size={18} /> : tone === 'info' ? <InfoIcon size={18} /> : tone === 'warn' ? <AlertIcon size={18} /> : <XCircleIcon size={18} />;
  return (
    <div class={`alert alert-${tone}`} role={tone === 'bad' ? 'alert' : 'status'} id={id}>
      {icon}
      <div>
        {title && <strong class="alert-title">{title}</strong>}
        {children && <div class="alert-body">{children}</div>}
      </div>
    </div>
  );
}

export function Field({
  id,
  label,
  hint,
  error,
  optional,
  children,
}: {
  id: string;
  label: string;
  hint?: ComponentChildren;
  error?: string | null | undefined;
  optional?: boolean;
  children: ComponentChildren;
}) {
  return (
    <div class={`field${error ? ' field-invalid' : ''}`}>
      <label for={id}>
        {label}
        {optional && <span class="optional"> (optional)</span>}
      </label>
      {children}
      {hint && !error && (
        <div class="hint" id={`${id}-hint`}>
          {hint}
        </div>
      )}
      {error && (
        <div class="field-error" id={`${id}-error`} role="alert">
          <AlertIcon size={14} /> {error}
        </div>
      )}
    </div>
  );
}

/** aria attributes tying an input to its hint or error. */
export const describedBy = (id: string, error: unknown, hint = true) => ({
  'aria-invalid': error ? ('true' as const) : undefined,
  'aria-describedby': error ? `${id}-error` : hint ? `${id}-hint` : undefined,
});

export function Link({ href, children, class: cls, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  return (
    <a href={href} class={cls} onClick={onLinkClick} {...rest}>
      {children}
    </a>
  );
}

let configCache: ConsoleConfig | null = null;
export function useConsoleConfig(): ConsoleConfig | null {
  const [config, setConfig] = useState<ConsoleConfig | null>(configCache);
  useEffect(() => {
    if (!configCache) void consoleConfig().then((c) => setConfig((configCache = c)));
  }, []);
  return config;
}

/** The workflow's page in the Temporal Web UI (when the console knows where that is). */
export function TemporalLink({ workflowId, label = 'Temporal' }: { workflowId: string; label?: string }) {
  const config = useConsoleConfig();
  const href = workflowUrl(config, workflowId);
  if (!href) return null;
  return (
    <a class="temporal-link" href={href} target="_blank" rel="noopener noreferrer" title={`Workflow ${workflowId} in the Temporal Web UI`} data-workflow-id={workflowId}>
      {label}
      <ExternalIcon size={12} />
      <span class="visually-hidden"> (workflow {workflowId}, opens in a new tab)</span>
    </a>
  );
}

/** A modal confirmation on the native <dialog>: focus is kept inside, Escape cancels. */
export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  danger = true,
  busy = false,
  error,
  onConfirm,
  onCancel,
}: {
  title: string;
  children?: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  error?: string | null;
  onConfirm(): void;
  onCancel(): void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-labelledby="dialog-title"
      onCancel={(e) => {
        e.preventDefault();
        if (!busy) onCancel();
      }}
    >
      <h2 id="dialog-title">{title}</h2>
      <div class="dialog-body">{children}</div>
      {error && <Alert tone="bad">{error}</Alert>}
      <div class="actions">
        <button type="button" class="button" onClick={onCancel} disabled={busy} autofocus>
          Keep it
        </button>
        <button type="button" class={`button ${danger ? 'button-danger' : 'button-primary'}`} onClick={onConfirm} disabled={busy}>
          {busy && <Spinner size={14} />} {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div class="loading" role="status">
      <Spinner size={18} /> {label}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

export function PhaseStepIcon({ state }: { state: 'done' | 'current' | 'pending' | 'failed' }) {
  if (state === 'done') return <CheckCircleIcon size={20} />;
  if (state === 'current') return <Spinner size={18} />;
  if (state === 'failed') return <XCircleIcon size={20} />;
  return <CircleIcon size={20} />;
}

export { ClockIcon };

/** Re-renders every `ms`, for ages and elapsed times. */
export function useNow(ms = 1000, active = true): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms, active]);
  return now;
}

/** Focuses the element once it is shown (a step's heading, a page's title). */
export function useFocusOnMount<T extends HTMLElement>(deps: unknown[] = []) {
  const ref = useRef<T>(null);
  useEffect(() => {
    ref.current?.focus();
  }, deps);
  return ref;
}
