// Reports (docs/reports.md): ask for one (POST → 202: queued), watch it through queued and running (the list is
// polled every 2 s while any is unfinished), download it when ready (the API's presigned download_url, valid
// 15 minutes: fetched from the report itself, and again before it expires).
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { Field, FormProblem, fieldErrors, wire } from '../forms.jsx';
import { label, when } from '../format.js';
import { useLive } from '../live.js';
import { Problem, TableWrap, useApi, useSites, useTitle } from '../ui.jsx';

const TYPES = [
  ['site-daily', 'Site daily', 'A site’s day: energy against expected, PR, availability, losses, alerts and work. Needs a site; default yesterday.'],
  ['fleet-monthly', 'Fleet monthly', 'Every site’s month with the change against the month before. Default: last month.'],
  ['work-order-backlog', 'Work-order backlog', 'Open work by site, priority and age; opened and closed in the period. Default: the last 30 days.'],
  ['asset-reliability', 'Asset reliability', 'Forced downtime, MTTR and MTBF by asset type and model. Default: the last 30 days.'],
  ['telemetry-export', 'Telemetry export', 'A site’s readings per interval, one column per metric (CSV). Needs a site; default the last 7 days.'],
];
const TYPE_NAMES = Object.fromEntries(TYPES.map(([k, name]) => [k, name]));
const FORMATS = [
  ['pdf', 'PDF'],
  ['csv', 'CSV'],
  ['xlsx', 'Excel (XLSX)'],
];
const INTERVALS = ['1m', '5m', '15m', '1h', '1d'];
const FIELDS = { 'body.type': 'type', 'body.format': 'format', 'body.site_id': 'site', 'body.asset_id': 'site', 'body.from': 'from', 'body.to': 'to', 'body.interval': 'interval', 'body.metrics': 'site' };
const PENDING = ['queued', 'running'];
const LIST = '/api/v1/reports?limit=25';
const POLL_MS = 2000;

