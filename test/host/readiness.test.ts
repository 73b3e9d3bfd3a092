/**
 * GET /api/health/ready through the compiled host: every configured dependency is checked,
 * each under READINESS_TIMEOUT_SECONDS; a backup tier that accepts connections and never
 * answers makes the instance not ready (503, that tier timed out) while the others answer and
 * liveness (GET /api/health) stays 200.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHostProcess, type HostProcess } from '../support/host-process';
import { startHangingServer, type HangingServer } from '../support/tcp-faults';

interface Check {
  name: string;
  kind: string;
  ok: boolean;
  timedOut: boolean;
  ms: number;
}

async function ready(host: HostProcess): Promise<{ status: number; body: { status: string; checks: Check[] } }> {
  const res = await fetch(`${host.url}/api/health/ready`);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return { status: res.status, body: (await res.json()) as { status: string; checks: Check[] } };
}

describe('readiness: the local defaults', () => {
  let host: HostProcess;
  beforeAll(async () => {
    host = await startHostProcess({ BACKUP_LOCAL_FALLBACK: 'on' });
  });
  afterAll(async () => {
    await host?.stop();
    host?.cleanup();
  });

  it('checks the tenant store, the keys, the files and every backup tier, and is ready', async () => {
    const r = await ready(host);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('ready');
    const names = r.body.checks.map((c) => `${c.name}:${c.kind}`).sort();
    expect(names).toEqual(
      [
        'backup:azure:folder',
        'backup:eu-cloud:folder',
        'backup:own-cloud:folder',
        'files:folder',
        'keys:local',
        'tenant-store:embedded',
      ].sort(),
    );
    for (const c of r.body.checks) expect(c, c.name).toMatchObject({ ok: true, timedOut: false });
  });
});

describe('readiness: a backup tier that hangs', () => {
  let host: HostProcess;
  let hanging: HangingServer;
  beforeAll(async () => {
    hanging = await startHangingServer();
    host = await startHostProcess({
      BACKUP_LOCAL_FALLBACK: 'off',
      BACKUP_EU_CLOUD_S3_ENDPOINT: hanging.endpoint,
      BACKUP_EU_CLOUD_S3_BUCKET: 'backups',
      BACKUP_EU_CLOUD_S3_ACCESS_KEY_ID: 'id',
      BACKUP_EU_CLOUD_S3_SECRET_ACCESS_KEY: 'secret-access-key-never-shown',
      READINESS_TIMEOUT_SECONDS: '1',
    });
  });
  afterAll(async () => {
    await host?.stop();
    host?.cleanup();
    await hanging?.close();
  });

  it('is not ready: that tier timed out, the other dependencies answered', async () => {
    const r = await ready(host);
    expect(r.status).toBe(503);
    expect(r.body.status).toBe('unavailable');
    const byName = Object.fromEntries(r.body.checks.map((c) => [c.name, c]));
    expect(byName['backup:eu-cloud']).toMatchObject({ kind: 's3', ok: false, timedOut: true });
    for (const name of ['tenant-store', 'keys', 'files']) expect(byName[name], name).toMatchObject({ ok: true });
    expect(hanging.connections()).toBeGreaterThan(0);
    // The answer names no endpoint, bucket or secret; the log says what happened, masked.
    const text = JSON.stringify(r.body);
    expect(text).not.toContain(String(hanging.port));
    expect(text).not.toContain('secret-access-key-never-shown');
    // Host log lines are written a loop turn after the answer (host/start.ts): poll for it.
    await expect.poll(() => host.output(), { timeout: 10_000 }).toContain('backup:eu-cloud (s3) timed out');
    expect(host.output()).not.toContain('secret-access-key-never-shown');
  });

  it('liveness is separate: GET /api/health stays 200', async () => {
    const res = await fetch(`${host.url}/api/health`);
    expect(res.status).toBe(200);
  });
});
