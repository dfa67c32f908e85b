// The site's telemetry: an asset, a metric, an interval and a range (all in the URL), the series from
// `/api/v1/telemetry` drawn by uPlot (its own chunk, loaded here only), and the asset's latest readings: pushed
// by the live socket (subscribed to the site, narrowed to this asset) or polled every 5 s without it. The newest
// reading of the charted metric updates the chart's last point (or adds the next one).
import { useEffect, useMemo, useState } from 'preact/hooks';
import { qs } from '../api.js';
import { num, when } from '../format.js';
import { useLive, watchSite } from '../live.js';
import { setQuery } from '../router.js';
import { Problem, useApi } from '../ui.jsx';

export const INTERVALS = [
  ['1m', 60],
  ['5m', 300],
  ['15m', 900],
  ['1h', 3600],
  ['1d', 86400],
];
export const RANGES = [
  ['24h', '24 h', 86400],
  ['7d', '7 d', 7 * 86400],
  ['30d', '30 d', 30 * 86400],
];
const MAX_POINTS = 10000; // the API's limit per series
const CHARTED = new Set(['inverter', 'turbine', 'meter', 'weather_station', 'transformer', 'battery', 'tracker']);
const PREFERRED = ['ac_power_kw', 'poa_irradiance_wm2', 'wind_speed_ms', 'oil_temp_c', 'state_of_charge_pct', 'dc_power_kw'];
// metric names per asset type (shared/dcmms/telemetry/metric_names.py), for assets that sent nothing yet
const CATALOGUE = {
  inverter: 'ac_power_kw ac_voltage_v ac_current_a ac_frequency_hz power_factor dc_power_kw dc_voltage_v dc_current_a energy_kwh heatsink_temp_c cabinet_temp_c inverter_state insulation_resistance_kohm',
  string: 'dc_voltage_v dc_current_a dc_power_kw',
  combiner: 'dc_voltage_v dc_current_a dc_power_kw fuse_state',
  meter: 'ac_power_kw reactive_power_kvar ac_voltage_v ac_current_a ac_frequency_hz power_factor energy_kwh energy_export_kwh energy_import_kwh',
  transformer: 'oil_temp_c winding_temp_c load_pct ac_power_kw',
  turbine: 'ac_power_kw wind_speed_ms wind_direction_deg rotor_rpm generator_rpm pitch_angle_deg yaw_angle_deg nacelle_vibration_mms gearbox_oil_temp_c generator_temp_c nacelle_temp_c energy_kwh turbine_state',
  tracker: 'tracker_angle_deg tracker_target_deg tracker_state motor_current_a',
  weather_station: 'poa_irradiance_wm2 ghi_irradiance_wm2 module_temp_c ambient_temp_c wind_speed_ms wind_direction_deg relative_humidity_pct rainfall_mm',
  battery: 'state_of_charge_pct ac_power_kw dc_voltage_v dc_current_a cell_temp_c energy_kwh battery_state',
};

const fits = (rangeS, intervalS) => rangeS / intervalS <= MAX_POINTS;
const byName = (a, b) => a.name.localeCompare(b.name, undefined, { numeric: true });

let Chart = null; // the chart's chunk (uPlot), once loaded

/** The latest readings with a readings frame's values merged in (each metric only when newer). */
function applyReadings(latest, frame) {
  if (!frame || frame.asset_id !== latest.asset_id || !frame.values) return latest;
  const metrics = { ...(latest.metrics || {}) };
  let changed = false;
  for (const [name, value] of Object.entries(frame.values)) {
    const held = metrics[name];
    if (held && held.ts && Date.parse(held.ts) > Date.parse(frame.ts)) continue;
    metrics[name] = { value, ts: frame.ts };
    changed = true;
  }
  return changed ? { ...latest, metrics } : latest;
}

const onReadings = { readings: applyReadings };

/** The series with `reading` as its last point: the bucket it falls in replaced, or the next one added. */
function withTail(points, reading, intervalS, from) {
  if (!points || !reading || typeof reading.value !== 'number') return points;
  const t = Date.parse(reading.ts);
  if (!Number.isFinite(t) || (from && t < Date.parse(from))) return points;
  const bucket = Math.floor(t / 1000 / intervalS) * intervalS * 1000;
  const last = points.length ? Date.parse(points[points.length - 1].ts) : -Infinity;
  if (bucket < last) return points;
  const point = { ts: new Date(bucket).toISOString(), value: reading.value };
  return bucket === last ? [...points.slice(0, -1), point] : [...points, point];
}

