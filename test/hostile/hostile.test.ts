// Hostile input, for real, on loopback (runs everywhere, CI included): while `ironlab run` runs a sim campaign
// (campaign.yaml: the smoke campaign with four repetitions), a client
// written against the wire protocol (raw-peer.ts: ws + node:crypto, none of the project's agent code) throws
// random bytes, deeply nested and oversized JSON, wrong, replayed and old-protocol proofs, out-of-order
// messages and hundreds of idle sockets at the hub. The campaign must complete with results identical to a
// quiet run of the same seed, no run retried, and no hostile socket admitted. Then a rogue orchestrator that does
// not hold the token tries to command a real testbed agent process: it must get nothing executed.
// What was thrown, and what became of it, is printed as counts by kind.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { query, startCli, tempDb, until } from '../e2e/helpers.ts';
import { PACKAGE_ROOT } from '../../workloads/common/version.ts';
import { Frames, PROTOCOL, keyFor, proofOf, rawOrchestrator } from './raw-peer.ts';

const CAMPAIGN = join(import.meta.dirname, 'campaign.yaml');
type Outcome = string;
const thrown = new Map<string, Map<Outcome, number>>();
const tally = (kind: string, outcome: Outcome) => {
  const m = thrown.get(kind) ?? new Map<Outcome, number>();
  thrown.set(kind, m.set(outcome, (m.get(outcome) ?? 0) + 1));
};
let admitted = 0;

/** One hostile WebSocket: `act` speaks once the challenge is in; resolves with how it ended. */
function hostileWs(url: string, kind: string, act: (ws: WebSocket, nonce: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { maxPayload: 64 << 20 });
    const give = setTimeout(() => ws.terminate(), 20_000); // never hangs the suite
    ws.on('error', () => {});
    ws.on('message', (raw) => {
      let msg: any;
      try {
        msg = JSON.parse(raw.toString());
      } catch {
        return;
      }
      if (msg.type === 'welcome') admitted++;
      if (msg.type === 'challenge') act(ws, msg.nonce);
    });
    const opened = Date.now();
    ws.on('close', (code, reason) => {
      clearTimeout(give);
      const s = Math.round((Date.now() - opened) / 1000);
      tally(
        kind,
        code === 1006
          ? `cut off (1006) ${s < 1 ? 'at once' : 'after about ' + s + ' s'}`
          : `closed ${code}${reason.length ? ` "${reason.toString().replace(/:.*/, '')}"` : ''}`,
      );
      resolve();
    });
  });
}

/** A raw TCP socket: random bytes or silence. */
function hostileTcp(url: string, kind: string, bytes: Buffer | null): Promise<void> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = connect(Number(u.port), u.hostname);
    const give = setTimeout(() => s.destroy(), 20_000);
    s.on('error', () => {});
    s.on('data', () => {});
    s.on('connect', () => bytes && s.write(bytes));
    s.on('close', () => {
      clearTimeout(give);
      tally(kind, Date.now() - started < 15_000 ? 'dropped by the hub' : 'timed out');
      resolve();
    });
    const started = Date.now();
  });
}

const hello = (hostId: string, nonce: string, proof: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'hello', hostId, backend: 'sim', version: 'hostile', protocol: PROTOCOL, nonce, proof, ...extra });
const hex = () => randomBytes(32).toString('hex');

/** Against the hub at `url` whose token is `token`: first every kind of bad message, all at once (each gets the
 *  hub's answer), then a flood of idle sockets (which the hub bounds). Returns when all sockets have ended. */
