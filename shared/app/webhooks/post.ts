import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { guardedLookup, type TargetPolicy } from './target';

export interface PostResult {
  ok: boolean;
  /** The receiver's status, when it answered. */
  status?: number;
  /** Why it failed (never the receiver's body: response bodies are not read or stored). */
  error?: string;
}

export interface PostOptions extends TargetPolicy {
  timeoutMs: number;
  abortSignal?: AbortSignal;
}

// Keep-alive sockets per origin; the guarded lookup runs for every new socket.
const agents = { http: new HttpAgent({ keepAlive: true, maxSockets: 64 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 64 }) };

/**
 * One webhook POST. 2xx is success; anything else (a redirect too: redirects are not
 * followed), a refused target, a network error or the timeout (the whole exchange, connect
 * included) is a failure. The response body is drained and dropped.
 */
export function postWebhook(url: string, body: string, headers: Record<string, string>, o: PostOptions): Promise<PostResult> {
  return new Promise<PostResult>((resolve) => {
    let settled = false;
    const done = (r: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.abortSignal?.removeEventListener('abort', onAbort);
      resolve(r);
    };
    const u = new URL(url);
    const https = u.protocol === 'https:';
    const req = (https ? httpsRequest : httpRequest)(u, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      lookup: guardedLookup(o),
      agent: https ? agents.https : agents.http,
    });
    const timer = setTimeout(() => {
      req.destroy();
      done({ ok: false, error: `no answer within ${Math.round(o.timeoutMs / 1000)} s` });
    }, o.timeoutMs);
    const onAbort = () => {
      req.destroy();
      done({ ok: false, error: 'cancelled' });
    };
    o.abortSignal?.addEventListener('abort', onAbort, { once: true });
    req.on('response', (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      res.on('end', () =>
        done(
          status >= 200 && status < 300
            ? { ok: true, status }
            : {
                ok: false,
                status,
                error: status >= 300 && status < 400 ? `HTTP ${status} (redirects are not followed)` : `HTTP ${status}`,
              },
        ),
      );
      res.on('error', () => done({ ok: false, status, error: `HTTP ${status}, answer cut off` }));
    });
    req.on('error', (e: Error & { code?: string }) =>
      done({ ok: false, error: e.name === 'TargetRefused' ? e.message : `${e.code ?? e.name}: ${e.message}`.slice(0, 200) }),
    );
    req.end(body);
  });
}
