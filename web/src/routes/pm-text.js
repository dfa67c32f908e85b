// Preventive maintenance in words: a schedule's scope, trigger and production window, and times on the site's
// wall clock (docs/pm.md). Shared by /pm and /pm/{id}.
import { label, num } from '../format.js';

const UNIT = { days: 'day', weeks: 'week', months: 'month', years: 'year' };
const FREQ = { YEARLY: 'Yearly', MONTHLY: 'Monthly', WEEKLY: 'Weekly', DAILY: 'Daily', HOURLY: 'Hourly' };
const METER = { operating_hours: 'operating hours', energy_mwh: 'MWh', start_stops: 'starts' };
/** "Every month at 22:00", "Every 2,500 operating hours", "When the 7-day p95 of heatsink_temp_c > 65". */
export function triggerText(t) {
  if (!t) return '—';
  if (t.kind === 'calendar') {
    let when;
    if (t.rrule) {
      const parts = t.rrule.split(';');
      const freq = parts.find((p) => p.startsWith('FREQ='));
      const rest = parts.filter((p) => p !== freq).join(';');
      when = `${FREQ[freq ? freq.slice(5) : ''] || 'By rule'}${rest ? ` (${rest})` : ''}`;
    } else {
      when = t.every === 1 ? `Every ${UNIT[t.unit] || t.unit}` : `Every ${t.every} ${t.unit}`;
    }
    return `${when} at ${t.at}${t.basis === 'completion' ? ', counted from the last completion' : ''}`;
  }
  if (t.kind === 'meter') {
    const unit = METER[t.meter] || (t.meter === 'counter' ? `of ${t.metric}` : `${t.metric} (hourly means summed)`);
    return `Every ${num(t.every, 0)} ${unit}`;
  }
  if (t.kind === 'condition') {
    return `When the ${t.window_days}-day ${t.stat} of ${t.metric} ${t.condition} ${num(t.threshold, 1)}`;
  }
  return label(t.kind);
}

export function windowText(w) {
  if (!w) return 'Any time';
  if (w.kind === 'night') return 'At night (irradiance under 10 W/m²)';
  if (w.kind === 'low_wind') return `Low wind (under ${num(w.cut_in_ms, 1)} m/s for ${w.hours} h)`;
  if (w.kind === 'local_hours') return `Between ${w.start} and ${w.end} (site time)`;
  return label(w.kind);
}

/** Where the schedule applies: "Every inverter at Seville North", "INV-01 at …", "Seville North (site-wide)". */
export function scopeText(s, sites, assetName) {
  const site = s.site_id ? (sites && sites.get(s.site_id) ? sites.get(s.site_id).name : '…') : '';
  if (s.asset_id) return `${assetName || s.asset_id}${site ? ` at ${site}` : ''}`;
  if (s.asset_type) return `Every ${label(s.asset_type)} at ${site}`;
  return `${site} (site-wide)`;
}

const formats = new Map();

/** A time on a zone's wall clock, with the zone's short name: "4 Dec 2026, 22:00 CET". */
export function whenIn(iso, zone) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  const key = zone || '';
  if (!formats.has(key)) {
    try {
      formats.set(key, new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short', timeZone: zone || undefined }));
    } catch {
      formats.set(key, new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }));
    }
  }
  return formats.get(key).format(d);
}
