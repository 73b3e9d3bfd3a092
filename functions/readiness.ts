import { checkReadiness } from '../shared/app/readiness/readiness';
import { getServices } from '../shared/config/services';
import { logLine } from './log';
import { type Answer, http, type OperationCtx } from './operation';

/**
 * Readiness (GET /api/health/ready): 200 when every configured dependency (tenant store —
 * every Cosmos account —, key store, file store, each backup tier) answered a cheap read within
 * READINESS_TIMEOUT_SECONDS, 503 otherwise or when the configuration does not load. Liveness
 * is GET /api/health. The answer names each dependency and its kind with ok/timed out and the
 * time taken; failure messages go to the log only.
 */
export async function ready(ctx: OperationCtx<'ready'>): Promise<Answer<'ready'>> {
  const headers = { 'cache-control': 'no-store' };
  let services: Awaited<ReturnType<typeof getServices>>;
  try {
    services = await getServices();
  } catch {
    return { status: 503, headers, body: { status: 'unavailable', checks: [{ name: 'config', ok: false }] } };
  }
  const report = await checkReadiness(services.readiness, {
    timeoutMs: services.config.readinessTimeoutMs,
    log: (line) => logLine(ctx.context, 'warn', { event: 'readiness', correlationId: ctx.correlationId, failure: line }),
  });
  return { status: report.ready ? 200 : 503, headers, body: { status: report.ready ? 'ready' : 'unavailable', checks: report.checks } };
}
http('ready', ready);
