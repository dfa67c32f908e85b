// New work order (POST) and edit (PATCH with If-Match). A 422's errors are shown at their fields; a 412
// (someone else saved first) is never overwritten: the person reloads and sees the latest version.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, patch, post } from '../api.js';
import { label } from '../format.js';
import { canWork } from '../roles.js';
import { navigate } from '../router.js';
import { Loading, Problem, personName, useMe, usePeople, useSites, useTitle } from '../ui.jsx';
import { CONFLICT, PRIORITIES, TYPES } from './work.js';

// API field (errors[].field) -> form field
const FIELDS = {
  'body.title': 'title',
  'body.site_id': 'site_id',
  'body.type': 'type',
  'body.priority': 'priority',
  'body.description': 'description',
  'body.due_at': 'due',
  'body.assigned_to': 'assigned_to',
};

const EMPTY = { title: '', site_id: '', type: 'corrective', priority: 'medium', description: '', due: '', assigned_to: '' };

function toForm(w) {
  let due = '';
  if (w.due_at) {
    const d = new Date(w.due_at);
    due = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  }
  return {
    title: w.title,
    site_id: w.site_id,
    type: w.type,
    priority: w.priority,
    description: w.description || '',
    due,
    assigned_to: w.assigned_to || '',
  };
}

/** The due date (a local day) as the end of that day, local time, in RFC 3339. */
function dueAt(day) {
  if (!day) return null;
  const d = new Date(`${day}T23:59:00`);
  return Number.isNaN(d.getTime()) ? day : d.toISOString();
}

