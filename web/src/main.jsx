import { render } from 'preact';
import { App, prepare, signInFirst } from './app.jsx';
import './styles.css';

// index.html's static shell: the sign-in card instead of the header bar when the sign-in form is what shows first
if (signInFirst()) document.documentElement.setAttribute('data-shell', 'sign-in');

// The shell's first paint waits for the stylesheet (and, if it comes first, this script), nothing else: the app's
// own requests (/config.json, /api/v1/me, the screen's chunk) start once the shell is on screen, then the app's
// first render replaces it in one go, in the same boxes.
const root = document.getElementById('app');
shellShown()
  .then(prepare)
  .then(() => {
    root.textContent = '';
    render(<App />, root);
  });

/**
 * Resolves once the shell has been painted: a largest-contentful-paint entry for an element still shown (one the
 * switch to the sign-in card hid does not count), else `maxMs` after the first contentful paint; where there are
 * no such entries (Firefox, Safari), at the first contentful paint; at once in a hidden or prerendering tab.
 */
function shellShown(maxMs = 200) {
  return new Promise((resolve) => {
    if (document.visibilityState === 'hidden' || document.prerendering) return resolve();
    const types = PerformanceObserver.supportedEntryTypes || [];
    if (!types.includes('paint')) return requestAnimationFrame(() => setTimeout(resolve));
    const lcp = types.includes('largest-contentful-paint');
    new PerformanceObserver((list) => {
      if (!list.getEntriesByName('first-contentful-paint').length) return;
      if (lcp) setTimeout(resolve, maxMs);
      else resolve();
    }).observe({ type: 'paint', buffered: true });
    if (lcp) {
      const shown = (e) => e.element && e.element.getClientRects().length > 0;
      new PerformanceObserver((list) => list.getEntries().some(shown) && resolve()).observe({ type: 'largest-contentful-paint', buffered: true });
    }
  });
}
