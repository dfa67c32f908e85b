// Preventive maintenance (docs/pm.md): the schedules, the preventive work open past its due time, and compliance
// this month from the fleet dashboard. The Site and Trigger filters are in the URL.
import { useEffect, useState } from 'preact/hooks';
import { get, qs } from '../api.js';
import { label, num, pct, when } from '../format.js';
import { setQuery } from '../router.js';
import { Loading, Problem, TableWrap, useApi, useSites, useTitle } from '../ui.jsx';
import { scopeText, triggerText, whenIn } from './pm-text.js';

const TRIGGERS = [
  ['calendar', 'Calendar'],
  ['meter', 'Meter'],
  ['condition', 'Condition'],
];

const NOT_DATED = { meter: 'By meter reading', condition: 'When the condition holds' };

export default function PM({ query }) {
  useTitle('Preventive maintenance');
  const sites = useSites();
  const site = query.get('site') || '';
  const trigger = TRIGGERS.some(([t]) => t === query.get('trigger')) ? query.get('trigger') : '';
  const sorted = sites ? [...sites.values()].sort((a, b) => a.name.localeCompare(b.name)) : [];
  return (
    <>
      <h1 tabindex="-1">Preventive maintenance</h1>
      <div class="filters">
        <div>
          <label for="pm-site">Site</label>
          <select id="pm-site" value={site} onChange={(e) => setQuery({ site: e.currentTarget.value })}>
            <option value="">All sites</option>
            {site && !sorted.some((s) => s.id === site) && <option value={site}>{site}</option>}
            {sorted.map((s) => (
              <option value={s.id} key={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="pm-trigger">Trigger</label>
          <select id="pm-trigger" value={trigger} onChange={(e) => setQuery({ trigger: e.currentTarget.value })}>
            <option value="">Any</option>
            {TRIGGERS.map(([value, text]) => (
              <option value={value} key={value}>
                {text}
              </option>
            ))}
          </select>
        </div>
      </div>
      <Schedules site={site} trigger={trigger} sites={sites} />
      <Overdue site={site} sites={sites} />
      <Compliance site={site} />
    </>
  );
}

function Schedules({ site, trigger, sites }) {
  const path = `/api/v1/pm-schedules${qs({ site_id: site, trigger, limit: 100 })}`;
  const first = useApi(path);
  const [more, setMore] = useState({ items: [], cursor: null, busy: false, error: null, done: false });
  useEffect(() => setMore({ items: [], cursor: null, busy: false, error: null, done: false }), [first.data]);
  const items = first.data ? [...first.data.items, ...more.items] : null;
  const cursor = more.cursor || (first.data && !more.items.length ? first.data.next_cursor : null);

  async function loadMore() {
    setMore((m) => ({ ...m, busy: true, error: null }));
    try {
      const res = await get(`/api/v1/pm-schedules${qs({ site_id: site, trigger, limit: 100, cursor })}`);
      setMore((m) => ({ items: [...m.items, ...res.data.items], cursor: res.data.next_cursor, busy: false, error: null, done: !res.data.next_cursor }));
    } catch (error) {
      setMore((m) => ({ ...m, busy: false, error }));
    }
  }

  const now = Date.now();
  return (
    <section class="block" aria-labelledby="h-schedules">
      <h2 id="h-schedules">Schedules</h2>
      <Problem error={first.error} />
      <TableWrap label="Schedules">
        <table>
          <caption class="visually-hidden">PM schedules</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Scope</th>
              <th scope="col">Trigger</th>
              <th scope="col">Next due</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {items
              ? items.map((s) => (
                  <tr key={s.id}>
                    <td class="wrap">
                      <a href={`/pm/${encodeURIComponent(s.id)}`}>{s.name}</a>
                    </td>
                    <td class="wrap">{scopeText(s, sites)}</td>
                    <td class="wrap">{triggerText(s.trigger)}</td>
                    <td>
                      {s.next_due ? whenIn(s.next_due, s.timezone) : NOT_DATED[s.trigger.kind] || '—'}
                      {s.enabled && s.next_due && Date.parse(s.next_due) <= now && (
                        <>
                          {' '}
                          <span class="badge pri-high">due</span>
                        </>
                      )}
                    </td>
                    <td>{s.enabled ? 'Enabled' : <span class="badge">Disabled</span>}</td>
                  </tr>
                ))
              : [0, 1, 2].map((i) => (
                  <tr class="skeleton" key={i} aria-hidden="true">
                    <td colSpan={5}>…</td>
                  </tr>
                ))}
          </tbody>
        </table>
      </TableWrap>
      {items && !items.length && <p class="notice">No PM schedules here.</p>}
      <Problem error={more.error} />
      {!more.done && cursor && (
        <button type="button" class="secondary" onClick={loadMore} disabled={more.busy}>
          {more.busy ? 'Loading…' : 'Load more'}
        </button>
      )}
    </section>
  );
}

function Overdue({ site, sites }) {
  const overdue = useApi(`/api/v1/pm-overdue${qs({ site_id: site, limit: 100 })}`);
  const items = overdue.data ? overdue.data.items : null;
  const siteName = (id) => (sites && sites.get(id) ? sites.get(id).name : '…');
  return (
    <section class="block" aria-labelledby="h-overdue">
      <h2 id="h-overdue">Overdue</h2>
      <p class="meta">Preventive work still open past its due time, most overdue first.</p>
      <Problem error={overdue.error} />
      {!items && !overdue.error && <Loading />}
      {items && !items.length && <p class="notice">No preventive work is overdue.</p>}
      {items && items.length > 0 && (
        <TableWrap label="Overdue preventive work">
          <table>
            <caption class="visually-hidden">Overdue preventive work</caption>
            <thead>
              <tr>
                <th scope="col">Work order</th>
                <th scope="col">Site</th>
                <th scope="col">Due</th>
                <th scope="col" class="num">
                  Days overdue
                </th>
                <th scope="col">Status</th>
                <th scope="col">Schedule</th>
              </tr>
            </thead>
            <tbody>
              {items.map((w) => (
                <tr key={w.id}>
                  <td class="wrap">
                    <a href={`/work-orders/${encodeURIComponent(w.id)}`}>{w.title || w.id}</a>
                  </td>
                  <td>{siteName(w.site_id)}</td>
                  <td>{when(w.due_at)}</td>
                  <td class="num">{num(w.days_overdue, 1)}</td>
                  <td>{label(w.status)}</td>
                  <td>
                    <a href={`/pm/${encodeURIComponent(w.pm_schedule_id)}`}>Schedule</a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </section>
  );
}

function Compliance({ site }) {
  const dash = useApi('/api/v1/dashboard');
  const rows = dash.data ? dash.data.sites.filter((s) => !site || s.site_id === site).sort((a, b) => a.name.localeCompare(b.name)) : null;
  const t = dash.data ? (site ? rows[0] : dash.data.totals) : null;
  return (
    <section class="block" aria-labelledby="h-compliance">
      <h2 id="h-compliance">Compliance</h2>
      <Problem error={dash.error} />
      <dl class="kpis">
        <div>
          <dt>PM compliance this month</dt>
          <dd>{t ? pct(t.pm_compliance_mtd) : '…'}</dd>
        </div>
        <div>
          <dt>PM due this month</dt>
          <dd>{t ? num(t.pm_due_mtd, 0) : '…'}</dd>
        </div>
        <div>
          <dt>Done on time</dt>
          <dd>{t ? num(t.pm_on_time_mtd, 0) : '…'}</dd>
        </div>
        <div>
          <dt>Overdue PM</dt>
          <dd>{t ? num(t.pm_overdue, 0) : '…'}</dd>
        </div>
        <div>
          <dt>Planned work this month</dt>
          <dd>{t ? pct(t.planned_ratio_mtd) : '…'}</dd>
        </div>
      </dl>
      {rows && rows.length > 0 && (
        <TableWrap label="Compliance by site">
          <table>
            <caption>Compliance by site</caption>
            <thead>
              <tr>
                <th scope="col">Site</th>
                <th scope="col" class="num">
                  Due
                </th>
                <th scope="col" class="num">
                  On time
                </th>
                <th scope="col" class="num">
                  Compliance
                </th>
                <th scope="col" class="num">
                  Overdue
                </th>
                <th scope="col" class="num">
                  Planned
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.site_id}>
                  <th scope="row">
                    <a href={`/sites/${encodeURIComponent(r.site_id)}`}>{r.name}</a>
                  </th>
                  <td class="num">{num(r.pm_due_mtd, 0)}</td>
                  <td class="num">{num(r.pm_on_time_mtd, 0)}</td>
                  <td class="num">{pct(r.pm_compliance_mtd)}</td>
                  <td class="num">{num(r.pm_overdue, 0)}</td>
                  <td class="num">{pct(r.planned_ratio_mtd)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <p class="meta">
        Compliance: preventive work done by its due day over the work due so far this month (each site's local month). Planned: preventive and inspection
        work among all work created this month.
        {dash.data && dash.data.as_of ? ` As of ${when(dash.data.as_of)}; refreshed every 5 minutes.` : ''}
      </p>
    </section>
  );
}
