/**
 * The command-handling tests' world (handleCommand, handleCommands): a counter decider whose
 * decisions cover each outcome (events, a no-op, a refusal), and the metadata its commands are
 * appended with.
 */
import type { Decider } from '../../shared/domain/decider';
import { validation } from '../../shared/domain/errors';
import type { NewEvent } from '../../shared/domain/events';

export type Added = NewEvent<'Added', { by: number }>;
export type Cmd = { add: number };
export interface Counter {
  total: number;
  version: number;
}

/** A counter: adding 0 is a no-op, adding a negative number is refused. */
export const counter: Decider<Cmd, Added, Counter> = {
  initialState: () => ({ total: 0, version: 0 }),
  evolve: (s, c) => ({ total: c.events.reduce((t, e) => t + e.data.by, s.total), version: c.version }),
  decide: (cmd) => {
    if (cmd.add < 0) throw validation('Only additions.');
    return cmd.add === 0 ? [] : [{ type: 'Added', data: { by: cmd.add } }];
  },
};

/** Append metadata: the system as author, and `correlationId`. */
export const systemMeta = (correlationId: string) => ({ author: { kind: 'system' as const, id: 'test' }, correlationId });
