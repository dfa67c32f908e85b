// The audit trail (admins only; docs/identity.md): every change to people and API keys, newest first, with who
// made it and with which credential. People and keys are named from their lists where they still exist.
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';
import { when } from '../format.js';
import { Problem, TableWrap, useApi } from '../ui.jsx';
import { AdminPage } from './admin.jsx';

const ACTIONS = {
  'user.invited': 'Invited',
  'user.role-changed': 'Changed role',
  'user.renamed': 'Renamed',
  'user.disabled': 'Disabled',
  'user.enabled': 'Enabled',
  'user.deleted': 'Deleted',
  'api-key.created': 'Created API key',
  'api-key.revoked': 'Revoked API key',
};

export default function Audit({ me }) {
  return (
    <AdminPage me={me} title="Audit" path="/admin/audit">
      {() => <Trail me={me} />}
    </AdminPage>
  );
}

function Trail({ me }) {
  const first = useApi('/api/v1/audit?limit=100');
  const users = useApi('/api/v1/users?limit=1000');
  const keys = useApi('/api/v1/api-keys?limit=1000');
  const [more, setMore] = useState({ items: [], cursor: null, busy: false, error: null, done: false });
  useEffect(() => setMore({ items: [], cursor: null, busy: false, error: null, done: false }), [first.data]);
  const items = first.data ? [...first.data.items, ...more.items] : null;
  const cursor = more.cursor || (first.data && !more.items.length ? first.data.next_cursor : null);

  // names for ids: the people and keys that exist, and what the trail itself says (invites and deletions carry
  // the email, key entries the key's name), so a deleted person is still named
  const people = new Map(users.data ? users.data.items.map((u) => [u.id, u.email]) : []);
  const keyNames = new Map(keys.data ? keys.data.items.map((k) => [k.id, k.name]) : []);
  for (const e of items || []) {
    const d = e.detail || {};
    if (e.target_type === 'user' && d.email && !people.has(e.target_id)) people.set(e.target_id, d.email);
    if (e.target_type === 'api-key' && d.name && !keyNames.has(e.target_id)) keyNames.set(e.target_id, d.name);
  }
  const person = (id) => (me && id === me.user_id ? 'you' : people.get(id) || id);
  const credential = (id) => (String(id).startsWith('user:') ? 'Signed in' : `Key “${keyNames.get(id) || id}”`);

  async function loadMore() {
    setMore((m) => ({ ...m, busy: true, error: null }));
    try {
      const res = await get(`/api/v1/audit?limit=100&cursor=${encodeURIComponent(cursor)}`);
      setMore((m) => ({ items: [...m.items, ...res.data.items], cursor: res.data.next_cursor, busy: false, error: null, done: !res.data.next_cursor }));
    } catch (error) {
      setMore((m) => ({ ...m, busy: false, error }));
    }
  }

  function target(e) {
    const d = e.detail || {};
    if (e.target_type === 'user') return d.email || people.get(e.target_id) || e.target_id;
    if (e.target_type === 'api-key') return `“${d.name || keyNames.get(e.target_id) || e.target_id}”`;
    return `${e.target_type} ${e.target_id}`;
  }

  function details(e) {
    const d = e.detail || {};
    if (d.before !== undefined && d.after !== undefined) return `${d.before} → ${d.after}`;
    return Object.entries(d)
      .filter(([k]) => k !== 'email' && k !== 'name')
      .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
      .join(', ');
  }

  return (
    <section class="block" aria-labelledby="h-trail">
      <h2 id="h-trail" class="visually-hidden">
        Entries
      </h2>
      <p class="meta">Changes to people and API keys, newest first.</p>
      <Problem error={first.error} />
      <TableWrap label="Audit entries">
        <table>
          <caption class="visually-hidden">Audit entries, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">With</th>
              <th scope="col">What</th>
              <th scope="col">To</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {items
              ? items.map((e) => (
                  <tr key={e.id}>
                    <td>{when(e.at)}</td>
                    <td>{person(e.actor)}</td>
                    <td>{credential(e.actor_key_id)}</td>
                    <td>{ACTIONS[e.action] || e.action}</td>
                    <td class="wrap">{target(e)}</td>
                    <td class="wrap">{details(e)}</td>
                  </tr>
                ))
              : [0, 1, 2].map((i) => (
                  <tr class="skeleton" key={i} aria-hidden="true">
                    <td colSpan={6}>…</td>
                  </tr>
                ))}
          </tbody>
        </table>
      </TableWrap>
      {items && !items.length && <p class="notice">Nothing has changed yet.</p>}
      <Problem error={more.error} />
      {!more.done && cursor && (
        <button type="button" class="secondary" onClick={loadMore} disabled={more.busy}>
          {more.busy ? 'Loading…' : 'Load more'}
        </button>
      )}
    </section>
  );
}
