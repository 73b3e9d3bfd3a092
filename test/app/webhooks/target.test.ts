/**
 * Webhook targets: https only, no credentials, and no loopback, private or link-local
 * addresses — also when a name resolves to one (checked at connect time, after DNS) — unless
 * the development settings allow them; redirects are not followed.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postWebhook } from '../../../shared/app/webhooks/post';
import { checkTargetUrl, isPublic } from '../../../shared/app/webhooks/target';

const strict = { allowHttp: false, allowPrivate: false };
const dev = { allowHttp: true, allowPrivate: true };

describe('checkTargetUrl', () => {
  it('accepts public https URLs', () => {
    expect(checkTargetUrl('https://apps.example.com/hook?x=1', strict)).toBe('https://apps.example.com/hook?x=1');
    expect(checkTargetUrl('https://93.184.216.34/hook', strict)).toBe('https://93.184.216.34/hook');
  });
  it.each([
    'http://apps.example.com/hook',
    'ftp://apps.example.com/',
    'https://user:pw@apps.example.com/',
    'https://apps.example.com/#frag',
    'https://127.0.0.1/',
    'https://10.1.2.3/',
    'https://172.16.0.1/',
    'https://192.168.1.1/',
    'https://169.254.169.254/latest/meta-data',
    'https://100.64.0.1/',
    'https://0.0.0.0/',
    'https://[::1]/',
    'https://[fe80::1]/',
    'https://[fd00::1]/',
    'https://[::ffff:127.0.0.1]/',
    'https://localhost/',
    'https://a.localhost/',
    'not a url',
  ])('refuses %s with 400', (url) => {
    expect(() => checkTargetUrl(url, strict)).toThrow(expect.objectContaining({ status: 400 }));
  });
  it('the development settings allow http and private addresses', () => {
    expect(checkTargetUrl('http://127.0.0.1:8080/hook', dev)).toBe('http://127.0.0.1:8080/hook');
  });
  it('classifies addresses', () => {
    expect(isPublic('8.8.8.8')).toBe(true);
    expect(isPublic('2001:4860:4860::8888')).toBe(true);
    for (const a of ['127.0.0.1', '10.0.0.1', '169.254.1.1', '::1', 'fe80::1', '::ffff:10.0.0.1', '224.0.0.1'])
      expect(isPublic(a)).toBe(false);
  });
});

describe('postWebhook', () => {
  let server: Server;
  let port = 0;
  let hits = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++;
      if (req.url === '/redirect') return res.writeHead(302, { location: `http://127.0.0.1:${port}/ok` }).end();
      res.writeHead(200).end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('refuses a name that resolves to loopback when connecting (after DNS), without sending anything', async () => {
    const before = hits;
    const r = await postWebhook(`http://localhost:${port}/ok`, '{}', {}, { allowHttp: true, allowPrivate: false, timeoutMs: 5000 });
    expect(r).toMatchObject({ ok: false, error: expect.stringContaining('no public address') });
    expect(hits).toBe(before);
  });
  it('delivers to it when the development setting allows private targets', async () => {
    expect(await postWebhook(`http://localhost:${port}/ok`, '{}', {}, { ...dev, timeoutMs: 5000 })).toMatchObject({
      ok: true,
      status: 200,
    });
  });
  it('does not follow redirects', async () => {
    const before = hits;
    const r = await postWebhook(`http://127.0.0.1:${port}/redirect`, '{}', {}, { ...dev, timeoutMs: 5000 });
    expect(r).toMatchObject({ ok: false, status: 302, error: expect.stringContaining('redirects are not followed') });
    expect(hits).toBe(before + 1);
  });
});
