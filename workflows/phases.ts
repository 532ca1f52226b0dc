/** The phases a user sees, in the order a successful job passes them. */
export const PHASES = ['queued', 'verifying', 'provisioning', 'bootstrapping', 'registering', 'ready', 'decommissioning', 'failed', 'cancelled', 'decommissioned'] as const;
export type Phase = (typeof PHASES)[number];

/** Phases after which a provision job changes no more on its own. */
export const FINAL_PHASES: ReadonlySet<Phase> = new Set<Phase>(['ready', 'failed', 'cancelled', 'decommissioned']);

export function isPhase(value: string): value is Phase {
  return (PHASES as readonly string[]).includes(value);
}