async function attack(url: string, token: string, between: () => void): Promise<void> {
  const key = keyFor(token, 'sim-1');
  const all: Promise<void>[] = [];
  const n = (count: number, f: (i: number) => Promise<void>) => {
    for (let i = 0; i < count; i++) all.push(f(i));
  };
  n(30, () =>
    hostileWs(url, 'random bytes (ws frames)', (ws) => {
      for (let i = 0; i < 5; i++) ws.send(randomBytes(1 + Math.floor(Math.random() * 4096)), { binary: i % 2 === 0 });
    }),
  );
  n(20, () => hostileTcp(url, 'random bytes (raw TCP)', randomBytes(2048)));
  n(10, (i) =>
    hostileWs(url, 'deeply nested JSON', (ws) =>
      ws.send(
        i % 2 ? '['.repeat(100_000) + ']'.repeat(100_000) : `{"type":"hello","hostId":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`,
      ),
    ),
  );
  n(5, () =>
    hostileWs(url, 'oversized JSON (2 MiB)', (ws, nonce) =>
      ws.send(hello('sim-1', hex(), proofOf(key, 'agent', 'sim-1', nonce, hex()), { pad: 'x'.repeat(2 << 20) })),
    ),
  );
  n(30, () => hostileWs(url, 'wrong proof (expected host)', (ws) => ws.send(hello('sim-1', hex(), hex()))));
  // A proof captured from one connection (made here with the real key) replayed on another, and on the same
  // connection with another agent nonce: both bind what they were made for.
  n(20, (i) =>
    hostileWs(url, 'replayed proof', (ws, nonce) => {
      if (i % 2) {
        const an = hex();
        ws.send(hello('sim-1', an, proofOf(key, 'agent', 'sim-1', hex(), an))); // made for another challenge
      } else ws.send(hello('sim-1', hex(), proofOf(key, 'agent', 'sim-1', nonce, hex()))); // made for another agent nonce
    }),
  );
  n(10, () =>
    hostileWs(url, "another host's key", (ws, nonce) => {
      const an = hex();
      ws.send(hello('sim-1', an, proofOf(keyFor(token, 'sim-2'), 'agent', 'sim-1', nonce, an)));
    }),
  );
  n(5, () =>
    hostileWs(url, 'unknown host (valid proof)', (ws, nonce) => {
      const an = hex();
      ws.send(hello('intruder', an, proofOf(keyFor(token, 'intruder'), 'agent', 'intruder', nonce, an)));
    }),
  );
  n(5, () =>
    hostileWs(url, 'old protocol', (ws, nonce) =>
      ws.send(JSON.stringify({ type: 'hello', hostId: 'sim-1', backend: 'sim', version: '0.0.1', protocol: 1, proof: nonce })),
    ),
  );
  n(20, (i) =>
    hostileWs(url, 'out-of-order messages', (ws, nonce) => {
      const frames = new Frames(key, 'agent', 'sim-1', nonce, hex());
      const early = [
        JSON.stringify({ type: 'response', id: 'x', ok: true, result: null }),
        JSON.stringify({ type: 'event', id: 'x', event: 'progress', data: {} }),
        JSON.stringify({ type: 'welcome', hostId: 'sim-1', proof: hex() }),
        frames.seal({ type: 'response', id: 'x', ok: true, result: null }),
      ];
      ws.send(early[i % early.length]);
    }),
  );
  await Promise.all(all.splice(0));
  between();
  n(300, () => hostileWs(url, 'idle WebSocket (never says hello)', () => {}));
  n(100, () => hostileTcp(url, 'idle TCP (never sends a request)', null));
  await Promise.all(all);
}

/** The orchestrator's run token (the test plays an attacker who captured proofs made with it). */
function runToken(orchestratorPid: number): string {
  const dir = readdirSync(tmpdir()).find((d) => d.startsWith(`ironlab-run-${orchestratorPid}-`));
  return readFileSync(join(tmpdir(), dir!, 'token'), 'utf8').trim();
}

const results = (db: string) =>
  query<{ scenario_id: string; enforcement: string; repetition: number; metric: string; value: number; labels_json: string }>(
    db,
    `SELECT r.scenario_id, r.enforcement, r.repetition, s.metric, s.value, s.labels_json FROM samples s JOIN runs r USING (campaign_id, run_id)
     ORDER BY r.scenario_id, r.enforcement, r.repetition, s.metric, s.labels_json, s.value`,
  );