export default function Reports() {
  useTitle('Reports');
  const sites = useSites();
  const [added, setAdded] = useState([]); // reports requested here, until the list shows them
  const [pending, setPending] = useState(false);
  const list = useLive(LIST, { every: pending ? POLL_MS : null });
  const [more, setMore] = useState({ items: [], cursor: null, busy: false, error: null, done: false });
  const [said, setSaid] = useState('');
  const seen = useRef(new Map()); // id -> status last shown

  const listed = list.data ? list.data.items : [];
  const ids = new Set(listed.map((r) => r.id));
  const items = list.data ? [...added.filter((r) => !ids.has(r.id)), ...listed, ...more.items.filter((r) => !ids.has(r.id))] : null;
  const anyPending = !!items && items.some((r) => PENDING.includes(r.status));
  useEffect(() => setPending(anyPending), [anyPending]);

  // announce a report that finished while the person watched it
  useEffect(() => {
    if (!items) return;
    const done = [];
    for (const r of items) {
      const before = seen.current.get(r.id);
      if (before && PENDING.includes(before) && !PENDING.includes(r.status)) done.push(`${TYPE_NAMES[r.type] || r.type} report ${r.status === 'ready' ? 'is ready' : 'failed'}.`);
      seen.current.set(r.id, r.status);
    }
    if (done.length) setSaid(done.join(' '));
  });

  const cursor = more.cursor || (list.data && !more.items.length ? list.data.next_cursor : null);
  async function loadMore() {
    setMore((m) => ({ ...m, busy: true, error: null }));
    try {
      const res = await get(`/api/v1/reports?limit=25&cursor=${encodeURIComponent(cursor)}`);
      setMore((m) => ({ items: [...m.items, ...res.data.items], cursor: res.data.next_cursor, busy: false, error: null, done: !res.data.next_cursor }));
    } catch (error) {
      setMore((m) => ({ ...m, busy: false, error }));
    }
  }

  const siteName = (id) => (sites && sites.get(id) ? sites.get(id).name : id);
  return (
    <>
      <h1 tabindex="-1">Reports</h1>
      <RequestForm
        sites={sites}
        onRequested={(report) => {
          seen.current.set(report.id, report.status);
          setAdded((a) => [report, ...a]);
          setSaid(`${TYPE_NAMES[report.type] || report.type} report requested: it is being made.`);
          setPending(true);
        }}
      />
      <p role="status" class="visually-hidden">
        {said}
      </p>
      <section class="block" aria-labelledby="h-reports">
        <h2 id="h-reports">Requested reports</h2>
        <Problem error={list.error} />
        <TableWrap label="Requested reports">
          <table>
            <caption class="visually-hidden">Reports, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Report</th>
                <th scope="col">Period</th>
                <th scope="col">Format</th>
                <th scope="col">Requested</th>
                <th scope="col">Status</th>
                <th scope="col">File</th>
              </tr>
            </thead>
            <tbody>
              {items
                ? items.map((r) => (
                    <tr key={r.id} data-report={r.id}>
                      <td class="wrap">
                        <span id={`rpt-${r.id}`}>
                          {TYPE_NAMES[r.type] || r.type}
                          {r.site_id ? ` · ${siteName(r.site_id)}` : r.asset_id ? ` · ${r.asset_id}` : ''}
                        </span>
                        {r.schedule && <span class="meta"> (scheduled)</span>}
                      </td>
                      <td>{r.from === r.to ? r.from : `${r.from} – ${r.to}`}</td>
                      <td>{String(r.format).toUpperCase()}</td>
                      <td>{when(r.created_at)}</td>
                      <td class="wrap">
                        <span class={`badge report-${r.status}`}>{label(r.status)}</span>
                        {r.status === 'running' && <span class="meta"> being made…</span>}
                        {r.reason && <div class="meta">{r.reason}</div>}
                      </td>
                      <td>{r.status === 'ready' ? <Download id={r.id} /> : '—'}</td>
                    </tr>
                  ))
                : [0, 1, 2].map((i) => (
                    <tr class="skeleton" key={i} aria-hidden="true">
                      <td colSpan={6}>…</td>
                    </tr>
                  ))}
            </tbody>
          </table>
        </TableWrap>
        {items && !items.length && <p class="notice">No reports yet. Ask for one above.</p>}
        <Problem error={more.error} />
        {!more.done && cursor && (
          <button type="button" class="secondary" onClick={loadMore} disabled={more.busy}>
            {more.busy ? 'Loading…' : 'Load more'}
          </button>
        )}
      </section>
    </>
  );
}

/** The report's download link: its presigned URL, fetched again a minute before it expires. */
function Download({ id }) {
  const report = useApi(`/api/v1/reports/${encodeURIComponent(id)}`);
  const r = report.data;
  useEffect(() => {
    if (!r || !r.download_expires_at) return undefined;
    const wait = Date.parse(r.download_expires_at) - Date.now() - 60000;
    const timer = setTimeout(report.reload, Math.max(wait, 5000));
    return () => clearTimeout(timer);
  }, [r && r.download_expires_at]);
  if (report.error) return <span class="meta">Link unavailable</span>;
  if (!r || !r.download_url) return <span class="meta">…</span>;
  const size = r.size_bytes ? ` (${r.size_bytes >= 1e6 ? `${(r.size_bytes / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(r.size_bytes / 1e3))} KB`})` : '';
  return (
    <>
      <a href={r.download_url} rel="noopener noreferrer" aria-describedby={`rpt-${id}`}>
        Download
      </a>
      <span class="meta">{size}</span>
    </>
  );
}

