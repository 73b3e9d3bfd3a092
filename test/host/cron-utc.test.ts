import { Cron } from 'croner';
import { afterEach, expect, it } from 'vitest';
import { CRON_IN_UTC } from '../../host/local-host';
import { TIMERS } from '../../functions/timers';

const tz = process.env.TZ;
afterEach(() => {
  if (tz === undefined) delete process.env.TZ;
  else process.env.TZ = tz;
});

it('the local host reads timer schedules in UTC whatever the machine time zone, across its DST changes', () => {
  process.env.TZ = 'Europe/Prague';
  // The daily full backup at 02:00 UTC and the daily run at 04:45, around the October DST change.
  const daily = new Cron(TIMERS.backupFull.schedule, CRON_IN_UTC);
  const late = new Cron('0 45 4 * * *', CRON_IN_UTC);
  try {
    expect(daily.nextRuns(2, new Date('2026-10-24T12:00:00Z')).map((d) => d.toISOString())).toEqual([
      '2026-10-25T02:00:00.000Z',
      '2026-10-26T02:00:00.000Z',
    ]);
    expect(late.nextRuns(2, new Date('2026-03-28T12:00:00Z')).map((d) => d.toISOString())).toEqual([
      '2026-03-29T04:45:00.000Z',
      '2026-03-30T04:45:00.000Z',
    ]);
  } finally {
    daily.stop();
    late.stop();
  }
});
