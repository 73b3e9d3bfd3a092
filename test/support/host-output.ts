/**
 * The output of the host processes this test process started, by base URL, so a request that
 * fails without an answer (a closed socket, a refused connection) can say what the host printed
 * last (test/support/http-client.ts). A CI log then shows why, not only that.
 */
const outputs = new Map<string, () => string>();

export function noteHostOutput(url: string, output: () => string): void {
  outputs.set(url, output);
}

export function forgetHostOutput(url: string): void {
  outputs.delete(url);
}

/** The last `chars` characters the host at `baseUrl` printed, or undefined for a host not started here. */
export function hostOutputTail(baseUrl: string, chars = 4000): string | undefined {
  const out = outputs.get(baseUrl)?.();
  return out === undefined ? undefined : out.slice(-chars);
}
