// Compile the BPF C sources at prepare time (never commit .o files): clang -target bpf into a cache directory
// keyed by the sources, the kernel release and the clang version, so a host compiles once per kernel.
// The accounting object is CO-RE against this kernel's BTF (vmlinux.h from bpftool); the tc drop object uses
// only UAPI headers, as tc's loader wants.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BPF_SRC_DIR = join(dirname(fileURLToPath(import.meta.url)), 'bpf');
export const DEFAULT_CACHE_DIR = process.env.IRONLAB_BPF_CACHE ?? '/var/cache/ironlab/bpf';

export interface BpfObjects {
  acct: string;
  drop: string;
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** The cache key: sources, kernel release, clang version. Computed once per process (clang --version ~30 ms). */
let sourceKey: string | null = null;
function key(srcs: string[]): string {
  if (sourceKey) return sourceKey;
  const h = createHash('sha256');
  for (const s of srcs) h.update(readFileSync(join(BPF_SRC_DIR, s)));
  h.update(release());
  h.update(run('clang', ['--version']));
  return (sourceKey = h.digest('hex').slice(0, 16));
}

/** Build (or reuse) both objects; throws with clang's message when a source does not compile. */
export function buildBpf(cacheDir = DEFAULT_CACHE_DIR): BpfObjects {
  const srcs = ['ironlab_acct.bpf.c', 'ironlab_drop.bpf.c'];
  const dir = join(cacheDir, key(srcs));
  const out: BpfObjects = { acct: join(dir, 'ironlab_acct.bpf.o'), drop: join(dir, 'ironlab_drop.bpf.o') };
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
