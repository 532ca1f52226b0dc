import { readRegistrationEnv } from '../../activities/cloud-init.js';

export type BootMode = 'register' | 'never-register';

/**
 * What cloud-init inside an emulated VM does: reads the registration env from the user-data and
 * posts the token back, retrying network errors and 5xx like the real bootstrap script.
 */
export async function bootFromUserData(userData: string, signal?: AbortSignal): Promise<number> {
  const env = readRegistrationEnv(userData);
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(env.registerUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: env.token, hostname: env.hostname }),
        signal,
      });
      await res.text();
      if (res.status < 500 || attempt >= 10) return res.status;
    } catch (err) {
      if (signal?.aborted || attempt >= 10) throw err;
    }
    await new Promise((r) => setTimeout(r, 200 * attempt));
  }
}
