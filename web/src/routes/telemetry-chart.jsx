// uPlot, only on the site screen (this module is its own chunk). Drag across to zoom; double-click resets.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

function colour(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

const toData = (points) => [points.map((p) => Date.parse(p.ts) / 1000), points.map((p) => (typeof p.value === 'number' ? p.value : null))];

export default function TelemetryChart({ points, metric, from, to }) {
  const box = useRef(null);
  const plot = useRef(null);
  const readout = useRef(null);
  // the window asked for (its end moves on as live readings arrive); read by the x scale's range
  const shown = useRef(null);
  const drawn = useRef(null); // the points the chart holds
  const window0 = from && to ? [Date.parse(from) / 1000, Date.parse(to) / 1000] : null;

  useEffect(() => {
    shown.current = window0;
    drawn.current = points;
    const el = box.current;
    const size = () => ({ width: Math.max(el.clientWidth, 200), height: Math.max(el.clientHeight, 160) });
    const stroke = colour('--chart', '#0a5a8a');
    const axis = { stroke: colour('--muted', '#50575f'), grid: { stroke: '#e3e7eb', width: 1 }, ticks: { stroke: '#e3e7eb', width: 1 } };
    plot.current = new uPlot(
      {
        ...size(),
        // the window asked for, however few points fall in it; a drag zooms in, a double-click comes back here
        scales: { x: { time: true, range: (u, min, max) => shown.current || [min, max] } },
        legend: { show: false },
        cursor: { drag: { x: true, y: false, setScale: true } },
        series: [{}, { label: metric, stroke, width: 1.5, fill: 'rgba(10, 90, 138, 0.08)', spanGaps: false }],
        axes: [axis, { ...axis, size: 60 }],
        hooks: {
          setCursor: [
            (u) => {
              const i = u.cursor.idx;
              if (!readout.current) return;
              readout.current.textContent =
                i === null || i === undefined || u.data[1][i] === null
                  ? ''
                  : `${new Date(u.data[0][i] * 1000).toLocaleString()}: ${u.data[1][i].toLocaleString(undefined, { maximumFractionDigits: 2 })}`;
            },
          ],
        },
      },
      toData(points),
      el
    );
    const observer = new ResizeObserver(() => plot.current && plot.current.setSize(size()));
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.current.destroy();
      plot.current = null;
    };
  }, [metric, from]);

  // a new last point (a live reading): new data in the same chart, keeping a zoom the person made
  useEffect(() => {
    const u = plot.current;
    if (!u || drawn.current === points) return;
    drawn.current = points;
    const before = shown.current;
    const x = u.scales.x;
    const zoomed = before && x.min !== undefined && (x.min > before[0] + 1 || x.max < before[1] - 1);
    shown.current = window0;
    u.setData(toData(points), !zoomed);
  }, [points, to]);

  return (
    <>
      <div class="chart-box" ref={box} />
      <p class="readout" ref={readout} aria-hidden="true" />
    </>
  );
}
