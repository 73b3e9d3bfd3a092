/**
 * Entry of a sandbox worker thread: compiles tenant schemas and validates records with them,
 * off the shared event loop. The pool stops this thread when a task overruns its time budget
 * or its heap limit, so nothing a schema does can stall or crash the host.
 */
import { parentPort } from 'node:worker_threads';
import { compileSchema, run, type Compiled } from './engine';
import { SANDBOX_CACHE_ENTRIES } from './limits';
import type { Envelope, SandboxReply, SandboxRequest } from './protocol';

const cache = new Map<string, Compiled>();

function remember(key: string, c: Compiled): void {
  cache.delete(key);
  cache.set(key, c);
  if (cache.size > SANDBOX_CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
}

function handle(req: SandboxRequest): SandboxReply {
  switch (req.op) {
    case 'define': {
      const c = compileSchema(req.schemaJson !== undefined ? JSON.parse(req.schemaJson) : req.schema, 'strict');
      // A schema that passed every rule validates the same in stored mode: keep it for the first writes.
      if (c.ok) remember(req.key, c);
      return { kind: 'defined', problems: c.ok ? [] : c.problems };
    }
    case 'validate': {
      let c = cache.get(req.key);
      if (!c) {
        if (req.schemaJson === undefined) return { kind: 'missing' };
        c = compileSchema(JSON.parse(req.schemaJson), 'stored');
      }
      remember(req.key, c);
      if (!c.ok) return { kind: 'unusable', problems: c.problems };
      return { kind: 'verdict', verdict: run(c.validate, JSON.parse(req.dataJson)) };
    }
    default: {
      const never: never = req;
      throw new Error(`unknown sandbox request ${JSON.stringify(never)}`);
    }
  }
}

parentPort!.on('message', (m: Envelope<SandboxRequest>) => {
  const reply: Envelope<SandboxReply> = { id: m.id, body: handle(m.body) };
  parentPort!.postMessage(reply);
});

// Load and warm the compiler (meta-schema, formats, RE2) before the pool starts the clock on tasks.
compileSchema({ type: 'object', properties: { a: { type: 'string', pattern: '^a', format: 'email' } } }, 'strict');
const ready: Envelope<SandboxReply> = { id: 0, body: { kind: 'ready' } };
parentPort!.postMessage(ready);
