/**
 * The deployment package: what `.funcignore` lets azd upload (azure.yaml: remoteBuild, so no
 * node_modules), that it holds what the Functions host and the remote build need and nothing
 * local (data, keys, tests), that those sources build and load on their own, and its size.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { measurePackage } from '../../bench/package-size';

const root = join(__dirname, '..', '..');
const MiB = 1024 * 1024;
const size = measurePackage(root);
const shipped = new Set(size.uploadFiles);
const temp: string[] = [];

afterAll(() => {
  for (const t of temp) rmSync(t, { recursive: true, force: true });
});

function run(file: string, args: string[], cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, encoding: 'utf8', timeout: 180_000, maxBuffer: 16 * MiB }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

describe('the deployment package', () => {
  it('holds what the Functions host and the remote build need', () => {
    for (const f of [
      'host.json',
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'dist/functions/index.js',
      'functions/index.ts',
      // the API reference page's template and stylesheet (read at run time, see functions/openapi-document.ts)
      'functions/docs/page.html',
      'functions/docs/docs.css',
    ])
      expect(shipped, f).toContain(f);
    expect([...shipped].some((f) => f.startsWith('shared/config/'))).toBe(true);
  });

  it('holds no node_modules, local data, settings, keys, tests or tools', () => {
    for (const f of shipped) {
      expect(f, f).not.toMatch(/^(node_modules|\.data|\.azure|\.git|\.ci|test|bench|infra|host|cli|coverage)(\/|$)/);
      expect(f, f).not.toMatch(/^dist\/(host|bench|cli|test)\//);
      expect(f, f).not.toMatch(/(^|\/)local\.settings(\.sample)?\.json$|\.map$|\.key$/);
    }
  });

  it('is small: what is uploaded, and the production dependencies Azure installs (printed)', () => {
    process.stdout.write(
      `package: ${size.upload.files} files, ${(size.upload.bytes / MiB).toFixed(1)} MiB uploaded; production dependencies as installed here: ${size.dependencies.files} files, ${(size.dependencies.bytes / MiB).toFixed(1)} MiB (dev-only, not shipped: ${(size.devDependencies.bytes / MiB).toFixed(1)} MiB)\n`,
    );
    expect(size.upload.bytes).toBeLessThanOrEqual(60 * MiB);
    // azurite (~87 MiB, 14k files) is a development dependency: it never ships.
    expect(size.largest.map((l) => l.name)).not.toContain('azurite');
  });

  it('its sources build on their own and the entry point registers every function', async () => {
    // What the remote build does: the uploaded files, dependencies installed next to them
    // (here: linked to this checkout's), `npm run build`, then the host loads package.json "main".
    const dir = mkdtempSync(join(tmpdir(), 'package-'));
    temp.push(dir);
    for (const f of shipped) {
      if (f.startsWith('dist/')) continue; // rebuilt from the sources below
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      cpSync(join(root, f), join(dir, f));
    }
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const build = await run(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], dir);
    expect(build.out).toBe('');
    expect(build.code).toBe(0);
    const load = await run(
      process.execPath,
      [
        '-e',
        `const shim = require(${JSON.stringify(join(root, 'dist', 'host', 'functions-core.js'))}).installFunctionsCore();
         require(require('node:path').join(${JSON.stringify(dir)}, require(${JSON.stringify(join(dir, 'package.json'))}).main));
         process.stdout.write(String(shim.registrations.length));`,
      ],
      dir,
    );
    expect(Number(load.out.trim().split('\n').pop()), load.out).toBeGreaterThan(30);
  }, 240_000);
});
