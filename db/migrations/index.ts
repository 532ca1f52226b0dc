import type { Migration } from 'kysely';
import * as initial from './2026_11_23_0001_initial.js';
import * as admission from './2026_11_23_0002_admission.js';
import * as credentials from './2026_11_23_0003_credentials.js';
import * as pools from './2026_11_23_0004_pools.js';
import * as registrationLease from './2026_12_02_0005_registration_lease.js';

/** Every migration, in order. Names are the file names; never rename or reorder. */
export const migrations: Record<string, Migration> = {
  '2026_11_23_0001_initial': initial,
  '2026_11_23_0002_admission': admission,
  '2026_11_23_0003_credentials': credentials,
  '2026_11_23_0004_pools': pools,
  '2026_12_02_0005_registration_lease': registrationLease,
};
