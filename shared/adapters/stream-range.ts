import { validation } from '../domain/errors';
import type { ListStreamsOptions } from '../ports/event-store';

/**
 * The id range `listStreams` reads, for the stores' range queries: ids from `from` (exclusive
 * when it is the previous page's last id) up to `below` (the prefix with its last character
 * raised by one, so the range holds exactly the ids that start with the prefix).
 */
export function streamPrefixRange(prefix: string, options: ListStreamsOptions): { from: string; inclusive: boolean; below: string } {
  if (prefix.length === 0) throw validation('A stream id prefix must not be empty.');
  if (!Number.isInteger(options.limit) || options.limit < 1) throw validation('limit must be a positive integer.');
  const below = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  const after = options.after;
  if (after !== undefined && after >= prefix) return { from: after, inclusive: false, below };
  return { from: prefix, inclusive: true, below };
}
