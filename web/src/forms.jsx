// Form pieces the newer screens share: a labelled field with its error wired by aria-describedby, the API's 422
// errors sorted onto fields, and a confirm step for destructive actions.
import { useEffect, useRef } from 'preact/hooks';

/**
 * A 422's `errors` onto the form's fields: {fields: {name: [messages]}, other: ['field: message']}. `map` is
 * API field (`body.email`) → form field name.
 */
export function fieldErrors(error, map) {
  const fields = {};
  const other = [];
  for (const err of error && error.errors ? error.errors : []) {
    const name = map[err.field];
    if (name) (fields[name] = fields[name] || []).push(err.message);
    else other.push(`${err.field}: ${err.message}`);
  }
  return { fields, other };
}

/** Attributes that wire an input to its label and error: spread them on the control. */
export function wire(id, errors, hint) {
  const described = [errors && errors.length ? `${id}-error` : '', hint ? `${id}-hint` : ''].filter(Boolean).join(' ');
  return { id, 'aria-invalid': errors && errors.length ? 'true' : undefined, 'aria-describedby': described || undefined };
}

/** A label, the control (children, wired with `wire(id, errors, hint)`), a hint and the field's errors. */
export function Field({ id, label, errors, hint, children, class: cls = '' }) {
  return (
    <div class={`field ${cls}`}>
      <label for={id}>{label}</label>
      {children}
      {hint && (
        <p id={`${id}-hint`} class="hint">
          {hint}
        </p>
      )}
      {errors && errors.length > 0 && (
        <p id={`${id}-error`} class="field-error">
          {errors.join(' ')}
        </p>
      )}
    </div>
  );
}

/** The problem of a form that was refused: a summary in an alert, with what is not at a field. */
export function FormProblem({ what, count, other }) {
  return (
    <div role="alert" class="problem">
      <p>
        {what} {count === 1 ? 'One field needs' : `${count} fields need`} attention.
      </p>
      {other.map((m) => (
        <p key={m}>{m}</p>
      ))}
    </div>
  );
}

/**
 * The second step of a destructive action, in place of its button: the question, the action (`confirm`) and
 * "Cancel" (focused: Enter does not destroy anything by accident; Escape cancels).
 */
export function Confirm({ question, confirm, onConfirm, onCancel: cancelled, busy, returnTo }) {
  const cancel = useRef(null);
  useEffect(() => {
    if (cancel.current) cancel.current.focus();
  }, []);
  // back on the button that asked (`returnTo`, its id) once the question is gone
  const onCancel = () => {
    cancelled();
    if (returnTo) requestAnimationFrame(() => focusId(returnTo));
  };
  return (
    <div
      class="confirm"
      role="group"
      aria-label={question}
      onKeyDown={(e) => {
        if (e.key === 'Escape') onCancel();
      }}
    >
      <span class="confirm-q">{question}</span>
      <button type="button" class="small danger" disabled={busy} onClick={onConfirm}>
        {confirm}
      </button>
      <button type="button" class="small secondary" ref={cancel} onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}

/** Focuses the element with this id, if it is there. */
export function focusId(id) {
  const el = document.getElementById(id);
  if (el) el.focus();
}
