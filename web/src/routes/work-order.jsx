import { useRef, useState } from 'preact/hooks';
import { post } from '../api.js';
import { label, when } from '../format.js';
import { canWork } from '../roles.js';
import { navigate } from '../router.js';
import { personName, Problem, useApi, usePeople, useSites, useTitle } from '../ui.jsx';
import { Checklist } from './checklist.jsx';
import { CONFLICT, TRANSITIONS, transitionLabel } from './work.js';

const FINISHED = ['closed', 'cancelled'];

export default function WorkOrder({ params, me }) {
  const path = `/api/v1/work-orders/${encodeURIComponent(params.id)}`;
  const wo = useApi(path);
  const sites = useSites();
  const people = usePeople();
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState(null); // {conflict: true} | {missing: [step ids], message} | ApiError
  const w = wo.data;
  const version = useRef(0);
  if (w && w.version > version.current) version.current = w.version;
  useTitle(w ? w.title : 'Work order');

  // a step's answer: the whole work order comes back; an older answer arriving late is ignored
  function saved(data, etag) {
    if (!data || !data.id || data.version < version.current) return;
    version.current = data.version;
    wo.setData(data, etag || `"v${data.version}"`);
    if (problem && problem.missing) {
      const still = problem.missing.filter((sid) => (data.checklist || []).some((c) => c.id === sid && !c.done));
      setProblem(still.length ? { ...problem, missing: still } : null);
    }
  }

  async function move(to) {
    setBusy(true);
    setProblem(null);
    try {
      const res = await post(`${path}/transitions`, { to }, { ifMatch: wo.etag });
      if (res.data && res.data.id) wo.setData(res.data, res.etag || `"v${res.data.version}"`);
      else wo.reload();
    } catch (e) {
      if (e.status === 412) setProblem({ conflict: true });
      else if (e.status === 409 && Array.isArray(e.problem.missing_steps)) setProblem({ missing: e.problem.missing_steps, message: e.message });
      else setProblem(e);
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
        <p class="description">&nbsp;</p>
      </>
    );
  }
  const site = sites && sites.get(w.site_id);
  const who = (id) => (me && id === me.user_id ? 'you' : personName(people, id));
  const moves = TRANSITIONS[w.status] || [];
  return (
    <>
      <h1 tabindex="-1">{w.title}</h1>
      <p class="status-line">
        <strong>Status: {label(w.status)}</strong> <span class={`badge pri-${w.priority}`}>{w.priority}</span>
      </p>
      {/* under the title, where the line held for it while loading is (a work order without one drops it) */}
      {w.description && <p class="description">{w.description}</p>}
      {problem && problem.conflict && (
        <div role="alert" class="problem">
          <p>{CONFLICT}</p>
          <button type="button" onClick={reload}>
            Reload
          </button>
        </div>
      )}
      {problem && problem.missing && <Missing problem={problem} checklist={w.checklist || []} />}
      {problem && !problem.conflict && !problem.missing && <Problem error={problem} />}
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
              {/* the work order shows as soon as it is here; the site's name when the sites are (its id if not found) */}
              <a href={`/sites/${encodeURIComponent(w.site_id)}`}>{site ? site.name : sites ? w.site_id : '…'}</a>
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
        </section>
        <section class="card span-2" aria-labelledby="h-checklist">
          <h2 id="h-checklist">Checklist</h2>
          <Checklist wo={w} editable={canWork(me) && !FINISHED.includes(w.status)} missing={(problem && problem.missing) || []} who={who} onSaved={saved} />
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

/** Completing with required steps unanswered (409): which ones, each a link to its input. */
function Missing({ problem, checklist }) {
  const titles = new Map(checklist.map((c) => [c.id, c.item]));
  return (
    <div role="alert" class="problem">
      <p>
        <strong>Not completed: required steps are unanswered.</strong> Answer them below, then complete the work order.
      </p>
      <ul>
        {problem.missing.map((id) => (
          <li key={id}>
            <a
              href={`#step-${id}`}
              onClick={(e) => {
                const el = document.getElementById(`step-${id}`);
                if (el) {
                  e.preventDefault();
                  el.focus();
                }
              }}
            >
              {titles.get(id) || id}
            </a>
          </li>
        ))}
      </ul>
      <p class="meta">{problem.message}</p>
    </div>
  );
}
