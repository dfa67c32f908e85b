// What the admin screens share: only a tenant's admins see them (anyone else reaching one by its URL reads a
// 403 message, and the API is not asked), and a sub-navigation between them.
import { Loading, useTitle } from '../ui.jsx';

const PAGES = [
  ['/admin/users', 'People'],
  ['/admin/api-keys', 'API keys'],
  ['/admin/audit', 'Audit'],
];

export const ROLES = ['admin', 'supervisor', 'technician', 'viewer'];

export const isAdmin = (me) => !!me && me.role === 'admin';

/** The page's h1 and sub-navigation; its body (children, a function) only for admins. */
export function AdminPage({ me, title, path, children }) {
  useTitle(title);
  return (
    <>
      <h1 tabindex="-1">{title}</h1>
      {!me && <Loading />}
      {me && !isAdmin(me) && (
        <div role="alert" class="problem">
          <p>
            <strong>403 — not allowed.</strong> Only your organisation’s admins manage people, API keys and the audit trail; your role is {me.role}.
          </p>
          <p>
            <a href="/">Go to the fleet</a>
          </p>
        </div>
      )}
      {isAdmin(me) && (
        <>
          <nav aria-label="Admin" class="subnav">
            {PAGES.map(([href, text]) => (
              <a key={href} href={href} aria-current={href === path ? 'page' : undefined}>
                {text}
              </a>
            ))}
          </nav>
          {children()}
        </>
      )}
    </>
  );
}
