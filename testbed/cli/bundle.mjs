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
      outdir: join(cache, dir),
      metafile: true,
      logLevel: 'silent',
      // a bundled package's require() of one outside the bundle (a node builtin, `debug`) needs a require here
      banner: {
        js: "import { createRequire as __ironlabRequire } from 'node:module';\nconst require = __ironlabRequire(import.meta.url);",
      },
      plugins: [packagesOutside(), ownLocation(join(cache, dir))],
    });
    const inputs = freshnessInputs(root, Object.keys(result.metafile.inputs));
    const tmp = `${latestFile}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ dir, builtAtMs, inputs }));
    renameSync(tmp, latestFile);
    pruneOld(cache, dir);
    return pathToFileURL(join(cache, dir, 'cli.js')).href;
  } catch {
    return null;
  }
}

/** The files whose change makes the bundle stale: our sources one by one, but the bundled packages' ~700 files by
 *  npm's record of the install (node_modules/.package-lock.json, rewritten by every install), which changes with
 *  them: one stat instead of hundreds at every command's start. */
function freshnessInputs(root, inputs) {
  const installRecord = join('node_modules', '.package-lock.json');
  try {
    statSync(join(root, installRecord));
  } catch {
    return inputs; // installed without that record: watch the packages' files themselves
  }
  return [...inputs.filter((i) => !i.includes('node_modules/')), installRecord];
}

/** Pure-JavaScript packages that go into the bundle: node's loader resolving their files one by one (package.json,
 *  realpath, stat: @stdlib's t quantile alone is about 150 small CommonJS modules, zod and yaml about 70-100 files
 *  each) was about a third of a second of CPU at the start of every `ironlab run` and agent. */
const BUNDLED = /^(@stdlib\/|(yaml|zod|ws|xstate|commander|cli-table3|cli-progress|fast-xml-parser)(\/|$))/;

/** Every other package stays in node_modules, imported from there at run time (native addons, esbuild, tsx, large
 *  optional ones). What a bundled package imports is bundled with it, so it gets the dependency versions it was
 *  installed with (a nested node_modules), not whatever a lookup from the bundle's directory would find. */
function packagesOutside() {
  return {
    name: 'packages-outside',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (BUNDLED.test(args.path) || args.importer.includes('/node_modules/') || args.path.startsWith('node:')) return undefined;
        return { path: args.path, external: true };
      });
    },
  };
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
