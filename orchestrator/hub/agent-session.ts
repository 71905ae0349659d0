// One agent's session, from the socket's first byte to its end. Nothing but a hello is accepted until the
// agent has proved the token; then heartbeats (sealed beat frames, echoed) keep it alive, and a few missed beats or a
// closed socket declare it lost. A beat is skipped when authentic frames went both ways since the last one. The socket work is done by named actions the hub provides (`.provide()`),
// so tests drive this machine with a fake socket and a simulated clock.
import { assign, setup } from 'xstate';

export type AgentSessionEvent =
  | { type: 'AUTHENTICATED'; hostId: string }
  | { type: 'AUTH_FAILED'; code: number; reason: string }
  | { type: 'PONG' }
  | { type: 'SOCKET_CLOSED'; code: number; reason: string };

export interface AgentSessionInput {
  helloTimeoutMs: number;
  heartbeatMs: number;
  /** Beats missed in a row before the agent is declared lost. */
  maxMissedBeats: number;
}

export const agentSessionMachine = setup({
  types: {
    context: {} as AgentSessionInput & { hostId: string | null; missed: number; lostReason: string | null },
    events: {} as AgentSessionEvent,
    input: {} as AgentSessionInput,
  },
  actions: {
    /** Replaced by the hub: send the challenge nonce. */
    sendChallenge: () => {},
    sendPing: () => {},
    /** Close the socket with an application close code and reason. */
    refuse: (_, _params: { code: number; reason: string }) => {},
    terminate: () => {},
    announceReady: (_, _params: { hostId: string }) => {},
    announceLost: (_, _params: { hostId: string; reason: string }) => {},
  },
  delays: {
    helloTimeout: ({ context }) => context.helloTimeoutMs,
    heartbeat: ({ context }) => context.heartbeatMs,
  },
  guards: {
    tooManyMissed: ({ context }) => context.missed >= context.maxMissedBeats,
    /**
     * Replaced by the hub: authentic frames went both ways within the last beat interval (requests out, answers in), so
     * each side knows the other is there without a beat; a busy campaign then sends none.
     */
    trafficBothWays: () => false,
  },
}).createMachine({
  id: 'agentSession',
  context: ({ input }) => ({ ...input, hostId: null, missed: 0, lostReason: null }),
  initial: 'authenticating',
  states: {
    authenticating: {
      entry: 'sendChallenge',
      after: {
        helloTimeout: { target: 'closed', actions: { type: 'refuse', params: { code: 4401, reason: 'no hello within the time allowed' } } },
      },
      on: {
        AUTHENTICATED: {
          target: 'ready',
          actions: [
            assign({ hostId: ({ event }) => event.hostId }),
            { type: 'announceReady', params: ({ event }) => ({ hostId: event.hostId }) },
          ],
        },
        AUTH_FAILED: { target: 'closed', actions: { type: 'refuse', params: ({ event }) => ({ code: event.code, reason: event.reason }) } },
        SOCKET_CLOSED: 'closed',
      },
    },
    ready: {
      initial: 'beating',
      states: {
        beating: {
          after: {
            heartbeat: [
              { guard: 'trafficBothWays', target: 'beating', reenter: true, actions: assign({ missed: 0 }) },
              {
                guard: 'tooManyMissed',
                target: '#agentSession.lost',
                actions: assign({ lostReason: ({ context }) => `${context.missed} heartbeats missed` }),
              },
              { target: 'beating', reenter: true, actions: [assign({ missed: ({ context }) => context.missed + 1 }), 'sendPing'] },
            ],
          },
        },
      },
      on: {
        PONG: { actions: assign({ missed: 0 }) },
        SOCKET_CLOSED: {
          target: 'lost',
          actions: assign({ lostReason: ({ event }) => `connection closed (${event.code}${event.reason ? `: ${event.reason}` : ''})` }),
        },
      },
    },
    lost: {
      type: 'final',
      entry: [
        'terminate',
        { type: 'announceLost', params: ({ context }) => ({ hostId: context.hostId ?? '?', reason: context.lostReason ?? 'lost' }) },
      ],
    },
    closed: { type: 'final', entry: 'terminate' },
  },
});
