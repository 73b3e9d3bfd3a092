/**
 * The feed projector through kill -9: the real host process catches up a large backlog
 * (its projections were dropped while it was stopped, so every commit is behind) and is
 * killed in the middle (checked on disk after the kill: some commits applied, some not). After a restart the projections converge to the log: the list view
 * equals the export (read from the log), and both the list and the audit log equal what a
 * rebuild from the log produces — no lost and no doubled rows.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import type { EventStore } from '../../shared/ports/event-store';
import type { ProjectionStore } from '../../shared/ports/projection-store';
import { systemClock } from '../../shared/ports/runtime';
import { createTenantAs, loginAs } from '../support/e2e-tenants';
import { startHostProcess, type HostProcess } from '../support/host-process';
import { client } from '../support/http-client';
import { inParallel } from '../support/in-parallel';
import { killHard } from '../support/kill';

const dir = mkdtempSync(join(tmpdir(), 'crash-projector-'));
afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }));

const T = 'backlog';
const PW = 'a long enough password';
const RECORDS = 2500;
const PATCHED = 500;

/** The JSON client of `host`. */
const api = (host: HostProcess) => client(() => host.url);

/** One request to `host` with `token` (none when ""). */
const call = (host: HostProcess, method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) =>
  api(host)(method, path, { token, body, headers });

const adminToken = (host: HostProcess) => loginAs(api(host), T, `admin@${T}.test`, PW);

async function status(
  host: HostProcess,
  token: string,
): Promise<{ appliedCommits: number; behindCommits: number; generation: number; failures: number; parked: unknown[] }> {
  const r = await call(host, 'GET', `/api/t/${T}/status`, token);
  expect(r.status).toBe(200);
  return r.json.projections[0];
}

async function listAll(host: HostProcess, token: string, path: string): Promise<any[]> {
  const items: any[] = [];
  let continuation: string | undefined;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const r = await call(
      host,
      'GET',
      `${path}${sep}limit=500${continuation ? `&continuation=${encodeURIComponent(continuation)}` : ''}`,
      token,
    );
    expect(r.status, r.text).toBe(200);
    items.push(...r.json.items);
    continuation = r.json.continuation ?? undefined;
  } while (continuation);
  return items;
}

const key = (x: { id: string; version: number; data: unknown }) => JSON.stringify([x.id, x.version, x.data]);

