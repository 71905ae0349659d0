// The CLI's bundle (testbed/cli/bundle.mjs): used only while fresh, rebuilt when a source it was built from
// changes, and where it cannot be built the CLI still runs from the sources through tsx.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain ESM without types (it runs before tsx is loaded)
import { buildBundle, freshBundle } from '../../testbed/cli/bundle.mjs';
import { IRONLAB_BIN } from '../../testbed/local-agents.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const copies: string[] = [];
afterAll(() => copies.forEach((c) => rmSync(c, { recursive: true, force: true })));

/** A package root holding a copy of the CLI's sources (the layers it imports) and the real node_modules. */
function copyOfPackage(): string {
  const root = mkdtempSync(join(tmpdir(), 'ironlab-bundle-'));
  copies.push(root);
  for (const d of ['testbed', 'orchestrator', 'agents', 'workloads', 'package.json'])
    cpSync(join(ROOT, d), join(root, d), { recursive: true });
  mkdirSync(join(root, 'node_modules'));
  // the packages, but a cache of this copy's own
  for (const entry of readdirSync(join(ROOT, 'node_modules')))
    if (entry !== '.cache') symlinkSync(join(ROOT, 'node_modules', entry), join(root, 'node_modules', entry));
  return root;
}

describe('the CLI bundle', () => {
  it('is built on first use, stays fresh, and goes stale when a source it was built from changes', async () => {
    const root = copyOfPackage();
    expect(freshBundle(root), 'no bundle before the first build').toBeNull();
    const url: string = await buildBundle(root);
    expect(url).toMatch(/node_modules\/\.cache\/ironlab\/cli-\d+-\d+\/cli\.js$/);
    expect(freshBundle(root)).toBe(url);
    const latest = JSON.parse(readFileSync(join(root, 'node_modules/.cache/ironlab/latest.json'), 'utf8'));
    expect(latest.inputs).toContain('orchestrator/campaign/spec.ts');
    // a source edited after the build: the bundle is no longer used
    const later = new Date(latest.builtAtMs + 5_000);
    utimesSync(join(root, 'orchestrator/campaign/spec.ts'), later, later);
    expect(freshBundle(root)).toBeNull();
    // and the built CLI runs from the copy
    const entry = join(root, 'entry.mjs');
    writeFileSync(entry, `await import(${JSON.stringify(url)});\n`);
    const r = spawnSync(process.execPath, [entry, '--version'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  }, 60_000);

  it('is no bundle where the sources do not build, so the CLI falls back to tsx', async () => {
    const root = copyOfPackage();
    writeFileSync(join(root, 'testbed/cli/cli.ts'), 'import { nothing } from "./no-such-module.ts";\nnothing();\n');
    expect(await buildBundle(root)).toBeNull();
    expect(freshBundle(root)).toBeNull();
  }, 60_000);

  it('runs from the sources through tsx with IRONLAB_NO_BUNDLE=1', () => {
    const r = spawnSync(process.execPath, [IRONLAB_BIN, 'campaigns'], {
      encoding: 'utf8',
      env: { ...process.env, IRONLAB_NO_BUNDLE: '1' },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('paper');
  }, 60_000);
});
