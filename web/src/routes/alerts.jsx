import { useState } from 'preact/hooks';
import { post, qs } from '../api.js';
import { label, when } from '../format.js';
import { applyAlert, useLive } from '../live.js';
import { canWork } from '../roles.js';
import { setQuery } from '../router.js';
import { Problem, TableWrap, useSites, useTitle } from '../ui.jsx';

// the Status filter: "open" (the default) is every alert not yet resolved
const VIEWS = {
  open: ['Open (active and acknowledged)', ['active', 'acknowledged']],
  active: ['Active', ['active']],
  acknowledged: ['Acknowledged', ['acknowledged']],
  resolved: ['Resolved', ['resolved']],
};

export default function Alerts({ query, me }) {
  useTitle('Alerts');
  const view = VIEWS[query.get('status')] ? query.get('status') : 'open';
  // alert frames keep the list while the socket is open; it is polled every 5 s otherwise
  const statuses = VIEWS[view][1];
  const live = useLive(`/api/v1/alerts${qs({ status: statuses, limit: 100 })}`, {
    on: { alert: (page, frame) => applyAlert(page, frame.alert, statuses) },
  });
  const sites = useSites();
  const [changed, setChanged] = useState({}); // id -> the alert as an action left it, until the list shows it
  const [busy, setBusy] = useState(null);
  const [problem, setProblem] = useState(null);
  const items = live.data ? live.data.items.map((a) => (changed[a.id] && changed[a.id].version > a.version ? changed[a.id] : a)) : null;
  const writer = canWork(me);

  async function act(alert, action) {
    setBusy(alert.id);
    setProblem(null);
    try {
      const res = await post(`/api/v1/alerts/${encodeURIComponent(alert.id)}/${action}`, {}, { ifMatch: `"v${alert.version}"` });
      if (res.data && res.data.id) setChanged((c) => ({ ...c, [alert.id]: res.data }));
    } catch (e) {
      setProblem(
        e.status === 412
          ? { message: `The alert “${alert.message}” was changed by someone else — reload: the list shows the change within seconds.` }
          : e
      );
    } finally {
      setBusy(null);
    }
  }

  return (
    <>
      <h1 tabindex="-1">Alerts</h1>
      <div class="filters">
        <div>
          <label for="f-alert-status">Status</label>
          <select id="f-alert-status" value={view} onChange={(e) => setQuery({ status: e.currentTarget.value === 'open' ? null : e.currentTarget.value })}>
            {Object.entries(VIEWS).map(([key, [text]]) => (
              <option value={key} key={key}>
                {text}
              </option>
            ))}
          </select>
        </div>
      </div>
      <Problem error={problem || live.error} />
      <TableWrap label="Alerts">
        <table>
          <caption class="visually-hidden">Alerts</caption>
          <thead>
            <tr>
              <th scope="col">Severity</th>
              <th scope="col">Alert</th>
              <th scope="col">Site</th>
              <th scope="col">Raised</th>
              <th scope="col">Status</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {items
              ? items.map((a) => (
                  <tr key={a.id}>
                    <td>
                      <span class={`badge sev-${a.severity}`}>{a.severity}</span>
                    </td>
                    <td class="wrap">{a.message}</td>
                    <td>
                      {sites && sites.get(a.site_id) ? <a href={`/sites/${encodeURIComponent(a.site_id)}`}>{sites.get(a.site_id).name}</a> : '…'}
                    </td>
                    <td>{when(a.raised_at)}</td>
                    <td>{label(a.status)}</td>
                    <td>
                      <div class="actions">
                        {writer && a.status === 'active' && (
                          <button type="button" class="small" disabled={busy === a.id} onClick={() => act(a, 'acknowledge')}>
                            Acknowledge
                          </button>
                        )}
                        {writer && a.status !== 'resolved' && (
                          <button type="button" class="small secondary" disabled={busy === a.id} onClick={() => act(a, 'resolve')}>
                            Resolve
                          </button>
                        )}
                        {a.work_order_id && <a href={`/work-orders/${encodeURIComponent(a.work_order_id)}`}>Work order</a>}
                      </div>
                    </td>
                  </tr>
                ))
              : [0, 1, 2, 3, 4].map((i) => (
                  <tr class="skeleton" key={i} aria-hidden="true">
                    <td colSpan={6}>…</td>
                  </tr>
                ))}
          </tbody>
        </table>
      </TableWrap>
      {items && !items.length && <p class="notice">No alerts here.</p>}
    </>
  );
}
