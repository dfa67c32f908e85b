// People (admins only; docs/identity.md): invite by email with a role, change a role, disable or enable a
// sign-in, delete one (after a confirm step). A change stops the tokens the person holds within 30 s.
import { useState } from 'preact/hooks';
import { del, patch, post } from '../api.js';
import { Confirm, Field, FormProblem, fieldErrors, focusId, wire } from '../forms.jsx';
import { capital, day } from '../format.js';
import { Problem, TableWrap, useApi } from '../ui.jsx';
import { AdminPage, ROLES } from './admin.jsx';

const FIELDS = { 'body.email': 'email', 'body.role': 'role', 'body.name': 'name', 'body.temporary_password': 'password' };
const STATUS = { CONFIRMED: 'Signed in before', FORCE_CHANGE_PASSWORD: 'Invited: first sign-in pending', RESET_REQUIRED: 'Password reset required' };

export default function Users({ me }) {
  return (
    <AdminPage me={me} title="People" path="/admin/users">
      {() => <People me={me} />}
    </AdminPage>
  );
}

function People({ me }) {
  const users = useApi('/api/v1/users?limit=1000');
  const [said, setSaid] = useState('');
  const [problem, setProblem] = useState(null);
  const [busy, setBusy] = useState(null); // user id
  const [confirming, setConfirming] = useState(null); // user id
  // people who sign in first, then the records that only own API keys (no sign-in), each by name
  const items = users.data ? [...users.data.items].sort((a, b) => (a.status ? 0 : 1) - (b.status ? 0 : 1) || a.name.localeCompare(b.name)) : null;

  const replace = (user) => users.setData({ ...users.data, items: users.data.items.map((u) => (u.id === user.id ? user : u)) });

  async function change(user, body, done) {
    setBusy(user.id);
    setProblem(null);
    try {
      const res = await patch(`/api/v1/users/${encodeURIComponent(user.id)}`, body);
      replace(res.data);
      setSaid(done(res.data));
    } catch (e) {
      setProblem(e);
      users.reload();
    } finally {
      setBusy(null);
    }
  }

  async function remove(user) {
    setBusy(user.id);
    setProblem(null);
    try {
      await del(`/api/v1/users/${encodeURIComponent(user.id)}`);
      users.setData({ ...users.data, items: users.data.items.filter((u) => u.id !== user.id) });
      setConfirming(null);
      setSaid(`${user.email} was deleted: they can no longer sign in.`);
      requestAnimationFrame(() => focusId('people-said'));
    } catch (e) {
      setProblem(e);
    } finally {
      setBusy(null);
    }
  }

  return (
    <>
      <Invite
        onInvited={(user) => {
          users.setData({ ...users.data, items: [...(users.data ? users.data.items.filter((u) => u.id !== user.id) : []), user] });
          setSaid(`${user.email} was invited as ${user.role}.`);
        }}
      />
      <p role="status" class="said" id="people-said" tabindex="-1">
        {said}
      </p>
      <Problem error={problem || users.error} />
      <section class="block" aria-labelledby="h-people">
        <h2 id="h-people">Everyone</h2>
        <TableWrap label="People">
          <table>
            <caption class="visually-hidden">People</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Sign-in</th>
                <th scope="col">Added</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {items
                ? items.map((u) => {
                    const self = me && u.id === me.user_id;
                    return (
                      <tr key={u.id} data-email={u.email}>
                        <td class="wrap">
                          {u.name}
                          {self && <span class="meta"> (you)</span>}
                        </td>
                        <td id={`user-${u.id}`}>{u.email}</td>
                        <td>
                          <select
                            aria-label="Role"
                            aria-describedby={`user-${u.id}`}
                            value={u.role}
                            disabled={self || busy === u.id}
                            title={self ? 'You cannot change your own role; ask another admin.' : undefined}
                            onChange={(e) => change(u, { role: e.currentTarget.value }, (n) => `${n.email} is now ${n.role}; they sign in again for it to apply.`)}
                          >
                            {ROLES.map((r) => (
                              <option value={r} key={r}>
                                {r}
                              </option>
                            ))}
                          </select>
                        </td>
                        <td class="wrap">
                          {u.enabled ? (STATUS[u.status] || (u.status ? capital(u.status.toLowerCase().replace(/_/g, ' ')) : 'No sign-in (owns API keys)')) : <span class="badge sev-critical">Disabled</span>}
                        </td>
                        <td>{day(u.created_at)}</td>
                        <td>
                          {!self && confirming === u.id && (
                            <Confirm
                              question={`Delete ${u.email}?`}
                              confirm="Confirm delete"
                              busy={busy === u.id}
                              onConfirm={() => remove(u)}
                              onCancel={() => setConfirming(null)}
                              returnTo={`delete-${u.id}`}
                            />
                          )}
                          {!self && confirming !== u.id && (
                            <div class="actions tight">
                              <button
                                type="button"
                                class="small secondary"
                                aria-describedby={`user-${u.id}`}
                                disabled={busy === u.id}
                                onClick={() => change(u, { enabled: !u.enabled }, (n) => (n.enabled ? `${n.email} may sign in again.` : `${n.email} is disabled and signed out everywhere.`))}
                              >
                                {u.enabled ? 'Disable' : 'Enable'}
                              </button>
                              <button type="button" class="small danger" id={`delete-${u.id}`} aria-describedby={`user-${u.id}`} disabled={busy === u.id} onClick={() => setConfirming(u.id)}>
                                Delete
                              </button>
                            </div>
                          )}
                        </td>
                      </tr>
                    );
                  })
                : [0, 1, 2, 3].map((i) => (
                    <tr class="skeleton" key={i} aria-hidden="true">
                      <td colSpan={6}>…</td>
                    </tr>
                  ))}
            </tbody>
          </table>
        </TableWrap>
        {users.data && users.data.next_cursor && <p class="meta">Showing the first {items.length} people.</p>}
      </section>
    </>
  );
}

