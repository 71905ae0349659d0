// The CLI as one esbuild bundle, built from the TypeScript sources on first use and again whenever one of them
// changes, so a clone still runs as it is (no build step) but a command does not pay for loading the program
// file by file through tsx's loader: `ironlab --help` took about 1 s of CPU that way and 0.3 s bundled, and every
// simulated host of a campaign is an `ironlab agent` process that paid it too.
// The bundle lives in node_modules/.cache/ironlab/ (inside the package, so its bare imports resolve to the same
// node_modules; packages stay external). Each build goes to a directory of its own and `latest.json` names the
// current one (written by rename, so agents starting at once race safely: the last build wins, none is torn).
// Fresh means no source it was built from is newer than it (the inputs come from esbuild's metafile). Anything
// that goes wrong (no esbuild, a read-only checkout, a build error) returns null and the caller uses tsx.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cacheOf = (root) => join(root, 'node_modules', '.cache', 'ironlab');
const latestOf = (root) => join(cacheOf(root), 'latest.json');
/** Builds other than the latest are removed once this old: a long campaign may still load chunks from its own. */
const KEEP_OLD_MS = 7 * 24 * 3600 * 1000;

/** The bundle's entry (a file: URL) when it is fresh, else null. A few ms: one stat per source file. `root`: the
 *  package (tests point it elsewhere). */
export function freshBundle(root = PACKAGE_ROOT) {
  try {
    const latest = JSON.parse(readFileSync(latestOf(root), 'utf8'));
    for (const input of latest.inputs) if (statSync(join(root, input)).mtimeMs > latest.builtAtMs) return null;
    return pathToFileURL(join(cacheOf(root), latest.dir, 'cli.js')).href;
  } catch {
    return null;
  }
}

/** Build the bundle and make it the latest; its entry URL, or null when it cannot be built here. */
export async function buildBundle(root = PACKAGE_ROOT) {
  const cache = cacheOf(root);
  const latestFile = latestOf(root);
  try {
    const { build } = await import('esbuild');
    mkdirSync(cache, { recursive: true });
    const builtAtMs = Date.now();
    const dir = `cli-${builtAtMs}-${process.pid}`;
    const result = await build({
      entryPoints: [join(root, 'testbed', 'cli', 'cli.ts')],
      absWorkingDir: root,
      bundle: true,
      splitting: true, // the commands' dynamic imports stay lazy: each is a chunk
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      outdir: join(cache, dir),
      metafile: true,
      logLevel: 'silent',
      plugins: [ownLocation(join(cache, dir))],
    });
    const inputs = Object.keys(result.metafile.inputs);
    const tmp = `${latestFile}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ dir, builtAtMs, inputs }));
    renameSync(tmp, latestFile);
    pruneOld(cache, dir);
    return pathToFileURL(join(cache, dir, 'cli.js')).href;
  } catch {
    return null;
  }
}

/** Modules find their files next to themselves (import.meta.url, import.meta.dirname): in the bundle each keeps
 *  its own source location, so they read what they read under tsx. The location is relative to the chunk that holds
 *  the module (chunks sit flat in the build's directory), not absolute: the same checkout seen at another path (a
 *  bind mount, a moved clone) still finds its own files. */
function ownLocation(outdir) {
  return {
    name: 'own-location',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        if (args.path.includes('/node_modules/')) return undefined;
        const url = `new URL(${JSON.stringify(relative(outdir, args.path))}, import.meta.url).href`;
        let src = readFileSync(args.path, 'utf8');
        const usesDirname = src.includes('import.meta.dirname');
        src = src.replaceAll('import.meta.url', url).replaceAll('import.meta.dirname', `__ironlabDirname(__ironlabPath(${url}))`);
        if (usesDirname)
          src = `import { dirname as __ironlabDirname } from 'node:path';\nimport { fileURLToPath as __ironlabPath } from 'node:url';\n${src}`;
        return { contents: src, loader: 'ts' };
      });
    },
  };
}

function pruneOld(cache, keep) {
  for (const d of readdirSync(cache)) {
    if (!d.startsWith('cli-') || d === keep) continue;
    const path = join(cache, d);
    try {
      if (Date.now() - statSync(path).mtimeMs > KEEP_OLD_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // another process pruned it first
    }
  }
}
