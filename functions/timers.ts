/**
 * THE table of timer functions, the counterpart of operations.ts for HTTP: each timer's name,
 * NCRONTAB schedule (seconds first, as Azure Functions reads it), whether it also runs at start,
 * and whether the host keeps its schedule monitor. The area modules register each timer from
 * its entry (`app.timer('backupFull', { ...TIMERS.backupFull, handler: timer(…) })`, beside the
 * HTTP functions of the same area); the Functions host and the local host (host/local-host.ts,
 * which receives the same registrations) both schedule what this table says.
 * test/host/timer-logs.test.ts checks that the registered timers are exactly these.
 *
 * A new timer: an entry here, then `app.timer('<name>', { ...TIMERS.<name>, handler: timer(…) })`
 * in its area's functions/<area>.ts; the work itself is a use case in shared/app.
 */
export interface TimerEntry {
  /** NCRONTAB with seconds: `{second} {minute} {hour} {day} {month} {day of week}`. */
  schedule: string;
  /** Also run once when the host starts (in the background: it serves requests meanwhile). */
  runOnStartup: boolean;
  /** The Functions host records the schedule's last run in storage (catches a missed run after a restart). */
  useMonitor: boolean;
  /** Where it is registered and what it does (for readers and the README). */
  what: string;
}

export const TIMERS = {
  projectFeeds: {
    schedule: '*/2 * * * * *',
    runOnStartup: false,
    useMonitor: false,
    what: 'functions/projections.ts: every 2 s, projects what other instances appended (slow sweep) and retries failed tenants',
  },
  backupIncremental: {
    schedule: '0 */15 * * * *',
    runOnStartup: false,
    useMonitor: true,
    what: 'functions/backups.ts: every 15 minutes, incremental backups of every tenant to every tier',
  },
  backupFull: {
    schedule: '0 0 2 * * *',
    runOnStartup: false,
    useMonitor: true,
    what: 'functions/backups.ts: daily at 02:00, a new full chain on every tier, then retention',
  },
  backupDrill: {
    schedule: '0 10,25,40,55 * * * *',
    runOnStartup: false,
    useMonitor: true,
    what: 'functions/backups.ts: every 15 minutes, restore drills of the tenants due (each tenant on every tier once a day, spread over the day by a hash of its id)',
  },
  sweepOrphanFiles: {
    schedule: '0 */5 * * * *',
    runOnStartup: false,
    useMonitor: false,
    what: 'functions/files.ts: every 5 minutes, for the tenants due (each once an hour, spread over the hour), removes blobs no event references and what unfinished uploads left',
  },
  checkStoredFiles: {
    schedule: '0 45 4 * * *',
    runOnStartup: true,
    useMonitor: false,
    what: 'functions/files.ts: at start and daily, logs acknowledged files whose stored object is gone',
  },
  finishErasures: {
    schedule: '0 37 * * * *',
    runOnStartup: true,
    useMonitor: false,
    what: 'functions/erasure.ts: at start and hourly, finishes erasures a crash or a failed rebuild left unfinished (keys left in the keyring, projections not rebuilt)',
  },
  shredTenants: {
    schedule: '0 7 * * * *',
    runOnStartup: true,
    useMonitor: true,
    what: 'functions/offboarding.ts: hourly and at start, shreds tenants whose deletion grace period ended',
  },
} as const satisfies Record<string, TimerEntry>;

export type TimerName = keyof typeof TIMERS;

/** A timer's registration options from its entry (without `what`, which is for readers). */
export function timerEntry(name: TimerName): Omit<TimerEntry, 'what'> {
  const { schedule, runOnStartup, useMonitor } = TIMERS[name];
  return { schedule, runOnStartup, useMonitor };
}
