import { app } from '@azure/functions';
import { loadConfig } from '../shared/config';
import { notFound } from '../shared/domain/errors';
import { API_PREFIX, edge, json } from './http';

/**
 * TEST ONLY — registered only with TEST_FAULT_HOOKS=on, which nothing in production sets.
 *
 * `GET /api/test/faults/{kind}` makes its own invocation fail outside its promise chain, the
 * way a careless dependency or a forgotten `await` can, so the end-to-end tests can check that
 * the host logs such a failure (masked, with the correlation id), answers 500 when the request
 * is still open, and keeps serving every other request:
 *
 * - `reject-after-answer` / `throw-after-answer`: answers 202, then a promise nobody awaits
 *   rejects / a timer callback throws;
 * - `reject-before-answer` / `throw-before-answer`: the same failure while the request is
 *   still open (the function itself would only answer seconds later).
 *
 * Each failure's message carries a fake bearer token and password, which must never reach a log.
 */
const KINDS = ['reject-after-answer', 'throw-after-answer', 'reject-before-answer', 'throw-before-answer'] as const;
type Kind = (typeof KINDS)[number];

const secretBait = 'Bearer eyJfake.test-fault.token password=test-fault-password';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fail(kind: Kind, delayMs: number): void {
  const message = `test fault ${kind} (${secretBait})`;
  if (kind.startsWith('reject')) setTimeout(() => void Promise.reject(new Error(message)), delayMs);
  else
    setTimeout(() => {
      throw new Error(message);
    }, delayMs);
}

function enabled(): boolean {
  try {
    return loadConfig().testFaultHooks;
  } catch {
    return false;
  }
}

if (enabled()) {
  app.http('testFault', {
    route: `${API_PREFIX}/test/faults/{kind}`,
    methods: ['GET'],
    authLevel: 'anonymous',
    handler: edge(async ({ req }) => {
      const kind = req.params.kind as Kind;
      if (!KINDS.includes(kind)) throw notFound(`Unknown fault kind; use one of ${KINDS.join(', ')}.`);
      if (kind.endsWith('after-answer')) {
        fail(kind, 50);
        return json(202, { kind });
      }
      fail(kind, 0);
      await sleep(3000);
      return json(200, { kind, note: 'the failure did not end this request' });
    }),
  });
}
