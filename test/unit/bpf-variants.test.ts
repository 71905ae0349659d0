// The accounting program's two variants (agents/enforcement/build.ts, ironlab_acct.bpf.c's IP_FIELD): which one a
// kernel gets, that both compile from the one source, that only the kfunc variant needs bpf_rdonly_cast, and that
// objects built elsewhere (the QEMU lab's guests: IRONLAB_BPF_OBJECTS) are taken as they are and need no compiler.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PREBUILT_ENV, acctVariant, buildBpf, hostAcctVariant } from '../../agents/enforcement/build.ts';
import { ebpfMissing } from '../../agents/enforcement/capabilities.ts';
import { fileTree } from '../fakes/file-tree.ts';

const proc = (files: Record<string, string>) => fileTree(files, 'ironlab-proc-');

describe('the accounting variant of a kernel', () => {
  it('uses the kfunc on 6.2+ with a JIT, bpf_probe_read_kernel otherwise', () => {
    expect(acctVariant('6.18.44-fc', true)).toBe('rdonly-cast');
    expect(acctVariant('6.2.0', true)).toBe('rdonly-cast');
    expect(acctVariant('6.1.192-iron', true)).toBe('probe-read');
    expect(acctVariant('6.12.5', false)).toBe('probe-read'); // kfuncs run only JITed
  });

  it("reads the release and the JIT switch from /proc (the QEMU lab's 6.1 guest has no bpf_jit_enable)", () => {
    const guest = proc({ 'sys/kernel/osrelease': '6.1.192\n' });
    expect(hostAcctVariant(guest)).toBe('probe-read');
    const host = proc({ 'sys/kernel/osrelease': '6.18.44\n', 'sys/net/core/bpf_jit_enable': '1\n' });
    expect(hostAcctVariant(host)).toBe('rdonly-cast');
    const jitOff = proc({ 'sys/kernel/osrelease': '6.18.44\n', 'sys/net/core/bpf_jit_enable': '0\n' });
    expect(hostAcctVariant(jitOff)).toBe('probe-read');
  });
});

describe('objects built elsewhere (IRONLAB_BPF_OBJECTS)', () => {
  const saved = process.env[PREBUILT_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[PREBUILT_ENV];
    else process.env[PREBUILT_ENV] = saved;
  });

  it('are used as they are, and a directory without them is named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ironlab-bpf-given-'));
    process.env[PREBUILT_ENV] = dir;
    expect(() => buildBpf(join(dir, 'cache'))).toThrow(`${PREBUILT_ENV}=${dir} has no ${join(dir, 'ironlab_acct.bpf.o')}`);
    const missing = ebpfMissing({ mount: false });
    expect(missing.join('; ')).toContain(`${PREBUILT_ENV}=${dir} has no`);
    writeFileSync(join(dir, 'ironlab_acct.bpf.o'), 'x');
    writeFileSync(join(dir, 'ironlab_drop.bpf.o'), 'x');
    expect(buildBpf(join(dir, 'cache'))).toEqual({ acct: join(dir, 'ironlab_acct.bpf.o'), drop: join(dir, 'ironlab_drop.bpf.o') });
    expect(existsSync(join(dir, 'cache'))).toBe(false); // nothing compiled
    // No compiler, bpftool or headers are asked for (the guests have none); tc, ip, nsenter and libbpf still are.
    const reasons = ebpfMissing({ mount: false }).join('; ');
    expect(reasons).not.toMatch(/clang|bpftool|headers/);
    rmSync(dir, { recursive: true, force: true });
  });
});

const canCompile = ['clang', 'bpftool'].every((t) => {
  try {
    execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
const btf = existsSync('/sys/kernel/btf/vmlinux') && existsSync('/usr/include/bpf/bpf_helpers.h');

describe.skipIf(!(canCompile && btf))('both variants from one source', () => {
  it('compile, and only the kfunc variant references bpf_rdonly_cast', () => {
    const cache = mkdtempSync(join(tmpdir(), 'ironlab-bpf-variants-'));
    try {
      const cast = buildBpf(cache, { variant: 'rdonly-cast' });
      const probe = buildBpf(cache, { variant: 'probe-read' });
      expect(cast.acct).not.toBe(probe.acct); // cached apart
      expect(readFileSync(cast.acct).includes('bpf_rdonly_cast')).toBe(true);
      expect(readFileSync(probe.acct).includes('bpf_rdonly_cast')).toBe(false);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }, 60_000);
});
