import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

/** The most JavaScript (gzipped) the browser may have to load before the console shows (issue 18). */
const INITIAL_JS_LIMIT_BYTES = 200 * 1024;

/**
 * Prints the gzipped size of the JavaScript loaded on first view (the entry chunk and every
 * chunk it imports statically) and fails the build when it exceeds the limit.
 */
function initialJsBudget(): Plugin {
  return {
    name: 'initial-js-budget',
    apply: 'build',
    generateBundle(_options, bundle) {
      const chunks = new Map(Object.values(bundle).flatMap((c) => (c.type === 'chunk' ? [[c.fileName, c] as const] : [])));
      const initial = new Set<string>();
      const visit = (name: string) => {
        const c = chunks.get(name);
        if (!c || initial.has(name)) return;
        initial.add(name);
        for (const i of c.imports) visit(i);
      };
      for (const c of chunks.values()) if (c.isEntry) visit(c.fileName);
      let bytes = 0;
      for (const name of initial) bytes += gzipSync(chunks.get(name)!.code, { level: 9 }).length;
      const line = `console: initial JavaScript ${(bytes / 1024).toFixed(1)} KB gzipped in ${initial.size} file(s) (limit ${INITIAL_JS_LIMIT_BYTES / 1024} KB)`;
      if (bytes > INITIAL_JS_LIMIT_BYTES) this.error(line);
      console.log(line);
    },
  };
}

/**
 * The web console's build: console/ → dist/console/, served by functions/console.ts at
 * /console/. Preact with its automatic JSX runtime; no inline scripts or styles in the
 * output (the Content-Security-Policy forbids them), hashed asset names (cached for a year).
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  logLevel: 'warn',
  plugins: [initialJsBudget()],
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // The preload polyfill would be inlined into index.html; every supported browser has modulepreload.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    sourcemap: false,
  },
});