export default function WorkOrderForm({ params, query }) {
  const editing = !!params.id;
  const me = useMe();
  const sites = useSites();
  const people = usePeople();
  const [form, setForm] = useState(editing ? null : { ...EMPTY, site_id: query.get('site') || '' });
  const [etag, setEtag] = useState(null);
  const [errors, setErrors] = useState({}); // field -> [messages]
  const [problem, setProblem] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [round, setRound] = useState(0);
  const path = editing ? `/api/v1/work-orders/${encodeURIComponent(params.id)}` : null;
  const firstInvalid = useRef(null);
  useTitle(editing ? 'Edit work order' : 'New work order');

  useEffect(() => {
    if (!editing) return;
    get(path).then(
      (res) => {
        setForm(toForm(res.data));
        setEtag(res.etag || `"v${res.data.version}"`);
      },
      (e) => setLoadError(e)
    );
  }, [path, round]);

  useEffect(() => {
    if (firstInvalid.current) {
      const el = document.getElementById(`wo-${firstInvalid.current}`);
      firstInvalid.current = null;
      if (el) el.focus();
    }
  }, [errors]);

  const set = (name) => (e) => setForm((f) => ({ ...f, [name]: e.currentTarget.value }));

  async function submit(event) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setErrors({});
    setProblem(null);
    const body = {
      title: form.title,
      type: form.type,
      priority: form.priority,
      description: form.description.trim() ? form.description : null,
      due_at: dueAt(form.due),
      assigned_to: form.assigned_to || null,
    };
    try {
      let id = params.id;
      if (editing) {
        await patch(path, body, { ifMatch: etag });
      } else {
        const res = await post('/api/v1/work-orders', { ...body, site_id: form.site_id });
        id = res.data && res.data.id;
      }
      navigate(`/work-orders/${encodeURIComponent(id)}`, { replace: editing });
    } catch (e) {
      if (e.status === 412) setProblem({ conflict: true });
      else if (e.status === 422 && e.errors.length) {
        const found = {};
        const other = [];
        for (const err of e.errors) {
          const field = FIELDS[err.field];
          if (field) (found[field] = found[field] || []).push(err.message);
          else other.push(`${err.field}: ${err.message}`);
        }
        const order = ['title', 'site_id', 'type', 'priority', 'assigned_to', 'description', 'due'];
        firstInvalid.current = order.find((f) => found[f]) || null;
        setErrors(found);
        setProblem({ invalid: true, count: e.errors.length, other });
      } else setProblem(e);
    } finally {
      setBusy(false);
    }
  }

  function reload() {
    setProblem(null);
    setErrors({});
    setRound((r) => r + 1);
  }

  const heading = editing ? 'Edit work order' : 'New work order';
  if (me && !canWork(me)) {
    return (
      <>
        <h1 tabindex="-1">{heading}</h1>
        <p class="notice">Your role ({me.role}) can read work orders but not create or change them.</p>
      </>
    );
  }
  if (loadError) {
    return (
      <>
        <h1 tabindex="-1">{heading}</h1>
        <Problem error={loadError} />
      </>
    );
  }
  if (!form) {
    return (
      <>
        <h1 tabindex="-1">{heading}</h1>
        <Loading />
      </>
    );
  }

  // the input's attributes for a field, with its error message(s) wired by aria-describedby
  const wire = (name) => ({
    id: `wo-${name}`,
    name,
    value: form[name],
    'aria-invalid': errors[name] ? 'true' : undefined,
    'aria-describedby': errors[name] ? `wo-${name}-error` : undefined,
  });
  const error = (name) =>
    errors[name] && (
      <p id={`wo-${name}-error`} class="field-error">
        {errors[name].join(' ')}
      </p>
    );
  const sorted = sites ? [...sites.values()].sort((a, b) => a.name.localeCompare(b.name)) : [];
  // who can be given work: people of the tenant who may work orders (not viewers), enabled
  const assignable = people
    ? [...people.values()].filter((p) => p.enabled && p.role !== 'viewer').sort((a, b) => a.name.localeCompare(b.name))
    : [];

  return (
    <>
      <h1 tabindex="-1">{heading}</h1>
      {problem && problem.conflict && (
        <div role="alert" class="problem">
          <p>{CONFLICT}</p>
          <button type="button" onClick={reload}>
            Reload
          </button>
        </div>
      )}
      {problem && problem.invalid && (
        <div role="alert" class="problem">
          <p>
            The work order was not saved: {problem.count === 1 ? 'one field needs' : `${problem.count} fields need`} attention.
          </p>
          {problem.other.map((m) => (
            <p key={m}>{m}</p>
          ))}
        </div>
      )}
      {problem && !problem.conflict && !problem.invalid && <Problem error={problem} />}
      <form class="form" onSubmit={submit} noValidate>
        <div class="field">
          <label for="wo-title">Title</label>
          <input type="text" maxLength={200} aria-required="true" {...wire('title')} onInput={set('title')} />
          {error('title')}
        </div>
        <div class="field">
          <label for="wo-site_id">Site</label>
          <select {...wire('site_id')} aria-required="true" disabled={editing} onChange={set('site_id')}>
            <option value="">Choose a site</option>
            {form.site_id && !sorted.some((s) => s.id === form.site_id) && <option value={form.site_id}>{form.site_id}</option>}
            {sorted.map((s) => (
              <option value={s.id} key={s.id}>
                {s.name}
              </option>
            ))}
          </select>
          {editing && <p class="hint">A work order stays at its site.</p>}
          {error('site_id')}
        </div>
        <div class="field">
          <label for="wo-type">Type</label>
          <select {...wire('type')} onChange={set('type')}>
            {TYPES.map((t) => (
              <option value={t} key={t}>
                {t}
              </option>
            ))}
          </select>
          {error('type')}
        </div>
        <div class="field">
          <label for="wo-priority">Priority</label>
          <select {...wire('priority')} onChange={set('priority')}>
            {PRIORITIES.map((p) => (
              <option value={p} key={p}>
                {label(p)}
              </option>
            ))}
          </select>
          {error('priority')}
        </div>
        <div class="field">
          <label for="wo-assigned_to">Assignee</label>
          <select {...wire('assigned_to')} onChange={set('assigned_to')}>
            <option value="">Unassigned</option>
            {form.assigned_to && !assignable.some((p) => p.id === form.assigned_to) && (
              <option value={form.assigned_to}>{personName(people, form.assigned_to)}</option>
            )}
            {assignable.map((p) => (
              <option value={p.id} key={p.id}>
                {p.name} ({p.role})
              </option>
            ))}
          </select>
          {error('assigned_to')}
        </div>
        <div class="field">
          <label for="wo-description">Description</label>
          <textarea {...wire('description')} onInput={set('description')} />
          {error('description')}
        </div>
        <div class="field">
          <label for="wo-due">Due</label>
          <input type="date" {...wire('due')} onInput={set('due')} />
          {error('due')}
        </div>
        <div class="actions">
          <button type="submit" disabled={busy}>
            {editing ? 'Save' : 'Create'}
          </button>
          <a class="button secondary" href={editing ? `/work-orders/${encodeURIComponent(params.id)}` : '/work-orders'}>
            Cancel
          </a>
        </div>
      </form>
    </>
  );
}
