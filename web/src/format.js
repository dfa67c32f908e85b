// Display formats. Missing figures are an em dash, never "0" or "NaN".
const DASH = '—';
const numberFormats = new Map();

function nf(digits) {
  if (!numberFormats.has(digits)) {
    numberFormats.set(digits, new Intl.NumberFormat(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits }));
  }
  return numberFormats.get(digits);
}

export const isNum = (x) => typeof x === 'number' && Number.isFinite(x);
export const num = (x, digits = 1) => (isNum(x) ? nf(digits).format(x) : DASH);
export const pct = (x, digits = 1) => (isNum(x) ? `${nf(digits).format(x * 100)} %` : DASH);

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

export function when(iso) {
  if (!iso) return DASH;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? DASH : dateTime.format(d);
}

export function day(iso) {
  if (!iso) return DASH;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? DASH : dateOnly.format(d);
}

/** 'in_progress' → 'in progress' */
export const label = (s) => (s ? String(s).replace(/_/g, ' ') : DASH);
export const capital = (s) => (s ? s.charAt(0).toUpperCase() + s.slice(1) : s);

/** Performance ratio bands, for badges and the map: good ≥ 75 %, warn ≥ 60 %, else bad. */
export function prBand(pr) {
  if (!isNum(pr)) return 'unknown';
  return pr >= 0.75 ? 'good' : pr >= 0.6 ? 'warn' : 'bad';
}
