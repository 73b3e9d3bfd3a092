/** The given/when/then helper itself (test/support/decider-specification.ts): it passes and fails when it should. */
import { describe, expect, it } from 'vitest';
import type { Decider } from '../../shared/domain/decider';
import { validation } from '../../shared/domain/errors';
import type { NewEvent } from '../../shared/domain/events';
import { DeciderSpecification, GIVEN_AUTHOR, GIVEN_TIME } from '../support/decider-specification';

type Added = NewEvent<'Added', { by: number }>;
interface S {
  total: number;
  version: number;
  at: string;
}
const counter: Decider<{ add: number }, Added, S> = {
  initialState: () => ({ total: 0, version: 0, at: '' }),
  evolve: (s, c) => ({ total: c.events.reduce((t, e) => t + e.data.by, s.total), version: c.version, at: c.timestamp }),
  decide: (cmd, s) => {
    if (cmd.add < 0) throw validation(`No subtraction from ${s.total}.`);
    return cmd.add === 0 ? [] : [{ type: 'Added', data: { by: cmd.add } }];
  },
};
const given = DeciderSpecification.for(counter);
const added = (by: number): Added => ({ type: 'Added', data: { by } });

describe('DeciderSpecification', () => {
  it('folds events (one commit each) and whole commits with evolve', () => {
    expect(given([added(1), added(2)]).state()).toEqual({ total: 3, version: 2, at: GIVEN_TIME });
    expect(given({ events: [added(1), added(4)], version: 7, timestamp: 'T', author: GIVEN_AUTHOR }).state()).toEqual({
      total: 5,
      version: 7,
      at: 'T',
    });
  });

  it('thenEmits / thenNothing / thenThrows pass on the right outcome', () => {
    given([])
      .when({ add: 2 })
      .thenEmits([added(2)]);
    given([added(1)])
      .when({ add: 0 })
      .thenNothing();
    given([added(1)])
      .when({ add: -1 })
      .thenThrows({ code: 'validation', message: /from 1/ });
    given([added(1)])
      .when({ add: -1 })
      .thenThrows((e) => (e as Error).message === 'No subtraction from 1.');
  });

  it('fail on the wrong outcome', () => {
    expect(() =>
      given([])
        .when({ add: 2 })
        .thenEmits([added(3)]),
    ).toThrow();
    expect(() => given([]).when({ add: 2 }).thenNothing()).toThrow();
    expect(() => given([]).when({ add: 2 }).thenThrows({ code: 'validation' })).toThrow(/should have thrown/);
    expect(() => given([]).when({ add: -1 }).thenThrows({ code: 'conflict' })).toThrow();
    expect(() => given([]).when({ add: -1 }).thenThrows({ code: 'validation', message: 'from 9' })).toThrow();
    expect(() =>
      given([])
        .when({ add: -1 })
        .thenThrows(() => false),
    ).toThrow();
  });
});
