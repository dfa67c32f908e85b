// The fleet on a plain SVG map (no tiles: the network may be closed): each site at its latitude/longitude,
// coloured by today's performance ratio. The table above is the accessible way to every site; the map is a
// picture of it, with a text summary.
import { pct, prBand } from '../format.js';
import { navigate } from '../router.js';

const W = 720;
const H = 360;
const BANDS = [
  ['good', 'PR ≥ 75 %'],
  ['warn', '60–75 %'],
  ['bad', 'below 60 %'],
  ['unknown', 'no PR yet'],
];

const x = (lon) => ((lon + 180) / 360) * W;
const y = (lat) => ((90 - lat) / 180) * H;

const ASPECT = 3; // width : height of the view, whatever the sites' spread

/** A range of `size` centred on `mid`, moved (not cut) to stay within [0, limit]. */
function fit(mid, size, limit) {
  const s = Math.min(size, limit);
  const lo = Math.min(Math.max(mid - s / 2, 0), limit - s);
  return [lo, s];
}

/** The view in map units: the sites' extent with a margin, widened or heightened to ASPECT, within the world. */
function view(sites) {
  const xs = sites.map((s) => x(s.location.longitude));
  const ys = sites.map((s) => y(s.location.latitude));
  const margin = 30;
  let w = Math.max(...xs) - Math.min(...xs) + 2 * margin;
  let h = Math.max(...ys) - Math.min(...ys) + 2 * margin;
  if (w / h < ASPECT) w = h * ASPECT;
  else h = w / ASPECT;
  const [vx, vw] = fit((Math.max(...xs) + Math.min(...xs)) / 2, w, W);
  const [vy, vh] = fit((Math.max(...ys) + Math.min(...ys)) / 2, Math.min(h, vw / ASPECT), H);
  return [vx, vy, vw, vh];
}

export default function FleetMap({ sites, rows }) {
  const pr = new Map(rows.map((r) => [r.site_id, r.performance_ratio]));
  const summary = `Map of ${sites.length} site${sites.length === 1 ? '' : 's'} coloured by performance ratio: ${sites
    .map((s) => `${s.name} ${pct(pr.get(s.id))}`)
    .join(', ')}`;
  const [vx, vy, vw, vh] = view(sites);
  const unit = vw / 100; // marks and labels keep their size whatever the zoom
  const meridians = [];
  for (let lon = -180; lon <= 180; lon += 15) meridians.push(<line key={`m${lon}`} class="grid" x1={x(lon)} x2={x(lon)} y1="0" y2={H} />);
  const parallels = [];
  for (let lat = -75; lat <= 75; lat += 15) parallels.push(<line key={`p${lat}`} class="grid" x1="0" x2={W} y1={y(lat)} y2={y(lat)} />);
  return (
    <section class="map-box" aria-labelledby="map-title">
      <h2 id="map-title">Map</h2>
      <svg viewBox={`${vx} ${vy} ${vw} ${vh}`} role="img" aria-label={summary} preserveAspectRatio="xMidYMid meet">
        <rect class="ocean" x={vx} y={vy} width={vw} height={vh} />
        {meridians}
        {parallels}
        {sites.map((s) => {
          const cx = x(s.location.longitude);
          const cy = y(s.location.latitude);
          const band = prBand(pr.get(s.id));
          return (
            <g key={s.id}>
              <circle class={`site ${band}`} cx={cx} cy={cy} r={unit * 0.9} onClick={() => navigate(`/sites/${encodeURIComponent(s.id)}`)}>
                <title>{`${s.name}: PR ${pct(pr.get(s.id))}`}</title>
              </circle>
              <text
                x={cx > vx + vw * 0.6 ? cx - unit * 1.6 : cx + unit * 1.6}
                y={cy + unit * 0.7}
                text-anchor={cx > vx + vw * 0.6 ? 'end' : 'start'}
                font-size={unit * 1.5}
                stroke-width={unit * 0.4}
              >
                {s.name}
              </text>
            </g>
          );
        })}
      </svg>
      <ul class="legend" aria-hidden="true">
        {BANDS.map(([band, text]) => (
          <li key={band}>
            <span class={band} />
            {text}
          </li>
        ))}
      </ul>
    </section>
  );
}
