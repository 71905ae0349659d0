// Compile the BPF C sources at prepare time (never commit .o files): clang -target bpf into a cache directory
// keyed by the sources, the accounting variant, the kernel release and the clang version, so a host compiles once
// per kernel. The accounting object is CO-RE against this kernel's BTF (vmlinux.h from bpftool), so an object built
// here also loads on another kernel whose BTF has the same fields (the QEMU lab's guests, which have no clang:
// `testbed up --kernel iron` builds theirs here and hands it over, IRONLAB_BPF_OBJECTS); the tc drop object uses
// only UAPI headers, as tc's loader wants.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BPF_SRC_DIR = join(dirname(fileURLToPath(import.meta.url)), 'bpf');
export const DEFAULT_CACHE_DIR = process.env.IRONLAB_BPF_CACHE ?? '/var/cache/ironlab/bpf';
/** A directory with objects built elsewhere for this kernel (ironlab_acct.bpf.o, ironlab_drop.bpf.o): used as they are. */
export const PREBUILT_ENV = 'IRONLAB_BPF_OBJECTS';
export const ACCT_OBJECT = 'ironlab_acct.bpf.o';
export const DROP_OBJECT = 'ironlab_drop.bpf.o';

export interface BpfObjects {
  acct: string;
  drop: string;
}

/**
 * How the accounting program reads a packet's IPv4 header (ironlab_acct.bpf.c, IP_FIELD): `rdonly-cast` with the
 * kfunc bpf_rdonly_cast (plain loads: Linux 6.2+ with a BPF JIT, since kfuncs run only JITed), `probe-read` with a
 * bpf_probe_read_kernel per field (any kernel the programs load on, in the interpreter too).
 */
export type AcctVariant = 'rdonly-cast' | 'probe-read';

export function acctVariant(kernelRelease: string, jit: boolean): AcctVariant {
  return kernelAtLeast(kernelRelease, 6, 2) === true && jit ? 'rdonly-cast' : 'probe-read';
}

/** Whether a kernel release (`6.1.192`, `6.18.0-1-amd64`) is at least major.minor; undefined when it does not parse. */
export function kernelAtLeast(release: string, major: number, minor: number): boolean | undefined {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? Number(m[1]) * 1000 + Number(m[2]) >= major * 1000 + minor : undefined;
}

/** The variant this kernel loads: its release, and whether it has a BPF JIT switched on (the sysctl exists only with CONFIG_BPF_JIT). */
export function hostAcctVariant(procRoot = '/proc'): AcctVariant {
  const read = (f: string) => {
    try {
      return readFileSync(join(procRoot, f), 'utf8').trim();
    } catch {
      return null;
    }
  };
  const jit = read('sys/net/core/bpf_jit_enable');
  return acctVariant(read('sys/kernel/osrelease') ?? release(), jit !== null && jit !== '0');
}

/** The objects IRONLAB_BPF_OBJECTS names, or null when it is unset; throws when it names a directory without them. */
export function prebuiltBpf(): BpfObjects | null {
  const dir = process.env[PREBUILT_ENV];
  if (!dir) return null;
  const out = { acct: join(dir, ACCT_OBJECT), drop: join(dir, DROP_OBJECT) };
  for (const f of [out.acct, out.drop]) if (!existsSync(f)) throw new Error(`${PREBUILT_ENV}=${dir} has no ${f}`);
  return out;
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** The cache key: sources, variant, kernel release (whose BTF made vmlinux.h), clang version. Once per process and variant (clang --version ~30 ms). */
const keys = new Map<AcctVariant, string>();
function key(srcs: string[], variant: AcctVariant): string {
  const known = keys.get(variant);
  if (known) return known;
  const h = createHash('sha256');
  for (const s of srcs) h.update(readFileSync(join(BPF_SRC_DIR, s)));
  h.update(variant);
  h.update(release());
  h.update(run('clang', ['--version']));
  const k = h.digest('hex').slice(0, 16);
  keys.set(variant, k);
  return k;
}

export interface BuildOptions {
  /** The accounting variant; default: the one this kernel loads (hostAcctVariant). */
  variant?: AcctVariant;
}

/**
 * The objects for this kernel: IRONLAB_BPF_OBJECTS's when set (unless a variant is asked for), else built (or
 * reused) here; throws with clang's message when a source does not compile.
 */
export function buildBpf(cacheDir = DEFAULT_CACHE_DIR, opts: BuildOptions = {}): BpfObjects {
  const given = opts.variant ? null : prebuiltBpf();
  if (given) return given;
  const variant = opts.variant ?? hostAcctVariant();
  const srcs = ['ironlab_acct.bpf.c', 'ironlab_drop.bpf.c'];
  const dir = join(cacheDir, key(srcs, variant));
  const out: BpfObjects = { acct: join(dir, ACCT_OBJECT), drop: join(dir, DROP_OBJECT) };
  if (existsSync(out.acct) && existsSync(out.drop)) return out;
  mkdirSync(dir, { recursive: true });
  const vmlinux = join(dir, 'vmlinux.h');
  if (!existsSync(vmlinux)) {
    writeFileSync(vmlinux + '.tmp', run('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c']));
    renameSync(vmlinux + '.tmp', vmlinux);
  }
  // Write to .tmp then rename, so a concurrent or interrupted build never leaves a half-written object.
  run('clang', [
    '-O2',
    '-g',
    '-target',
    'bpf',
    '-D__TARGET_ARCH_x86',
    ...(variant === 'probe-read' ? ['-DIRONLAB_PROBE_READ'] : []),
    '-I',
    dir,
    '-c',
    join(BPF_SRC_DIR, srcs[0]!),
    '-o',
    out.acct + '.tmp',
  ]);
  renameSync(out.acct + '.tmp', out.acct);
  run('clang', [
    '-O2',
    '-g',
    '-target',
    'bpf',
    '-I/usr/include/x86_64-linux-gnu',
    '-c',
    join(BPF_SRC_DIR, srcs[1]!),
    '-o',
    out.drop + '.tmp',
  ]);
  renameSync(out.drop + '.tmp', out.drop);
  return out;
}