it('kill -9 while the projector catches up a large backlog: after restart the projections converge to the log', {
  timeout: 300_000,
}, async () => {
  // 1. A tenant with a few thousand commits.
  let host = await startHostProcess({}, dir);
  /** The admin's token (signed with the tenant's keys, so it stays valid across restarts). */
  let token = '';
  try {
    await createTenantAs(api(host), host.operatorKey, T, PW);
    token = await adminToken(host);
    expect(
      (
        await call(host, 'PUT', `/api/t/${T}/types/doc`, token, {
          type: 'object',
          properties: { n: { type: 'integer' }, tag: { type: 'string' } },
        })
      ).status,
    ).toBe(201);
    const ids: string[] = [];
    await inParallel(
      Array.from({ length: RECORDS }, (_, i) => i),
      8,
      async (i) => {
        const r = await call(host, 'POST', `/api/t/${T}/records/doc`, token, { n: i, tag: `t${i % 7}` });
        expect(r.status, r.text).toBe(201);
        ids.push(r.json.id as string);
      },
    );
    await inParallel(ids.slice(0, PATCHED), 8, async (id) => {
      const r = await call(host, 'PATCH', `/api/t/${T}/records/doc/${id}`, token, { tag: 'patched' }, { 'if-match': '"1"' });
      expect(r.status, r.text).toBe(200);
    });
  } finally {
    expect(await host.stop()).toBe(0);
  }

  // 2. While the host is stopped, its projections are dropped: every commit is now a backlog.
  //    The projection state is read the same way (offline, the host being dead) after each kill.
  const offline = async <R>(fn: (events: EventStore, projections: ProjectionStore) => Promise<R>): Promise<R> => {
    const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: readFileSync(join(dir, 'master.key')) });
    const directory = new EmbeddedTenantDirectory(dir, keys, systemClock);
    try {
      return await fn(await directory.openEventStore(T), await directory.openProjectionStore(T));
    } finally {
      await directory.close();
    }
  };
  const dropProjections = () => offline(async (_e, p) => p.dropGeneration(await p.activeGeneration()));
  const progress = () =>
    offline(async (e, p) => {
      const cp = await p.getCheckpoint(await p.activeGeneration());
      return { applied: cp?.applied ?? 0, behind: (await e.feedLag(cp?.checkpoint)).commits ?? 0 };
    });
  await dropProjections();

  // 3. The projector timer catches up; kill -9 after a while. The projection state on disk
  //    says whether the kill landed in the middle of the catch-up; if it came too early or
  //    too late, try again with another delay.
  //    The catch-up takes well under a second here (pages of 1,500 commits), too short to hit
  //    with a fixed delay, so the test watches the host's own status (GET …/status, answered
  //    between pages) and kills it as soon as some commits are applied and some are not.
  let seenAtKill: { applied: number; behind: number } | undefined;
  let tries = 0;
  for (; tries < 10 && !seenAtKill; tries++) {
    host = await startHostProcess({}, dir);
    const t0 = Date.now();
    while (Date.now() - t0 < 30_000) {
      const r = await call(host, 'GET', `/api/t/${T}/status`, token).catch(() => undefined);
      const p = r?.status === 200 ? r.json.projections[0] : undefined;
      if (p && p.appliedCommits > 0) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    await killHard(host.pid);
    host.cleanup();
    const p = await progress();
    if (p.applied > 0 && p.behind > 0) seenAtKill = p;
    else if (p.behind === 0) await dropProjections();
  }
  // The kill landed during the catch-up, not before or after it.
  expect(seenAtKill).toBeDefined();

  // 4. Restart: the projector resumes from its checkpoint and finishes.
  host = await startHostProcess({}, dir);
  try {
    const token = await adminToken(host);
    let s = await status(host, token);
    while (s.behindCommits > 0) {
      await new Promise((r) => setTimeout(r, 200));
      s = await status(host, token);
    }
    console.log(
      `killed at ${seenAtKill!.applied} applied / ${seenAtKill!.behind} behind (try ${tries}); after restart ${s.appliedCommits} applied in total`,
    );
    expect(s.failures).toBe(0);
    expect(s.parked).toEqual([]);

    const listed = await listAll(host, token, `/api/t/${T}/records/doc`);
    const audit = await listAll(host, token, `/api/t/${T}/audit`);
    // The log's view of every record.
    const exported = (await call(host, 'GET', `/api/t/${T}/export`, token)).text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(exported).toHaveLength(RECORDS);
    expect(listed).toHaveLength(RECORDS);
    expect(new Set(listed.map((x) => x.id)).size).toBe(RECORDS);
    expect(listed.map(key).sort()).toEqual(exported.map(key).sort());
    expect(listed.filter((x) => x.data.tag === 'patched')).toHaveLength(PATCHED);
    const auditKeys = audit.map((a) => JSON.stringify(a));
    expect(new Set(auditKeys).size).toBe(auditKeys.length);

    // A rebuild from the log produces exactly the same rows.
    const rebuilt = await call(host, 'POST', `/api/tenants/${T}/projections/rebuild`, host.operatorKey);
    expect(rebuilt.status, rebuilt.text).toBe(200);
    const listedAfter = await listAll(host, token, `/api/t/${T}/records/doc`);
    const auditAfter = await listAll(host, token, `/api/t/${T}/audit`);
    expect(listedAfter.map((x) => JSON.stringify(x)).sort()).toEqual(listed.map((x) => JSON.stringify(x)).sort());
    expect(auditAfter.map((a) => JSON.stringify(a)).sort()).toEqual(auditKeys.sort());
  } finally {
    expect(await host.stop()).toBe(0);
  }
});
