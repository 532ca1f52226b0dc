// The admin key lives in this tab's session storage only: never in the URL, local storage or a
// cookie. Closing the tab or "Sign out" forgets it.
import { signal } from './store.js';

const KEY = 'berth.adminKey';

function read(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export const adminKey = signal<string | null>(read());
/** Why the user was sent to the sign-in page, if not by choice. */
export const signInReason = signal<string | null>(null);

export function signIn(key: string): void {
  sessionStorage.setItem(KEY, key);
  signInReason.set(null);
  adminKey.set(key);
}

export function signOut(reason: string | null = null): void {
  sessionStorage.removeItem(KEY);
  signInReason.set(reason);
  adminKey.set(null);
}
