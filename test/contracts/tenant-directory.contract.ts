import { describe, expect, it } from 'vitest';
import type { AppendMeta } from '../../shared/domain/events';
import type { TenantDirectory, TenantMeta } from '../../shared/ports/tenant-directory';
import { abortedSignal, expectAborted } from './abort';

export interface TenantDirectoryFixture {
  dir: TenantDirectory;
  /** A fresh tenant meta (status "creating") whose key exists in the directory's key provider, if it uses one. */
  newMeta(): Promise<TenantMeta>;
}

const appendMeta: AppendMeta = { author: { kind: 'operator', id: 'op-1' }, correlationId: 'c-1' };

/**
 * The TenantDirectory cases every adapter shares: cancelling through `abortSignal`. (Each
 * adapter's own file covers claiming, conflicts and rollback in its storage's terms.)
 * `fixture` is called inside the tests, so a suite may set the directory up in its beforeAll.
 */
export function tenantDirectoryAbortContract(name: string, fixture: () => TenantDirectoryFixture): void {
  describe(`TenantDirectory contract (abortSignal): ${name}`, () => {
    it('an already-aborted signal is refused by every method with an AbortError, and no tenant is created or changed', async () => {
      const { dir, newMeta } = fixture();
      const abortSignal = abortedSignal();
      const refused = await newMeta();
      await expectAborted(dir.create(refused, { abortSignal }));
      expect(await dir.getMeta(refused.id)).toBeUndefined();
      expect(await dir.listTenantIds()).not.toContain(refused.id);

      const meta = await newMeta();
      await dir.create(meta);
      await expectAborted(dir.getMeta(meta.id, { abortSignal }));
      await expectAborted(dir.setStatus(meta.id, 'ready', { abortSignal }));
      await expectAborted(dir.openEventStore(meta.id, { abortSignal }));
      await expectAborted(dir.openProjectionStore(meta.id, { abortSignal }));
      await expectAborted(dir.listTenantIds({ abortSignal }));
      await expectAborted(dir.destroy(meta.id, { abortSignal }));
      // Nothing changed: the tenant is there, still "creating", and its store opens.
      expect((await dir.getMeta(meta.id))?.status).toBe('creating');
      expect(await dir.listTenantIds()).toContain(meta.id);
      expect(await (await dir.openEventStore(meta.id)).streamVersion('s')).toBe(0);
      // A signal that has not fired changes nothing.
      const live = new AbortController().signal;
      await dir.setStatus(meta.id, 'ready', { abortSignal: live });
      expect((await dir.getMeta(meta.id, { abortSignal: live }))?.status).toBe('ready');
      await dir.destroy(meta.id);
    });

    it('a creation aborted while its first commits are written leaves no tenant behind', async () => {
      const { dir, newMeta } = fixture();
      const meta = await newMeta();
      const ac = new AbortController();
      const err = await dir
        .create(meta, {
          abortSignal: ac.signal,
          populate: async (events) => {
            await events.append('tenant', 0, [{ type: 'TenantCreated', data: { id: meta.id } }], appendMeta);
            ac.abort();
          },
        })
        .catch((e: unknown) => e);
      expect((err as Error).name).toBe('AbortError');
      expect(await dir.getMeta(meta.id)).toBeUndefined();
      expect(await dir.listTenantIds()).not.toContain(meta.id);
      // The id is free again.
      await dir.create(meta);
      expect((await dir.getMeta(meta.id))?.status).toBe('creating');
      await dir.destroy(meta.id);
    });
  });
}
