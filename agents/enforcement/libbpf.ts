// Thin FFI over Debian's libbpf.so.1 through koffi. Why not bpftool: bpftool 7.1 cannot attach tp_btf programs
// (no autoattach), and forking bpftool per map read would cost milliseconds per tick. Only the handful of
// libbpf calls ironlab needs are bound; everything returns plain numbers/Buffers. Loaded lazily, so importing
// this module on a host without libbpf does not fail (capabilities.ts reports it instead).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

export const LIBBPF_PATH = '/usr/lib/x86_64-linux-gnu/libbpf.so.1';

type Fn = (...args: unknown[]) => any;
interface Lib {
  open: Fn;
  load: Fn;
  close: Fn;
  nextProgram: Fn;
  progName: Fn;
  progFd: Fn;
  attach: Fn;
  linkDestroy: Fn;
  findMapFd: Fn;
  lookup: Fn;
  update: Fn;
  del: Fn;
  nextKey: Fn;
  objGet: Fn;
  errno: Fn;
  closeFd: Fn;
}
let lib: Lib | null = null;

function bind(): Lib {
  if (lib) return lib;
  const require = createRequire(import.meta.url);
  const koffi = require('koffi');
  const l = koffi.load(LIBBPF_PATH);
  const c = koffi.load('libc.so.6');
  koffi.opaque('bpf_object');
  koffi.opaque('bpf_program');
  koffi.opaque('bpf_link');
  lib = {
    open: l.func('bpf_object *bpf_object__open_file(const char *path, void *opts)'),
    load: l.func('int bpf_object__load(bpf_object *obj)'),
    close: l.func('void bpf_object__close(bpf_object *obj)'),
    nextProgram: l.func('bpf_program *bpf_object__next_program(bpf_object *obj, bpf_program *prev)'),
    progName: l.func('const char *bpf_program__name(bpf_program *prog)'),
    progFd: l.func('int bpf_program__fd(bpf_program *prog)'),
    attach: l.func('bpf_link *bpf_program__attach(bpf_program *prog)'),
    linkDestroy: l.func('int bpf_link__destroy(bpf_link *link)'),
    findMapFd: l.func('int bpf_object__find_map_fd_by_name(bpf_object *obj, const char *name)'),
    lookup: l.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
    update: l.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
    del: l.func('int bpf_map_delete_elem(int fd, const void *key)'),
    nextKey: l.func('int bpf_map_get_next_key(int fd, const void *key, void *next_key)'),
    objGet: l.func('int bpf_obj_get(const char *pathname)'),
    errno: c.func('int *__errno_location()'),
    closeFd: c.func('int close(int fd)'),
  };
  return lib;
}

/** Number of possible CPUs: the stride of per-CPU map values. */
export function possibleCpus(): number {
  const txt = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
  return txt.split(',').reduce((n, r) => {
    const [a, b] = r.split('-').map(Number);
    return n + (b === undefined ? 1 : b - a! + 1);
  }, 0);
}

function fail(what: string, rc: number): never {
  throw new Error(`libbpf: ${what} failed (${rc < 0 ? `errno ${-rc}` : rc})`);
}

/** A loaded BPF object whose programs are attached; close() detaches everything (links are fd-based). */
export class BpfObject {
  private links: unknown[] = [];
  private constructor(
    private obj: unknown,
    private l: Lib,
  ) {}

  static openAndAttach(path: string): BpfObject {
    const l = bind();
    const obj = l.open(path, null);
    if (!obj) fail(`open ${path}`, -1);
    const rc = l.load(obj);
    if (rc < 0) {
      l.close(obj);
      fail(`load ${path} (run as root; see agents/enforcement/README.md)`, rc);
    }
    const self = new BpfObject(obj, l);
    for (let p = l.nextProgram(obj, null); p; p = l.nextProgram(obj, p)) {
      const link = l.attach(p);
      if (!link) {
        self.close();
        fail(`attach ${l.progName(p)}`, -1);
      }
      self.links.push(link);
    }
    return self;
  }

  /** Program ids are what bpftool/bpf_stats report; we expose names -> fds for the bench. */
  programNames(): string[] {
    const out: string[] = [];
    for (let p = this.l.nextProgram(this.obj, null); p; p = this.l.nextProgram(this.obj, p)) out.push(this.l.progName(p));
    return out;
  }

  mapFd(name: string): number {
    const fd = this.l.findMapFd(this.obj, name);
    if (fd < 0) fail(`map ${name}`, fd);
    return fd;
  }

  close(): void {
    for (const link of this.links) this.l.linkDestroy(link);
    this.links = [];
    if (this.obj) this.l.close(this.obj);
    this.obj = null;
  }
}

/** Every key of a map (keySize bytes each). */
export function mapKeys(fd: number, keySize: number): Buffer[] {
  const l = bind();
  const keys: Buffer[] = [];
  let prev: Buffer | null = null;
  for (;;) {
    const next = Buffer.alloc(keySize);
    if (l.nextKey(fd, prev, next) !== 0) break;
    keys.push(next);
    prev = next;
  }
  return keys;
}

export function mapLookup(fd: number, key: Buffer, valueSize: number): Buffer | null {
  const v = Buffer.alloc(valueSize);
  return bind().lookup(fd, key, v) === 0 ? v : null;
}

export function mapUpdate(fd: number, key: Buffer, value: Buffer): void {
  const rc = bind().update(fd, key, value, 0);
  if (rc !== 0) fail('map update', rc);
}

export function mapDelete(fd: number, key: Buffer): void {
  bind().del(fd, key); // ENOENT is fine: the key is already gone
}

/** Open a pinned map (e.g. tc's /sys/fs/bpf/tc/globals/ironlab_drop); close with closeFd. */
export function pinnedFd(path: string): number {
  const fd = bind().objGet(path);
  if (fd < 0) fail(`bpf_obj_get ${path}`, fd);
  return fd;
}

export function closeFd(fd: number): void {
  bind().closeFd(fd);
}
