import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface HostProcess {
  url: string;
  pid: number;
  dataDir: string;
  operatorKey: string;
  output(): string;
  /** Sends SIGINT and waits for a clean exit and the end of its output; returns the exit code. */
  stop(): Promise<number | null>;
  /**
   * kill -9 through the child's handle, then waits for its exit. A process that has already
   * ended gets no signal: unlike a kill by pid, this can never reach another process that was
   * given the same pid meanwhile (pid_max is 32,768 here, and threads use pids too).
   */
  kill9(): Promise<void>;
  cleanup(): void;
}

const root = resolve(__dirname, '..', '..');

/** Starts `node dist/host/start.js` (what `npm start` runs) in its own data folder. */
/** A free TCP port on 127.0.0.1 (for Azurite next to the host). */
export { freePort } from './net';
import { freePort } from './net';
import { forgetHostOutput, noteHostOutput } from './host-output';

/**
 * E2E_STORE=cosmos-standin (test-only switch, read here and never by the service) runs every
 * host these tests start with STORE=cosmos-standin: the Cosmos adapter against the in-process
 * change-feed stand-in, on a free port. vitest.config.mts has a project that sets it.
 */
export const e2eOnCosmos = process.env.E2E_STORE === 'cosmos-standin';

async function storeEnv(env: Record<string, string>): Promise<Record<string, string>> {
  if (process.env.E2E_STORE !== 'cosmos-standin' || env.STORE !== undefined) return {};
  return { STORE: 'cosmos-standin', COSMOS_STANDIN_PORT: String(await freePort()) };
}

/**
 * The backup timers run on the quarter hour by the wall clock (functions/timers.ts). A test that
 * counts its own backups saw one more whenever it ran across a quarter hour (the CI of session 8's
 * stop: `manifests: 2` in test/e2e/backups.test.ts). Host processes started by tests leave them out
 * (`AzureWebJobs.<name>.Disabled`, as in Azure); a test that wants them sets the setting to false.
 */
const WALL_CLOCK_BACKUP_TIMERS_OFF: Record<string, string> = {
  'AzureWebJobs.backupIncremental.Disabled': 'true',
  'AzureWebJobs.backupFull.Disabled': 'true',
  'AzureWebJobs.backupDrill.Disabled': 'true',
};

/**
 * Env for startHostProcess that lets the test run the timer `name` of the real host process
 * on demand: `process.kill(host.pid, 'SIGUSR2')` invokes its registered handler
 * (test/support/timer-on-signal.cjs, preloaded with NODE_OPTIONS; TEST ONLY, nothing in the
 * service loads it). The host prints `timer-on-signal: <name> #<n> started`, the run's lines,
 * then `… #<n> finished` (or `failed: …`, or `busy` when a run is still going).
 */
export function timerOnSignal(name: string): Record<string, string> {
  return { NODE_OPTIONS: `--require ${join(root, 'test', 'support', 'timer-on-signal.cjs')}`, TIMER_ON_SIGNAL: name };
}

export async function startHostProcess(env: Record<string, string> = {}, dataDir?: string): Promise<HostProcess> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'host-'));
  env = { ...(await storeEnv(env)), ...env };
  const child: ChildProcess = spawn(process.execPath, [join(root, 'dist/host/start.js')], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      DATA_DIR: dir,
      PORT: '0',
      LOCAL_BLOB: 'off',
      PASSWORD_SCRYPT_LOG_N: '14',
      ...WALL_CLOCK_BACKUP_TIMERS_OFF,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  // Set when the test itself ends the process (stop, cleanup); any other exit is unexpected
  // and its output is printed, so a CI log shows why the host went away (a request that failed
  // with "other side closed" says only that it did).
  let endedByTest = false;
  const exited = new Promise<number | null>((res) =>
    child.once('exit', (code, signal) => {
      // A kill -9 is what crash tests do on purpose (one line each); any other end, its output.
      if (!endedByTest && signal === 'SIGKILL') process.stderr.write(`host process ${child.pid} ended by SIGKILL\n`);
      else if (!endedByTest)
        process.stderr.write(
          `host process ${child.pid} exited unexpectedly (code ${code}, signal ${signal}); its output:\n${out.slice(-20_000)}\n`,
        );
      res(code);
    }),
  );
  // 'exit' can come before the last output has been read from the pipes: stop() also waits
  // for both to close (bounded: a grandchild holding them must not hang a test).
  const drained = Promise.all(
    [child.stdout!, child.stderr!].map((s) => new Promise<void>((res) => (s.closed ? res() : s.once('close', () => res())))),
  );
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`host did not start:\n${out}`)), 30_000);
    const check = () => {
      const m = /Host started on (http:\/\/localhost:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        res(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`host exited with ${code}:\n${out}`));
    });
  });
  noteHostOutput(url, () => out);
  const operatorKey = env.OPERATOR_KEY ?? readFileSync(join(dir, 'operator.key'), 'utf8').trim();
  return {
    url,
    pid: child.pid!,
    dataDir: dir,
    operatorKey,
    output: () => out,
    async stop() {
      endedByTest = true;
      if (child.exitCode === null) child.kill('SIGINT');
      const code = await exited;
      await Promise.race([drained, new Promise((res) => setTimeout(res, 2000))]);
      return code;
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    cleanup() {
      endedByTest = true;
      forgetHostOutput(url);
      if (child.exitCode === null) child.kill('SIGKILL');
      if (!dataDir) rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}
