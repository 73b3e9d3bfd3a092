import { app } from '@azure/functions';
import { getServices } from '../shared/config/services';
import { edge } from './http';

/**
 * Liveness and readiness: answers at all = alive; 200 when the configuration loads and the
 * tenant stores answer, 503 otherwise. Reveals no tenant data and no error details.
 */
app.http('health', {
  route: 'health',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: edge(async () => {
    const checks: Record<string, { ok: boolean; ms: number }> = {};
    const time = async (name: string, f: () => Promise<unknown>) => {
      const t = Date.now();
      try {
        await f();
        checks[name] = { ok: true, ms: Date.now() - t };
      } catch {
        checks[name] = { ok: false, ms: Date.now() - t };
      }
    };
    let services: Awaited<ReturnType<typeof getServices>> | undefined;
    await time('config', async () => {
      services = await getServices();
    });
    if (services) {
      const s = services;
      await time('stores', () => s.directory.listTenantIds());
    }
    const ok = Object.values(checks).every((c) => c.ok);
    return {
      status: ok ? 200 : 503,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: JSON.stringify({ status: ok ? 'ok' : 'unavailable', checks }),
    };
  }),
});
