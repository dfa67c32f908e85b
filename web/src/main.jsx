import { render } from 'preact';
import { App, prepare, signInFirst } from './app.jsx';
import './styles.css';

// index.html's static shell: the sign-in card instead of the header bar when the sign-in form is what shows first
if (signInFirst()) document.documentElement.setAttribute('data-shell', 'sign-in');

// The first paint waits for the stylesheet and this script, nothing else: the app's own requests (/config.json,
// /api/v1/me, the screen's chunk) start once it is on screen (a frame later, usually: the stylesheet is in by
// the time this runs), then the app's first render replaces the shell in one go, in the same boxes.
const root = document.getElementById('app');
firstPaint()
  .then(prepare)
  .then(() => {
    root.textContent = '';
    render(<App />, root);
  });

/** Resolves once the page has painted (its first-contentful-paint entry), at most `maxMs` later; at once in a hidden tab. */
function firstPaint(maxMs = 200) {
  return new Promise((resolve) => {
    if (document.visibilityState === 'hidden') return resolve();
    setTimeout(resolve, maxMs);
    try {
      new PerformanceObserver((list) => list.getEntriesByName('first-contentful-paint').length && resolve()).observe({ type: 'paint', buffered: true });
    } catch {
      requestAnimationFrame(() => setTimeout(resolve));
    }
  });
}
