// The site's assets as an ARIA tree (https://www.w3.org/WAI/ARIA/apg/patterns/treeview/): one tab stop,
// arrows move, Right/Left expand and collapse (or go to the first child / the parent), Home/End, Enter or
// Space selects the asset for the telemetry chart. Children are fetched when a node is first expanded
// (`/api/v1/assets?site_id=…&parent_id=…`).
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { all, qs } from '../api.js';
import { label } from '../format.js';

const byName = (a, b) => a.name.localeCompare(b.name, undefined, { numeric: true });

export default function AssetTree({ siteId, assets, selected, onSelect }) {
  const roots = useMemo(() => assets.filter((a) => !a.parent_id).sort(byName), [assets]);
  const parents = useMemo(() => new Set(assets.map((a) => a.parent_id).filter(Boolean)), [assets]);
  const [children, setChildren] = useState({}); // parent id -> [assets] | 'loading' | Error
  const [expanded, setExpanded] = useState(() => new Set());
  const [focused, setFocused] = useState(null);
  const nodes = useRef(new Map());
  const moved = useRef(false);

  // the visible items in order, with what aria-level/setsize/posinset say
  const visible = useMemo(() => {
    const out = [];
    const walk = (list, level, parent) =>
      list.forEach((asset, i) => {
        out.push({ asset, level, pos: i + 1, size: list.length, parent });
        const kids = children[asset.id];
        if (expanded.has(asset.id) && Array.isArray(kids)) walk(kids, level + 1, asset.id);
      });
    walk(roots, 1, null);
    return out;
  }, [roots, children, expanded]);

  const current = focused && visible.some((v) => v.asset.id === focused) ? focused : visible.length ? visible[0].asset.id : null;

  useEffect(() => {
    if (!moved.current) return;
    moved.current = false;
    const el = nodes.current.get(current);
    if (el) el.focus();
  }, [current]);

  async function expand(id) {
    setExpanded((s) => new Set(s).add(id));
    if (children[id] && !(children[id] instanceof Error)) return;
    setChildren((c) => ({ ...c, [id]: 'loading' }));
    try {
      const items = await all(`/api/v1/assets${qs({ site_id: siteId, parent_id: id })}`);
      setChildren((c) => ({ ...c, [id]: items.sort(byName) }));
    } catch (e) {
      setChildren((c) => ({ ...c, [id]: e }));
    }
  }

  function collapse(id) {
    setExpanded((s) => {
      const next = new Set(s);
      next.delete(id);
      return next;
    });
  }

  function focusOn(id) {
    moved.current = true;
    setFocused(id);
  }

  function onKeyDown(event) {
    const i = visible.findIndex((v) => v.asset.id === current);
    if (i < 0) return;
    const item = visible[i];
    const id = item.asset.id;
    const open = expanded.has(id);
    const handled = {
      ArrowDown: () => i + 1 < visible.length && focusOn(visible[i + 1].asset.id),
      ArrowUp: () => i > 0 && focusOn(visible[i - 1].asset.id),
      Home: () => focusOn(visible[0].asset.id),
      End: () => focusOn(visible[visible.length - 1].asset.id),
      ArrowRight: () => {
        if (!parents.has(id)) return;
        if (!open) expand(id);
        else if (i + 1 < visible.length && visible[i + 1].parent === id) focusOn(visible[i + 1].asset.id);
      },
      ArrowLeft: () => {
        if (open) collapse(id);
        else if (item.parent) focusOn(item.parent);
      },
      Enter: () => onSelect(item.asset),
      ' ': () => onSelect(item.asset),
    }[event.key];
    if (handled) {
      event.preventDefault();
      handled();
    }
  }

  function renderLevel(list, level) {
    return list.map((asset, i) => {
      const id = asset.id;
      const hasKids = parents.has(id);
      const open = hasKids && expanded.has(id);
      const kids = children[id];
      return (
        <li
          key={id}
          role="treeitem"
          aria-level={level}
          aria-setsize={list.length}
          aria-posinset={i + 1}
          aria-expanded={hasKids ? String(open) : undefined}
          aria-selected={String(selected === id)}
          aria-labelledby={`tn-${id} tt-${id}`}
          tabindex={current === id ? 0 : -1}
          ref={(el) => (el ? nodes.current.set(id, el) : nodes.current.delete(id))}
        >
          <div
            class="node"
            onClick={(e) => {
              e.stopPropagation();
              focusOn(id);
              onSelect(asset);
              if (hasKids) (open ? collapse : expand)(id);
            }}
          >
            <span class={`twisty ${hasKids ? (open ? 'open' : 'closed') : 'leaf'}`} aria-hidden="true" />
            <span id={`tn-${id}`}>{asset.name}</span>{' '}
            <span class="type" id={`tt-${id}`}>
              {label(asset.type)}
            </span>
          </div>
          {open && Array.isArray(kids) && <ul role="group">{renderLevel(kids, level + 1)}</ul>}
          {open && kids === 'loading' && (
            <ul role="group">
              <li role="none" class="meta">
                Loading…
              </li>
            </ul>
          )}
          {open && kids instanceof Error && (
            <ul role="group">
              <li role="none" class="meta">
                Could not load: {kids.message}
              </li>
            </ul>
          )}
        </li>
      );
    });
  }

  if (!roots.length) return <p class="meta">This site has no assets yet.</p>;
  return (
    <ul role="tree" aria-label="Site hierarchy" onKeyDown={onKeyDown}>
      {renderLevel(roots, 1)}
    </ul>
  );
}
