import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HostProcess, startHostProcess } from '../support/host-process';
import { client } from '../support/http-client';

/**
 * A client generated from GET /api/openapi.json with openapi-typescript, used the way a
 * client app would: a short program with openapi-fetch that creates a record and reads its
 * history. It must type-check under tsc --strict (the document's open objects, pages and
 * record types are usable), and a program that misuses the API must not.
 */

let host: HostProcess;
let dir: string;
const call = client(() => host.url);
const tsc = join(process.cwd(), 'node_modules', 'typescript', 'bin', 'tsc');

const PROGRAM = `
import createClient from 'openapi-fetch';
import type { components, paths } from './schema';

type Record = components['schemas']['Record'];

export async function run(baseUrl: string, token: string): Promise<{ record: Record; changed: string[] }> {
  const api = createClient<paths>({ baseUrl, headers: { Authorization: \`Bearer \${token}\` } });
  const path = { tenant: 'acme', type: 'customer' };
  const created = await api.POST('/t/{tenant}/records/{type}', {
    params: { path, header: { 'Idempotency-Key': 'client-1' } },
    body: { name: 'Novák s.r.o.', address: { city: 'Brno' } },
  });
  if (!created.data) throw new Error(\`create failed: \${created.error?.detail}\`);
  const record: Record = created.data;
  const city: unknown = record.data.address;
  const history = await api.GET('/t/{tenant}/records/{type}/{id}/history', {
    params: { path: { ...path, id: record.id }, query: { limit: 10 } },
  });
  if (!history.data) throw new Error(\`history failed: \${history.error?.title}\`);
  const changed = history.data.items.flatMap((entry) => entry.events.flatMap((e) => e.changes.map((c) => c.path)));
  void city;
  return { record, changed };
}
`;

/** Misuses the API in ways the generated types must refuse. */
const MISUSE = `
import createClient from 'openapi-fetch';
import type { paths } from './schema';

export async function misuse(): Promise<void> {
  const api = createClient<paths>({ baseUrl: '/api' });
  await api.POST('/t/{tenant}/records/{type}', { params: { path: { tenant: 'acme' } }, body: {} });
  const r = await api.GET('/t/{tenant}/records/{type}/{id}', { params: { path: { tenant: 'a', type: 'b', id: 'c' } } });
  const version: string = r.data!.version;
  void version;
  await api.POST('/t/{tenant}/auth/token', { params: { path: { tenant: 'a' } }, body: { email: 'x@y.z' } });
}
`;

function typeCheck(files: string[]): { ok: boolean; output: string } {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noUncheckedIndexedAccess: true,
        target: 'ES2022',
        module: 'commonjs',
        moduleResolution: 'node10',
        esModuleInterop: true,
        skipLibCheck: true,
        outDir: 'out',
        types: [],
      },
      files,
    }),
  );
  try {
    execFileSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', stdio: 'pipe' });
    return { ok: true, output: '' };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

beforeAll(async () => {
  host = await startHostProcess({ LOCAL_BLOB: 'off' });
  // Inside the project, so the generated program resolves openapi-fetch from its node_modules.
  dir = mkdtempSync(join(process.cwd(), '.tmp-openapi-client-'));
  const doc = await call('GET', '/api/openapi.json');
  expect(doc.status).toBe(200);
  writeFileSync(join(dir, 'schema.ts'), astToString(await openapiTS(doc.text)));
  writeFileSync(join(dir, 'program.ts'), PROGRAM);
  writeFileSync(join(dir, 'misuse.ts'), MISUSE);
});

afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  const code = await host?.stop();
  host?.cleanup();
  expect(code).toBe(0);
});

describe('a client generated from /api/openapi.json (openapi-typescript + openapi-fetch)', () => {
  it('types open objects as records of unknown, not Record<string, never>', () => {
    const schema = readFileSync(join(dir, 'schema.ts'), 'utf8');
    // (webhooks and $defs, which the document does not have, are Record<string, never> too)
    expect(schema).not.toMatch(/^\s+[\w"]+\??: Record<string, never>;/m);
    expect(schema).toMatch(/JsonObject: \{\s*\[key: string\]: unknown;\s*\}/);
  });

  it('type-checks a program that creates a record and reads its history', () => {
    const r = typeCheck(['program.ts']);
    expect(r.output).toBe('');
    expect(r.ok).toBe(true);
  });

  it('refuses a program that misuses the API (missing path parameter, wrong field type, missing password)', () => {
    const r = typeCheck(['misuse.ts']);
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/misuse\.ts\(7,/);
    expect(r.output).toMatch(/misuse\.ts\(9,/);
    expect(r.output).toMatch(/misuse\.ts\(11,/);
  });
});
