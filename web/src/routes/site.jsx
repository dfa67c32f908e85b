import { useEffect, useState } from 'preact/hooks';
import { all, qs } from '../api.js';
import { label, num, pct, when } from '../format.js';
import { applyAlert, useLive } from '../live.js';
import { setQuery } from '../router.js';
import { Loading, Problem, useApi, useTitle } from '../ui.jsx';
import AssetTree from './asset-tree.jsx';
import Telemetry from './telemetry.jsx';

const OPEN = ['open', 'in_progress', 'on_hold'];
const UNRESOLVED = ['active', 'acknowledged'];

export default function Site({ params, query }) {
  const id = params.id;
  const enc = encodeURIComponent(id);
  const site = useApi(`/api/v1/sites/${enc}`);
  const dash = useApi(`/api/v1/sites/${enc}/dashboard`);
  const [assets, setAssets] = useState({ items: null, error: null });
  useTitle(site.data ? site.data.name : 'Site');

  useEffect(() => {
    const controller = new AbortController();
    all(`/api/v1/assets${qs({ site_id: id })}`, { signal: controller.signal }).then(
      (items) => setAssets({ items, error: null }),
      (error) => error.name !== 'AbortError' && setAssets({ items: null, error })
    );
    return () => controller.abort();
  }, [id]);

  if (site.error) {
    return (
      <>
        <h1 tabindex="-1">Site</h1>
        <Problem error={site.error} />
        <p>
          <a href="/">Back to the fleet</a>
        </p>
      </>
    );
  }
  const k = (dash.data && dash.data.site) || null;
  return (
    <>
      <h1 tabindex="-1">{site.data ? site.data.name : '…'}</h1>
      <p class="meta">
        {site.data ? `${label(site.data.kind)} · ${num(site.data.capacity_mw, 0)} MW · ${site.data.timezone}` : '\u00a0'}
      </p>
      <dl class="kpis">
        <div>
          <dt>PR today</dt>
          <dd>{k ? pct(k.performance_ratio) : '…'}</dd>
        </div>
        <div>
          <dt>Availability</dt>
          <dd>{k ? pct(k.availability) : '…'}</dd>
        </div>
        <div>
          <dt>Energy today</dt>
          <dd>{k ? `${num(k.energy_today_mwh, 1)} MWh` : '…'}</dd>
        </div>
        <div>
          <dt>Lost energy today</dt>
          <dd>{k ? `${num(k.lost_energy_mwh, 2)} MWh` : '…'}</dd>
        </div>
        <div>
          <dt>Open work</dt>
          <dd>{k ? num(k.open_work_orders, 0) : '…'}</dd>
        </div>
        <div>
          <dt>Active alerts</dt>
          <dd>{k ? num(k.active_alerts, 0) : '…'}</dd>
        </div>
      </dl>
      <div class="sections">
        <section class="card">
          <h2 id="h-assets">Assets</h2>
          <Problem error={assets.error} />
          {assets.items ? (
            <AssetTree siteId={id} assets={assets.items} selected={query.get('asset')} onSelect={(a) => setQuery({ asset: a.id, metric: null })} />
          ) : (
            !assets.error && <Loading class="tall" />
          )}
        </section>
        <section class="card span-2 telemetry">
          <h2 id="h-telemetry">Telemetry</h2>
          {assets.items ? <Telemetry siteId={id} assets={assets.items} query={query} /> : <Loading />}
        </section>
        <SiteAlerts siteId={id} />
        <OpenWork siteId={id} />
        <Downtime dash={dash.data} error={dash.error} />
      </div>
    </>
  );
}

function SiteAlerts({ siteId }) {
  // kept by alert frames (this site's) while the socket is open, polled otherwise
  const alerts = useLive(`/api/v1/alerts${qs({ site_id: siteId, status: UNRESOLVED, limit: 50 })}`, {
    on: { alert: (page, frame) => (frame.alert && frame.alert.site_id === siteId ? applyAlert(page, frame.alert, UNRESOLVED) : page) },
  });
  const items = alerts.data ? alerts.data.items : null;
  return (
    <section class="card">
      <h2 id="h-alerts">Alerts</h2>
      <Problem error={alerts.error} />
      {!items && !alerts.error && <Loading />}
      {items && !items.length && <p class="meta">No active alerts.</p>}
      {items && items.length > 0 && (
        <ul class="plain">
          {items.map((a) => (
            <li key={a.id}>
              <span class={`badge sev-${a.severity}`}>{a.severity}</span> {a.message}
              <div class="meta">
                {label(a.status)} · raised {when(a.raised_at)}
                {a.work_order_id && (
                  <>
                    {' · '}
                    <a href={`/work-orders/${encodeURIComponent(a.work_order_id)}`}>Work order</a>
                  </>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
      <p>
        <a href="/alerts">All alerts</a>
      </p>
    </section>
  );
}

function OpenWork({ siteId }) {
  const work = useApi(`/api/v1/work-orders${qs({ site_id: siteId, status: OPEN, limit: 10 })}`);
  const items = work.data ? work.data.items : null;
  return (
    <section class="card">
      <h2 id="h-work">Open work</h2>
      <Problem error={work.error} />
      {!items && !work.error && <Loading />}
      {items && !items.length && <p class="meta">No open work orders.</p>}
      {items && items.length > 0 && (
        <ul class="plain">
          {items.map((w) => (
            <li key={w.id}>
              <a href={`/work-orders/${encodeURIComponent(w.id)}`}>{w.title}</a>
              <div class="meta">
                <span class={`badge pri-${w.priority}`}>{w.priority}</span> {label(w.status)} · due {when(w.due_at)}
              </div>
            </li>
          ))}
        </ul>
      )}
      <p>
        <a href={`/work-orders?site=${encodeURIComponent(siteId)}`}>All work orders for this site</a>
      </p>
    </section>
  );
}

function Downtime({ dash, error }) {
  const k = dash && dash.site;
  const losers = dash ? dash.assets.filter((a) => a.lost_energy_kwh > 0).slice(0, 5) : [];
  return (
    <section class="card">
      <h2 id="h-downtime">Downtime</h2>
      <Problem error={error} />
      {!k && !error && <Loading />}
      {k && (
        <dl class="facts">
          <dt>Failures (30 days)</dt>
          <dd>{num(k.failures_30d, 0)}</dd>
          <dt>Mean time to repair</dt>
          <dd>{k.mttr_30d_h === null ? '—' : `${num(k.mttr_30d_h, 1)} h`}</dd>
          <dt>Mean time between failures</dt>
          <dd>{k.mtbf_30d_h === null ? '—' : `${num(k.mtbf_30d_h, 0)} h`}</dd>
          <dt>Lost energy this month</dt>
          <dd>{`${num(k.lost_energy_mtd_kwh / 1000, 2)} MWh`}</dd>
        </dl>
      )}
      {losers.length > 0 && (
        <>
          <h3>Most energy lost today</h3>
          <ul class="plain">
            {losers.map((a) => (
              <li key={a.asset_id}>
                {a.name || a.asset_id}: {num(a.lost_energy_kwh, 0)} kWh lost, availability {pct(a.availability)}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
