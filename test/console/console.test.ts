/**
 * The web console (issue 18) in a real browser: Debian's Chromium driven by playwright-core
 * against the compiled host (`node dist/host/start.js`, as `npm start` runs it), which serves
 * the built console at /console/ and the API at /api/. One host and one browser for the file;
 * one browser context per person (two tenant users, one operator).
 *
 * Every view is checked with axe-core (no serious or critical violations) and photographed into
 * test-artifacts/console/ (CI keeps that folder). Any Content-Security-Policy violation or
 * uncaught page error fails the test that caused it.
 *
 * Skipped, and says so, only where /usr/bin/chromium is missing: .ci/run installs it with apt.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import AxeBuilder from '@axe-core/playwright';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2E_PASSWORD, seedTenants } from '../support/e2e-tenants';
import { type HostProcess, startHostProcess } from '../support/host-process';
import { client } from '../support/http-client';

const CHROMIUM = '/usr/bin/chromium';
const root = resolve(__dirname, '..', '..');
const ARTIFACTS = join(root, 'test-artifacts', 'console');
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`console browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run does)`);

/** Builds the console (dist/console) when the test run's build (global-setup: tsc only) has not. */
function ensureConsoleBuilt(): string {
  if (!existsSync(join(root, 'dist', 'console', 'index.html')))
    return execFileSync(
      process.execPath,
      [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'console/vite.config.mts'],
      {
        cwd: root,
        encoding: 'utf8',
        // vitest sets NODE_ENV=test, which would keep libraries' development code in the bundle
        env: { ...process.env, NODE_ENV: 'production' },
      },
    );
  return '';
}

