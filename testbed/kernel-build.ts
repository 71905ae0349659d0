// The IRON kernel for the QEMU lab (testbed/kernel/README.md): Debian's linux-source-6.1 tarball, the patch
// series in testbed/kernel/iron/, `make tinyconfig` plus testbed/kernel/guest.config, `make bzImage`. The result
// is cached under a directory named by the hash of everything that decides it (source package version, patches,
// config fragment), so a second `testbed up --kernel iron` boots at once. The build runs nice'd (this machine's
// cores are shared) and prints its wall time and the load average around it.
//   npx tsx testbed/kernel-build.ts            build (or reuse) and print the bzImage path
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrerequisiteError } from '../workloads/common/errors.ts';
import { run } from './exec.ts';
import { ensurePackages } from './prerequisites.ts';
import type { Say } from './steps.ts';
import { sweepDeadScratch } from './cache-scratch.ts';

export const KERNEL_DIR = join(dirname(fileURLToPath(import.meta.url)), 'kernel');
export const SOURCE_PACKAGE = 'linux-source-6.1';
export const SOURCE_TARBALL = `/usr/src/${SOURCE_PACKAGE}.tar.xz`;
/** Packages the build needs on this machine (compiler, kconfig's bison/flex, objtool's libelf, bzImage's bc, and
 * pahole from dwarves: the kernel's BTF, without which kconfig silently drops CONFIG_DEBUG_INFO_BTF). */
export const KERNEL_BUILD_PACKAGES = [
  SOURCE_PACKAGE,
  'build-essential',
  'bc',
  'bison',
  'flex',
  'libelf-dev',
  'libssl-dev',
  'xz-utils',
  'cpio',
  'git',
  'dwarves',
];
export const kernelCacheDir = () => process.env.IRONLAB_KERNEL_CACHE ?? '/var/cache/ironlab/kernel';

export interface KernelBuild {
  bzImage: string;
  hash: string;
  /** False when the cache had it. */
  built: boolean;
  seconds: number;
  /** Load average (1 min) before and after the compile. */
  load: [number, number];
  /** `make kernelrelease`. */
  release: string;
  /** CPU seconds (user + sys) of every step's processes (unpack, config, compile); 0 when cached. */
  cpuSeconds: number;
}

export function patchFiles(dir = join(KERNEL_DIR, 'iron')): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.patch'))
    .sort()
    .map((f) => join(dir, f));
}

/** Options the fragment asks for (`CONFIG_X=y`) that the final .config must have. */
export function wantedOptions(fragment: string): string[] {
  return fragment
    .split('\n')
    .filter((l) => /^CONFIG_\w+=/.test(l))
    .map((l) => l.trim());
}

