// A work order's checklist (docs/procedures.md). Steps copied from a procedure are answered one by one
// (PUT …/checklist/{step_id}: check → true, number, text, pass/fail; empty clears the answer), each input
// labelled by the step's title; a free-form checklist is shown as it is. Steps that completing found
// unanswered (the 409's missing_steps) are marked at their inputs.
import { useEffect, useRef, useState } from 'preact/hooks';
import { put } from '../api.js';
import { num, when } from '../format.js';

export function Checklist({ wo, editable, missing, who, onSaved }) {
  const items = wo.checklist || [];
  if (!items.length) return <p class="meta">No checklist.</p>;
  const answerable = items.some((c) => c.id);
  const done = items.filter((c) => c.done).length;
  return (
    <>
      <p class="meta">
        {done} of {items.length} done
        {answerable && items.some((c) => c.required) ? '; required steps must be done to complete the work' : ''}.
      </p>
      <ul class="plain checklist">
        {items.map((c, i) =>
          c.id ? (
            <Step key={c.id} woId={wo.id} step={c} editable={editable} missing={missing.includes(c.id)} who={who} onSaved={onSaved} />
          ) : (
            <li key={i}>
              <span class="done-mark" aria-hidden="true">
                {c.done ? '✓' : '○'}
              </span>
              <span>
                {c.item}
                <span class="visually-hidden">{c.done ? ': done' : ': not done'}</span>
              </span>
            </li>
          )
        )}
      </ul>
    </>
  );
}

function limits(step) {
  const has = (x) => x !== null && x !== undefined;
  const unit = step.unit ? ` ${step.unit}` : '';
  if (has(step.min) && has(step.max)) return `${num(step.min, 0)}–${num(step.max, 0)}${unit}`;
  if (has(step.min)) return `at least ${num(step.min, 0)}${unit}`;
  if (has(step.max)) return `at most ${num(step.max, 0)}${unit}`;
  return step.unit || '';
}

const shown = (answer) => (answer === null || answer === undefined ? '' : String(answer));

function Step({ woId, step, editable, missing, who, onSaved }) {
  const id = `step-${step.id}`;
  const [draft, setDraft] = useState(shown(step.answer));
  const [state, setState] = useState({ busy: false, error: null, value: undefined }); // value: the answer on its way
  const sending = useRef(undefined); // the answer on its way (Enter, then the blur's change, send it once)
  useEffect(() => setDraft(shown(step.answer)), [step.answer]);

  async function answer(value) {
    if (sending.current !== undefined && sending.current === value) return;
    sending.current = value;
    setState({ busy: true, error: null, value });
    try {
      const res = await put(`/api/v1/work-orders/${encodeURIComponent(woId)}/checklist/${encodeURIComponent(step.id)}`, { answer: value });
      onSaved(res.data, res.etag);
      setState({ busy: false, error: null, value: undefined });
    } catch (e) {
      const field = e.errors.find((x) => /answer/.test(x.field));
      setState({ busy: false, error: field ? field.message : e.message, value: undefined });
      setDraft(shown(step.answer));
    } finally {
      sending.current = undefined;
    }
  }

  function commitText(raw) {
    const text = raw.trim();
    if (text === shown(step.answer)) return;
    if (step.kind === 'number') {
      if (text === '') answer(null);
      else {
        const value = Number(text);
        if (Number.isFinite(value)) answer(value);
        else setState({ busy: false, error: 'Enter a number.', value: undefined });
      }
    } else answer(text === '' ? null : text);
  }

  const range = step.kind === 'number' ? limits(step) : '';
  const hint = [range, step.required ? 'required' : 'optional'].filter(Boolean).join(' · ');
  const error = state.error || (missing && !step.done ? 'Required: answer this step before completing the work order.' : null);
  const described = [`${id}-hint`, error ? `${id}-error` : ''].filter(Boolean).join(' ');
  // what the control shows: the answer on its way while it is saved (the control stays usable: no focus lost)
  const current = state.busy ? state.value : step.answer;
  const common = {
    id,
    disabled: !editable,
    'aria-busy': state.busy ? 'true' : undefined,
    'aria-invalid': error ? 'true' : undefined,
    'aria-describedby': described,
    'aria-required': step.required ? 'true' : undefined,
  };

  let control;
  if (step.kind === 'number' || step.kind === 'text') {
    const input =
      step.kind === 'number' ? (
        <input type="number" inputmode="decimal" step="any" class="answer" {...common} value={draft} onInput={(e) => setDraft(e.currentTarget.value)} onChange={(e) => commitText(e.currentTarget.value)} onKeyDown={(e) => e.key === 'Enter' && commitText(e.currentTarget.value)} />
      ) : (
        <textarea rows={2} maxLength={2000} class="answer" {...common} value={draft} onInput={(e) => setDraft(e.currentTarget.value)} onChange={(e) => commitText(e.currentTarget.value)} />
      );
    control = (
      <>
        <label for={id}>{step.item}</label>
        <span class="answer-row">
          {input}
          {step.unit && <span class="unit">{step.unit}</span>}
        </span>
      </>
    );
  } else if (step.kind === 'pass_fail') {
    control = (
      <>
        <label for={id}>{step.item}</label>
        <select class="answer" {...common} value={shown(current)} onChange={(e) => answer(e.currentTarget.value || null)}>
          <option value="">Not answered</option>
          <option value="pass">Pass</option>
          <option value="fail">Fail</option>
        </select>
      </>
    );
  } else {
    control = (
      <span class="check">
        <input type="checkbox" {...common} checked={current === true} onChange={(e) => answer(e.currentTarget.checked ? true : null)} />
        <label for={id}>{step.item}</label>
      </span>
    );
  }

  return (
    <li class={`step${step.done ? ' done' : ''}`}>
      <span class="done-mark" aria-hidden="true">
        {step.done ? '✓' : '○'}
      </span>
      <div class="step-body">
        {control}
        <p id={`${id}-hint`} class="hint">
          {hint}
          {step.answered_at ? ` · answered by ${who(step.answered_by)}, ${when(step.answered_at)}` : step.done ? '' : ' · not answered'}
          {state.busy ? ' · saving…' : ''}
        </p>
        {error && (
          <p id={`${id}-error`} class="field-error">
            {error}
          </p>
        )}
        {step.follow_up_work_order_id && (
          <p class="follow-up">
            A follow-up was raised: <a href={`/work-orders/${encodeURIComponent(step.follow_up_work_order_id)}`}>Follow-up work order</a>
          </p>
        )}
      </div>
    </li>
  );
}
