/**
 * TEST ONLY, loaded into a host process started by a test (`NODE_OPTIONS=--require <this file>`,
 * see `timerOnSignal` in host-process.ts); nothing in the service loads it. The local host runs
 * timers on their wall-clock schedules only (backupIncremental: every 15 minutes), and host
 * processes started by tests leave the backup timers out. This lets a test run one timer of the
 * real host process now: on SIGUSR2 it invokes the handler that functions/ registered under
 * TIMER_ON_SIGNAL (e.g. backupIncremental), as the local host's scheduler does (a timer input and
 * an InvocationContext), and prints its log lines the way the host does, framed by
 * `timer-on-signal: <name> #<n> started` and `… finished` (or `… failed: <message>`). A signal
 * that comes while a run is still going is refused (`… busy`), as croner's `protect` would.
 */
const { randomUUID } = require('node:crypto');
const { createRequire } = require('node:module');
const { join } = require('node:path');

const root = join(__dirname, '..', '..');
const name = process.env.TIMER_ON_SIGNAL;
const say = (line) => process.stdout.write(`${line}\n`);

if (name) {
  const fromRoot = createRequire(join(root, 'package.json'));
  let runs = 0;
  let busy = false;
  process.on('SIGUSR2', () => {
    const n = ++runs;
    if (busy) {
      say(`timer-on-signal: ${name} #${n} busy`);
      return;
    }
    // Installed by host/start.js before the first registration: this returns that shim.
    const shim = fromRoot('./dist/host/functions-core.js').installFunctionsCore();
    const reg = shim.registrations.find((r) => r.name === name);
    if (!reg) {
      say(`timer-on-signal: ${name} #${n} failed: not registered`);
      return;
    }
    const funcs = fromRoot('@azure/functions');
    const context = new funcs.InvocationContext({
      invocationId: randomUUID(),
      functionName: name,
      logHandler: (level, ...args) => say(`[${new Date().toISOString()}] ${name} ${level}: ${args.map(String).join(' ')}`),
    });
    busy = true;
    say(`timer-on-signal: ${name} #${n} started`);
    Promise.resolve()
      .then(() => reg.handler({ isPastDue: false, schedule: { adjustForDST: false } }, context))
      .then(
        () => say(`timer-on-signal: ${name} #${n} finished`),
        (e) => say(`timer-on-signal: ${name} #${n} failed: ${e?.message ?? e}`),
      )
      .finally(() => {
        busy = false;
      });
  });
}
