/**
 * What a deployment ships, measured from the project folder:
 * - `upload`: the files azd zips and uploads (the project minus `.funcignore`, the rules
 *   `func pack` and azd apply, in gitignore syntax). With `remoteBuild: true` (azure.yaml) the
 *   node_modules folder is not uploaded: Azure installs the dependencies and builds on Linux.
 * - `dependencies`: what those production dependencies take once installed (the packages of
 *   package-lock.json that are not dev-only, as present in node_modules here).
 * Used by `npm run bench` (startup phase) and test/infra/package.test.ts.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ignore from 'ignore';

export interface Footprint {
  files: number;
  bytes: number;
}

export interface PackageSize {
  /** Relative paths (with /) of the uploaded files. */
  uploadFiles: string[];
  upload: Footprint;
  /** Production dependencies as installed. */
  dependencies: Footprint;
  /** Dev-only dependencies as installed (never shipped). */
  devDependencies: Footprint;
  /** The largest production dependencies (package path, bytes), largest first. */
  largest: { name: string; bytes: number }[];
}

/** Every file under `dir` (no symlink following), as paths relative to `base`. */
function walk(dir: string, base: string, out: string[], skip: (rel: string, isDir: boolean) => boolean): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    const rel = relative(base, full).split(sep).join('/');
    if (entry.isDirectory()) {
      if (!skip(`${rel}/`, true)) walk(full, base, out, skip);
    } else if (!skip(rel, false)) out.push(rel);
  }
}

const sizeOf = (file: string): number => lstatSync(file).size;

/** The files a deployment of `appRoot` uploads, per its .funcignore (node_modules never: remote build). */
export function uploadedFiles(appRoot: string): string[] {
  const rules = ignore().add(readFileSync(join(appRoot, '.funcignore'), 'utf8'));
  const out: string[] = [];
  // node_modules never ships (remote build), whether a folder or a link to one.
  walk(appRoot, appRoot, out, (rel) => rel === 'node_modules/' || rel === 'node_modules' || rules.ignores(rel));
  return out.sort();
}

/** The package folder of a file under node_modules: `node_modules/a/node_modules/@s/b`. */
function packageDirOf(rel: string): string | undefined {
  const parts = rel.split('/');
  let end = -1;
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] !== 'node_modules') continue;
    const name = parts[i + 1];
    if (!name) break;
    end = name.startsWith('@') ? i + 2 : i + 1;
    i = end;
  }
  return end < 0 ? undefined : parts.slice(0, end + 1).join('/');
}

export function measurePackage(appRoot: string): PackageSize {
  const uploadFiles = uploadedFiles(appRoot);
  const upload = { files: uploadFiles.length, bytes: uploadFiles.reduce((n, f) => n + sizeOf(join(appRoot, f)), 0) };

  const lock = JSON.parse(readFileSync(join(appRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; devOptional?: boolean }>;
  };
  const dependencies = { files: 0, bytes: 0 };
  const devDependencies = { files: 0, bytes: 0 };
  const perPackage = new Map<string, number>();
  const files: string[] = [];
  walk(join(appRoot, 'node_modules'), appRoot, files, (rel) => rel === 'node_modules/.bin/' || rel === 'node_modules/.cache/');
  for (const rel of files) {
    const pkg = packageDirOf(rel);
    if (!pkg) continue;
    const entry = lock.packages[pkg];
    const bytes = sizeOf(join(appRoot, rel));
    // Not in the lock (e.g. npm's own bookkeeping) or dev-only: not shipped.
    if (!entry || entry.dev || entry.devOptional) {
      devDependencies.files++;
      devDependencies.bytes += bytes;
      continue;
    }
    dependencies.files++;
    dependencies.bytes += bytes;
    const top = pkg.slice(pkg.indexOf('node_modules/') + 'node_modules/'.length).split('/node_modules/')[0]!;
    perPackage.set(top, (perPackage.get(top) ?? 0) + bytes);
  }
  const largest = [...perPackage.entries()]
    .map(([name, bytes]) => ({ name, bytes }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 8);
  return { uploadFiles, upload, dependencies, devDependencies, largest };
}
