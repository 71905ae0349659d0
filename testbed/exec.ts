// Running the system tools a testbed is made of (ip, nsenter, iptables, apt-get, ssh): always an argv array,
// never a shell string, and a failure that says which command failed and what it printed.
import { execFile, spawn } from 'node:child_process';

export class CommandFailed extends Error {
  override name = 'CommandFailed';
  constructor(
    readonly argv: string[],
    readonly code: number | null,
    readonly stderr: string,
    readonly stdout = '',
  ) {
    super(`${argv.join(' ')} exited ${code}${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : ''}`);
  }
}

export interface RunOptions {
  /** Written to the command's stdin. */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Run argv to completion; resolves with stdout, rejects with CommandFailed. */
export function run(argv: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      argv[0],
      argv.slice(1),
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err)
          reject(new CommandFailed(argv, typeof err.code === 'number' ? err.code : null, String(stderr || err.message), String(stdout)));
        else resolve(String(stdout));
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

/** Run argv; true when it exits 0 (a probe: `iptables -C`, `ip netns pids`). */
export async function succeeds(argv: string[], opts: RunOptions = {}): Promise<boolean> {
  try {
    await run(argv, opts);
    return true;
  } catch {
    return false;
  }
}

/** Start a long-lived program in its own session (it outlives us), output to a log file. `exited()` tells
 *  whether it has already ended (while we are still around to see it). */
export function startDetached(
  argv: string[],
  opts: { logFd: number; env?: NodeJS.ProcessEnv; cwd?: string },
): { pid: number; exited: () => boolean } {
  const child = spawn(argv[0], argv.slice(1), {
    detached: true,
    stdio: ['ignore', opts.logFd, opts.logFd],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
  child.unref();
  if (!child.pid) throw new Error(`could not start ${argv[0]}`);
  let ended = false;
  child.on('exit', () => (ended = true));
  return { pid: child.pid, exited: () => ended };
}