describe('hostile input while a campaign runs', () => {
  it('the campaign completes with the results of a quiet run, and no hostile socket gets in', async () => {
    // the quiet run beside the hostile one (same seed; their own hubs and agents): half the wall time
    const quietDb = tempDb();
    const quietRun = startCli(['run', CAMPAIGN, '--db', quietDb, '--json']).done;
    const db = tempDb();
    const cli = startCli(['run', CAMPAIGN, '--db', db, '--json']);
    const log = join(dirname(db), 'ironlab.log');
    const url = await until(
      'the hub address in the log',
      () => existsSync(log) && /hub at (ws:\/\/\S+),/.exec(readFileSync(log, 'utf8'))?.[1],
      30_000,
    );
    await until(
      'a run in flight',
      () => query<{ n: number }>(db, "SELECT COUNT(*) AS n FROM runs WHERE status != 'todo'")[0].n > 0,
      30_000,
    );
    const doneRuns = () => query<{ n: number }>(db, "SELECT COUNT(*) AS n FROM runs WHERE status = 'done'")[0].n;
    const progress = [doneRuns()];
    const attacked = attack(url, runToken(cli.child.pid!), () => progress.push(doneRuns())).then(() => progress.push(doneRuns()));
    const [r, quiet] = await Promise.all([cli.done, quietRun, attacked]);
    expect(quiet.code, quiet.stderr).toBe(0);
    const total = query<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM runs')[0].n;
    console.log(`  runs done (of ${total}) when the bad messages began / ended / the idle sockets were all gone: ${progress.join(' / ')}`);
    expect(r.code, r.stderr).toBe(0);

    console.log(
      `hostile suite: what was thrown at the hub, and what became of it\n${[...thrown].map(([k, m]) => `  ${k}: ${[...m].map(([o, c]) => `${c} x ${o}`).join(', ')}`).join('\n')}`,
    );
    const sockets = [...thrown.values()].reduce((a, m) => a + [...m.values()].reduce((x, y) => x + y, 0), 0);
    expect(sockets).toBe(555);
    expect(admitted).toBe(0);
    const refused = readFileSync(log, 'utf8').match(/hub refused a connection/g)?.length ?? 0;
    console.log(`  the hub logged ${refused} refusal(s); the campaign: ${r.code === 0 ? 'completed' : `exit ${r.code}`}`);
    // identical results, and nothing retried: every run done at its first attempt
    expect(results(db)).toEqual(results(quietDb));
    expect(query(db, "SELECT run_id, attempt, outcome FROM run_attempts WHERE attempt != 1 OR outcome != 'done'")).toEqual([]);
  });
});

describe('a rogue orchestrator at a testbed agent address', () => {
  it('gets nothing executed by a real testbed agent process', async () => {
    const work = mkdtempSync(join(tmpdir(), 'ironlab-rogue-'));
    const tokenFile = join(work, 'token');
    writeFileSync(tokenFile, hex() + '\n', { mode: 0o600 });
    const statusFile = join(work, 'status.json');
    const guessed = keyFor('guess'.repeat(13), 'sim-1');
    const rogue = await rawOrchestrator((ws, h, nonce) => {
      tally('rogue: hello received', 'answered with forged welcome and requests');
      const frames = new Frames(guessed, 'orchestrator', 'sim-1', nonce, h.nonce);
      for (const op of ['reap', 'facts']) ws.send(JSON.stringify({ type: 'request', id: `plain-${op}`, op, args: {} }));
      ws.send(JSON.stringify({ type: 'welcome', hostId: 'sim-1', proof: proofOf(guessed, 'orchestrator', 'sim-1', nonce, h.nonce) }));
      ws.send(JSON.stringify({ type: 'welcome', hostId: 'sim-1', proof: h.proof })); // the agent's own proof reflected
      for (const op of ['reap', 'facts']) ws.send(frames.seal({ type: 'request', id: `sealed-${op}`, op, args: {} }));
    });
    const agent = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(PACKAGE_ROOT, 'testbed/lab-agent.ts'),
        '--connect',
        rogue.url,
        '--token-file',
        tokenFile,
        '--backend',
        'sim',
        '--host-id',
        'sim-1',
        '--status-file',
        statusFile,
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    agent.stderr!.on('data', (d) => (stderr += d));
    const states = new Set<string>();
    try {
      await until(
        'three dials answered by the rogue',
        () => {
          if (existsSync(statusFile)) states.add(JSON.parse(readFileSync(statusFile, 'utf8')).state);
          return rogue.received.filter((m) => m?.type === 'hello').length >= 3;
        },
        30_000,
      );
    } finally {
      agent.kill('SIGTERM');
      await new Promise((r) => agent.once('exit', r));
      await rogue.close();
    }
    const answers = rogue.received.filter((m) => m?.type !== 'hello');
    console.log(
      `  rogue orchestrator: ${rogue.received.length - answers.length} hello(s), ${answers.length} answer(s) to its requests; agent states seen: ${[...states].join(', ')}`,
    );
    expect(answers).toEqual([]); // no response, no event, no error frame: nothing was run
    expect(states.has('connected')).toBe(false);
    expect(stderr).toMatch(/(has not|did not) prove[d]? the token/);
    expect(stderr).not.toMatch(/reaped \d+ resource/);
  });
});
