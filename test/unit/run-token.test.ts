// The run token's directory: gone when the orchestrator exits in any way it can clean up after (also
// process.exit, as a second Ctrl-C does), and a stale directory another user left (root's) neither stops a
// run nor is touched.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECKOUT, runAsNobody } from '../fakes/as-nobody.ts';

const MODULE = resolve('orchestrator/run-token.ts');
const node = (code: string, opts: { tmp: string }) =>
  spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env: { ...process.env, TMPDIR: opts.tmp },
    encoding: 'utf8',
  });

function sharedTmp(): string {
  const tmp = mkdtempSync(join(tmpdir(), 'ironlab-tokens-'));
  chmodSync(tmp, 0o1777); // like /tmp: anyone may create, only owners remove
  return tmp;
}

describe('run token directory', () => {
  it('is removed when the orchestrator quits with process.exit (second Ctrl-C)', () => {
    const tmp = sharedTmp();
    const r = node(`import { createRunToken } from '${MODULE}'; createRunToken(); process.exit(130);`, { tmp });
    expect(r.status, r.stderr).toBe(130);
    expect(readdirSync(tmp).filter((n) => n.startsWith('ironlab-run-'))).toEqual([]);
  });

  const root = process.getuid?.() === 0;
  if (!root && !process.env.CI) console.log('skipping the other-user test: it needs root to act as two users (CI runs as root)');
  it.skipIf(!root && !process.env.CI)("another user's stale directory does not stop a run, and is left alone", () => {
    const tmp = sharedTmp();
    // root's leftover: a dead orchestrator's directory holding a token file
    const stale = join(tmp, 'ironlab-run-999999999-abc');
    mkdirSync(stale);
    writeFileSync(join(stale, 'token'), 'x', { mode: 0o600 });
    const code = (view: string) =>
      `import { createRunToken } from '${join(view, relative(CHECKOUT, MODULE))}'; const t = createRunToken(); console.log(t.file); t.remove();`;
    const r = runAsNobody((view) => [process.execPath, '--import', 'tsx', '--input-type=module', '-e', code(view)], {
      ...process.env,
      TMPDIR: tmp,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(stale)).toBe(true);
  });
});
