import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * Real TCP servers that misbehave the way a failing backup tier does, for tests. Nothing
 * here imitates a protocol: the hanging server speaks none, and the stall proxy passes the
 * real server's bytes through until it is told to stop.
 */

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

export interface HangingServer {
  endpoint: string;
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** Accepts every connection, reads what is sent, and never answers (an endpoint that hangs). */
export async function startHangingServer(): Promise<HangingServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    connections: () => accepted,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface StallProxy {
  endpoint: string;
  /**
   * From the first request whose bytes match `when` on, nothing more is forwarded upstream on
   * any connection (the matching request included): the caller waits for an answer that never
   * comes. `stalled` resolves when that happens.
   */
  stallWhen(when: (request: string) => boolean): void;
  stalled: () => Promise<void>;
  /** Forwards everything again (new connections; held ones stay held). */
  passThrough(): void;
  close(): Promise<void>;
}

/** A TCP proxy in front of `upstreamPort` that can be told to stop forwarding mid-conversation. */
export async function startStallProxy(upstreamPort: number): Promise<StallProxy> {
  const sockets = new Set<Socket>();
  let when: ((request: string) => boolean) | undefined;
  let stalling = false;
  let signal!: () => void;
  let stalledP = new Promise<void>((r) => (signal = r));
  const server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    let held = false;
    client.on('data', (chunk: Buffer) => {
      if (held) return;
      if (stalling || when?.(chunk.toString('latin1'))) {
        held = true;
        if (!stalling) {
          stalling = true;
          signal();
        }
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!held) client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', () => !held && end());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
  });
  const port = await listen(server);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stallWhen(w) {
      when = w;
    },
    stalled: () => stalledP,
    passThrough() {
      when = undefined;
      stalling = false;
      stalledP = new Promise<void>((r) => (signal = r));
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
