/** License tiers (seed 000): who may provision, and how many provisioned nodes they may hold. */
export const TIERS = {
  free: { canProvision: false, nodeCap: 0 },
  pro: { canProvision: false, nodeCap: 0 },
  team: { canProvision: true, nodeCap: 5 },
  enterprise: { canProvision: true, nodeCap: null },
} as const satisfies Record<string, { canProvision: boolean; nodeCap: number | null }>;

export type Tier = keyof typeof TIERS;
export const TIER_NAMES = Object.keys(TIERS) as Tier[];

export function isTier(value: string): value is Tier {
  return Object.hasOwn(TIERS, value);
}
