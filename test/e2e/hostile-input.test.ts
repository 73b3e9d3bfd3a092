/**
 * Input that can never break the host, through the real HTTP API of a real host process:
 * nesting depth and non-finite numbers in bodies, forged or foreign continuation tokens,
 * bad file names and `filename*` encodings, garbage `encryptiondata` on stored blobs, and
 * failures an invocation leaves behind (unhandled rejections and exceptions).
 */
import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { azuriteConnectionString } from '../../shared/config/services';
import { freePort, startHostProcess, type HostProcess } from '../support/host-process';
import { client, type CallResult } from '../support/http-client';

let host: HostProcess;
let blobPort: number;
const call = client(() => host.url);
const PW = 'correct horse battery';
const T: Record<string, string> = {};
const ids: Record<string, string[]> = { acme: [], globex: [] };
const MAX_DEPTH = 64;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function expectProblem(r: CallResult, status: number, detail?: RegExp) {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get('content-type')).toContain('application/problem+json');
  expect(r.json).toMatchObject({ status, detail: expect.any(String), correlationId: expect.any(String) });
  if (detail) expect(r.json.detail).toMatch(detail);
}

async function login(tenant: string, email: string): Promise<string> {
  const r = await call('POST', `/api/t/${tenant}/auth/token`, { body: { email, password: PW } });
  expect(r.status, r.text).toBe(200);
  return r.json.access_token;
}