export default function Telemetry({ siteId, assets, query }) {
  const charted = useMemo(() => assets.filter((a) => CHARTED.has(a.type)).sort(byName), [assets]);
  const assetId = query.get('asset') || (charted.find((a) => a.type === 'inverter' || a.type === 'turbine') || charted[0] || {}).id || '';
  const asset = assets.find((a) => a.id === assetId);
  const options = asset && !charted.includes(asset) ? [asset, ...charted] : charted;
  const range = RANGES.find((r) => r[0] === query.get('range')) || RANGES[0];
  const latest = useLive(assetId ? `/api/v1/assets/${encodeURIComponent(assetId)}/latest` : null, { on: onReadings });
  useEffect(() => (siteId && assetId ? watchSite(siteId, assetId) : undefined), [siteId, assetId]);

  const reported = latest.data && latest.data.asset_id === assetId ? Object.keys(latest.data.metrics || {}) : [];
  const metrics = [...new Set([...reported, ...((asset && CATALOGUE[asset.type]) || '').split(' ').filter(Boolean)])].sort();
  const metric = query.get('metric') && metrics.includes(query.get('metric')) ? query.get('metric') : PREFERRED.find((m) => metrics.includes(m)) || metrics[0] || '';
  const askedInterval = INTERVALS.find((i) => i[0] === query.get('interval'));
  const interval = askedInterval && fits(range[2], askedInterval[1]) ? askedInterval : INTERVALS.find((i) => i[0] === '5m' && fits(range[2], i[1])) || INTERVALS.find((i) => fits(range[2], i[1]));

  const [, setChartReady] = useState(!!Chart);
  useEffect(() => {
    if (Chart) return;
    import('./telemetry-chart.jsx').then((m) => {
      Chart = m.default;
      setChartReady(true);
    });
  }, []);

  // the window ends now when asked for; fixed per question so a re-render does not ask again
  const path = useMemo(() => {
    if (!assetId || !metric) return null;
    const to = new Date();
    const from = new Date(to.getTime() - range[2] * 1000);
    return `/api/v1/telemetry${qs({ asset_id: assetId, metric, interval: interval[0], from: from.toISOString(), to: to.toISOString() })}`;
  }, [assetId, metric, interval[0], range[0]]);
  const series = useApi(path);
  const fetched = series.data && series.data.metric === metric ? series.data.points : null;
  const tail = latest.data && latest.data.asset_id === assetId && latest.data.metrics ? latest.data.metrics[metric] : null;
  const points = useMemo(() => withTail(fetched, tail, interval[1], series.data && series.data.from), [fetched, tail, interval[1]]);
  const lastTs = points && points.length ? points[points.length - 1].ts : null;
  const chartTo = series.data && lastTs && Date.parse(lastTs) > Date.parse(series.data.to) ? lastTs : series.data && series.data.to;
  const figureLabel = `${metric || 'no metric'} · ${interval[0]} · ${points ? `${points.length} points` : 'loading'}`;

  return (
    <>
      <div class="chart-controls">
        <div>
          <label for="tm-asset">Asset</label>
          <select id="tm-asset" value={assetId} onChange={(e) => setQuery({ asset: e.currentTarget.value, metric: null })}>
            {!options.length && <option value="">No assets with telemetry</option>}
            {options.map((a) => (
              <option value={a.id} key={a.id}>
                {a.name}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="tm-metric">Metric</label>
          <select id="tm-metric" value={metric} onChange={(e) => setQuery({ metric: e.currentTarget.value })}>
            {metrics.map((m) => (
              <option value={m} key={m}>
                {m}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="tm-interval">Interval</label>
          <select id="tm-interval" value={interval[0]} onChange={(e) => setQuery({ interval: e.currentTarget.value })}>
            {INTERVALS.map(([name, seconds]) => (
              <option value={name} key={name} disabled={!fits(range[2], seconds)}>
                {name}
              </option>
            ))}
          </select>
        </div>
        <div role="group" aria-label="Range" class="ranges">
          {RANGES.map(([name, text]) => (
            <button
              type="button"
              key={name}
              class="secondary small"
              aria-pressed={String(range[0] === name)}
              onClick={() => setQuery({ range: name === '24h' ? null : name })}
            >
              {text}
            </button>
          ))}
        </div>
      </div>
      <Problem error={series.error} />
      <figure class="chart" aria-label={figureLabel}>
        {Chart && points && points.length > 0 && <Chart points={points} metric={metric} from={series.data.from} to={chartTo} />}
        {points && points.length === 0 && <p class="empty">No readings for {metric} in this range.</p>}
        {(!points || !Chart) && !series.error && <p class="empty">Loading…</p>}
      </figure>
      <p class="hint">Drag across the chart to zoom in; double-click to zoom out.</p>
      <h3 class="visually-hidden">Latest readings</h3>
      <dl class="latest" aria-live="off">
        {reported.sort().map((name) => (
          <div key={name}>
            <dt>{name}</dt>
            <dd title={when(latest.data.metrics[name].ts)}>{num(latest.data.metrics[name].value, 2)}</dd>
          </div>
        ))}
      </dl>
      {latest.data && !reported.length && <p class="meta">No readings yet from this asset.</p>}
    </>
  );
}
