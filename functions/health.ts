import { noteResourceUsage, resourceUsage } from '../shared/app/resource-limits';
import { getServices } from '../shared/config/services';
import { tenantIdPage } from '../shared/app/tenants/tenant-pages';
import { type Answer, http, type OperationCtx } from './operation';

/**
 * Liveness: answers at all = alive; 200 when the configuration loads and the tenant stores
 * answer, 503 otherwise. Reveals no tenant data and no error details. Readiness, with every
 * configured dependency checked under a time limit, is GET /api/health/ready (readiness.ts).
 */
export async function health(_ctx: OperationCtx<'health'>): Promise<Answer<'health'>> {
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
    // One id from the directory's index (or its catalog): the stores answer, at a cost that does not grow with the tenants.
    await time('stores', () => tenantIdPage(s.directory, { limit: 1 }));
    // Near the fd limit: still serving, but say so before EMFILE makes requests fail.
    const warn = s.config.scale.resourceWarnPercent;
    const t = Date.now();
    const usage = resourceUsage(warn);
    noteResourceUsage(usage, warn, (line) => console.warn(line));
    checks.resources = { ok: !usage.nearLimit, ms: Date.now() - t };
  }
  const ok = Object.entries(checks).every(([name, c]) => c.ok || name === 'resources');
  const degraded = checks.resources?.ok === false;
  return ok
    ? { status: 200, headers: { 'cache-control': 'no-store' }, body: { status: degraded ? 'degraded' : 'ok', checks } }
    : { status: 503, headers: { 'cache-control': 'no-store' }, body: { status: 'unavailable', checks } };
}
http('health', health);
