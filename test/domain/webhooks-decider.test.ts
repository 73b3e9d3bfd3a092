/** The webhook subscriptions decider (shared/domain/webhooks.ts), given/when/then. */
import { describe, expect, it } from 'vitest';
import { MAX_SUBSCRIPTIONS, type WebhookEvent, webhooksDecider } from '../../shared/domain/webhooks';
import { DeciderSpecification } from '../support/decider-specification';

const given = DeciderSpecification.for(webhooksDecider);
const ID = `wh_${'a'.repeat(22)}`;
const secret = { keyId: 'k1', algorithm: 'A256KW', wrapped: 'd3JhcHBlZA' };
const registered: WebhookEvent = {
  type: 'WebhookRegistered',
  data: {
    id: ID,
    url: 'https://apps.test/hook',
    types: null,
    events: null,
    secret,
    changes: [
      { path: `/subscriptions/${ID}/url`, new: 'https://apps.test/hook' },
      { path: `/subscriptions/${ID}/types`, new: null },
      { path: `/subscriptions/${ID}/events`, new: null },
    ],
  },
};
const paused: WebhookEvent = {
  type: 'WebhookPaused',
  data: { id: ID, changes: [{ path: `/subscriptions/${ID}/status`, old: 'active', new: 'paused' }] },
};

describe('webhooks decider', () => {
  it('registers a subscription; its changes never carry the secret', () =>
    given([]).when({ kind: 'register', id: ID, url: 'https://apps.test/hook', secret }).thenEmits([registered]));
  it('refuses a second subscription with the same id, and more than the limit', () => {
    given([registered]).when({ kind: 'register', id: ID, url: 'https://x.test/', secret }).thenThrows({ code: 'conflict' });
    const many = Array.from({ length: MAX_SUBSCRIPTIONS }, (_, i) => ({
      ...registered,
      data: { ...registered.data, id: `wh_${String(i).padStart(22, 'b')}` },
    })) as WebhookEvent[];
    given(many).when({ kind: 'register', id: ID, url: 'https://x.test/', secret }).thenThrows({ code: 'conflict' });
  });
  it('changes only what differs, with old and new values', () => {
    given([registered])
      .when({ kind: 'change', id: ID, url: 'https://apps.test/hook', types: ['customer'] })
      .thenEmits([
        {
          type: 'WebhookChanged',
          data: { id: ID, types: ['customer'], changes: [{ path: `/subscriptions/${ID}/types`, old: null, new: ['customer'] }] },
        },
      ]);
    given([registered]).when({ kind: 'change', id: ID, url: 'https://apps.test/hook' }).thenNothing();
  });
  it('pauses and resumes; doing it twice changes nothing', () => {
    given([registered]).when({ kind: 'pause', id: ID }).thenEmits([paused]);
    given([registered, paused]).when({ kind: 'pause', id: ID }).thenNothing();
    given([registered]).when({ kind: 'resume', id: ID }).thenNothing();
    given([registered, paused])
      .when({ kind: 'resume', id: ID })
      .thenEmits([
        { type: 'WebhookResumed', data: { id: ID, changes: [{ path: `/subscriptions/${ID}/status`, old: 'paused', new: 'active' }] } },
      ]);
  });
  it('replays and removes existing subscriptions only', () => {
    given([registered])
      .when({ kind: 'replay', id: ID, from: '{"c":"3"}' })
      .thenEmits([
        {
          type: 'WebhookReplayRequested',
          data: { id: ID, from: '{"c":"3"}', changes: [{ path: `/subscriptions/${ID}/replay`, new: 'requested' }] },
        },
      ]);
    given([registered])
      .when({ kind: 'remove', id: ID })
      .thenEmits([
        { type: 'WebhookRemoved', data: { id: ID, changes: [{ path: `/subscriptions/${ID}/url`, old: 'https://apps.test/hook' }] } },
      ]);
    for (const kind of ['pause', 'resume', 'remove'] as const) given([]).when({ kind, id: ID }).thenThrows({ code: 'not_found' });
    given([registered, { type: 'WebhookRemoved', data: { id: ID, changes: [] } }])
      .when({ kind: 'pause', id: ID })
      .thenThrows({ code: 'not_found' });
  });
  it('a restore pauses every subscription and carries the re-wrapped secret; one whose secret was lost cannot be resumed', () => {
    const rewrapped = { keyId: 'k2', algorithm: 'A256KW', wrapped: 'bmV3' };
    const OTHER = `wh_${'c'.repeat(22)}`;
    const other: WebhookEvent = { ...registered, data: { ...registered.data, id: OTHER } } as WebhookEvent;
    const restored: WebhookEvent = {
      type: 'WebhooksRestored',
      data: {
        source: 'acme',
        restoredUntil: '2026-12-01T10:00:00.000Z',
        subscriptions: [
          { id: ID, secret: rewrapped },
          { id: OTHER, secret: null },
        ],
        changes: [
          { path: `/subscriptions/${ID}/status`, old: 'active', new: 'paused' },
          { path: `/subscriptions/${OTHER}/status`, old: 'active', new: 'paused' },
        ],
      },
    };
    given([registered, other])
      .when({ kind: 'restored', source: 'acme', restoredUntil: '2026-12-01T10:00:00.000Z', secrets: { [ID]: rewrapped } })
      .thenEmits([restored]);
    given([]).when({ kind: 'restored', source: 'acme', restoredUntil: '2026-12-01T10:00:00.000Z', secrets: {} }).thenNothing();
    const state = given([registered, other, { events: [restored], timestamp: '2026-12-02T00:00:00.000Z' }]).state();
    expect(state.subscriptions[ID]).toMatchObject({
      status: 'paused',
      secret: rewrapped,
      restored: { source: 'acme', restoredUntil: '2026-12-01T10:00:00.000Z', at: '2026-12-02T00:00:00.000Z', secretKept: true },
    });
    expect(state.subscriptions[OTHER]).toMatchObject({ status: 'paused', secret, restored: { secretKept: false } });
    given([registered, other, restored])
      .when({ kind: 'resume', id: ID })
      .thenEmits([
        { type: 'WebhookResumed', data: { id: ID, changes: [{ path: `/subscriptions/${ID}/status`, old: 'paused', new: 'active' }] } },
      ]);
    given([registered, other, restored]).when({ kind: 'resume', id: OTHER }).thenThrows({ code: 'conflict' });
    given([registered, other, restored])
      .when({ kind: 'remove', id: OTHER })
      .thenEmits([
        { type: 'WebhookRemoved', data: { id: OTHER, changes: [{ path: `/subscriptions/${OTHER}/url`, old: 'https://apps.test/hook' }] } },
      ]);
  });
});