/** `{"x": [[…]]}` with `depth` levels in all (the outer object is level 1). */
const nestedBody = (depth: number) => `{"x":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;

/** Waits (without a time assertion) until the host's output matches. */
async function outputMatching(re: RegExp): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const line = host
      .output()
      .split('\n')
      .find((l) => re.test(l));
    if (line) return line;
    await sleep(50);
  }
  throw new Error(`no output line matched ${re}:\n${host.output().slice(-3000)}`);
}

beforeAll(async () => {
  blobPort = await freePort();
  // Files on the host's own Azurite through the Azure adapter (the default is the folder store),
  // so the test can garble blob metadata with the Azure SDK.
  host = await startHostProcess({
    LOCAL_BLOB: 'azurite',
    AZURITE_BLOB_PORT: String(blobPort),
    BLOB_CONNECTION_STRING: azuriteConnectionString(blobPort),
    TEST_FAULT_HOOKS: 'on',
  });
  for (const t of ['acme', 'globex']) {
    const r = await call('POST', '/api/tenants', {
      token: host.operatorKey,
      body: { id: t, name: t, admin: { email: `admin@${t}.test`, password: PW } },
    });
    expect(r.status, r.text).toBe(201);
    T[`${t}-admin`] = await login(t, `admin@${t}.test`);
    const put = await call('PUT', `/api/t/${t}/types/doc`, { token: T[`${t}-admin`], body: { type: 'object' } });
    expect(put.status, put.text).toBe(201);
    for (const name of ['e', 'd', 'c', 'b', 'a']) {
      const c = await call('POST', `/api/t/${t}/records/doc`, { token: T[`${t}-admin`], body: { name, group: 1 } });
      expect(c.status, c.text).toBe(201);
      ids[t]!.push(c.json.id);
    }
  }
  for (const role of ['editor', 'viewer']) {
    const r = await call('POST', '/api/t/acme/users', {
      token: T['acme-admin'],
      body: { email: `${role}@acme.test`, password: PW, roles: [role] },
    });
    expect(r.status, r.text).toBe(201);
    T[role] = await login('acme', `${role}@acme.test`);
  }
  // Some history on the first record, for history paging.
  for (let v = 1; v <= 3; v++) {
    const p = await call('PATCH', `/api/t/acme/records/doc/${ids.acme![0]}`, {
      token: T.editor,
      body: { n: v },
      headers: { 'if-match': `"${v}"` },
    });
    expect(p.status, p.text).toBe(200);
  }
});

afterAll(async () => {
  await host?.stop();
  host?.cleanup();
});

async function countDocs(tenant: string, token: string): Promise<number> {
  const r = await call('GET', `/api/t/${tenant}/records/doc?limit=500`, { token });
  expect(r.status, r.text).toBe(200);
  return r.json.items.length;
}

describe('JSON bodies: nesting depth and numbers', () => {
  it(`accepts ${MAX_DEPTH} levels; ${MAX_DEPTH + 1}, 1,010 and 4,000 levels get 400 on every JSON endpoint, and nothing is stored`, async () => {
    const before = await countDocs('acme', T.viewer!);
    const ok = await call('POST', '/api/t/acme/records/doc', { token: T.editor, raw: nestedBody(MAX_DEPTH) });
    expect(ok.status, ok.text).toBe(201);
    ids.acme!.push(ok.json.id);
    for (const depth of [MAX_DEPTH + 1, 1010, 4000]) {
      const raw = nestedBody(depth);
      expectProblem(
        await call('POST', '/api/t/acme/records/doc', { token: T.editor, raw }),
        400,
        new RegExp(`more than ${MAX_DEPTH} levels`),
      );
      expectProblem(
        await call('PATCH', `/api/t/acme/records/doc/${ids.acme![1]}`, { token: T.editor, raw, headers: { 'if-match': '"1"' } }),
        400,
        /levels/,
      );
      expectProblem(
        await call('PUT', '/api/t/acme/types/deep', { token: T['acme-admin'], raw: `{"type":"object","properties":${raw}}` }),
        400,
        /levels/,
      );
      expectProblem(await call('POST', '/api/t/acme/users', { token: T['acme-admin'], raw }), 400, /levels/);
      expectProblem(await call('POST', '/api/tenants', { token: host.operatorKey, raw }), 400, /levels/);
      expectProblem(await call('POST', '/api/t/acme/auth/token', { raw }), 400, /levels/);
    }
    // Authentication still comes first: no token, or another tenant's token → 401.
    expectProblem(await call('POST', '/api/t/acme/records/doc', { raw: nestedBody(4000) }), 401);
    expectProblem(await call('POST', '/api/t/acme/records/doc', { token: T['globex-admin'], raw: nestedBody(4000) }), 401);
    expect(await countDocs('acme', T.viewer!)).toBe(before + 1);
    expectProblem(await call('GET', '/api/t/acme/types/deep', { token: T.viewer }), 404);
    // Lists of the type, filtered and sorted, keep working.
    for (const q of ['', '?group=1', '?sort=name', '?sort=-name&group=1']) {
      const r = await call('GET', `/api/t/acme/records/doc${q}`, { token: T.viewer });
      expect(r.status, `${q}: ${r.text}`).toBe(200);
    }
  });

  it('numbers beyond a double (1e400) get 400 naming where they are, instead of being stored as null', async () => {
    const before = await countDocs('acme', T.viewer!);
    const r = await call('POST', '/api/t/acme/records/doc', { token: T.editor, raw: '{"name":"x","n":1e400}' });
    expectProblem(r, 400, /number too large/);
    expect(r.json.errors).toEqual([{ path: '/n', message: 'is not a finite number' }]);
    const p = await call('PATCH', `/api/t/acme/records/doc/${ids.acme![1]}`, {
      token: T.editor,
      raw: '{"a":[1,-1e999]}',
      headers: { 'if-match': '"1"' },
    });
    expectProblem(p, 400);
    expect(p.json.errors).toEqual([{ path: '/a/1', message: 'is not a finite number' }]);
    expect(await countDocs('acme', T.viewer!)).toBe(before);
    const rec = await call('GET', `/api/t/acme/records/doc/${ids.acme![1]}`, { token: T.viewer });
    expect(rec.json.version).toBe(1);
  });
});

describe('continuation tokens', () => {
  async function allPages(tenant: string, path: string, token: string): Promise<{ items: any[]; tokens: string[] }> {
    const items: any[] = [];
    const tokens: string[] = [];
    let cont: string | undefined;
    for (let i = 0; i < 50; i++) {
      const sep = path.includes('?') ? '&' : '?';
      const r = await call('GET', `/api/t/${tenant}/${path}${cont ? `${sep}continuation=${cont}` : ''}`, { token });
      expect(r.status, r.text).toBe(200);
      items.push(...r.json.items);
      cont = r.json.continuation;
      if (!cont) return { items, tokens };
      tokens.push(cont);
    }
    throw new Error('paging did not end');
  }

  const lists = () => [
    `records/doc?limit=2`,
    `records/doc?limit=2&sort=name`,
    `records/doc?limit=2&group=1`,
    `records/doc?limit=2&asOf=${new Date().toISOString()}`,
    `records/doc/${ids.acme![0]}/history?limit=1`,
    `audit?limit=2`,
  ];

  it('page through every list; the tokens are opaque (no record ids or stream ids in them)', async () => {
    const plain = await allPages('acme', 'records/doc?limit=2', T.viewer!);
    expect(plain.items.map((r) => r.id).sort()).toEqual([...ids.acme!].sort());
    const sorted = await allPages('acme', 'records/doc?limit=2&sort=name&group=1', T.viewer!);
    expect(sorted.items.map((r) => r.data.name)).toEqual(['a', 'b', 'c', 'd', 'e']);
    for (const path of lists()) {
      const { tokens } = await allPages('acme', path, T['acme-admin']!);
      expect(tokens.length, path).toBeGreaterThan(0);
      for (const t of tokens) {
        const readable = t
          .split('.')
          .map((s) => Buffer.from(s, 'base64url').toString('latin1'))
          .join(' ');
        for (const id of ids.acme!) expect(readable, path).not.toContain(id);
        expect(readable).not.toMatch(/rec:|u_[A-Za-z0-9_-]{22}/);
      }
    }
  });

  it("another tenant's token, a modified token, another query's token and garbage get 400 with a clear detail, never 500", async () => {
    const first = async (tenant: string, path: string, token: string) => {
      const r = await call('GET', `/api/t/${tenant}/${path}`, { token });
      expect(r.status, r.text).toBe(200);
      expect(r.json.continuation, path).toEqual(expect.any(String));
      return r.json.continuation as string;
    };
    const refused = async (tenant: string, path: string, cont: string, token: string) => {
      const sep = path.includes('?') ? '&' : '?';
      const r = await call('GET', `/api/t/${tenant}/${path}${sep}continuation=${encodeURIComponent(cont)}`, { token });
      expectProblem(r, 400, /continuation token/);
    };
    const sameShapeAtGlobex = (path: string) => path.replace(ids.acme![0]!, ids.globex![0]!);
    for (const path of lists()) {
      const token = await first('acme', path, T['acme-admin']!);
      // The same query at tenant globex, by globex's own admin.
      await refused('globex', sameShapeAtGlobex(path), token, T['globex-admin']!);
      // Modified: one character in the middle, the end cut off, a character appended to the MAC.
      const mid = Math.floor(token.length / 2);
      await refused('acme', path, token.slice(0, mid) + (token[mid] === 'A' ? 'B' : 'A') + token.slice(mid + 1), T['acme-admin']!);
      await refused('acme', path, token.slice(0, -5), T['acme-admin']!);
      // Garbage, including the old readable format and a huge value.
      for (const junk of [
        'zzz',
        Buffer.from('{"id":"r_0000000000000000000000"}').toString('base64url'),
        Buffer.from('{"o":-1}').toString('base64url'),
        Buffer.from('[1]').toString('base64url'),
        'A'.repeat(5000),
      ]) {
        await refused('acme', path, junk, T['acme-admin']!);
      }
    }
    // A token of one query is refused on another query of the same tenant.
    const plainToken = await first('acme', 'records/doc?limit=2', T.viewer!);
    await refused('acme', 'records/doc?limit=2&sort=name', plainToken, T.viewer!);
    await refused('acme', 'records/doc?limit=2&group=1', plainToken, T.viewer!);
    await refused('acme', 'audit?limit=2', plainToken, T['acme-admin']!);
    const historyToken = await first('acme', `records/doc/${ids.acme![0]}/history?limit=1`, T.viewer!);
    await refused('acme', `records/doc/${ids.acme![1]}/history?limit=1`, historyToken, T.viewer!);
    // The limit may change between pages.
    const r = await call('GET', `/api/t/acme/records/doc?limit=3&continuation=${plainToken}`, { token: T.viewer });
    expect(r.status, r.text).toBe(200);
    // No token, or another tenant's bearer token: 401 before the continuation is looked at.
    expectProblem(await call('GET', `/api/t/acme/records/doc?limit=2&continuation=${plainToken}`), 401);
    expectProblem(await call('GET', `/api/t/acme/records/doc?limit=2&continuation=${plainToken}`, { token: T['globex-admin'] }), 401);
  });
});

describe('file names', () => {
  const base = () => `/api/t/acme/records/doc/${ids.acme![2]}/files`;
  async function upload(headers: Record<string, string>, token = T.editor!) {
    const res = await fetch(`${host.url}${base()}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/pdf', ...headers },
      body: randomBytes(100),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: text ? JSON.parse(text) : undefined } as CallResult;
  }
  const files = async () =>
    (await call('GET', `/api/t/acme/records/doc/${ids.acme![2]}`, { token: T.viewer })).json.files as Array<{ name: string }>;

  it('bad percent-encoding or charset in filename* → 400; a correct one is decoded', async () => {
    const before = (await files()).length;
    for (const cd of [
      "attachment; filename*=UTF-8''%ZZ.pdf",
      "attachment; filename*=UTF-8''%C3.pdf",
      "attachment; filename*=UTF-8''%E2%82.pdf",
      "attachment; filename*=UTF-8''100%.pdf",
      "attachment; filename*=UTF-16''x.pdf",
      'attachment; filename*=x.pdf',
      'attachment; filename="fallback.pdf"; filename*=UTF-8\'\'%FF%FE.pdf',
    ]) {
      expectProblem(await upload({ 'content-disposition': cd }), 400, /filename\*/);
    }
    expect(await files()).toHaveLength(before);
    const ok = await upload({
      'content-disposition': `attachment; filename="fallback.pdf"; filename*=UTF-8''%E2%82%AC%20rates%20%C4%8D.pdf`,
    });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.json.name).toBe('€ rates č.pdf');
    const latin = await upload({ 'content-disposition': `attachment; filename*=ISO-8859-1'en'caf%E9.pdf` });
    expect(latin.status, latin.text).toBe(201);
    expect(latin.json.name).toBe('café.pdf');
  });

  it('names with bidirectional overrides, DEL or C0/C1 controls → 400, whichever header carries them', async () => {
    const before = (await files()).length;
    for (const [name, why] of [
      ['invoice\u202efdp.exe', /U\+202E/],
      ['a\u2066b.pdf', /U\+2066/],
      ['a\u007fb.pdf', /U\+007F/],
      ['a\u0085b.pdf', /U\+0085/],
      ['a\u001bb.pdf', /U\+001B/],
    ] as const) {
      expectProblem(await upload({ 'x-file-name': encodeURIComponent(name) }), 400, why);
      expectProblem(await upload({ 'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(name)}` }), 400, why);
    }
    // A C1 control as a raw ISO-8859-1 byte in the plain filename parameter.
    expectProblem(await upload({ 'content-disposition': 'attachment; filename="a\x85b.pdf"' }), 400, /U\+0085/);
    expectProblem(await upload({ 'x-file-name': '%E2%80' }), 400, /percent-encoded/);
    expect(await files()).toHaveLength(before);
    // Authentication first: no token / another tenant's token → 401, even with a bad name.
    const noToken = await fetch(`${host.url}${base()}`, {
      method: 'POST',
      headers: { 'content-type': 'application/pdf', 'x-file-name': '%E2%80%AE' },
      body: 'x',
    });
    expect(noToken.status).toBe(401);
    expectProblem(await upload({ 'x-file-name': '%E2%80%AE' }, T['globex-admin']!), 401);
  });
});

describe('garbage encryptiondata on a stored blob', () => {
  it('answers 502 with a clear detail for each kind of garbage, never 500; repaired metadata reads again', async () => {
    const data = randomBytes(5000);
    const up = await fetch(`${host.url}/api/t/acme/records/doc/${ids.acme![3]}/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${T.editor}`, 'content-type': 'application/octet-stream', 'x-file-name': 'g.bin' },
      body: data,
    });
    const file = (await up.json()) as { fileId: string };
    expect(up.status).toBe(201);
    const container = BlobServiceClient.fromConnectionString(azuriteConnectionString(blobPort)).getContainerClient('t-acme');
    let blobName: string | undefined;
    for await (const b of container.listBlobsFlat({ includeMetadata: true })) if (b.name.includes(file.fileId)) blobName = b.name;
    const blob = container.getBlockBlobClient(blobName!);
    const original = (await blob.getProperties()).metadata!;
    const ed = JSON.parse(original.encryptiondata!);
    const url = `/api/t/acme/records/doc/${ids.acme![3]}/files/${file.fileId}`;
    const variants: Array<[string, string, RegExp]> = [
      ['not JSON', '{"WrappedContentKey": ', /not valid.*not JSON/],
      ['an array', '[1,2,3]', /expected a JSON object/],
      [
        'unknown protocol',
        JSON.stringify({ ...ed, EncryptionAgent: { Protocol: '9.9', EncryptionAlgorithm: 'AES_GCM_256' } }),
        /protocol "9\.9" is not supported/,
      ],
      [
        'v1 AES-CBC',
        JSON.stringify({ ...ed, EncryptionAgent: { Protocol: '1.0', EncryptionAlgorithm: 'AES_CBC_256' } }),
        /protocol "1\.0"/,
      ],
      ['wrong type', JSON.stringify({ ...ed, EncryptedRegionInfo: { DataLength: '4194304', NonceLength: 12 } }), /DataLength/],
      ['wrong region size', JSON.stringify({ ...ed, EncryptedRegionInfo: { DataLength: 16, NonceLength: 12 } }), /DataLength/],
      ['key not base64', JSON.stringify({ ...ed, WrappedContentKey: { ...ed.WrappedContentKey, EncryptedKey: '***' } }), /EncryptedKey/],
      [
        'key of the wrong length',
        JSON.stringify({ ...ed, WrappedContentKey: { ...ed.WrappedContentKey, EncryptedKey: 'AAAA' } }),
        /content key is not wrapped by this tenant's own key/,
      ],
      [
        'key id of a missing key version',
        JSON.stringify({
          ...ed,
          WrappedContentKey: { ...ed.WrappedContentKey, KeyId: ed.WrappedContentKey.KeyId.replace(/\/[0-9a-f]{16}$/, '/0000000000000000') },
        }),
        /key version that does not exist|not wrapped by this tenant's own key/,
      ],
      ['huge key id', JSON.stringify({ ...ed, WrappedContentKey: { ...ed.WrappedContentKey, KeyId: 'k'.repeat(6000) } }), /KeyId/],
      ['key id not a string', JSON.stringify({ ...ed, WrappedContentKey: { ...ed.WrappedContentKey, KeyId: 42 } }), /KeyId/],
    ];
    for (const [what, value, detail] of variants) {
      await blob.setMetadata({ ...original, encryptiondata: value });
      const r = await call('GET', url, { token: T.viewer });
      expectProblem(r, 502, detail);
      expect(r.json.detail, what).not.toMatch(/unexpected error/);
    }
    // Missing metadata altogether.
    const { encryptiondata: _ignored, ...withoutEd } = original;
    await blob.setMetadata(withoutEd);
    expectProblem(await call('GET', url, { token: T.viewer }), 502);
    // No token / another tenant's token: 401 before the blob is touched.
    expectProblem(await call('GET', url), 401);
    expectProblem(await call('GET', url, { token: T['globex-admin'] }), 401);
    await blob.setMetadata(original);
    const back = await fetch(`${host.url}${url}`, { headers: { authorization: `Bearer ${T.viewer}` } });
    expect(back.status).toBe(200);
    expect(Buffer.from(await back.arrayBuffer()).equals(data)).toBe(true);
  });
});

