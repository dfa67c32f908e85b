import { useEffect, useMemo, useState } from 'preact/hooks';
import { num, pct, prBand } from '../format.js';
import { setQuery } from '../router.js';
import { Problem, TableWrap, useApi, useSites, useTitle } from '../ui.jsx';

// [key in the dashboard row, column header, formatter, numeric]
const COLUMNS = [
  ['name', 'Site', null, false],
  ['performance_ratio', 'PR', pct, true],
  ['availability', 'Availability', pct, true],
  ['energy_today_mwh', 'Energy today (MWh)', (x) => num(x, 1), true],
  ['lost_energy_mwh', 'Lost energy (MWh)', (x) => num(x, 2), true],
  ['open_work_orders', 'Open work', (x) => num(x, 0), true],
  ['active_alerts', 'Active alerts', (x) => num(x, 0), true],
];
const KEYS = new Set(COLUMNS.map((c) => c[0]));

function compare(key, order) {
  const dir = order === 'desc' ? -1 : 1;
  return (a, b) => {
    const x = a[key];
    const y = b[key];
    const xMissing = x === null || x === undefined;
    const yMissing = y === null || y === undefined;
    if (xMissing || yMissing) return xMissing === yMissing ? a.name.localeCompare(b.name) : xMissing ? 1 : -1; // missing last
    const c = typeof x === 'string' ? x.localeCompare(y) : x - y;
    return c === 0 ? a.name.localeCompare(b.name) : c * dir;
  };
}

let FleetMap = null; // the map's chunk, once loaded

export default function Fleet({ query }) {
  useTitle('Fleet');
  const sort = KEYS.has(query.get('sort')) ? query.get('sort') : 'name';
  const order = query.get('order') === 'desc' ? 'desc' : 'asc';
  const dashboard = useApi('/api/v1/dashboard');
  const sites = useSites();
  const rows = useMemo(() => (dashboard.data ? [...dashboard.data.sites].sort(compare(sort, order)) : null), [dashboard.data, sort, order]);

  // the map (its own chunk) only once there is something to draw
  const [, setMapReady] = useState(!!FleetMap);
  const located = sites ? [...sites.values()].filter((s) => s.location && typeof s.location.latitude === 'number') : [];
  useEffect(() => {
    if (FleetMap || !located.length) return;
    import('./fleet-map.jsx').then((m) => {
      FleetMap = m.default;
      setMapReady(true);
    });
  }, [located.length]);

  function sortBy(key) {
    const nextOrder = key === sort ? (order === 'asc' ? 'desc' : 'asc') : key === 'name' ? 'asc' : 'desc';
    setQuery({ sort: key === 'name' && nextOrder === 'asc' ? null : key, order: nextOrder === 'asc' ? null : nextOrder });
  }

  return (
    <>
      <h1 tabindex="-1">Fleet</h1>
      <Problem error={dashboard.error} />
      <Totals totals={dashboard.data && dashboard.data.totals} />
      <TableWrap label="Sites">
        <table>
          <caption>Sites</caption>
          <thead>
            <tr>
              {COLUMNS.map(([key, title, , numeric]) => (
                <th
                  scope="col"
                  class={numeric ? 'num' : undefined}
                  aria-sort={sort === key ? (order === 'asc' ? 'ascending' : 'descending') : undefined}
                  key={key}
                >
                  <button type="button" class="sort" onClick={() => sortBy(key)}>
                    {title}
                    <span class="arrow" aria-hidden="true">
                      {sort === key ? (order === 'asc' ? '▲' : '▼') : ''}
                    </span>
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows
              ? rows.map((site) => (
                  <tr key={site.site_id}>
                    <th scope="row">
                      <a href={`/sites/${encodeURIComponent(site.site_id)}`}>{site.name}</a>
                    </th>
                    {COLUMNS.slice(1).map(([key, , fmt]) => (
                      <td class="num" key={key}>
                        {key === 'performance_ratio' ? <span class={`badge pr-${prBand(site[key])}`}>{fmt(site[key])}</span> : fmt(site[key])}
                      </td>
                    ))}
                  </tr>
                ))
              : [0, 1, 2].map((i) => (
                  <tr class="skeleton" key={i} aria-hidden="true">
                    {COLUMNS.map(([key]) => (
                      <td key={key}>…</td>
                    ))}
                  </tr>
                ))}
          </tbody>
        </table>
      </TableWrap>
      {rows && !rows.length && <p class="notice">No sites yet.</p>}
      <p class="meta">{dashboard.data && dashboard.data.as_of ? `KPIs as of ${new Date(dashboard.data.as_of).toLocaleString()}, refreshed every 5 minutes.` : '\u00a0'}</p>
      {FleetMap && located.length > 0 && <FleetMap sites={located} rows={dashboard.data ? dashboard.data.sites : []} />}
    </>
  );
}

function Totals({ totals }) {
  const t = totals || {};
  return (
    <dl class="kpis">
      <div>
        <dt>Sites</dt>
        <dd>{totals ? num(t.sites, 0) : '…'}</dd>
      </div>
      <div>
        <dt>PR today</dt>
        <dd>{totals ? pct(t.performance_ratio) : '…'}</dd>
      </div>
      <div>
        <dt>Availability</dt>
        <dd>{totals ? pct(t.availability) : '…'}</dd>
      </div>
      <div>
        <dt>Energy today</dt>
        <dd>{totals ? `${num(t.energy_today_mwh, 1)} MWh` : '…'}</dd>
      </div>
      <div>
        <dt>Open work</dt>
        <dd>
          {totals ? num(t.open_work_orders, 0) : '…'}
          {totals && <span class="meta"> · {num(t.overdue_work_orders, 0)} overdue</span>}
        </dd>
      </div>
      <div>
        <dt>Active alerts</dt>
        <dd>{totals ? num(t.active_alerts, 0) : '…'}</dd>
      </div>
    </dl>
  );
}
