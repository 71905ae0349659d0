// The ledger's guarantees, on every store backend (SQLite, PostgreSQL): samples land with the done mark or not
// at all, a done run is never redone, a resume puts interrupted runs back without touching completed ones, and
// a run's attempt number (and so every operation id the run machine derives from it) only goes up, across
// aborts and resumes, with the attempt history appended to, never overwritten.
import { describe, expect, it } from 'vitest';
import { OpDispatcher } from '../../agents/dispatcher.ts';
import { openStore } from '../../orchestrator/store/open-store.ts';
import { FakeBackend, testRun } from '../fakes/fake-backend.ts';
import { useBackends } from './backends.ts';
import { testCampaign } from './test-campaign.ts';

const samples = [{ metric: 'victim_events_per_sec', value: 10, unit: 'events/s', labels: { container: 'victim' } }];
/** What the run machine sends as the setup's operation id (orchestrator/machines/run-machine.ts). */
const setupOpId = (attempt: number) => `c1/a/a${attempt}/run.setup`;

for (const backend of useBackends()) {
  describe.skipIf(backend.skip !== null)(`store (${backend.name})`, () => {
    async function freshStore() {
      const { target, store } = await backend.fresh();
      await store.createCampaign(testCampaign(), [testRun({ runId: 'a' }), testRun({ runId: 'b', repetition: 1 })]);
      return { store, reopen: () => openStore(target) };
    }

    it('creates the ledger as todo rows in order', async () => {
      const { store } = await freshStore();
      expect((await store.ledger('c1')).map((r) => [r.runId, r.status, r.attempts])).toEqual([
        ['a', 'todo', 0],
        ['b', 'todo', 0],
      ]);
      await store.close();
    });

    it('writes samples with the done mark, once', async () => {
      const { store } = await freshStore();
      await store.startRun('c1', 'a', 'h1');
      expect(await store.completeRun('c1', 'a', samples, { k: 1 })).toBe(true);
      expect(await store.completeRun('c1', 'a', samples, {})).toBe(false);
      const a = (await store.runs('c1')).find((r) => r.runId === 'a')!;
      expect(a).toMatchObject({ status: 'done', hostId: 'h1', provenance: { k: 1 }, samples });
      expect(a.startedAt).not.toBeNull();
      await store.close();
    });

    it("reads a run's samples of some metrics alone, in their stored order", async () => {
      const { store } = await freshStore();
      const mixed = [
        { metric: 'core_time_s', value: 0.1, unit: 's', labels: { core: '0', category: 'victim' } },
        { metric: 'packets_sent', value: 5, unit: 'packets', labels: { container: 'neighbour-0' } },
        ...samples,
        { metric: 'core_time_s', value: 0.2, unit: 's', labels: { core: '0', category: 'idle' } },
      ];
      await store.startRun('c1', 'a', 'h1');
      await store.completeRun('c1', 'a', mixed, { k: 1 });
      const [a, b] = await store.runs('c1', { metrics: ['core_time_s', 'victim_events_per_sec'] });
      expect(a).toMatchObject({ runId: 'a', status: 'done', provenance: { k: 1 } });
      expect(a.samples).toEqual(mixed.filter((s) => s.metric !== 'packets_sent'));
      expect(b).toMatchObject({ runId: 'b', status: 'todo', samples: [] });
      expect((await store.runs('c1'))[0].samples).toEqual(mixed);
      expect((await store.runs('c1', { metrics: [] }))[0].samples).toEqual([]);
      await store.close();
    });

    it('a failed write leaves no samples and no done mark (one transaction)', async () => {
      const { store } = await freshStore();
      await store.startRun('c1', 'a', 'h1');
      // a sample the store cannot hold (a value column is NOT NULL) fails the write half way through
      const bad = [...samples, { metric: 'broken', value: null as unknown as number, unit: 'x', labels: {} }];
      await expect(store.completeRun('c1', 'a', bad, {})).rejects.toThrow();
      const a = (await store.runs('c1')).find((r) => r.runId === 'a')!;
      expect(a).toMatchObject({ status: 'running', samples: [] });
      expect(await store.attempts('c1')).toEqual([]);
      await store.close();
    });

    it('refuses to start a run that is not todo', async () => {
      const { store } = await freshStore();
      await store.startRun('c1', 'a', 'h1');
      await expect(store.startRun('c1', 'a', 'h2')).rejects.toThrow('run a is not todo');
      await store.close();
    });

    it('puts a run out of guard back to todo with its reason, and keeps it marked on its last attempt', async () => {
      const { store } = await freshStore();
      await store.startRun('c1', 'a', 'h1');
      expect(await store.guardRun('c1', 'a', 'steal 12% on core 0', 2, samples, {})).toBe('todo');
      expect((await store.ledger('c1'))[0]).toMatchObject({ status: 'todo', lastError: 'guard: steal 12% on core 0', guardReason: null });
      await store.startRun('c1', 'a', 'h1');
      expect(await store.guardRun('c1', 'a', 'steal 11% on core 0', 2, samples, {})).toBe('done');
      const a = (await store.runs('c1')).find((r) => r.runId === 'a')!;
      expect(a).toMatchObject({ status: 'done', guardReason: 'steal 11% on core 0' });
      expect(a.samples).toHaveLength(1);
      expect((await store.attempts('c1')).map((x) => [x.attempt, x.outcome, x.error])).toEqual([
        [1, 'guard', 'steal 12% on core 0'],
        [2, 'guard-kept', 'steal 11% on core 0'],
      ]);
      await store.close();
    });

    it('retries retryable failures until attempts run out; fatal ones at once', async () => {
      const { store } = await freshStore();
      for (let i = 1; i <= 2; i++) {
        expect(await store.startRun('c1', 'a', 'h1')).toBe(i);
        expect(await store.failRun('c1', 'a', 'lost', true, 2)).toBe(i < 2 ? 'todo' : 'failed');
      }
      await store.startRun('c1', 'b', 'h1');
      expect(await store.failRun('c1', 'b', 'bad spec', false, 5)).toBe('failed');
      expect((await store.attempts('c1')).map((x) => x.outcome)).toEqual(['retryable-failure', 'retryable-failure', 'fatal-failure']);
      await store.close();
    });

    it('resume: running rows go back to todo, done rows stay, failed rows come back with fresh attempts', async () => {
      const { store, reopen } = await freshStore();
      await store.startRun('c1', 'a', 'h1');
      await store.completeRun('c1', 'a', samples, {});
      await store.startRun('c1', 'b', 'h1');
      await store.close();
      const again = await reopen(); // as after a SIGKILL
      expect(await again.resetInProgress('c1', true)).toBe(1);
      expect((await again.ledger('c1')).map((r) => r.status)).toEqual(['done', 'todo']);
      expect((await again.runs('c1'))[0].samples).toHaveLength(1);
      await again.close();
    });

    it('an aborted run goes back to todo without using up an attempt (its attempt number stays)', async () => {
      const { store } = await freshStore();
      await store.startRun('c1', 'a', 'h1');
      await store.releaseRun('c1', 'a');
      expect((await store.ledger('c1'))[0]).toMatchObject({ status: 'todo', attempts: 1 });
      expect(await store.startRun('c1', 'a', 'h1')).toBe(2);
      expect(await store.failRun('c1', 'a', 'lost', true, 2)).toBe('todo'); // the aborted attempt did not count
      await store.close();
    });

    it('a run that failed for good and is resumed continues numbering, with a fresh budget', async () => {
      const { store, reopen } = await freshStore();
      for (const n of [1, 2]) {
        expect(await store.startRun('c1', 'a', 'h1')).toBe(n);
        await store.failRun('c1', 'a', 'host broken', true, 2);
      }
      expect((await store.ledger('c1'))[0].status).toBe('failed');
      await store.close();
      const again = await reopen();
      await again.resetInProgress('c1', true);
      expect(await again.startRun('c1', 'a', 'h1')).toBe(3);
      expect(await again.failRun('c1', 'a', 'still broken', true, 2)).toBe('todo'); // a fresh budget of 2
      expect(await again.startRun('c1', 'a', 'h1')).toBe(4);
      expect(await again.failRun('c1', 'a', 'still broken', true, 2)).toBe('failed');
      await again.close();
    });

    it('Ctrl-C, then a kill -9 mid-run, then resume: numbers 1, 2, 3; history keeps every row', async () => {
      const { store, reopen } = await freshStore();
      await store.startRun('c1', 'a', 'h1');
      await store.releaseRun('c1', 'a');
      await store.startRun('c1', 'a', 'h1');
      await store.close(); // killed while running attempt 2
      const again = await reopen();
      await again.resetInProgress('c1', true);
      expect(await again.startRun('c1', 'a', 'h2')).toBe(3);
      await again.completeRun('c1', 'a', [], {});
      expect((await again.attempts('c1')).map((r) => [r.attempt, r.outcome])).toEqual([
        [1, 'aborted'],
        [3, 'done'],
      ]);
      await again.close();
    });

    it('the history is appended even if two outcomes name one attempt (never INSERT OR REPLACE)', async () => {
      const { store } = await freshStore();
      await store.startRun('c1', 'a', 'h1');
      await store.failRun('c1', 'a', 'timeout', true, 3);
      // a late completion of the same attempt after it was failed: both rows stay
      await store.completeRun('c1', 'a', [], {});
      expect((await store.attempts('c1')).map((r) => [r.attempt, r.outcome])).toEqual([
        [1, 'retryable-failure'],
        [1, 'done'],
      ]);
      await store.close();
    });

    it('with a long-lived agent: the resumed run really runs again once the host is fixed', async () => {
      const { store } = await freshStore();
      const fake = new FakeBackend('h1');
      const agent = new OpDispatcher(fake, () => {});
      fake.failIn = { phase: 'setup', retryable: false, always: true };
      const first = await agent.handle(setupOpId(await store.startRun('c1', 'a', 'h1')), 'run.setup', { run: testRun({ runId: 'a' }) });
      expect(first.ok).toBe(false);
      await store.failRun('c1', 'a', 'broken', false, 3);
      fake.failIn = null; // the host was fixed
      await store.resetInProgress('c1', true);
      const second = await agent.handle(setupOpId(await store.startRun('c1', 'a', 'h1')), 'run.setup', { run: testRun({ runId: 'a' }) });
      expect(second.ok).toBe(true);
      expect(fake.calls.filter((c) => c.startsWith('setup'))).toHaveLength(2);
      await store.close();
    });

    it('appends runs after the last one; lists campaigns oldest first with their progress', async () => {
      const { store } = await freshStore();
      await store.appendRuns('c1', [testRun({ runId: 'x', repetition: 2 })]);
      expect((await store.ledger('c1')).map((r) => [r.runId, r.seq])).toEqual([
        ['a', 0],
        ['b', 1],
        ['x', 2],
      ]);
      await store.createCampaign({ ...testCampaign('c2'), createdAt: '2999-01-01T00:00:00.000Z' }, [testRun({ runId: 'a' })]);
      await store.startRun('c1', 'a', 'h1');
      await store.completeRun('c1', 'a', samples, {});
      await store.startRun('c1', 'b', 'h1');
      expect((await store.campaigns()).map((c) => c.id)).toEqual(['c1', 'c2']);
      expect((await store.latestCampaign())?.id).toBe('c2');
      const progress = await store.progress();
      expect(progress.map(({ lastFinishedAt, ...p }) => p)).toEqual([
        { campaignId: 'c1', total: 3, todo: 1, running: 1, done: 1, failed: 0 },
        { campaignId: 'c2', total: 1, todo: 1, running: 0, done: 0, failed: 0 },
      ]);
      expect(progress[0].lastFinishedAt).not.toBeNull();
      await store.setCampaignStatus('c1', 'done');
      expect(await store.campaign('c1')).toMatchObject({ status: 'done', seed: 1, spec: {} });
      expect(await store.campaign('nope')).toBeUndefined();
      await store.close();
    });

    it('records host facts, replacing a host recorded again', async () => {
      const { store } = await freshStore();
      const facts = { hostId: 'h1', backend: 'sim', kernel: 'k', cpuModel: 'm', cores: 2, nic: null, cgroupVersion: 1, extra: {} } as never;
      await store.recordHost('c1', facts, []);
      await store.recordHost('c1', { ...(facts as object), kernel: 'k2' } as never, [{ mode: 'none', available: true }]);
      expect(await store.hosts('c1')).toEqual([
        { facts: { ...(facts as object), kernel: 'k2' }, capabilities: [{ mode: 'none', available: true }] },
      ]);
      await store.close();
    });
  });
}
