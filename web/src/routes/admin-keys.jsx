// API keys (admins only; docs/identity.md): issue one (its secret is shown here once, never again), list them by
// prefix with their last use, revoke one (after a confirm step; refused everywhere within 60 s).
import { useEffect, useRef, useState } from 'preact/hooks';
import { del, post } from '../api.js';
import { Confirm, Field, FormProblem, fieldErrors, focusId, wire } from '../forms.jsx';
import { when } from '../format.js';
import { Problem, TableWrap, useApi } from '../ui.jsx';
import { AdminPage, ROLES } from './admin.jsx';

const FIELDS = { 'body.name': 'name', 'body.role': 'role', 'body.expires_at': 'expires' };

export default function ApiKeys({ me }) {
  return (
    <AdminPage me={me} title="API keys" path="/admin/api-keys">
      {() => <Keys />}
    </AdminPage>
  );
}

function Keys() {
  const keys = useApi('/api/v1/api-keys?limit=1000');
  const [issued, setIssued] = useState(null); // the answer to creating a key: the secret, this once
  const [confirming, setConfirming] = useState(null);
  const [busy, setBusy] = useState(null);
  const [problem, setProblem] = useState(null);
  const [said, setSaid] = useState('');
  const items = keys.data ? [...keys.data.items].sort((a, b) => String(b.created_at).localeCompare(String(a.created_at))) : null;

  async function revoke(key) {
    setBusy(key.id);
    setProblem(null);
    try {
      await del(`/api/v1/api-keys/${encodeURIComponent(key.id)}`);
      setConfirming(null);
      setSaid(`The key “${key.name}” is revoked: it is refused everywhere within a minute.`);
      requestAnimationFrame(() => focusId('keys-said'));
      keys.setData({
        ...keys.data,
        items: keys.data.items.map((k) => (k.id === key.id ? { ...k, revoked: true, revoked_at: k.revoked_at || new Date().toISOString() } : k)),
      });
      keys.reload();
    } catch (e) {
      setProblem(e);
    } finally {
      setBusy(null);
    }
  }

  return (
    <>
      <CreateKey
        onCreated={(key) => {
          setIssued(key);
          const { key: _secret, ...listed } = key; // the list never holds the secret
          keys.setData({ ...keys.data, items: [listed, ...(keys.data ? keys.data.items.filter((k) => k.id !== key.id) : [])] });
        }}
      />
      {issued && <Secret issued={issued} onDone={() => setIssued(null)} />}
      <p role="status" class="said" id="keys-said" tabindex="-1">
        {said}
      </p>
      <Problem error={problem || keys.error} />
      <section class="block" aria-labelledby="h-keys">
        <h2 id="h-keys">Keys</h2>
        <TableWrap label="API keys">
          <table>
            <caption class="visually-hidden">API keys, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Prefix</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">Revoked</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {items
                ? items.map((k) => {
                    const expired = k.expires_at && Date.parse(k.expires_at) <= Date.now();
                    return (
                      <tr key={k.id} data-key={k.id}>
                        <td class="wrap" id={`key-${k.id}`}>
                          {k.name}
                        </td>
                        <td>{k.role}</td>
                        <td>
                          <code>{k.prefix ? `${k.prefix}…` : '—'}</code>
                        </td>
                        <td>{when(k.created_at)}</td>
                        <td>{k.last_used_at ? when(k.last_used_at) : 'Never'}</td>
                        <td>
                          {k.expires_at ? when(k.expires_at) : 'Never'}
                          {expired && <span class="badge"> expired</span>}
                        </td>
                        <td>{k.revoked ? <span class="badge sev-critical">Revoked {k.revoked_at ? when(k.revoked_at) : ''}</span> : 'No'}</td>
                        <td>
                          {!k.revoked && confirming === k.id && (
                            <Confirm
                              question={`Revoke “${k.name}”?`}
                              confirm="Confirm revoke"
                              busy={busy === k.id}
                              onConfirm={() => revoke(k)}
                              onCancel={() => setConfirming(null)}
                              returnTo={`revoke-${k.id}`}
                            />
                          )}
                          {!k.revoked && confirming !== k.id && (
                            <button type="button" class="small danger" id={`revoke-${k.id}`} aria-describedby={`key-${k.id}`} onClick={() => setConfirming(k.id)}>
                              Revoke
                            </button>
                          )}
                        </td>
                      </tr>
                    );
                  })
                : [0, 1, 2, 3].map((i) => (
                    <tr class="skeleton" key={i} aria-hidden="true">
                      <td colSpan={8}>…</td>
                    </tr>
                  ))}
            </tbody>
          </table>
        </TableWrap>
        {items && !items.length && <p class="notice">No API keys yet.</p>}
      </section>
    </>
  );
}

