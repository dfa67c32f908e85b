import { useEffect, useState } from 'preact/hooks';
import { get, qs } from '../api.js';
import { day, label } from '../format.js';
import { canWork } from '../roles.js';
import { setQuery } from '../router.js';
import { Problem, TableWrap, personName, useApi, usePeople, useSites, useTitle } from '../ui.jsx';
import { PRIORITIES, STATUSES } from './work.js';

export default function WorkOrders({ query, me }) {
  useTitle('Work orders');
  const status = STATUSES.includes(query.get('status')) ? query.get('status') : '';
  const priority = PRIORITIES.includes(query.get('priority')) ? query.get('priority') : '';
  const site = query.get('site') || '';
  const assignee = query.get('assignee') || '';
  const sites = useSites();
  const people = usePeople();
  const filters = { status, priority, site_id: site, assigned_to: assignee };
  const first = useApi(`/api/v1/work-orders${qs({ ...filters, limit: 50 })}`);
  const [more, setMore] = useState({ items: [], cursor: null, busy: false, error: null });

  useEffect(() => setMore({ items: [], cursor: null, busy: false, error: null }), [first.data]);

  const items = first.data ? [...first.data.items, ...more.items] : null;
  const cursor = more.cursor || (first.data && !more.items.length ? first.data.next_cursor : null);

  async function loadMore() {
    setMore((m) => ({ ...m, busy: true, error: null }));
    try {
      const res = await get(`/api/v1/work-orders${qs({ ...filters, limit: 50, cursor })}`);
      setMore((m) => ({ items: [...m.items, ...res.data.items], cursor: res.data.next_cursor, busy: false, error: null, done: !res.data.next_cursor }));
    } catch (error) {
      setMore((m) => ({ ...m, busy: false, error }));
    }
  }

  const siteName = (id) => (sites && sites.get(id) ? sites.get(id).name : '…');
  const sorted = sites ? [...sites.values()].sort((a, b) => a.name.localeCompare(b.name)) : [];
  const hasMore = more.done ? false : !!cursor;
  const team = people ? [...people.values()].sort((a, b) => a.name.localeCompare(b.name)) : [];

  return (
    <>
      <div class="page-head">
        <h1 tabindex="-1">Work orders</h1>
        {canWork(me) && (
          <a class="button" href="/work-orders/new">
            New work order
          </a>
        )}
      </div>
      <div class="filters">
        <div>
          <label for="f-status">Status</label>
          <select id="f-status" value={status} onChange={(e) => setQuery({ status: e.currentTarget.value })}>
            <option value="">Any</option>
            {STATUSES.map((s) => (
              <option value={s} key={s}>
                {label(s)}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="f-priority">Priority</label>
          <select id="f-priority" value={priority} onChange={(e) => setQuery({ priority: e.currentTarget.value })}>
            <option value="">Any</option>
            {PRIORITIES.map((p) => (
              <option value={p} key={p}>
                {p}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="f-site">Site</label>
          <select id="f-site" value={site} onChange={(e) => setQuery({ site: e.currentTarget.value })}>
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
          <label for="f-assignee">Assignee</label>
          <select id="f-assignee" value={assignee} onChange={(e) => setQuery({ assignee: e.currentTarget.value })}>
            <option value="">Anyone</option>
            {assignee && !team.some((p) => p.id === assignee) && <option value={assignee}>{assignee}</option>}
            {team.map((p) => (
              <option value={p.id} key={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </div>
      </div>
      <Problem error={first.error} />
      <TableWrap label="Work orders">
        <table>
          <caption class="visually-hidden">Work orders</caption>
          <thead>
            <tr>
              <th scope="col">Title</th>
              <th scope="col">Status</th>
              <th scope="col">Priority</th>
              <th scope="col">Type</th>
              <th scope="col">Site</th>
              <th scope="col">Assignee</th>
              <th scope="col">Due</th>
            </tr>
          </thead>
          <tbody>
            {items
              ? items.map((w) => (
                  <tr key={w.id}>
                    <td class="wrap">
                      <a href={`/work-orders/${encodeURIComponent(w.id)}`}>{w.title}</a>
                    </td>
                    <td>{label(w.status)}</td>
                    <td>
                      <span class={`badge pri-${w.priority}`}>{w.priority}</span>
                    </td>
                    <td>{w.type}</td>
                    <td>{siteName(w.site_id)}</td>
                    <td>{w.assigned_to ? personName(people, w.assigned_to) : '—'}</td>
                    <td>{day(w.due_at)}</td>
                  </tr>
                ))
              : [0, 1, 2, 3, 4].map((i) => (
                  <tr class="skeleton" key={i} aria-hidden="true">
                    <td colSpan={7}>…</td>
                  </tr>
                ))}
          </tbody>
        </table>
      </TableWrap>
      {items && !items.length && <p class="notice">No work orders match these filters.</p>}
      <Problem error={more.error} />
      {hasMore && (
        <button type="button" class="secondary" onClick={loadMore} disabled={more.busy}>
          {more.busy ? 'Loading…' : 'Load more'}
        </button>
      )}
    </>
  );
}
