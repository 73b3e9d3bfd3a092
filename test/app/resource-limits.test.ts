/**
 * The fd-limit fault names the limit even when the process is at it: reading /proc needs a
 * descriptor too, so at the limit the reads fail with EMFILE, and the limit last read stands
 * (CI saw "its limit of open files" without the figure when the host was exactly at its limit).
 */
import { beforeEach, expect, it, vi } from 'vitest';
import { resourceLimitFault, resourceUsage } from '../../shared/app/resource-limits';

const fsState = vi.hoisted(() => ({ exhausted: false, fds: 40, limit: 100 }));
vi.mock('node:fs', async (orig) => {
  const real = await orig<typeof import('node:fs')>();
  const emfile = () => Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
  return {
    ...real,
    readdirSync: (p: string) => {
      if (p !== '/proc/self/fd') return real.readdirSync(p);
      if (fsState.exhausted) throw emfile();
      return Array.from({ length: fsState.fds }, (_, i) => String(i));
    },
    readFileSync: (p: string, enc?: BufferEncoding) => {
      if (p !== '/proc/self/limits') return real.readFileSync(p, enc);
      if (fsState.exhausted) throw emfile();
      return `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${fsState.limit}                 ${fsState.limit}                 files\n`;
    },
  };
});

beforeEach(() => Object.assign(fsState, { exhausted: false, fds: 40, limit: 100 }));

it('reads fds and the limit, and is near the limit at the warning share', () => {
  expect(resourceUsage(80)).toEqual({ fds: 40, fdLimit: 100, nearLimit: false });
  fsState.fds = 80;
  expect(resourceUsage(80)).toEqual({ fds: 80, fdLimit: 100, nearLimit: true });
});

it('at the limit (reading /proc fails with EMFILE) the limit last read stands and the process counts as at it', () => {
  fsState.limit = 95;
  resourceUsage(80);
  fsState.exhausted = true;
  expect(resourceUsage(80)).toEqual({ fds: 95, fdLimit: 95, nearLimit: true });
  const lines: string[] = [];
  const fault = resourceLimitFault(Object.assign(new Error('open'), { code: 'EMFILE' }), 80, (l) => lines.push(l));
  expect(fault?.code).toBe('unavailable');
  expect(fault?.message).toContain('RLIMIT_NOFILE=95');
  expect(lines.join('\n')).toContain('a request failed with EMFILE');
});

it('other errors are not resource faults, and SQLITE_CANTOPEN counts only near the limit', () => {
  const log = () => undefined;
  expect(resourceLimitFault(new Error('boom'), 80, log)).toBeUndefined();
  const cantOpen = Object.assign(new Error('cannot open'), { code: 'SQLITE_CANTOPEN' });
  expect(resourceLimitFault(cantOpen, 80, log)).toBeUndefined();
  fsState.fds = 90;
  expect(resourceLimitFault(cantOpen, 80, log)?.message).toContain('RLIMIT_NOFILE=100, 90 open');
});