function RequestForm({ sites, onRequested }) {
  const [form, setForm] = useState({ type: 'fleet-monthly', format: 'pdf', site: '', from: '', to: '', interval: '15m' });
  const [errors, setErrors] = useState({});
  const [problem, setProblem] = useState(null);
  const [busy, setBusy] = useState(false);
  const type = TYPES.find(([k]) => k === form.type) || TYPES[0];
  const csvOnly = form.type === 'telemetry-export';
  const needsSite = form.type === 'site-daily' || form.type === 'telemetry-export';
  const sorted = sites ? [...sites.values()].sort((a, b) => a.name.localeCompare(b.name)) : [];
  const set = (name) => (e) => {
    const value = e.currentTarget.value;
    setForm((f) => ({ ...f, [name]: value, ...(name === 'type' && value === 'telemetry-export' ? { format: 'csv' } : {}) }));
  };

  async function submit(event) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setErrors({});
    setProblem(null);
    const body = { type: form.type, format: csvOnly ? 'csv' : form.format };
    if (form.site) body.site_id = form.site;
    if (form.from) body.from = form.from;
    if (form.to) body.to = form.to;
    if (csvOnly) body.interval = form.interval;
    try {
      const res = await post('/api/v1/reports', body);
      onRequested(res.data);
    } catch (e) {
      if (e.status === 422 && e.errors.length) {
        const { fields, other } = fieldErrors(e, FIELDS);
        setErrors(fields);
        setProblem({ invalid: true, count: e.errors.length, other });
        const first = ['type', 'format', 'site', 'from', 'to', 'interval'].find((f) => fields[f]);
        if (first) requestAnimationFrame(() => document.getElementById(`rp-${first}`)?.focus());
      } else if (e.status === 429) {
        setProblem(new Error('Too many reports asked for in the last minute (10 a minute). Wait a moment and try again.'));
      } else setProblem(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="card block">
      <h2 id="h-request">Request a report</h2>
      {problem && problem.invalid && <FormProblem what="The report was not requested." count={problem.count} other={problem.other} />}
      {problem && !problem.invalid && <Problem error={problem} />}
      <form class="form-grid" onSubmit={submit} noValidate aria-labelledby="h-request">
        <Field id="rp-type" label="Type" errors={errors.type} hint={type[2]} class="wide">
          <select {...wire('rp-type', errors.type, true)} value={form.type} onChange={set('type')}>
            {TYPES.map(([k, name]) => (
              <option value={k} key={k}>
                {name}
              </option>
            ))}
          </select>
        </Field>
        <Field id="rp-format" label="Format" errors={errors.format}>
          <select {...wire('rp-format', errors.format)} value={csvOnly ? 'csv' : form.format} onChange={set('format')}>
            {FORMATS.map(([k, name]) => (
              <option value={k} key={k} disabled={csvOnly && k !== 'csv'}>
                {name}
              </option>
            ))}
          </select>
        </Field>
        <Field id="rp-site" label="Site" errors={errors.site}>
          <select {...wire('rp-site', errors.site)} value={form.site} onChange={set('site')} aria-required={needsSite ? 'true' : undefined}>
            <option value="">{needsSite ? 'Choose a site' : 'All sites'}</option>
            {sorted.map((s) => (
              <option value={s.id} key={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        </Field>
        <Field id="rp-from" label="From" errors={errors.from}>
          <input type="date" {...wire('rp-from', errors.from)} value={form.from} onInput={set('from')} />
        </Field>
        <Field id="rp-to" label="To" errors={errors.to}>
          <input type="date" {...wire('rp-to', errors.to)} value={form.to} onInput={set('to')} />
        </Field>
        {csvOnly && (
          <Field id="rp-interval" label="Interval" errors={errors.interval}>
            <select {...wire('rp-interval', errors.interval)} value={form.interval} onChange={set('interval')}>
              {INTERVALS.map((i) => (
                <option value={i} key={i}>
                  {i}
                </option>
              ))}
            </select>
          </Field>
        )}
        <p class="hint wide">Dates are whole days, both included; leave them empty for the type’s default period.</p>
        <div class="actions wide">
          <button type="submit" disabled={busy}>
            {busy ? 'Requesting…' : 'Request report'}
          </button>
        </div>
      </form>
    </section>
  );
}
