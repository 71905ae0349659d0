// One run's workload process inside a campaign-lived container (container-pool.ts): `docker exec` of the
// workload's argv with a TTY (sysbench and iperf3 then print line by line), its output kept in memory with the
// wall-clock time each line arrived, as `docker logs --timestamps` stamps a container's log (the workloads'
// collectors read that form). The process runs in the container's cgroups, so its quota and cpuset are the
// container's. The agent signals it by its host pid (the agent shares the host's pid namespace).
import type Docker from 'dockerode';
import type { Duplex } from 'node:stream';

export class WorkloadProcess {
  private readonly lines: { atMs: number; text: string }[] = [];
  private partial = '';
  private ended = false;

  private constructor(
    private readonly exec: Docker.Exec,
    stream: Duplex,
    /** The process's pid in the host's pid namespace. */
    readonly pid: number,
    /** When it started (ms since the epoch), to align iperf3's interval reports with the window. */
    readonly startedMs: number,
  ) {
    stream.on('data', (d: Buffer) => this.take(d.toString('utf8')));
    stream.on('end', () => this.flush());
    stream.on('close', () => this.flush());
    stream.on('error', () => this.flush());
  }

  /** Start `argv` in `container` and wait until the engine reports its pid (the exec is running). */
  static async start(container: Docker.Container, argv: string[]): Promise<WorkloadProcess> {
    const exec = await container.exec({ Cmd: argv, AttachStdout: true, AttachStderr: true, Tty: true });
    const stream = (await exec.start({ hijack: true, stdin: false, Tty: true })) as Duplex;
    // The engine answers the attach before it starts the process: its pid shows a moment later.
    for (let i = 0; ; i++) {
      const info = await exec.inspect();
      if (info.Pid > 0) return new WorkloadProcess(exec, stream, info.Pid, Date.now());
      if (!info.Running && info.ExitCode !== null && i > 0) throw new Error(`${argv[0]} exited at once (code ${info.ExitCode})`);
      if (i > 200) throw new Error(`${argv[0]} did not start within 2 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Its output so far; with `timestamps`, each line prefixed with the RFC 3339 time it arrived. */
  output(timestamps = true): string {
    const done = this.lines.map((l) => (timestamps ? `${new Date(l.atMs).toISOString()} ${l.text}` : l.text));
    return [...done, ...(this.partial ? [this.partial] : [])].join('\n') + (done.length && !this.partial ? '\n' : '');
  }

  /** Whether it still runs, and its exit code once it has exited. */
  async state(): Promise<{ running: boolean; exitCode: number | null }> {
    const info = await this.exec.inspect();
    return { running: info.Running, exitCode: info.ExitCode };
  }

  /** A signal to the process (gone already: nothing to do). */
  signal(sig: NodeJS.Signals): void {
    try {
      process.kill(this.pid, sig);
    } catch {
      // exited
    }
  }

  private take(text: string): void {
    const parts = (this.partial + text.replace(/\r/g, '')).split('\n');
    this.partial = parts.pop()!;
    const now = Date.now();
    for (const p of parts) this.lines.push({ atMs: now, text: p });
  }

  private flush(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.partial) this.lines.push({ atMs: Date.now(), text: this.partial });
    this.partial = '';
  }
}