/** "2026-12-06T19:00:06" in Europe/Prague, the browser's time zone here (a datetime-local value). */
function pragueLocal(ms: number): string {
  const s = new Intl.DateTimeFormat('sv-SE', {
    timeZone: 'Europe/Prague',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(ms));
  return s.replace(' ', 'T');
}

// Each step may wait on the host and the browser at once; on 2 CPUs under the whole suite that takes a while.
describe.skipIf(!hasChromium)('web console in Chromium', { timeout: 120_000 }, () => {
  let host: HostProcess;
  let browser: Browser;
  const tokens: Record<string, string> = {};
  const call = client(() => host.url);
  /** Problems the pages reported (CSP violations, uncaught errors); each test expects none new. */
  const problems: string[] = [];
  const contexts: BrowserContext[] = [];

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ locale: 'en-GB', timezoneId: 'Europe/Prague', viewport: { width: 1280, height: 860 } });
    contexts.push(context);
    // Shorter than the test's own timeout, so a failure names the step that waited.
    context.setDefaultTimeout(30_000);
    const page = await context.newPage();
    page.on('console', (m) => {
      if (/Content.Security.Policy/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    return page;
  }

  /** axe-core on the page as it is now: no serious or critical violation. */
  async function axe(page: Page, view: string) {
    const result = await new AxeBuilder({ page }).analyze();
    const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(
      bad.map((v) => `${view}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
      `axe on ${view}`,
    ).toEqual([]);
    expect(result.passes.length, 'axe ran its rules').toBeGreaterThan(10);
  }

  async function shot(page: Page, name: string) {
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  }

  async function signIn(page: Page, tenant: string, email: string) {
    await page.goto(`${host.url}/console/`);
    await page.getByLabel('Tenant', { exact: true }).fill(tenant);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(E2E_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Audit timeline' }).waitFor();
  }

  let admin: Page;
  let eva: Page;
  let recordId = '';
  /** An instant after version 1 of the record and before version 2. */
  let betweenMs = 0;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const built = ensureConsoleBuilt();
    if (built) console.log(built.trim());
    host = await startHostProcess();
    await seedTenants(call, host.operatorKey, tokens, { tenants: ['acme'], users: [['eva', 'editor']] });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
  }, 120_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await host?.stop();
    host?.cleanup();
  });

  it('is served at /console/ with a strict CSP, right content types and caching, and ≤ 200 KB of gzipped JavaScript', async () => {
    const index = await fetch(`${host.url}/console/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    const html = await index.text();
    // no inline script or style in the page itself
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=/);
    const redirect = await fetch(`${host.url}/console`, { redirect: 'manual' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/console/');
    expect((await fetch(`${host.url}/console/nope.js`)).status).toBe(404);
    expect((await fetch(`${host.url}/console/%2e%2e/package.json`)).status).toBe(404);

    // The initial load: every script the page names, gzipped.
    const scripts = [...html.matchAll(/<(?:script|link rel="modulepreload")[^>]*(?:src|href)="([^"]+\.js)"/g)].map((m) => m[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    let gz = 0;
    for (const src of scripts) {
      const r = await fetch(new URL(src, `${host.url}/console/`), { headers: { 'accept-encoding': 'identity' } });
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(r.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      gz += gzipSync(Buffer.from(await r.arrayBuffer()), { level: 9 }).length;
    }
    console.log(`console: initial JavaScript ${(gz / 1024).toFixed(1)} KB gzipped (${scripts.length} file(s); limit 200 KB)`);
    expect(gz).toBeLessThanOrEqual(200 * 1024);
    // The API is where it was.
    expect((await fetch(`${host.url}/api/health`)).status).toBe(200);
  });

  it('signs in with tenant, email and password; keeps the token out of localStorage and cookies; switches to Czech', async () => {
    admin = await newPage();
    await admin.goto(`${host.url}/console/`);
    await admin.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
    await axe(admin, 'sign-in');
    await shot(admin, 'sign-in');
    // a wrong password is refused with the API's problem shown
    await admin.getByLabel('Tenant', { exact: true }).fill('acme');
    await admin.getByLabel('Email', { exact: true }).fill('admin@acme.test');
    await admin.getByLabel('Password', { exact: true }).fill('wrong password!');
    await admin.getByRole('button', { name: 'Sign in' }).click();
    await admin.getByRole('alert').waitFor();
    await signIn(admin, 'acme', 'admin@acme.test');
    const storage = await admin.evaluate(() => {
      const g = globalThis as any; // the page's window (this file is type-checked without DOM types)
      return {
        local: g.localStorage.length as number,
        cookie: g.document.cookie as string,
        session: Object.keys(g.sessionStorage).map((k) => (g.sessionStorage.getItem(k) ?? '') as string),
      };
    });
    expect(storage.local).toBe(0);
    expect(storage.cookie).toBe('');
    expect(storage.session.some((v) => v.includes('"token"'))).toBe(true);
    // Czech and back
    await admin.getByLabel('Language').selectOption('cs');
    await admin.getByRole('heading', { name: 'Auditní záznam' }).waitFor();
    await expect.poll(() => admin.evaluate(() => (globalThis as any).document.documentElement.lang)).toBe('cs');
    await expect.poll(() => admin.getByRole('link', { name: 'Uživatelé a role' }).count()).toBe(1);
    await shot(admin, 'audit-cs');
    await admin.getByLabel('Jazyk').selectOption('en');
    await admin.getByRole('heading', { name: 'Audit timeline' }).waitFor();
    expect(problems).toEqual([]);
  });

  it('defines a type (a refused schema shows its errors at their paths) and creates a record', async () => {
    await admin.getByRole('link', { name: 'Types' }).click();
    await admin.getByLabel('New type').fill('customer');
    await admin.getByRole('button', { name: 'Edit schema' }).click();
    await admin.getByRole('heading', { name: 'Type name: customer' }).waitFor();
    const schema = admin.getByLabel('JSON Schema');
    await schema.fill(JSON.stringify({ type: 'object', properties: { name: { type: 'strin' } } }));
    await admin.getByRole('button', { name: 'Save type' }).click();
    await admin.locator('.field-errors li[data-path="/properties/name/type"]').first().waitFor();
    await shot(admin, 'type-errors');
    await axe(admin, 'type editor with errors');
    await schema.fill(
      JSON.stringify(
        {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' }, vip: { type: 'boolean' }, city: { type: 'string' }, note: { type: 'string' } },
        },
        null,
        2,
      ),
    );
    await admin.getByRole('button', { name: 'Save type' }).click();
    await admin.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();

    await admin.getByRole('link', { name: 'Records' }).first().click();
    await admin.getByRole('heading', { name: 'Records of type customer' }).waitFor();
    // a record the schema refuses: the error is shown at its path, nothing is created
    const data = admin.getByLabel('Data (JSON)');
    await data.fill(JSON.stringify({ vip: 'yes' }));
    await admin.getByRole('button', { name: 'Create record' }).click();
    await admin.locator('.field-errors li[data-path="/vip"]').waitFor();
    await data.fill(JSON.stringify({ name: 'Novák s.r.o.', vip: false, city: 'Brno' }));
    await admin.getByRole('button', { name: 'Create record' }).click();
    await admin.getByRole('heading', { name: 'Current state' }).waitFor();
    recordId = decodeURIComponent(new URL(admin.url()).hash.split('/').pop() ?? '');
    expect(recordId).toMatch(/^r_/);
    const v1 = await call('GET', `/api/t/acme/records/customer/${recordId}`, { token: tokens['acme-admin'] });
    expect(v1.json.version).toBe(1);
    // an instant (whole second, as the picker has) after version 1; version 2 comes after it
    betweenMs = Math.ceil((Date.parse(v1.json.updatedAt) + 1) / 1000) * 1000;
    while (Date.now() <= betweenMs + 50) await new Promise((r) => setTimeout(r, 50));
    expect(problems).toEqual([]);
  });

  it('a second user edits the record; history, the state as of an earlier instant and a diff show both', async () => {
    eva = await newPage();
    await signIn(eva, 'acme', 'eva@acme.test');
    await eva.goto(`${host.url}/console/#/records/customer/${recordId}`);
    await eva.getByRole('heading', { name: 'Current state' }).waitFor();
    await eva.getByRole('button', { name: 'Edit' }).click();
    await eva.getByLabel('Data (JSON)').fill(JSON.stringify({ name: 'Novák a syn s.r.o.', vip: true, city: 'Brno' }));
    await eva.getByRole('button', { name: 'Save changes' }).click();
    await eva.locator('#current .version').filter({ hasText: '2' }).waitFor();

    // the admin, still on version 1, edits too: If-Match refuses the stale edit
    await admin.getByRole('button', { name: 'Edit' }).click();
    await admin.getByLabel('Data (JSON)').fill(JSON.stringify({ name: 'stale', vip: false, city: 'Praha' }));
    await admin.getByRole('button', { name: 'Save changes' }).click();
    await admin.getByRole('alert').filter({ hasText: 'Someone else changed this record' }).waitFor();
    await admin.getByRole('button', { name: 'Cancel' }).click();
    await admin.reload();
    await admin.locator('#current .version').filter({ hasText: '2' }).waitFor();
    // now the admin's own edit (version 3)
    await admin.getByRole('button', { name: 'Edit' }).click();
    await admin.getByLabel('Data (JSON)').fill(JSON.stringify({ name: 'Novák a syn s.r.o.', vip: true, city: 'Praha', note: 'moved' }));
    await admin.getByRole('button', { name: 'Save changes' }).click();
    await admin.locator('#current .version').filter({ hasText: '3' }).waitFor();

    // history: three versions, by two authors, with field-level old → new
    const history = admin.locator('#history ol');
    await expect.poll(() => history.locator('li.entry').count()).toBe(3);
    const text = await history.innerText();
    expect(text).toContain('eva@acme.test');
    expect(text).toContain('admin@acme.test');
    const v2 = history.locator('li.entry').filter({ hasText: 'Version 2' });
    await expect(v2.locator('tr', { hasText: '/vip' }).innerText()).resolves.toMatch(/false\s*→\s*true/);

    // as of the instant between version 1 and 2 (date/time picker)
    await admin.getByLabel('Date and time').fill(pragueLocal(betweenMs));
    await admin.getByRole('button', { name: 'Show', exact: true }).click();
    const asOf = admin.locator('.asof-result');
    await asOf.locator('.version').filter({ hasText: '1' }).waitFor();
    expect(await asOf.innerText()).toContain('Novák s.r.o.');
    expect(await asOf.innerText()).not.toContain('Novák a syn');
    // and by the version slider: the first version
    const slider = admin.getByLabel('Version slider');
    await slider.focus();
    await admin.keyboard.press('Home');
    await asOf.locator('.version').filter({ hasText: '1' }).waitFor();

    // diff between version 1 and 3
    await admin.getByLabel('From version').selectOption('1');
    await admin.getByLabel('To version').selectOption('3');
    await admin.getByRole('button', { name: 'Compare' }).click();
    const diff = admin.locator('table.diff');
    await diff.waitFor();
    const rows = await diff.locator('tbody tr').allInnerTexts();
    expect(rows.find((r) => r.includes('/vip'))).toMatch(/changed\s+false\s+true/);
    expect(rows.find((r) => r.includes('/city'))).toMatch(/changed\s+Brno\s+Praha/);
    expect(rows.find((r) => r.includes('/note'))).toMatch(/added/);
    await shot(admin, 'record');
    await axe(admin, 'record');
    expect(problems).toEqual([]);
  });

  it('uploads a file with a progress bar and downloads it', async () => {
    const content = Buffer.alloc(3 * 1024 * 1024, 'console upload test ');
    await admin.getByLabel('File', { exact: true }).setInputFiles({ name: 'smlouva č. 1.txt', mimeType: 'text/plain', buffer: content });
    await admin.getByRole('button', { name: 'Upload' }).click();
    await admin.getByRole('status').filter({ hasText: 'Uploaded smlouva č. 1.txt.' }).waitFor();
    const row = admin.locator('#files tr', { hasText: 'smlouva č. 1.txt' });
    await row.waitFor();
    const [download] = await Promise.all([admin.waitForEvent('download'), row.getByRole('button', { name: /Download/ }).click()]);
    expect(download.suggestedFilename()).toBe('smlouva č. 1.txt');
    const saved = await download.path();
    expect(readFileSync(saved).equals(content)).toBe(true);
    expect(problems).toEqual([]);
  });

  it('renders record data as text: markup stored in a record never runs', async () => {
    const evil = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
    const r = await call('POST', '/api/t/acme/records/customer', {
      token: tokens.eva,
      body: { name: evil, vip: false, note: '"><svg onload="window.__xss=3">' },
    });
    expect(r.status, r.text).toBe(201);
    for (const route of ['#/records/customer', `#/records/customer/${r.json.id}`, '#/audit']) {
      await admin.goto(`${host.url}/console/${route}`);
      await admin.getByText(evil).first().waitFor();
      const seen = await admin.evaluate(() => {
        const g = globalThis as any; // the page's window (this file is type-checked without DOM types)
        return {
          xss: g.__xss as number | undefined,
          imgs: g.document.querySelectorAll('img').length as number,
          svgs: g.document.querySelectorAll('svg').length as number,
          scripts: [...g.document.querySelectorAll('script')].map((s: any) => s.getAttribute('src') as string | null),
        };
      });
      expect(seen.xss, route).toBeUndefined();
      expect(seen.imgs, route).toBe(0);
      expect(seen.svgs, route).toBe(0);
      expect(
        seen.scripts.every((s) => s?.startsWith('/console/assets/')),
        route,
      ).toBe(true);
    }
    expect(problems).toEqual([]);
  });

  it('filters the audit timeline by author, type and time range', async () => {
    await admin.goto(`${host.url}/console/#/audit`);
    const entries = admin.locator('ol.timeline li.entry');
    await entries.first().waitFor();
    const all = await entries.count();
    expect(all).toBeGreaterThan(5);
    // by author
    await admin.getByLabel('Author (email or user id)').fill('eva@acme.test');
    await admin.getByRole('button', { name: 'Apply filter' }).click();
    await expect.poll(() => entries.count()).toBeLessThan(all);
    const authors = await entries.locator('.author').allInnerTexts();
    expect(authors.length).toBe(2); // her edit and her record
    expect(new Set(authors)).toEqual(new Set(['eva@acme.test']));
    // each entry shows its field-level changes
    const edit = entries.filter({ hasText: 'RecordUpdated' });
    await expect(edit.locator('tr', { hasText: '/vip' }).innerText()).resolves.toMatch(/false\s*→\s*true/);
    // by type and time range: only the customer changes at or after the instant between v1 and v2
    await admin.getByRole('button', { name: 'Clear' }).click();
    await admin.getByLabel('Record type').selectOption('customer');
    await admin.getByLabel('From').fill(pragueLocal(betweenMs));
    await admin.getByRole('button', { name: 'Apply filter' }).click();
    // the filtered list has replaced the unfiltered one when every entry is at or after the instant
    const instants = () => entries.locator('time').evaluateAll((els) => els.map((e) => Date.parse(e.getAttribute('datetime') ?? '')));
    await expect.poll(async () => (await instants()).every((ms) => ms >= betweenMs)).toBe(true);
    const types = await entries.locator('.event-type').allInnerTexts();
    expect(types).not.toContain('TypeSchemaSet');
    expect(types).not.toContain('UserCreated');
    expect(types).toContain('RecordCreated');
    expect(types.filter((x) => x === 'RecordUpdated').length).toBe(2);
    await shot(admin, 'audit');
    await axe(admin, 'audit');
    expect(problems).toEqual([]);
  });

  it('lists records of a type with a filter and a sort', async () => {
    await admin.goto(`${host.url}/console/#/records/customer`);
    const rows = admin.locator('table.records tbody tr');
    await expect.poll(() => rows.count()).toBe(2);
    await admin.getByLabel('Field', { exact: true }).fill('vip');
    await admin.getByLabel('Value', { exact: true }).fill('true');
    await admin.getByRole('button', { name: 'Apply filter' }).click();
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().innerText()).toContain('Novák a syn s.r.o.');
    await admin.getByRole('button', { name: 'Clear' }).click();
    await admin.getByLabel('Sort by').selectOption('name');
    await admin.getByLabel('Direction').selectOption('desc');
    await admin.getByRole('button', { name: 'Apply filter' }).click();
    // by name, descending: "Novák a syn s.r.o." before "<img …>" ('N' > '<')
    await expect.poll(async () => (await rows.first().innerText()).includes('Novák a syn')).toBe(true);
    await admin.getByLabel('Direction').selectOption('asc');
    await admin.getByRole('button', { name: 'Apply filter' }).click();
    await expect.poll(async () => (await rows.first().innerText()).includes('<img')).toBe(true);
    await shot(admin, 'records');
    await axe(admin, 'records');
    expect(problems).toEqual([]);
  });

  it('lists users with their roles from the API’s user list and shows one to the administrator', async () => {
    const requests: string[] = [];
    const onRequest = (r: { url(): string }) => requests.push(new URL(r.url()).pathname + new URL(r.url()).search);
    admin.on('request', onRequest);
    await admin.goto(`${host.url}/console/#/users`);
    const rows = admin.locator('table.users tbody tr');
    await expect.poll(() => rows.count()).toBe(2);
    const listed = (await rows.allInnerTexts()).map((x) => x.replace(/\s+/g, ' ').trim());
    expect(listed).toEqual(['admin@acme.test — admin active', 'eva@acme.test — editor active']);
    // from GET /api/t/acme/users (paged), not from the audit log
    expect(requests).toContain('/api/t/acme/users?limit=100');
    expect(requests.some((u) => u.startsWith('/api/t/acme/audit'))).toBe(false);
    admin.off('request', onRequest);
    await admin.getByRole('button', { name: 'eva@acme.test' }).click();
    await admin.getByRole('heading', { name: 'eva@acme.test' }).waitFor();
    expect(await admin.getByRole('checkbox', { name: 'editor' }).first().isChecked()).toBe(true);
    expect(await admin.getByRole('checkbox', { name: 'admin' }).first().isChecked()).toBe(false);
    await shot(admin, 'users');
    await axe(admin, 'users');
    // a user created here is listed at once (the list reads the log), with the roles given
    await admin.getByLabel('Email', { exact: true }).fill('petr@acme.test');
    await admin.getByLabel('Display name', { exact: true }).fill('Petr Novák');
    await admin.getByLabel('Password', { exact: true }).fill(E2E_PASSWORD);
    await admin.getByRole('button', { name: 'Create user' }).click();
    await admin.getByRole('heading', { name: 'Petr Novák <petr@acme.test>' }).waitFor();
    await expect.poll(() => rows.count()).toBe(3);
    expect((await rows.nth(2).innerText()).replace(/\s+/g, ' ').trim()).toBe('petr@acme.test Petr Novák viewer active');
    expect(problems).toEqual([]);
  });

  it('reverts the record to an earlier instant; an expired token leads back to sign-in', async () => {
    await admin.goto(`${host.url}/console/#/records/customer/${recordId}`);
    await admin.getByRole('heading', { name: 'Current state' }).waitFor();
    await admin.getByLabel('Date and time').fill(pragueLocal(betweenMs));
    await admin.getByRole('button', { name: 'Show', exact: true }).click();
    await admin.locator('.asof-result .version').filter({ hasText: '1' }).waitFor();
    await admin.getByLabel('Reason for the revert (optional)').fill('wrong customer edited');
    await admin.getByRole('button', { name: 'Revert the record to this state' }).click();
    await admin.getByRole('status').filter({ hasText: 'Reverted (changed); the record is now at version 5.' }).waitFor();
    await admin.locator('#current .version').filter({ hasText: '5' }).waitFor();
    const now = await call('GET', `/api/t/acme/records/customer/${recordId}`, { token: tokens['acme-admin'] });
    expect(now.json.data).toEqual({ name: 'Novák s.r.o.', vip: false, city: 'Brno' });
    await expect.poll(() => admin.locator('#history li.entry').filter({ hasText: 'RecordReverted' }).count()).toBe(1);

    // a token the API no longer accepts: the console signs out and says why
    await admin.evaluate(() => {
      const g = globalThis as any;
      for (const k of Object.keys(g.sessionStorage)) {
        const raw: string = g.sessionStorage.getItem(k) ?? '';
        if (!raw.includes('"token"')) continue;
        const v = JSON.parse(raw);
        if (v?.token) g.sessionStorage.setItem(k, JSON.stringify({ ...v, token: 'not.a.token' }));
      }
    });
    await admin.reload();
    await admin.getByRole('alert').filter({ hasText: 'Your session has ended; sign in again.' }).waitFor();
    await admin.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
    expect(await admin.evaluate(() => Object.keys((globalThis as any).sessionStorage).length)).toBeLessThanOrEqual(1);
    expect(problems).toEqual([]);
  });

  it('an operator sees tenants, runs a backup and a drill and sees each tier’s result, and restores with progress', async () => {
    const op = await newPage();
    await op.goto(`${host.url}/console/`);
    await op.getByLabel('Operator').check();
    await op.getByLabel('Operator key').fill(host.operatorKey);
    await op.getByRole('button', { name: 'Sign in' }).click();
    await op.getByRole('heading', { name: 'Tenants' }).waitFor();
    const acme = op.locator('table.tenants tr', { hasText: 'acme' });
    await acme.waitFor();
    expect(await acme.innerText()).toContain('ready');
    await axe(op, 'tenants');
    await op.getByRole('link', { name: 'acme' }).click();
    await op.getByRole('heading', { name: 'Backups of acme' }).waitFor();
    const tiers = op.locator('table.tiers tbody tr');
    await expect.poll(() => tiers.count()).toBe(3);
    // (the host's backup timer may have run already: compare with what the API says now)
    const before = await call('GET', '/api/tenants/acme/backups', { token: host.operatorKey });
    const lastAt = (b: any) => (b.json.tiers as any[]).map((x) => (x.lastBackup?.at as string | undefined) ?? '');

    // Progress from the API's stream: the phases shown as they come (recorded in the page, so a
    // fast run cannot slip past the test), ending at every tier done; then each tier's result.
    const runProgress = op.locator('.run-progress');
    const recordProgress = () =>
      op.evaluate(() => {
        const g = globalThis as any; // the page's window (this file is type-checked without DOM types)
        const seen: string[] = [];
        g.__progress = seen;
        const root = g.document.querySelector('.run-status');
        const note = () => {
          const bar = root.querySelector('.run-progress');
          const text = bar ? (bar.textContent as string).trim() : '';
          if (text && seen[seen.length - 1] !== text) seen.push(text);
        };
        new g.MutationObserver(note).observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
      });
    const progressSeen = () => op.evaluate(() => (globalThis as any).__progress as string[]);
    const expectRun = async (name: string, finished: string) => {
      await recordProgress();
      await op.getByRole('button', { name }).click();
      await op.getByRole('status').filter({ hasText: finished }).waitFor();
      const seen = await progressSeen();
      expect(seen[0], name).toBe('Phase: start');
      expect(seen.at(-1), name).toBe('Phase: tiers 3 / 3');
      for (const x of seen.slice(1)) expect(x, name).toMatch(/^Phase: tiers [0-3] \/ 3$/);
      expect(await runProgress.locator('progress').evaluate((e: any) => [e.value, e.max])).toEqual([3, 3]);
      // each tier's result, as the stream's last line gave it
      const results = await op.locator('ul.run-result li').allInnerTexts();
      expect(results.sort(), name).toEqual(['azure: ok', 'eu-cloud: ok', 'own-cloud: ok']);
    };

    await expectRun('Run backup now', 'Backup finished: 3 of 3 tiers ok.');
    await expect.poll(async () => (await tiers.locator('.last-backup').allInnerTexts()).includes('never')).toBe(false);
    const after = await call('GET', '/api/tenants/acme/backups', { token: host.operatorKey });
    expect(lastAt(after).every((at, i) => at > (lastAt(before)[i] ?? ''))).toBe(true);
    // the table shows what the API says, tier by tier
    const shown = await tiers.locator('.last-backup time').evaluateAll((els) => els.map((e) => e.getAttribute('datetime')));
    expect(shown).toEqual(lastAt(after));
    for (const lag of await tiers.locator('.lag').allInnerTexts()) expect(lag).toMatch(/^0 commits/);

    await expectRun('Run restore drill', 'Drill finished: 3 of 3 tiers ok.');
    await expect.poll(async () => await tiers.locator('.last-drill').allInnerTexts()).toEqual(['ok', 'ok', 'ok']);
    await shot(op, 'operator-backups');
    await axe(op, 'operator backups');

    // a restore into a new tenant, through the progress stream
    await op.getByLabel('New tenant id').fill('acme-restored');
    await op.getByRole('button', { name: 'Start restore' }).click();
    await op.getByRole('status').filter({ hasText: 'Restored into acme-restored' }).waitFor({ timeout: 60_000 });
    const restored = await call('GET', '/api/tenants/acme-restored', { token: host.operatorKey });
    expect(restored.status).toBe(200);
    // the restored tenant has the record as it was backed up
    const rec = await call('POST', '/api/t/acme-restored/auth/token', { body: { email: 'admin@acme.test', password: E2E_PASSWORD } });
    expect(rec.status).toBe(200);
    const got = await call('GET', `/api/t/acme-restored/records/customer/${recordId}`, { token: rec.json.access_token });
    expect(got.json.data).toEqual({ name: 'Novák s.r.o.', vip: false, city: 'Brno' }); // as reverted before the backup
    await op.goto(`${host.url}/console/#/tenants`);
    await op.locator('table.tenants tr', { hasText: 'acme-restored' }).waitFor();
    await shot(op, 'operator-tenants');
    expect(problems).toEqual([]);
  });
});