/** The new key's secret, once: a read-only field, a Copy button, and what happens if it is lost. */
function Secret({ issued, onDone }) {
  const field = useRef(null);
  const [copied, setCopied] = useState('');
  useEffect(() => {
    if (field.current) field.current.focus(); // read out, and selected to copy
  }, [issued.id]);

  function fallback() {
    const el = field.current;
    el.focus();
    el.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    setCopied(ok ? 'Copied.' : 'Select the key and copy it (Ctrl+C or ⌘C).');
  }

  function copy() {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(issued.key).then(() => setCopied('Copied.'), fallback);
    } else fallback();
  }

  return (
    <section class="card secret block" aria-labelledby="h-secret">
      <h2 id="h-secret">Key “{issued.name}” created</h2>
      <p>
        <strong>This key is shown only once.</strong> Copy it now and keep it somewhere safe: it cannot be shown again. Lost, it is revoked and replaced.
      </p>
      <div class="field">
        <label for="new-key">New key</label>
        <div class="inline">
          <input id="new-key" ref={field} type="text" readOnly value={issued.key} spellcheck={false} autocomplete="off" onFocus={(e) => e.currentTarget.select()} />
          <button type="button" onClick={copy}>
            Copy
          </button>
        </div>
        <p role="status" class="hint">
          {copied}
        </p>
      </div>
      <p class="hint">
        Send it as the <code>x-api-key</code> header. Role {issued.role}
        {issued.expires_at ? `, expires ${when(issued.expires_at)}` : ', no expiry'}.
      </p>
      <button
        type="button"
        class="secondary"
        onClick={() => {
          onDone();
          requestAnimationFrame(() => focusId('key-f-name'));
        }}
      >
        Done
      </button>
    </section>
  );
}

const EMPTY = { name: '', role: 'technician', expires: '' };

function CreateKey({ onCreated }) {
  const [form, setForm] = useState(EMPTY);
  const [errors, setErrors] = useState({});
  const [problem, setProblem] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (name) => (e) => {
    const value = e.currentTarget.value;
    setForm((f) => ({ ...f, [name]: value }));
  };

  async function submit(event) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setErrors({});
    setProblem(null);
    const body = { name: form.name.trim(), role: form.role };
    if (form.expires) {
      const end = new Date(`${form.expires}T23:59:59`); // the end of that day, here
      body.expires_at = Number.isNaN(end.getTime()) ? form.expires : end.toISOString();
    }
    try {
      const res = await post('/api/v1/api-keys', body);
      setForm(EMPTY);
      onCreated(res.data);
    } catch (e) {
      if (e.status === 422 && e.errors.length) {
        const { fields, other } = fieldErrors(e, FIELDS);
        setErrors(fields);
        setProblem({ invalid: true, count: e.errors.length, other });
        const first = ['name', 'role', 'expires'].find((f) => fields[f]);
        if (first) requestAnimationFrame(() => document.getElementById(`key-f-${first}`)?.focus());
      } else setProblem(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="card block">
      <h2 id="h-create-key">Create key</h2>
      {problem && problem.invalid && <FormProblem what="No key was created." count={problem.count} other={problem.other} />}
      {problem && !problem.invalid && <Problem error={problem} />}
      <form class="form-grid" onSubmit={submit} noValidate aria-labelledby="h-create-key">
        <Field id="key-f-name" label="Name" errors={errors.name} hint="What it is for: an integration, a device.">
          <input type="text" autocomplete="off" maxLength={100} aria-required="true" {...wire('key-f-name', errors.name, true)} value={form.name} onInput={set('name')} />
        </Field>
        <Field id="key-f-role" label="Role" errors={errors.role}>
          <select {...wire('key-f-role', errors.role)} value={form.role} onChange={set('role')}>
            {ROLES.map((r) => (
              <option value={r} key={r}>
                {r}
              </option>
            ))}
          </select>
        </Field>
        <Field id="key-f-expires" label="Expires" errors={errors.expires} hint="Optional: refused after the end of this day.">
          <input type="date" {...wire('key-f-expires', errors.expires, true)} value={form.expires} onInput={set('expires')} />
        </Field>
        <div class="actions wide">
          <button type="submit" disabled={busy}>
            {busy ? 'Creating…' : 'Create key'}
          </button>
        </div>
      </form>
    </section>
  );
}
