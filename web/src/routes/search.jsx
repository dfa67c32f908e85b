import { qs } from '../api.js';
import { label } from '../format.js';
import { Loading, Problem, useApi, useTitle } from '../ui.jsx';

const GROUPS = [
  ['work_order', 'Work orders'],
  ['asset', 'Assets'],
  ['site', 'Sites'],
  ['alert', 'Alerts'],
];

function href(hit) {
  const id = encodeURIComponent(hit.id);
  if (hit.type === 'work_order') return `/work-orders/${id}`;
  if (hit.type === 'site') return `/sites/${id}`;
  if (hit.type === 'asset') return hit.site_id ? `/sites/${encodeURIComponent(hit.site_id)}?asset=${id}` : '/';
  return '/alerts';
}

const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#x27;': "'", '&#39;': "'" };
const unescape = (s) => s.replace(/&(amp|lt|gt|quot|#x27|#39);/g, (m) => ENTITIES[m]);

/** The API's snippet (HTML-escaped text with <mark>…</mark>) as text and <mark> elements: no HTML injected. */
function Snippet({ html }) {
  const parts = String(html || '').split(/<mark>|<\/mark>/);
  return (
    <p class="snippet">
      {parts.map((part, i) => (i % 2 ? <mark key={i}>{unescape(part)}</mark> : unescape(part)))}
    </p>
  );
}

export default function Search({ query }) {
  const q = (query.get('q') || '').trim();
  useTitle(q ? `Search: ${q}` : 'Search');
  const res = useApi(q ? `/api/v1/search${qs({ q, limit: 100 })}` : null);
  const items = res.data ? res.data.items : null;
  return (
    <>
      <h1 tabindex="-1">Search</h1>
      {!q && <p>Type in the search box above and press Enter.</p>}
      {q && <p class="meta">Results for “{q}”</p>}
      <Problem error={res.error} />
      {q && !items && !res.error && <Loading />}
      {items && !items.length && <p class="notice">Nothing matches “{q}”.</p>}
      {items &&
        GROUPS.map(([type, title]) => {
          const hits = items.filter((h) => h.type === type);
          if (!hits.length) return null;
          return (
            <section key={type} class="card results" aria-labelledby={`h-${type}`}>
              <h2 id={`h-${type}`}>{title}</h2>
              <ul class="plain">
                {hits.map((h) => (
                  <li key={h.id}>
                    <a href={href(h)}>{h.title || h.name || h.id}</a>
                    {h.status && <span class="meta"> · {label(h.status)}</span>}
                    <Snippet html={h.snippet} />
                  </li>
                ))}
              </ul>
            </section>
          );
        })}
    </>
  );
}
