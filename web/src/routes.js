// The screens by URL. Each is a dynamic import: its own chunk, fetched when first visited; a new screen is one
// line here.
import { match } from './router.js';

export const routes = [
  { path: '/sign-in', load: () => import('./routes/sign-in.jsx'), public: true },
  { path: '/', load: () => import('./routes/fleet.jsx') },
  { path: '/sites/:id', load: () => import('./routes/site.jsx') },
  { path: '/work-orders', load: () => import('./routes/work-orders.jsx') },
  { path: '/work-orders/new', load: () => import('./routes/work-order-form.jsx') },
  { path: '/work-orders/:id/edit', load: () => import('./routes/work-order-form.jsx') },
  { path: '/work-orders/:id', load: () => import('./routes/work-order.jsx') },
  { path: '/alerts', load: () => import('./routes/alerts.jsx') },
  { path: '/search', load: () => import('./routes/search.jsx') },
  { path: '/pm', load: () => import('./routes/pm.jsx') },
  { path: '/pm/:id', load: () => import('./routes/pm-schedule.jsx') },
  { path: '/reports', load: () => import('./routes/reports.jsx') },
  { path: '/admin', load: () => import('./routes/admin-users.jsx') },
  { path: '/admin/users', load: () => import('./routes/admin-users.jsx') },
  { path: '/admin/api-keys', load: () => import('./routes/admin-keys.jsx') },
  { path: '/admin/audit', load: () => import('./routes/admin-audit.jsx') },
];

export const notFound = { path: '*', notFound: true };

/** {route, params} for a path: the first route that matches, else the 404 route. */
export function resolve(pathname) {
  for (const route of routes) {
    const params = match(route.path, pathname);
    if (params) return { route, params };
  }
  return { route: notFound, params: {} };
}
