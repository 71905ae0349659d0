// `ironlab serve` as a user starts it: its flags (a bad one is one line and exit 2), the token it asks for off
// loopback (generated, printed once), and Ctrl-C.
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentsOf, fixture, ledger, query, startCli, tempDb, until } from './helpers.ts';
import { DashboardServer } from '../../orchestrator/serve/server.ts';
import { sqliteDashboardStore } from '../../orchestrator/serve/dashboard-store.ts';

/** Start the dashboard and wait for the address it prints. */
async function startServe(args: string[], env: Record<string, string> = {}) {
  const cli = startCli(['serve', ...args], env);
  const url = await until('the dashboard address', () => /open (http:\/\/\S+)/.exec(cli.output())?.[1], 60_000);
  return { ...cli, url };
}

describe('ironlab serve', () => {
  it('refuses bad flags in one line naming the flag, exit 2', async () => {
    const notAStore = join(dirname(tempDb()), 'not-a-store.db');
    writeFileSync(notAStore, 'campaigns: none\n'.repeat(100));
    const cases: [string[], RegExp][] = [
      [['--port', 'abc'], /--port.*whole number from 0 to 65535/],
      [['--port', '70000'], /--port.*whole number from 0 to 65535/],
      [['--db', 'a.db', '--store', 'b.db'], /--db FILE or --store URL, not both/],
      [['--host', 'no-such-address'], /--host: expected an IP address/],
      [['--host', '192.0.2.1', '--port', '0'], /--host: 192\.0\.2\.1 is not an address of this machine/],
      [['--token', 'short'], /--token: a token needs at least 16 characters/],
      [['--db', '/nonexistent-dir/x.db'], /--db: no directory \/nonexistent-dir/],
      [['--db', notAStore], /not-a-store\.db: not a result store \(file is not a database\)/],
    ];
    for (const [args, message] of cases) {
      const r = await startCli(['serve', ...args]).done;
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(message);
      expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/); // no stack trace
      expect(r.stdout).toBe('');
    }
  });

  it('refuses a port in use, exit 2', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const port = String((taken.address() as { port: number }).port);
      const r = await startCli(['serve', '--db', tempDb(), '--port', port]).done;
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(
        `ironlab: --port: port ${port} on 127.0.0.1 is in use (give another with --port, or --port 0 for any free one)`,
      );
    } finally {
      taken.close();
    }
  });

  it('on loopback asks for no token; Ctrl-C stops it cleanly (exit 0)', async () => {
    const s = await startServe(['--db', tempDb(), '--port', '0']);
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect((await fetch(`${s.url}api/campaigns`)).status).toBe(200);
    s.child.kill('SIGINT');
    const r = await s.done;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/dashboard stopped\n$/);
    expect(r.stderr).toBe('');
  });

  it('bound elsewhere, generates a token, prints it once, and answers 401 without it', async () => {
    const s = await startServe(['--db', tempDb(), '--port', '0', '--host', '127.0.0.2']);
    try {
      const url = new URL(s.url);
      const token = url.searchParams.get('token')!;
      expect(token.length).toBeGreaterThanOrEqual(32);
      expect(s.output().split(token)).toHaveLength(2); // once
      expect((await fetch(`${url.origin}/api/campaigns`)).status).toBe(401);
      expect((await fetch(`${url.origin}/api/campaigns`, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
      expect((await fetch(`${url.origin}/api/campaigns`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    } finally {
      s.child.kill('SIGINT');
      expect((await s.done).code).toBe(0);
    }
  });

  it('takes the token from the environment, and does not print it', async () => {
    const token = 'from-the-environment-1234';
    const s = await startServe(['--db', tempDb(), '--port', '0', '--host', '127.0.0.2'], { IRONLAB_SERVE_TOKEN: token });
    try {
      expect(s.output()).not.toContain(token);
      const origin = new URL(s.url).origin;
      expect((await fetch(`${origin}/api/campaigns`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect((await fetch(`${origin}/api/campaigns`)).status).toBe(401);
    } finally {
      s.child.kill('SIGINT');
      await s.done;
    }
  });

  it('shows a campaign whose orchestrator was killed as stale, not running', async () => {
    const db = tempDb();
    const server = new DashboardServer({ store: sqliteDashboardStore(db), host: '127.0.0.1', port: 0, token: null });
    const url = await server.listen();
    const state = async () => (await (await fetch(`${url}/api/campaigns`)).json()).campaigns[0]?.state;
    const cli = startCli(['run', fixture('e2e-long.yaml'), '--db', db, '--no-progress']);
    try {
      await until('a completed run', () => ledger(db).some((r) => r.status === 'done'));
      expect(await state()).toBe('running');
      cli.child.kill('SIGKILL');
      await cli.done;
      // the store still says running; the dashboard knows better
      expect(query<{ status: string }>(db, 'SELECT status FROM campaigns')[0].status).toBe('running');
      expect(await state()).toBe('stale');
      await until('its agents to go', async () => (await agentsOf(cli.child.pid!)).length === 0, 60_000);
    } finally {
      if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
      await server.close();
    }
  });
});
