/** Hash routes: the console is one page, so /console/ needs no server-side fallback. */
export type Route =
  | { view: 'audit' }
  | { view: 'types' }
  | { view: 'type'; type: string }
  | { view: 'records'; type: string }
  | { view: 'record'; type: string; id: string }
  | { view: 'users' }
  | { view: 'tenants' }
  | { view: 'tenant'; tenant: string };

export function parseRoute(hash: string): Route | null {
  const parts = hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter((p) => p.length > 0)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  const [a, b, c] = parts;
  switch (a) {
    case 'audit':
      return { view: 'audit' };
    case 'types':
      return b ? { view: 'type', type: b } : { view: 'types' };
    case 'records':
      if (b && c) return { view: 'record', type: b, id: c };
      return b ? { view: 'records', type: b } : { view: 'types' };
    case 'users':
      return { view: 'users' };
    case 'tenants':
      return b ? { view: 'tenant', tenant: b } : { view: 'tenants' };
    default:
      return null;
  }
}

export const href = (...parts: string[]) => `#/${parts.map(encodeURIComponent).join('/')}`;
