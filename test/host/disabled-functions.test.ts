/**
 * `AzureWebJobs.<name>.Disabled` (Config.disabledFunctions): the local host leaves a disabled
 * function out as the Functions host does. A disabled timer never runs (not even its start-up
 * run), a disabled HTTP route answers 404, the start-up listing says which are disabled, and
 * the functions not named run as before.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startLocalHost } from '../../host/local-host';

const sample = () => (globalThis as unknown as { __sampleApp: { ticks: number } }).__sampleApp;

it('a disabled timer is not scheduled and a disabled HTTP function answers 404; the others run', async () => {
  const lines: string[] = [];
  const host = await startLocalHost({
    entries: [join(__dirname, '..', 'fixtures', 'sample-app.cjs')],
    port: 0,
    appRoot: join(__dirname, '..', 'fixtures'),
    log: (l) => lines.push(l),
    disabledFunctions: ['TICK', 'echo'],
  });
  try {
    expect(lines.join('\n')).toMatch(/\ttick: disabled \(AzureWebJobs\.tick\.Disabled\)/);
    expect(lines.join('\n')).toMatch(/\techo: disabled \(AzureWebJobs\.echo\.Disabled\)/);
    const echo = await fetch(`${host.url}/api/echo/a/b`, { method: 'POST', body: 'x' });
    expect(echo.status).toBe(404);
    await echo.arrayBuffer();
    // A route not disabled still answers (test/host/local-host.test.ts shows the timer ticking when not disabled).
    const fixed = await fetch(`${host.url}/api/echo/fixed`);
    expect(fixed.status).toBe(200);
    expect(await fixed.text()).toBe('fixed');
    // The timer's schedule is every second with a start-up run: 2.5 s without a tick.
    await new Promise((r) => setTimeout(r, 2500));
    expect(sample().ticks).toBe(0);
  } finally {
    await host.close();
  }
}, 30_000);