describe('failures an invocation leaves behind', () => {
  it('a rejection or exception after answering is logged (masked, with the correlation id) and the host keeps serving', async () => {
    for (const kind of ['reject-after-answer', 'throw-after-answer']) {
      const cid = `fault-${kind}-${randomBytes(4).toString('hex')}`;
      const r = await call('GET', `/api/test/faults/${kind}`, { headers: { 'x-correlation-id': cid } });
      expect(r.status, r.text).toBe(202);
      expect(r.headers.get('x-correlation-id')).toBe(cid);
      const line = await outputMatching(new RegExp(`"event":"error".*"correlationId":"${cid}"`));
      expect(line).toContain(kind.startsWith('reject') ? '"origin":"unhandledRejection"' : '"origin":"uncaughtException"');
      expect(line).toContain('"fn":"testFault"');
      // The host is still up and serves other tenants.
      expect(() => process.kill(host.pid, 0)).not.toThrow();
      expect(await countDocs('globex', T['globex-admin']!)).toBe(5);
    }
  });

  it('the same failure before answering ends that request with 500 problem+json; other requests are served meanwhile', async () => {
    for (const kind of ['reject-before-answer', 'throw-before-answer']) {
      const cid = `fault-${kind}-${randomBytes(4).toString('hex')}`;
      const [r, other] = await Promise.all([
        call('GET', `/api/test/faults/${kind}`, { headers: { 'x-correlation-id': cid } }),
        call('GET', '/api/t/globex/records/doc', { token: T['globex-admin'] }),
      ]);
      expectProblem(r, 500);
      expect(r.json.correlationId).toBe(cid);
      expect(r.headers.get('x-correlation-id')).toBe(cid);
      expect(other.status, other.text).toBe(200);
      await outputMatching(new RegExp(`"event":"error".*"correlationId":"${cid}"`));
    }
    // Without a caller's correlation id, the host makes one and uses it in the answer and the log.
    const r = await call('GET', '/api/test/faults/reject-before-answer', { headers: { 'x-correlation-id': 'not valid!' } });
    expectProblem(r, 500);
    expect(r.json.correlationId).toMatch(/^[0-9a-f-]{36}$/);
    await outputMatching(new RegExp(`"event":"error".*"correlationId":"${r.json.correlationId}"`));
    expect(() => process.kill(host.pid, 0)).not.toThrow();
    expect((await call('GET', '/api/health')).status).toBeLessThan(500);
  });

  it('no secret from the failures reaches the log', () => {
    const out = host.output();
    expect(out).toContain('test fault');
    expect(out).not.toContain('test-fault-password');
    expect(out).not.toContain('eyJfake.test-fault.token');
  });
});
