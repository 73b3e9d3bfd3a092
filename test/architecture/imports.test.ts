/**
 * The import graph of the service's own code (functions/, shared/, host/, cli/, bench/), read by
 * madge from the TypeScript sources (type-only imports included): no import cycle anywhere, and
 * the layers never import upward (README, "Architecture at a glance").
 */
import { join } from 'node:path';
import madge from 'madge';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const SOURCES = ['functions', 'shared', 'host', 'cli', 'bench'];

let graph: Record<string, string[]>;
let cycles: string[][];

beforeAll(async () => {
  // madge's TypeScript parser warns once per file about a property it reads (not ours to fix).
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (String(warning).includes('TSImportType')) return;
    (emitWarning as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    const result = await madge(
      SOURCES.map((d) => join(root, d)),
      { baseDir: root, fileExtensions: ['ts'], tsConfig: join(root, 'tsconfig.json'), excludeRegExp: [/node_modules/] },
    );
    graph = result.obj();
    cycles = result.circular();
  } finally {
    process.emitWarning = emitWarning;
  }
}, 120_000);

/** The files `from` imports that match `forbidden`, as "from → to" lines. */
function importsOf(from: RegExp, forbidden: RegExp): string[] {
  return Object.entries(graph).flatMap(([file, deps]) =>
    from.test(file) ? deps.filter((d) => forbidden.test(d)).map((d) => `${file} → ${d}`) : [],
  );
}

describe('import graph', () => {
  it('reads every source module and resolves the imports between them', () => {
    const files = Object.keys(graph);
    expect(files.length).toBeGreaterThan(200);
    for (const dir of SOURCES) expect(files.some((f) => f.startsWith(`${dir}/`))).toBe(true);
    // A module that imports another one of ours has it in its edges (so an unresolved import would show).
    expect(graph['functions/index.ts']?.length).toBeGreaterThan(5);
  });

  it('has no import cycle', () => {
    expect(cycles.map((c) => c.join(' → '))).toEqual([]);
  });

  it('keeps the domain pure: shared/domain imports only shared/domain', () => {
    expect(importsOf(/^shared\/domain\//, /^(?!shared\/domain\/)/)).toEqual([]);
  });

  it('keeps ports free of use cases and adapters: shared/ports imports only ports and domain', () => {
    expect(importsOf(/^shared\/ports\//, /^(?!shared\/(ports|domain)\/)/)).toEqual([]);
  });

  it('never imports upward from shared/ into functions/, host/, cli/ or bench/', () => {
    expect(importsOf(/^shared\//, /^(functions|host|cli|bench)\//)).toEqual([]);
  });

  it('keeps use cases off adapters: shared/app imports no shared/adapters module except the abort and durable-write helpers', () => {
    expect(importsOf(/^shared\/app\//, /^shared\/adapters\/(?!abort\.ts$|durable-files\.ts$)/)).toEqual([]);
  });

  it('keeps functions/ thin: no adapter or SDK wiring, only shared/config wires them', () => {
    expect(importsOf(/^functions\//, /^shared\/adapters\//)).toEqual([]);
  });
});
