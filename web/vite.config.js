// The dCMMS web app's build. Served from /static/ (base) by CloudFront in AWS and by `dcmms dev` locally
// (dcmms_dev/web.py); index.html itself is served for every app URL, never cached.
//
// Code splitting: every screen is a dynamic import in src/routes.js, so each is its own chunk, loaded when
// first visited; the site screen's chart (uPlot) and the fleet map are dynamic imports of their own, so
// uPlot never loads anywhere but on a site. Screens' small shared helpers are grouped into one chunk. Every emitted name carries a content hash (cached for a year).
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

const api = process.env.DCMMS_API_URL || 'http://127.0.0.1:8000';

export default defineConfig(({ command }) => ({
  // built files are served under /static/; `npm run dev` serves the app at / (proxying the API)
  base: command === 'build' ? '/static/' : '/',
  plugins: [preact()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: true,
    rolldownOptions: {
      output: {
        entryFileNames: 'assets/[name]-[hash].js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash][extname]',
        // everything index.html loads in one file ($initial: the entry's static imports, Preact and live.js
        // included, which the screens import from it); the few small helpers several screens share travel
        // together, not as a handful of sub-kB files
        codeSplitting: {
          includeDependenciesRecursively: false,
          groups: [
            { name: 'app', tags: ['$initial'], priority: 2 },
            { name: 'shared', test: /[\\/]src[\\/](format|roles|routes[\\/]work)\.js$/ },
          ],
        },
      },
    },
  },
  // `npm run dev` against a running `dcmms dev` (DCMMS_API_URL, default http://127.0.0.1:8000)
  server: {
    proxy: {
      '/api': api,
      '/config.json': api,
    },
  },
}));
