// How numbers, money and times read in the console.

const moneyFormats = new Map<string, Intl.NumberFormat>();

export function money(amount: number, currency = 'EUR', digits = 2): string {
  const key = `${currency}/${digits}`;
  let format = moneyFormats.get(key);
  if (!format) {
    try {
      format = new Intl.NumberFormat('en', { style: 'currency', currency, minimumFractionDigits: digits, maximumFractionDigits: digits });
    } catch {
      format = new Intl.NumberFormat('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
    }
    moneyFormats.set(key, format);
  }
  return format.format(amount);
}

/** Budgets are kept in cents whatever the currency; the console shows them in euros, as the seed does. */
export const BUDGET_CURRENCY = 'EUR';
export const cents = (value: number) => money(value / 100, BUDGET_CURRENCY);

export function hourly(amount: number, currency: string): string {
  return money(amount, currency, amount < 0.1 ? 4 : 3);
}

export function memory(mb: number): string {
  if (mb < 1024) return `${mb} MB`;
  const gb = mb / 1024;
  return `${Number.isInteger(gb) ? gb : gb.toFixed(1)} GB`;
}

export const disk = (gb: number) => (gb >= 1000 ? `${(gb / 1000).toFixed(1)} TB` : `${gb} GB`);

/** "12 s", "4 min", "3 h", "2 d": how long ago, short. */
export function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h`;
  return `${Math.floor(h / 24)} d`;
}

/** 0:07, 2:35, 1:02:03 */
export function clock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

export function dateTime(iso: string): string {
  const d = new Date(iso);
  return d.toLocaleString('en-GB', { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function time(iso: string): string {
  return new Date(iso).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export const providerLabel: Record<string, string> = { hetzner: 'Hetzner Cloud', digitalocean: 'DigitalOcean', local: 'Local' };
export const providerName = (name: string) => providerLabel[name] ?? name;

export const shortId = (id: string) => (id.length > 10 ? id.slice(0, 8) : id);

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
