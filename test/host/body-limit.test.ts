/**
 * The local host enforces FUNCTIONS_REQUEST_BODY_SIZE_LIMIT as the Functions host does in
 * Azure: a body over it gets the host's 413 before any function runs, whether its length is
 * declared or it is streamed; a body at the limit reaches the function.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHostProcess, type HostProcess } from '../support/host-process';

const LIMIT = 4096;
let host: HostProcess;

beforeAll(async () => {
  host = await startHostProcess({
    FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: String(LIMIT),
    MAX_FILE_BYTES: String(LIMIT),
    MAX_JSON_BODY_BYTES: String(LIMIT),
    BACKUP_LOCAL_FALLBACK: 'off',
  });
});

afterAll(async () => {
  await host?.stop();
  host?.cleanup();
});

/** A JSON body of exactly `size` bytes (a tenant creation padded with a long name). */
function jsonOf(size: number): string {
  const base = JSON.stringify({ id: 'limits', name: '', admin: { email: 'a@b.example', password: 'correct horse battery' } });
  return base.replace('"name":""', `"name":"${'x'.repeat(size - base.length)}"`);
}

async function post(body: NonNullable<RequestInit['body']>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${host.url}/api/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${host.operatorKey}`, 'content-type': 'application/json', ...headers },
    body,
    duplex: 'half',
  } as RequestInit);
}

describe('the host body limit (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT)', () => {
  it('lets a body of exactly the limit through to the function', async () => {
    const body = jsonOf(LIMIT);
    expect(Buffer.byteLength(body)).toBe(LIMIT);
    const res = await post(body);
    await res.text();
    expect(res.status).not.toBe(413);
  });

  it('answers 413 with problem+json to a declared length over the limit, before any function runs', async () => {
    const res = await post(jsonOf(LIMIT + 1));
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const problem = (await res.json()) as { detail: string; correlationId?: string };
    expect(problem.detail).toContain('FUNCTIONS_REQUEST_BODY_SIZE_LIMIT');
    expect(problem.correlationId).toBeTruthy();
    // No function ran: the function's own log line for the request never appears.
    expect(host.output()).not.toContain(problem.correlationId);
  });

  it('answers 413 to a streamed body (no Content-Length) once it passes the limit', async () => {
    const chunk = new TextEncoder().encode('x'.repeat(1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 16) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const res = await post(stream);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { detail: string }).detail).toContain(String(LIMIT));
  });

  it('reads a whole over-limit body before answering, so a client still sending reads the 413 instead of a broken pipe', async () => {
    // 32 MiB declared (more than the socket buffers hold): the client is still writing when the host has decided.
    for (let i = 0; i < 5; i++) {
      const res = await post(jsonOf(32 * 1024 * 1024));
      expect(res.status).toBe(413);
      await res.text();
    }
  });

  it('answers a client that declares a huge body and stops sending once the drain bound passes (no hang)', async () => {
    const { hostname, port } = new URL(host.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write(
          `POST /api/tenants HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\ncontent-length: ${1024 ** 3}\r\n\r\n${'x'.repeat(1024)}`,
        );
      });
      let text = '';
      socket.on('data', (d) => {
        text += d.toString();
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
  }, 30_000);

  it('still serves requests afterwards', async () => {
    const res = await fetch(`${host.url}/api/health`);
    expect(res.status).toBe(200);
  });
});
