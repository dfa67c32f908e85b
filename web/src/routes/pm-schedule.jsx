// One PM schedule: what it does where and when, its procedure's steps, its coming occurrences (the forecast,
// `?horizon=` in the URL), each target's state; admins and supervisors enable or disable it (If-Match).
import { useState } from 'preact/hooks';
import { patch, qs } from '../api.js';
import { label, num, when } from '../format.js';
import { canEditFleet } from '../roles.js';
import { setQuery } from '../router.js';
import { Loading, Problem, TableWrap, useApi, useSites, useTitle } from '../ui.jsx';
import { scopeText, triggerText, whenIn, windowText } from './pm-text.js';

const HORIZONS = [
  ['90d', '90 days'],
  ['180d', '180 days'],
  ['365d', '1 year'],
];
const POLICY = { skip: 'Skip an occurrence while the previous one is open', stack: 'Generate it anyway' };
const CONFLICT = 'This schedule was changed by someone else — reload to see the latest version.';

export default function PMSchedule({ params, query, me }) {
  const enc = encodeURIComponent(params.id);
  const schedule = useApi(`/api/v1/pm-schedules/${enc}`);
  const s = schedule.data;
  const sites = useSites();
  const procedure = useApi(s ? `/api/v1/procedures/${encodeURIComponent(s.procedure_id)}` : null);
  const assets = useApi(s && s.site_id ? `/api/v1/assets${qs({ site_id: s.site_id, type: s.asset_type, limit: 1000 })}` : null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState(null);
  useTitle(s ? s.name : 'PM schedule');

  const names = new Map(assets.data ? assets.data.items.map((a) => [a.id, a.name]) : []);
  const assetName = (id) => (id === 'site' ? 'The site' : names.get(id) || id);

  async function toggle() {
    setBusy(true);
    setProblem(null);
    try {
      const res = await patch(`/api/v1/pm-schedules/${enc}`, { enabled: !s.enabled }, { ifMatch: schedule.etag || `"v${s.version}"` });
      schedule.setData(res.data, res.etag || `"v${res.data.version}"`);
    } catch (e) {
      setProblem(e.status === 412 ? { conflict: true } : e);
    } finally {
      setBusy(false);
    }
  }

  if (!s) {
    return (
      <>
        <h1 tabindex="-1">{schedule.error ? 'PM schedule' : '…'}</h1>
        <Problem error={schedule.error} />
        {!schedule.error && <Loading />}
        <p>
          <a href="/pm">All PM schedules</a>
        </p>
      </>
    );
  }

  const targets = Object.entries(s.targets || {});
  return (
    <>
      <p class="crumbs">
        <a href="/pm">Preventive maintenance</a>
      </p>
      <h1 tabindex="-1">{s.name}</h1>
      <p class="status-line">
        <strong>Status: {s.enabled ? 'Enabled' : 'Disabled'}</strong> <span class={`badge pri-${s.priority}`}>{s.priority}</span>
      </p>
      {problem && problem.conflict && (
        <div role="alert" class="problem">
          <p>{CONFLICT}</p>
          <button
            type="button"
            onClick={() => {
              setProblem(null);
              schedule.reload();
            }}
          >
            Reload
          </button>
        </div>
      )}
      {problem && !problem.conflict && <Problem error={problem} />}
      {canEditFleet(me) && (
        <div class="actions">
          <button type="button" class={s.enabled ? 'danger' : undefined} disabled={busy} onClick={toggle}>
            {s.enabled ? 'Disable' : 'Enable'}
          </button>
        </div>
      )}
      <div class="sections">
        <section class="card" aria-labelledby="h-details">
          <h2 id="h-details">Details</h2>
          <dl class="facts">
            <dt>Scope</dt>
            <dd>
              {s.site_id ? <a href={`/sites/${encodeURIComponent(s.site_id)}`}>{scopeText(s, sites, s.asset_id && names.get(s.asset_id))}</a> : scopeText(s, sites)}
            </dd>
            <dt>Trigger</dt>
            <dd>{triggerText(s.trigger)}</dd>
            <dt>Window</dt>
            <dd>{windowText(s.production_window)}</dd>
            <dt>Next due</dt>
            <dd>{whenIn(s.next_due, s.timezone)}</dd>
            <dt>Lead time</dt>
            <dd>{s.lead_time_days ? `${s.lead_time_days} days before it is due` : 'None: generated when due'}</dd>
            <dt>Previous still open</dt>
            <dd>{POLICY[s.open_policy] || s.open_policy}</dd>
            <dt>Assigned to</dt>
            <dd>{s.assigned_to || 'Unassigned'}</dd>
            <dt>Time zone</dt>
            <dd>{s.timezone}</dd>
            <dt>Last run</dt>
            <dd>{when(s.last_run_at)}</dd>
          </dl>
        </section>
        <section class="card" aria-labelledby="h-procedure">
          <h2 id="h-procedure">Procedure</h2>
          <Problem error={procedure.error} />
          {!procedure.data && !procedure.error && <Loading />}
          {procedure.data && (
            <>
              <p>
                <strong>{procedure.data.name}</strong>
                {procedure.data.estimated_duration_min ? <span class="meta"> · about {procedure.data.estimated_duration_min} min</span> : null}
              </p>
              <ol class="steps">
                {procedure.data.steps.map((step) => (
                  <li key={step.id}>
                    {step.title}
                    <span class="meta">
                      {' '}
                      ({stepKind(step)}
                      {step.required === false ? ', optional' : ''})
                    </span>
                  </li>
                ))}
              </ol>
            </>
          )}
        </section>
        <Forecast id={enc} s={s} query={query} assetName={assetName} />
        <section class="card wide" aria-labelledby="h-targets">
          <h2 id="h-targets">Targets</h2>
          {!targets.length && <p class="meta">Not run yet: the pm function records each target's state when it runs (every 15 minutes).</p>}
          {targets.length > 0 && (
            <TableWrap label="Targets">
              <table>
                <caption class="visually-hidden">Each target's state</caption>
                <thead>
                  <tr>
                    <th scope="col">Target</th>
                    <th scope="col">Last due</th>
                    <th scope="col">Last work order</th>
                    <th scope="col" class="num">
                      Skipped
                    </th>
                    {s.trigger.kind !== 'calendar' && (
                      <th scope="col" class="num">
                        Reading
                      </th>
                    )}
                  </tr>
                </thead>
                <tbody>
                  {targets.map(([key, t]) => (
                    <tr key={key}>
                      <td>{assetName(key)}</td>
                      <td>{whenIn(t.last_due, s.timezone)}</td>
                      <td>
                        {t.work_order_id ? (
                          <>
                            <a href={`/work-orders/${encodeURIComponent(t.work_order_id)}`}>{t.work_order_id}</a> {t.work_order_done ? '(done)' : '(open)'}
                          </>
                        ) : (
                          '—'
                        )}
                      </td>
                      <td class="num">{num(t.skipped, 0)}</td>
                      {s.trigger.kind !== 'calendar' && <td class="num">{num(t.reading, 1)}</td>}
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
          )}
        </section>
      </div>
    </>
  );
}

function stepKind(step) {
  if (step.kind === 'number') {
    const range = step.min !== null && step.min !== undefined && step.max !== null && step.max !== undefined ? `${step.min}–${step.max}` : step.min !== null && step.min !== undefined ? `≥ ${step.min}` : step.max !== null && step.max !== undefined ? `≤ ${step.max}` : '';
    return ['number', [range, step.unit].filter(Boolean).join(' ')].filter(Boolean).join(', ');
  }
  return label(step.kind || 'check');
}

function Forecast({ id, s, query, assetName }) {
  const horizon = HORIZONS.find(([h]) => h === query.get('horizon')) || HORIZONS[0];
  const forecast = useApi(`/api/v1/pm-schedules/${id}/forecast?horizon=${horizon[0]}`);
  const items = forecast.data ? forecast.data.occurrences : null;
  const byAsset = items && items.some((o) => o.asset_id);
  return (
    <section class="card span-2" aria-labelledby="h-forecast">
      <h2 id="h-forecast">Forecast</h2>
      <div role="group" aria-label="Horizon" class="ranges actions">
        {HORIZONS.map(([h, text]) => (
          <button type="button" key={h} class="secondary small" aria-pressed={String(horizon[0] === h)} onClick={() => setQuery({ horizon: h === '90d' ? null : h })}>
            {text}
          </button>
        ))}
      </div>
      <Problem error={forecast.error} />
      {!items && !forecast.error && <Loading />}
      {items && !items.length && (
        <p class="notice">
          {s.trigger.kind === 'condition'
            ? 'A condition has no forecast: the work is generated on the day the condition holds.'
            : `Nothing comes due in the next ${horizon[1]}.`}
        </p>
      )}
      {items && items.length > 0 && (
        <TableWrap label="Coming occurrences">
          <table>
            <caption>Coming occurrences, next {horizon[1]}</caption>
            <thead>
              <tr>
                <th scope="col">Due (site time)</th>
                <th scope="col">Work generated</th>
                {byAsset && <th scope="col">Asset</th>}
              </tr>
            </thead>
            <tbody>
              {items.map((o, i) => (
                <tr key={`${o.occurrence}-${o.asset_id || ''}-${i}`}>
                  <td>{whenIn(o.due_at, s.timezone)}</td>
                  <td>{o.generate_at === o.due_at ? 'When due' : whenIn(o.generate_at, s.timezone)}</td>
                  {byAsset && <td>{o.asset_id ? assetName(o.asset_id) : '—'}</td>}
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </section>
  );
}