const EMPTY = { email: '', role: 'technician', name: '', password: '' };

function Invite({ onInvited }) {
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
    const body = { email: form.email.trim(), role: form.role };
    if (form.name.trim()) body.name = form.name.trim();
    if (form.password) body.temporary_password = form.password;
    try {
      const res = await post('/api/v1/users', body);
      setForm(EMPTY);
      onInvited(res.data);
    } catch (e) {
      if (e.status === 422 && e.errors.length) {
        const { fields, other } = fieldErrors(e, FIELDS);
        setErrors(fields);
        setProblem({ invalid: true, count: e.errors.length, other });
        const first = ['email', 'role', 'name', 'password'].find((f) => fields[f]);
        if (first) requestAnimationFrame(() => document.getElementById(`inv-${first}`)?.focus());
      } else if (e.status === 409) {
        setErrors({ email: [e.message] });
        requestAnimationFrame(() => document.getElementById('inv-email')?.focus());
      } else setProblem(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="card block">
      <h2 id="h-invite">Invite</h2>
      {problem && problem.invalid && <FormProblem what="Nobody was invited." count={problem.count} other={problem.other} />}
      {problem && !problem.invalid && <Problem error={problem} />}
      <form class="form-grid" onSubmit={submit} noValidate aria-labelledby="h-invite">
        <Field id="inv-email" label="Email" errors={errors.email}>
          <input type="email" autocomplete="off" aria-required="true" {...wire('inv-email', errors.email)} value={form.email} onInput={set('email')} />
        </Field>
        <Field id="inv-role" label="Role" errors={errors.role}>
          <select {...wire('inv-role', errors.role)} value={form.role} onChange={set('role')}>
            {ROLES.map((r) => (
              <option value={r} key={r}>
                {r}
              </option>
            ))}
          </select>
        </Field>
        <Field id="inv-name" label="Name" errors={errors.name}>
          <input type="text" autocomplete="off" maxLength={200} {...wire('inv-name', errors.name)} value={form.name} onInput={set('name')} />
        </Field>
        <Field id="inv-password" label="First password (optional)" errors={errors.password} hint="Leave empty to have it emailed; else hand it over yourself (at least 12 characters; changed at the first sign-in).">
          <input type="password" autocomplete="new-password" {...wire('inv-password', errors.password, true)} value={form.password} onInput={set('password')} />
        </Field>
        <div class="actions wide">
          <button type="submit" disabled={busy}>
            {busy ? 'Inviting…' : 'Invite'}
          </button>
        </div>
      </form>
    </section>
  );
}
