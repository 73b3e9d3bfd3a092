/**
 * What the webhook tests that run the services in this process share: a local HTTP receiver of
 * deliveries, the services' environment on the embedded store or on the Cosmos adapter (the
 * in-process change-feed stand-in) with plain-HTTP loopback targets allowed, a tenant with its
 * first admin and a type `item`, and `webhookWorld`, which sets all of it up for a block of tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { type RunningCosmosStandin, startLocalCosmos } from '../../host/cosmos-standin';
import type { UserPrincipal } from '../../shared/app/service';
import type { WebhookActivity } from '../../shared/app/webhooks/worker';
import { loadConfig } from '../../shared/config';
import { createServices, type Services } from '../../shared/config/services';
import { freePort } from './net';

/** The password of every admin these helpers create. */
export const WEBHOOK_TEST_PASSWORD = 'a long enough password';
/** The operator these helpers create tenants as. */
export const WEBHOOK_TEST_OPERATOR = { id: 'operator-key:test' };

/** One request at the receiver, its body read whole. */
export interface Delivery {
  /** The body, parsed. */
  json: any;
  /** The body as sent (what the signature covers). */
  body: string;
  headers: IncomingHttpHeaders;
  /** Not answered yet: the handler answers it, at once or later. */
  res: ServerResponse;
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>/hook` */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * A receiver on 127.0.0.1: `onDelivery` gets each request once its body is in; `onRequest`, if
 * given, runs as a request arrives, before its body is read.
 */
export async function startWebhookReceiver(onDelivery: (d: Delivery) => void, onRequest?: () => void): Promise<WebhookReceiver> {
  const server = createServer((rq, rs) => {
    onRequest?.();
    const chunks: Buffer[] = [];
    rq.on('data', (c: Buffer) => chunks.push(c));
    rq.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      onDelivery({ json: JSON.parse(body), body, headers: rq.headers, res: rs });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

export type WebhookStore = 'embedded' | 'cosmos';

/**
 * The services' environment on `store` with data in `dir`: webhooks may target plain HTTP on
 * loopback, no local blob server, cheap password hashing; `env` adds to it or overrides it. On
 * Cosmos, the change-feed stand-in is started here (the caller closes it).
 */
export async function webhookEnv(
  store: WebhookStore,
  dir: string,
  env: Record<string, string> = {},
): Promise<{ env: Record<string, string>; cosmos?: RunningCosmosStandin }> {
  const base: Record<string, string> = {
    DATA_DIR: dir,
    LOCAL_BLOB: 'off',
    PASSWORD_SCRYPT_LOG_N: '14',
    WEBHOOK_ALLOW_HTTP: 'on',
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'on',
  };
  if (store === 'embedded') return { env: { ...base, ...env } };
  const port = await freePort();
  const cosmos = await startLocalCosmos(port, 'tenants');
  return { env: { ...base, ...env, STORE: 'cosmos-standin', COSMOS_STANDIN_PORT: String(port) }, cosmos };
}

/** Signs in as `email` (by default the tenant's first admin). */
export async function signIn(s: Services, tenant: string, email = `admin@${tenant}.test`): Promise<UserPrincipal> {
  const { access_token } = await s.tenants.login({ tenantId: tenant, email, password: WEBHOOK_TEST_PASSWORD });
  return s.tenants.authenticate(tenant, `Bearer ${access_token}`);
}

/** Creates tenant `id` with its first admin (`email`, by default `admin@<id>.test`), signs in as that admin and defines the type `item`. */
export async function tenantWithItems(
  s: Services,
  id: string,
  req: { correlationId: string },
  email = `admin@${id}.test`,
): Promise<UserPrincipal> {
  await s.tenants.createTenant(WEBHOOK_TEST_OPERATOR, { id, name: id, admin: { email, password: WEBHOOK_TEST_PASSWORD } }, req);
  const admin = await signIn(s, id, email);
  await s.records.defineType(admin, { type: 'item', schema: { type: 'object' } }, req);
  return admin;
}

export interface WebhookWorldOptions {
  /** Start of the data folder's name (in the OS temp folder). */
  prefix: string;
  /** Receives every delivery and answers it. */
  onDelivery: (d: Delivery) => void;
  /** Added to (or overriding) the services' environment. */
  env?: Record<string, string>;
  /** Sees everything the webhook worker does. */
  observe?: (a: WebhookActivity) => void;
}

export interface WebhookWorld {
  /** The services (set once the block's beforeAll has run). */
  readonly s: Services;
  /** The receiver's URL (likewise). */
  readonly url: string;
  /** The data folder. */
  readonly dir: string;
}

/**
 * For the tests of the calling block (or file): before them a receiver and the services on
 * `store`; after them the services are closed, then the stand-in and the receiver, and the data
 * folder removed.
 */
export function webhookWorld(store: WebhookStore, options: WebhookWorldOptions): WebhookWorld {
  const dir = mkdtempSync(join(tmpdir(), `${options.prefix}-`));
  let services: Services | undefined;
  let receiver: WebhookReceiver | undefined;
  let cosmos: RunningCosmosStandin | undefined;
  beforeAll(async () => {
    receiver = await startWebhookReceiver(options.onDelivery);
    const made = await webhookEnv(store, dir, options.env);
    cosmos = made.cosmos;
    services = await createServices(loadConfig(made.env));
    if (options.observe) services.webhookWorker.observe(options.observe);
  }, 120_000);
  afterAll(async () => {
    await services?.close();
    await cosmos?.close();
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });
  return {
    get s() {
      if (!services) throw new Error('webhookWorld: the services are not started yet (use them inside a test or hook).');
      return services;
    },
    get url() {
      if (!receiver) throw new Error('webhookWorld: the receiver is not started yet (use it inside a test or hook).');
      return receiver.url;
    },
    dir,
  };
}
