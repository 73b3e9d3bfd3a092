/**
 * The options bag every async port method takes last, as the Azure SDK design guidelines ask
 * (`OperationOptions` in `@azure/core-client`). A port method with options of its own extends
 * this one, so there is always exactly one bag.
 *
 * `abortSignal`: an adapter refuses an already-aborted signal before it starts any I/O, passes
 * the signal on to the SDK call where the SDK takes one (`abortSignal` in `@azure/*` and
 * `@aws-sdk`, `signal` for `fetch`), and checks it between the steps of long loops. An aborted
 * call rejects with an Error named `AbortError` (checked by name, never `instanceof`).
 */
export interface OperationOptions {
  abortSignal?: AbortSignal;
}
