/** Runs `fn` over `items` with at most `width` calls at a time (items taken in order); rejects with the first failure. */
export async function inParallel<X>(items: X[], width: number, fn: (item: X) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}
