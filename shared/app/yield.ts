/**
 * Lets the event loop breathe between pages of long work (rebuilds, exports): the embedded
 * store is synchronous, so without this a long loop would hold every other request.
 */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
