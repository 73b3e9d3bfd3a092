import { randomBytes } from 'node:crypto';
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { isAppError } from '../../shared/domain/errors';
import { foreignKeyMessage, type KeyProvider, type WrappedKey } from '../../shared/ports/key-provider';
import { rejectionOf } from '../support/rejection';
import { abortedSignal, expectAborted } from './abort';

export interface KeyProviderFixture {
  provider: KeyProvider;
  cleanup(): Promise<void>;
}

/** Resolves to the rejection reason, or fails the test if the promise resolved. */
const codeOf = (e: unknown) => (isAppError(e) ? e.code : undefined);
const nameOf = (e: unknown) => (e instanceof Error ? e.name : undefined);
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

function flipByte(b64: string, index: number): string {
  const bytes = Buffer.from(b64, 'base64');
  const i = Math.min(index, bytes.length - 1);
  bytes[i] = bytes[i]! ^ 0x01;
  return bytes.toString('base64');
}

/** One suite, every KeyProvider adapter. */
export function keyProviderContract(name: string, make: () => Promise<KeyProviderFixture>): void {
  describe(`KeyProvider contract: ${name}`, () => {
    let fx: KeyProviderFixture;
    let kp: KeyProvider;
    beforeEach(async () => {
      fx = await make();
      kp = fx.provider;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('wraps and unwraps random 32-byte keys with the latest key version', async () => {
      const { keyId } = await kp.createKey('tenant-a');
      expect(typeof keyId).toBe('string');
      expect(keyId.length).toBeGreaterThan(0);
      for (let i = 0; i < 3; i++) {
        const dek = randomBytes(32);
        const w = await kp.wrapKey('tenant-a', dek);
        expect(w.keyId).toBe(keyId);
        expect(w.algorithm).toMatch(/^(A256KW|RSA-OAEP-256)$/);
        expect(w.wrapped).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
        const back = await kp.unwrapKey('tenant-a', w);
        expect(back).toBeInstanceOf(Uint8Array);
        expect(Buffer.from(back).equals(dek)).toBe(true);
      }
    });

    it('rotation adds a version: new wraps use it, keys wrapped by older versions still unwrap', async () => {
      const { keyId: v1 } = await kp.createKey('tenant-rot');
      const dek = randomBytes(32);
      const old = await kp.wrapKey('tenant-rot', dek);
      const { keyId: v2 } = await kp.rotateKey('tenant-rot');
      expect(v2).not.toBe(v1);
      const fresh = await kp.wrapKey('tenant-rot', dek);
      expect(fresh.keyId).toBe(v2);
      expect(old.keyId).toBe(v1);
      expect(Buffer.from(await kp.unwrapKey('tenant-rot', old)).equals(dek)).toBe(true);
      expect(Buffer.from(await kp.unwrapKey('tenant-rot', fresh)).equals(dek)).toBe(true);
      await expect(kp.rotateKey('tenant-missing')).rejects.toMatchObject({ code: 'not_found' });
    });

    it('also wraps the 40-byte Azure client-side-encryption v2 payload', async () => {
      await kp.createKey('tenant-v2');
      const payload = Buffer.concat([Buffer.from('2.0\0\0\0\0\0', 'latin1'), randomBytes(32)]);
      const w = await kp.wrapKey('tenant-v2', payload);
      expect(Buffer.from(await kp.unwrapKey('tenant-v2', w)).equals(payload)).toBe(true);
    });

    it("keeps tenants apart: A's wrapped key cannot be unwrapped as B's", async () => {
      const a = await kp.createKey('tenant-a');
      const b = await kp.createKey('tenant-b');
      expect(a.keyId).not.toBe(b.keyId);
      const dek = randomBytes(32);
      const wa = await kp.wrapKey('tenant-a', dek);
      const wb = await kp.wrapKey('tenant-b', dek);
      expect(wa.keyId).toBe(a.keyId);
      expect(wb.keyId).toBe(b.keyId);
      expect(wa.wrapped).not.toBe(wb.wrapped);

      const asB: WrappedKey = { ...wa, keyId: b.keyId };
      const err = await rejectionOf(kp.unwrapKey('tenant-b', asB));
      expect(nameOf(err)).toBe('KeyUnwrapError');
      expect(messageOf(err)).not.toContain(dek.toString('base64'));
      // The right key still works.
      expect(Buffer.from(await kp.unwrapKey('tenant-a', wa)).equals(dek)).toBe(true);
    });

    it("accepts only versions of the named tenant's own key: unwrapping as tenant E with tenant A's key id fails clearly", async () => {
      await kp.createKey('tenant-owner-a');
      await kp.createKey('tenant-owner-e');
      const dek = randomBytes(32);
      const wa = await kp.wrapKey('tenant-owner-a', dek);
      // The genuine wrapped key of A, asked for as E (what a blob+metadata swap does): refused.
      const err = await rejectionOf(kp.unwrapKey('tenant-owner-e', wa));
      expect(nameOf(err)).toBe('KeyUnwrapError');
      expect(messageOf(err)).toBe(foreignKeyMessage);
      expect(messageOf(err)).not.toContain(dek.toString('base64'));
      // Also after A rotates (every version of A is foreign to E), and for a name A's key id merely starts with.
      await kp.rotateKey('tenant-owner-a');
      const wa2 = await kp.wrapKey('tenant-owner-a', dek);
      expect(nameOf(await rejectionOf(kp.unwrapKey('tenant-owner-e', wa2)))).toBe('KeyUnwrapError');
      expect(nameOf(await rejectionOf(kp.unwrapKey('tenant-owner', wa2)))).toBe('KeyUnwrapError');
      // The owner still unwraps both versions.
      expect(Buffer.from(await kp.unwrapKey('tenant-owner-a', wa)).equals(dek)).toBe(true);
      expect(Buffer.from(await kp.unwrapKey('tenant-owner-a', wa2)).equals(dek)).toBe(true);
      // An invalid name is a validation error, not an unwrap.
      expect(codeOf(await rejectionOf(kp.unwrapKey('../tenant-owner-a', wa)))).toBe('validation');
    });

    it('refuses to create a key whose name exists (conflict)', async () => {
      await kp.createKey('tenant-dup');
      const err = await rejectionOf(kp.createKey('tenant-dup'));
      expect(codeOf(err)).toBe('conflict');
      // The original key is untouched and still usable.
      const dek = randomBytes(32);
      expect(Buffer.from(await kp.unwrapKey('tenant-dup', await kp.wrapKey('tenant-dup', dek))).equals(dek)).toBe(true);
    });

    it('rejects invalid key names with a validation error', async () => {
      for (const bad of ['', 'a', 'Upper', '-lead', 'has space', 'dot.dot', '../escape', 'x'.repeat(128)]) {
        const err = await rejectionOf(kp.createKey(bad));
        expect(codeOf(err), JSON.stringify(bad)).toBe('validation');
      }
    });

    it('wrapping under a missing key is not_found', async () => {
      const err = await rejectionOf(kp.wrapKey('tenant-missing', randomBytes(32)));
      expect(codeOf(err)).toBe('not_found');
    });

    it('rejects tampered wrapped bytes and returns nothing', async () => {
      await kp.createKey('tenant-t');
      const dek = randomBytes(32);
      const w = await kp.wrapKey('tenant-t', dek);
      const len = Buffer.from(w.wrapped, 'base64').length;
      const variants: WrappedKey[] = [
        { ...w, wrapped: flipByte(w.wrapped, 0) },
        { ...w, wrapped: flipByte(w.wrapped, Math.floor(len / 2)) },
        { ...w, wrapped: flipByte(w.wrapped, len - 1) },
        {
          ...w,
          wrapped: Buffer.from(w.wrapped, 'base64')
            .subarray(0, len - 8)
            .toString('base64'),
        },
        { ...w, wrapped: '' },
        { ...w, wrapped: 'not base64!' },
        { ...w, algorithm: w.algorithm === 'A256KW' ? 'RSA-OAEP-256' : 'A256KW' },
      ];
      for (const v of variants) {
        const err = await rejectionOf(kp.unwrapKey('tenant-t', v));
        expect(nameOf(err), JSON.stringify({ ...v, wrapped: '…' })).toBe('KeyUnwrapError');
        const msg = messageOf(err);
        expect(msg).not.toContain(w.wrapped);
        expect(msg).not.toContain(dek.toString('base64'));
        expect(msg).not.toContain(dek.toString('hex'));
      }
    });

    it('cannot unwrap after the key is deleted; deleting twice is fine', async () => {
      await kp.createKey('tenant-del');
      const w = await kp.wrapKey('tenant-del', randomBytes(32));
      await kp.deleteKey('tenant-del');
      const err = await rejectionOf(kp.unwrapKey('tenant-del', w));
      expect(codeOf(err)).toBe('not_found');
      expect(codeOf(await rejectionOf(kp.wrapKey('tenant-del', randomBytes(32))))).toBe('not_found');
      await expect(kp.deleteKey('tenant-del')).resolves.toBeUndefined();
      await expect(kp.deleteKey('tenant-never-existed')).resolves.toBeUndefined();
    });

    it('an already-aborted signal is refused by every method with an AbortError, and no key changes', async () => {
      const abortSignal = abortedSignal();
      await expectAborted(kp.createKey('tenant-ab-new', { abortSignal }));
      const { keyId } = await kp.createKey('tenant-ab');
      const dek = randomBytes(32);
      const w = await kp.wrapKey('tenant-ab', dek);
      await expectAborted(kp.wrapKey('tenant-ab', dek, { abortSignal }));
      await expectAborted(kp.unwrapKey('tenant-ab', w, { abortSignal }));
      await expectAborted(kp.rotateKey('tenant-ab', { abortSignal }));
      await expectAborted(kp.deleteKey('tenant-ab', { abortSignal }));
      // Nothing changed: the refused create left the name free, the key has no new version and still unwraps.
      expect(typeof (await kp.createKey('tenant-ab-new')).keyId).toBe('string');
      expect((await kp.wrapKey('tenant-ab', dek)).keyId).toBe(keyId);
      expect(Buffer.from(await kp.unwrapKey('tenant-ab', w)).equals(dek)).toBe(true);
      // A signal that has not fired changes nothing.
      const live = new AbortController().signal;
      const w2 = await kp.wrapKey('tenant-ab', dek, { abortSignal: live });
      expect(Buffer.from(await kp.unwrapKey('tenant-ab', w2, { abortSignal: live })).equals(dek)).toBe(true);
    });

    it('never puts the plain key bytes into the wrapped output', async () => {
      const { keyId } = await kp.createKey('tenant-leak');
      for (let i = 0; i < 5; i++) {
        const dek = randomBytes(32);
        const w = await kp.wrapKey('tenant-leak', dek);
        const raw = Buffer.from(w.wrapped, 'base64');
        expect(raw.length).toBeGreaterThanOrEqual(dek.length);
        expect(raw.indexOf(dek)).toBe(-1);
        // Not even a 16-byte half of it.
        expect(raw.indexOf(dek.subarray(0, 16))).toBe(-1);
        expect(raw.indexOf(dek.subarray(16))).toBe(-1);
        const text = JSON.stringify(w);
        for (const enc of ['base64', 'hex', 'base64url'] as const) expect(text).not.toContain(dek.toString(enc));
        expect(w.keyId).toBe(keyId);
      }
    });
  });
}
