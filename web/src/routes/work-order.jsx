import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { label, when } from '../format.js';
import { canWork } from '../roles.js';
import { navigate } from '../router.js';
import { Problem, useApi, useSites, useTitle } from '../ui.jsx';
import { CONFLICT, TRANSITIONS, transitionLabel } from './work.js';

export default function WorkOrder({ params, me }) {
  const path = `/api/v1/work-orders/${encodeURIComponent(params.id)}`;
  const wo = useApi(path);
  const sites = useSites();
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState(null); // {conflict: true} | ApiError
  const w = wo.data;
  useTitle(w ? w.title : 'Work order');

  async function move(to) {
    setBusy(true);
    setProblem(null);
    try {
      const res = await post(`${path}/transitions`, { to }, { ifMatch: wo.etag });
      if (res.data && res.data.id) wo.setData(res.data, res.etag || `"v${res.data.version}"`);
      else wo.reload();
    } catch (e) {
      setProblem(e.status === 412 ? { conflict: true } : e);
    } finally {
      setBusy(false);
    }
  }

  function reload() {
    setProblem(null);
    wo.reload();
  }

  if (wo.error && !w) {
    return (
      <>
        <h1 tabindex="-1">Work order</h1>
        <Problem error={wo.error} />
        <p>
          <a href="/work-orders">All work orders</a>
        </p>
      </>
    );
  }
  if (!w) {
    return (
      <>
        <h1 tabindex="-1">…</h1>
        <p class="status-line">&nbsp;</p>
      </>
    );
  }
  const site = sites && sites.get(w.site_id);
  const who = (id) => (me && id === me.user_id ? 'you' : id);
  const moves = TRANSITIONS[w.status] || [];
  return (
    <>
      <h1 tabindex="-1">{w.title}</h1>
      <p class="status-line">
        <strong>Status: {label(w.status)}</strong> <span class={`badge pri-${w.priority}`}>{w.priority}</span>
      </p>
      {problem && problem.conflict && (
        <div role="alert" class="problem">
          <p>{CONFLICT}</p>
          <button type="button" onClick={reload}>
            Reload
          </button>
        </div>
      )}
      {problem && !problem.conflict && <Problem error={problem} />}
      {canWork(me) && (
        <div class="actions">
          {moves.map((to) => (
            <button type="button" key={to} class={to === 'cancelled' ? 'danger' : undefined} disabled={busy} onClick={() => move(to)}>
              {transitionLabel(w.status, to)}
            </button>
          ))}
          <button type="button" class="secondary" disabled={busy} onClick={() => navigate(`/work-orders/${encodeURIComponent(w.id)}/edit`)}>
            Edit
          </button>
        </div>
      )}
      <div class="sections">
        <section class="card" aria-labelledby="h-details">
          <h2 id="h-details">Details</h2>
          <dl class="facts">
            <dt>Site</dt>
            <dd>
              <a href={`/sites/${encodeURIComponent(w.site_id)}`}>{site ? site.name : w.site_id}</a>
            </dd>
            <dt>Type</dt>
            <dd>{w.type}</dd>
            <dt>Priority</dt>
            <dd>{w.priority}</dd>
            <dt>Assignee</dt>
            <dd>{w.assigned_to ? who(w.assigned_to) : 'Unassigned'}</dd>
            <dt>Due</dt>
            <dd>{when(w.due_at)}</dd>
            <dt>Created</dt>
            <dd>{when(w.created_at)}</dd>
            {w.completed_at && (
              <>
                <dt>Completed</dt>
                <dd>{when(w.completed_at)}</dd>
              </>
            )}
            {w.source_alert_id && (
              <>
                <dt>Raised by alert</dt>
                <dd>{w.source_alert_id}</dd>
              </>
            )}
          </dl>
          {w.description && <p class="description">{w.description}</p>}
        </section>
        <section class="card" aria-labelledby="h-checklist">
          <h2 id="h-checklist">Checklist</h2>
          {w.checklist && w.checklist.length ? (
            <ul class="plain checklist">
              {w.checklist.map((c, i) => (
                <li key={c.id || i}>
                  <span class="done-mark" aria-hidden="true">
                    {c.done ? '✓' : '○'}
                  </span>
                  <span>
                    {c.item}
                    {c.required && <span class="meta"> (required)</span>}
                    <span class="visually-hidden">{c.done ? ': done' : ': not done'}</span>
                  </span>
                </li>
              ))}
            </ul>
          ) : (
            <p class="meta">No checklist.</p>
          )}
        </section>
        <section class="card" aria-labelledby="h-history">
          <h2 id="h-history">History</h2>
          {w.history && w.history.length ? (
            <ol class="plain">
              {w.history.map((h, i) => (
                <li key={i}>
                  {label(h.from_status)} → {label(h.to)} <span class="meta">by {who(h.by)}, {when(h.at)}</span>
                  {h.note && <div class="meta">{h.note}</div>}
                </li>
              ))}
            </ol>
          ) : (
            <p class="meta">No status changes yet.</p>
          )}
        </section>
      </div>
    </>
  );
}
