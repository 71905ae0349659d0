// Agents the orchestrator starts itself on this machine: one `ironlab agent` process per host, dialling the
// orchestrator on loopback. For simulated hosts they are real processes speaking the real protocol; only their
// backend (the host kernel) is simulated. An agent that dies unexpectedly is started again (bounded), so a
// campaign survives a lost host.
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../workloads/common/version.ts';
import type { BackendKind } from '../agents/backends/registry.ts';

export const IRONLAB_BIN = join(PACKAGE_ROOT, 'testbed', 'cli', 'ironlab.mjs');

export interface LocalAgentOptions {
  url: string;
  tokenFile: string;
  hosts: { id: string; backend: BackendKind }[];
  /** Restarts allowed per host after unexpected exits. */
  maxRestarts?: number;
  /** Where agents' stderr goes (a log file stream, or 'ignore'). */
  stderr?: 'ignore' | 'inherit' | NodeJS.WritableStream;
  /** Extra agent flags (tests use these for short reaper grace periods). */
  extraArgs?: string[];
  onExit?: (hostId: string, code: number | null, signal: NodeJS.Signals | null) => void;
}

export class LocalAgents {
  private readonly procs = new Map<string, ChildProcess>();
  private readonly restarts = new Map<string, number>();
  private stopping = false;

  constructor(private readonly opts: LocalAgentOptions) {}

  /**
   * Start every agent, a few at a time: an agent takes a second or two of CPU to start, and a lab's worth
   * started at once starves them all (and the orchestrator), so their WebSocket handshakes time out and they
   * keep retrying. The next one starts when one of those starting has connected (`connected`), or after
   * `slotMs` without it. Resolves when the last one has been started.
   */
  async startPaced(
    connected: (hostId: string) => boolean,
    width = Math.max(4, 2 * availableParallelism()),
    slotMs = 20_000,
  ): Promise<void> {
    const starting = new Map<string, number>(); // hostId -> when it was started
    for (const h of this.opts.hosts) {
      for (;;) {
        if (this.stopping) return;
        for (const [id, at] of starting) if (connected(id) || Date.now() - at > slotMs) starting.delete(id);
        if (starting.size < width) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      this.spawnAgent(h.id, h.backend);
      starting.set(h.id, Date.now());
    }
  }

  /** The pid of a host's agent process (tests kill it to prove recovery). */
  pid(hostId: string): number | undefined {
    return this.procs.get(hostId)?.pid;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const exits = [...this.procs.values()].map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          p.once('exit', () => resolve());
          p.kill('SIGTERM');
          // An agent reaps on its way out: its campaign's containers (campaign-lived) take a few seconds to remove.
          setTimeout(() => p.kill('SIGKILL'), 15_000).unref();
        }),
    );
    await Promise.all(exits);
    this.procs.clear();
  }

  private spawnAgent(hostId: string, backend: BackendKind): void {
    const args = [
      IRONLAB_BIN,
      'agent',
      '--connect',
      this.opts.url,
      '--token-file',
      this.opts.tokenFile,
      '--backend',
      backend,
      '--host-id',
      hostId,
      '--orchestrator-pid',
      String(process.pid),
      ...(this.opts.extraArgs ?? []),
    ];
    const pipeErr = typeof this.opts.stderr === 'object';
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'ignore', pipeErr ? 'pipe' : ((this.opts.stderr as 'ignore' | 'inherit') ?? 'ignore')],
    });
    if (pipeErr) child.stderr!.pipe(this.opts.stderr as NodeJS.WritableStream, { end: false });
    this.procs.set(hostId, child);
    child.on('exit', (code, signal) => {
      this.opts.onExit?.(hostId, code, signal);
      if (this.stopping || this.procs.get(hostId) !== child) return;
      const n = (this.restarts.get(hostId) ?? 0) + 1;
      this.restarts.set(hostId, n);
      // Exit code 2 means the agent was refused (wrong token, unknown host): restarting cannot help.
      if (code !== 2 && n <= (this.opts.maxRestarts ?? 3)) setTimeout(() => !this.stopping && this.spawnAgent(hostId, backend), 200 * n);
    });
  }
}
