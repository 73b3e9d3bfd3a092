/**
 * `npm start` on a port that is taken: one line naming the port and the setting that changes
 * it, exit code 1, no stack trace.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
let taken: Server;
let port: number;
const dirs: string[] = [];

beforeAll(async () => {
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
  port = (taken.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => taken.close(() => resolve()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function start(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'port-conflict-'));
  dirs.push(dir);
  const child = spawn(process.execPath, [join(root, 'dist/host/start.js')], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', DATA_DIR: dir, LOCAL_BLOB: 'off', BACKUP_LOCAL_FALLBACK: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

describe('npm start on a port that is taken', () => {
  it('says which port the local host wanted and that PORT changes it', async () => {
    const r = await start({ PORT: String(port) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Port ${port} (the local host) is already in use`);
    expect(r.stderr).toContain(`PORT=${port + 1} npm start`);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).not.toContain('EADDRINUSE');
  });

  it("says so for the local Azurite's port, naming AZURITE_BLOB_PORT", async () => {
    const r = await start({ PORT: '0', LOCAL_BLOB: 'azurite', AZURITE_BLOB_PORT: String(port) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Port ${port} (the local Azurite Blob service) is already in use`);
    expect(r.stderr).toContain('AZURITE_BLOB_PORT=');
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});
