/**
 * The shape of the code, checked (README, "Architecture at a glance" and "How a command runs"):
 * - every decider in shared/domain has a given/when/then specification in test/domain;
 * - commands append to a tenant's log only through handleCommand (or its batch form,
 *   handleCommands): the few other appends are listed here with the reason they are not commands;
 * - use-case modules (shared/app) stay small.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');

function tsFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)).split('\\').join('/'))
    .sort();
}

const read = (file: string) => readFileSync(join(root, file), 'utf8');

describe('deciders', () => {
  const deciders = tsFiles('shared/domain').flatMap((file) =>
    [...read(file).matchAll(/export const (\w+)\s*:\s*Decider</g)].map((m) => ({ file, name: m[1]! })),
  );
  const specs = tsFiles('test/domain').map(read).join('\n');

  it('are found (the check below is not vacuous)', () => {
    expect(deciders.map((d) => d.name)).toEqual(
      expect.arrayContaining(['recordDecider', 'typeSetDecider', 'userDecider', 'tenantDecider']),
    );
  });

  it('each has a given/when/then specification in test/domain (DeciderSpecification.for)', () => {
    const missing = deciders.filter((d) => !new RegExp(`DeciderSpecification\\.for\\(\\s*${d.name}\\b`).test(specs));
    expect(missing.map((d) => `${d.file}: ${d.name}`)).toEqual([]);
  });
});

/**
 * Appends to an EventStore outside handleCommand, each with why it is not a command. Adapters
 * (the stores themselves) are not scanned.
 */
const APPENDS_OUTSIDE_HANDLE_COMMAND: Record<string, string> = {
  'shared/app/command-handling/handle-command.ts': 'handleCommand itself',
  'shared/app/command-handling/handle-commands.ts': 'handleCommands itself (the batch form: one appendMany for many commands)',
  'shared/app/tenants/restore-import.ts': "a restore copies a backed-up log's commits as they were; it decides nothing",
  'shared/app/users/admin-guard.ts':
    "the admins guard (handleCommand's aroundAppend) undoes its own guard commit when the user's append then fails",
  'shared/app/changes/change-signal.ts': 'an EventStore decorator: forwards append to the store it wraps',
  'shared/app/erasure/sealing.ts': 'an EventStore decorator: seals personal values, then forwards append',
  'shared/app/erasure/vault.ts': 'an EventStore decorator: forwards append to the store it wraps',
  'host/warm-up.ts': "the host's start-up warm-up appends to a throwaway store in a temporary folder, nobody's log",
};

describe('appends to a log', () => {
  const scanned = ['shared/app', 'shared/config', 'functions', 'host', 'cli'].flatMap(tsFiles);
  // A call of `append` or `appendMany` on something (not headers.append, URLSearchParams or FormData).
  const appendCall = /(?<!headers|params|searchParams|form|body|url)\.append(Many)?\(/;
  const appending = scanned.filter((f) =>
    read(f)
      .split('\n')
      .some((line) => appendCall.test(line) && !/^\s*(\*|\/\/)/.test(line)),
  );

  it('happen only in handleCommand and the listed non-command places', () => {
    expect(appending.filter((f) => !(f in APPENDS_OUTSIDE_HANDLE_COMMAND))).toEqual([]);
  });

  it('the list holds only places that still append (it does not go stale)', () => {
    expect(Object.keys(APPENDS_OUTSIDE_HANDLE_COMMAND).filter((f) => !appending.includes(f))).toEqual([]);
  });
});

/** About 300 lines (README: "each module under ~300 lines"), with a little slack for a comment. */
const MAX_USE_CASE_LINES = 330;
/** Modules still over it, each with why; the list may only shrink (see the test below it). */
const OVER_SIZE: Record<string, string> = {};

describe('use-case modules', () => {
  it(`are each at most about 300 lines (${MAX_USE_CASE_LINES})`, () => {
    const files = tsFiles('shared/app');
    expect(files.length).toBeGreaterThan(50);
    const big = files.map((f) => ({ f, lines: read(f).split('\n').length })).filter((x) => x.lines > MAX_USE_CASE_LINES);
    expect(big.filter((x) => !(x.f in OVER_SIZE)).map((x) => `${x.f}: ${x.lines} lines`)).toEqual([]);
  });

  it('the list of exceptions holds only modules that are still over the size', () => {
    const over = (f: string) => read(f).split('\n').length > MAX_USE_CASE_LINES;
    expect(Object.keys(OVER_SIZE).filter((f) => !over(f))).toEqual([]);
  });
});