/** Options the fragment switches off (`# CONFIG_X is not set`): a select elsewhere must not turn them back on. */
export function unwantedOptions(fragment: string): string[] {
  return [...fragment.matchAll(/^# (CONFIG_\w+) is not set$/gm)].map((m) => m[1]);
}

/** The children's CPU time from the shell builtin `times` (its second line: children's user and sys). */
export function parseTimes(out: string): number {
  const lines = out.trim().split('\n');
  const secs = (t: string) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  };
  const [user, sys] = (lines.at(-1) ?? '').trim().split(/\s+/).map(secs);
  if (!Number.isFinite(user) || !Number.isFinite(sys))
    throw new Error(`cannot read the CPU time from \`times\`: ${JSON.stringify(lines.at(-1))}`);
  return user + sys;
}

/** Run a shell command and add its CPU time (user + sys of everything it started) to the tally. */
async function timed(tally: { cpu: number }, script: string, timeoutMs: number): Promise<string> {
  const out = await run(['sh', '-c', `${script}\ntimes`], { timeoutMs });
  const marker = out.trimEnd().split('\n');
  tally.cpu += parseTimes(marker.slice(-1).join('\n'));
  return marker.slice(0, -2).join('\n');
}

export async function kernelHash(): Promise<string> {
  const h = createHash('sha256');
  h.update(`${SOURCE_PACKAGE} ${(await run(['dpkg-query', '-W', '-f=${Version}', SOURCE_PACKAGE]).catch(() => 'unknown')).trim()}\n`);
  for (const p of patchFiles()) h.update(readFileSync(p));
  h.update(readFileSync(join(KERNEL_DIR, 'guest.config')));
  return h.digest('hex').slice(0, 16);
}

export async function ensureIronKernel(say: Say): Promise<KernelBuild> {
  if (process.getuid?.() !== 0 && !existsSync(SOURCE_TARBALL))
    throw new PrerequisiteError(`${SOURCE_TARBALL} is missing: apt-get install -y ${KERNEL_BUILD_PACKAGES.join(' ')}`, 'kernel build');
  await ensurePackages((argv) => run(argv, { timeoutMs: 900_000 }), {
    root: process.getuid?.() === 0,
    where: 'this machine',
    say,
    packages: KERNEL_BUILD_PACKAGES,
  });
  const hash = await kernelHash();
  const dir = join(kernelCacheDir(), hash);
  const bzImage = join(dir, 'bzImage');
  const meta = join(dir, 'build.json');
  if (existsSync(bzImage) && existsSync(meta)) {
    const m = JSON.parse(readFileSync(meta, 'utf8')) as { release: string };
    return { bzImage, hash, built: false, seconds: 0, load: [loadavg()[0], loadavg()[0]], release: m.release, cpuSeconds: 0 };
  }
  for (const name of sweepDeadScratch(kernelCacheDir())) say(`kernel cache: removed ${name}, left by a build that was killed`);
  const work = `${dir}.build.${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const t0 = Date.now();
  const load0 = loadavg()[0];
  try {
    const tally = { cpu: 0 };
    say(`kernel ${hash}: unpacking ${SOURCE_TARBALL}`);
    await timed(tally, `tar -C '${work}' --strip-components=1 -xJf '${SOURCE_TARBALL}'`, 900_000);
    for (const p of patchFiles()) {
      say(`kernel ${hash}: applying ${p.split('/').pop()}`);
      // -C: git apply inside a directory that is no repository works as patch(1) does, checking every hunk first.
      await run(['git', '-C', work, 'apply', '--whitespace=nowarn', p], { timeoutMs: 60_000 });
    }
    const make = (...args: string[]) => timed(tally, `nice -n 5 make -s -C '${work}' ARCH=x86_64 ${args.join(' ')}`, 3 * 3600_000);
    await make('tinyconfig');
    const fragment = join(KERNEL_DIR, 'guest.config');
    await timed(tally, `cd '${work}' && scripts/kconfig/merge_config.sh -m .config '${fragment}' >/dev/null`, 300_000);
    await make('olddefconfig');
    const config = readFileSync(join(work, '.config'), 'utf8');
    const lines = config.split('\n');
    const frag = readFileSync(fragment, 'utf8');
    const lost = wantedOptions(frag).filter((o) => !lines.includes(o));
    if (lost.length) throw new Error(`the kernel configuration dropped ${lost.join(', ')} (a dependency is missing from ${fragment})`);
    const back = unwantedOptions(frag).filter((o) => lines.includes(`${o}=y`));
    if (back.length)
      throw new Error(
        `the kernel configuration turned ${back.join(', ')} back on (selected by another option): remove them from ${fragment}`,
      );
    say(`kernel ${hash}: make -j${cpus().length} bzImage (nice -n 5; load average ${load0.toFixed(1)})`);
    await make(`-j${cpus().length}`, 'bzImage');
    const release = (await make('kernelrelease')).trim();
    const seconds = (Date.now() - t0) / 1000;
    const load1 = loadavg()[0];
    mkdirSync(dir, { recursive: true });
    renameSync(join(work, 'arch/x86/boot/bzImage'), bzImage);
    writeFileSync(join(dir, 'config'), config);
    const cpuSeconds = Math.round(tally.cpu);
    writeFileSync(
      meta,
      JSON.stringify({ release, seconds, cpuSeconds, load: [load0, load1], at: new Date().toISOString() }, null, 2) + '\n',
    );
    say(
      `kernel ${hash}: built ${release} in ${seconds.toFixed(0)} s, ${cpuSeconds} CPU s (load average ${load0.toFixed(1)} -> ${load1.toFixed(1)})`,
    );
    return { bzImage, hash, built: true, seconds, load: [load0, load1], release, cpuSeconds };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = Date.now();
  ensureIronKernel((l) => process.stderr.write(`  ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s  ${l}\n`)).then(
    (k) =>
      process.stdout.write(
        `${k.bzImage}\n${k.built ? `built in ${k.seconds.toFixed(0)} s, ${k.cpuSeconds} CPU s` : 'cached'} (${k.release}, wall ${((Date.now() - t0) / 1000).toFixed(1)} s)\n`,
      ),
    (err) => {
      process.stderr.write(`kernel-build: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(err instanceof PrerequisiteError ? 2 : 1);
    },
  );
}
