// The workload image: a minimal Debian rootfs with every workload's packages (sysbench, iperf3, ...), built locally (no registry can be
// reached from our machines) with debootstrap and `docker import`. The tag is a hash of the recipe, so the
// same recipe always names the same image and a second build is a no-op. The mirror is read from this
// machine's apt configuration and is deliberately not part of the hash: it changes where bytes come from,
// not what the image is.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawn } from 'node:child_process';
import Docker from 'dockerode';
import { PrerequisiteError } from './common/errors.ts';
import { takePidLock } from './common/pid.ts';
import { IMAGE_PACKAGES } from './registry.ts';

const run = promisify(execFile);

export const IMAGE_REPO = 'ironlab-workload';

/** Everything that decides the image's content. Change any field and the tag changes. */
export const RECIPE = {
  recipeVersion: 1,
  suite: 'bookworm',
  variant: 'minbase',
  /** Every workload module's Debian packages (registry.ts), so a new workload's programs are in the image. */
  packages: IMAGE_PACKAGES,
  components: ['main'],
} as const;

export function recipeHash(recipe: object = RECIPE): string {
  return createHash('sha256').update(JSON.stringify(recipe)).digest('hex').slice(0, 12);
}

export function imageTag(recipe: object = RECIPE): string {
  return `${IMAGE_REPO}:${recipeHash(recipe)}`;
}

// ---- the mirror, from apt's own configuration (deb822 .sources files first, then the one-line format)

/** The first `URIs:` of a deb822 stanza whose Suites include `suite` (e.g. not the security archive). */
export function mirrorFromDeb822(text: string, suite: string): string | null {
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (name: string) =>
      stanza
        .match(new RegExp(`^${name}:\\s*(.+)$`, 'mi'))?.[1]
        .trim()
        .split(/\s+/) ?? [];
    if (field('Enabled')[0]?.toLowerCase() === 'no') continue;
    if (!field('Types').includes('deb')) continue;
    if (field('Suites').includes(suite) && field('URIs')[0]) return field('URIs')[0];
  }
  return null;
}

/** The URI of the first `deb [opts] URI SUITE ...` line for `suite` in sources.list format. */
export function mirrorFromSourcesList(text: string, suite: string): string | null {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = line.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/);
    if (m && m[2] === suite) return m[1];
  }
  return null;
}

export function aptMirror(suite: string = RECIPE.suite, etc = '/etc/apt'): string {
  const dir = join(etc, 'sources.list.d');
  const files = existsSync(dir) ? readdirSync(dir).sort() : [];
  for (const f of files.filter((f) => f.endsWith('.sources'))) {
    const m = mirrorFromDeb822(readFileSync(join(dir, f), 'utf8'), suite);
    if (m) return m;
  }
  for (const path of [join(etc, 'sources.list'), ...files.filter((f) => f.endsWith('.list')).map((f) => join(dir, f))]) {
    if (!existsSync(path)) continue;
    const m = mirrorFromSourcesList(readFileSync(path, 'utf8'), suite);
    if (m) return m;
  }
  throw new PrerequisiteError(
    `no apt source for '${suite}' in ${etc}/sources.list.d/*.sources or ${etc}/sources.list; configure apt for Debian ${suite} first`,
  );
}

// ---- prerequisites: one message naming everything that is missing and what to run

async function onPath(cmd: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) if (existsSync(join(dir, cmd))) return true;
  return ['/usr/sbin', '/sbin'].some((d) => existsSync(join(d, cmd)));
}

export async function dockerReachable(docker = new Docker()): Promise<boolean> {
  try {
    await docker.ping();
    return true;
  } catch {
    return false;
  }
}

export async function checkBuildPrerequisites(docker: Docker): Promise<void> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('run as root (debootstrap and cgroup access need it): sudo ...');
  if (!(await onPath('debootstrap'))) missing.push('install debootstrap: apt-get install -y debootstrap');
  if (!(await dockerReachable(docker)))
    missing.push('start the Docker engine: apt-get install -y docker.io && (dockerd >/var/log/dockerd.log 2>&1 &)');
  if (missing.length)
    throw new PrerequisiteError(`cannot build the workload image: ${missing.join('; ')} — or run testbed/prereqs.sh, which does all of it`);
}

// ---- the build

export interface ImageInfo {
  tag: string;
  id: string;
  built: boolean;
}

export async function findImage(docker: Docker, tag = imageTag()): Promise<ImageInfo | null> {
  try {
    const info = await docker.getImage(tag).inspect();
    return { tag, id: info.Id, built: false };
  } catch {
    return null;
  }
}

/** Build the image unless it exists. Concurrent builders on one machine wait for the first (a lock file). */
export async function buildImage(opts: { docker?: Docker; log?: (line: string) => void } = {}): Promise<ImageInfo> {
  const docker = opts.docker ?? new Docker();
  const log = opts.log ?? (() => {});
  const tag = imageTag();
  const existing = await findImage(docker, tag);
  if (existing) return existing;
  await checkBuildPrerequisites(docker);

  const lock = `/var/tmp/${IMAGE_REPO}-${recipeHash()}.lock`;
  if (takePidLock(lock) !== null) {
    log(`another process is building ${tag}; waiting for it`);
    for (let i = 0; i < 1200 && existsSync(lock); i++) await new Promise((r) => setTimeout(r, 500));
    const done = await findImage(docker, tag);
    if (done) return done;
    if (takePidLock(lock) !== null) throw new PrerequisiteError(`the lock ${lock} is held; remove it if no build is running`);
  }
  const rootfs = mkdtempSync('/var/tmp/ironlab-rootfs-');
  try {
    const mirror = aptMirror();
    log(`debootstrap ${RECIPE.suite} (${RECIPE.packages.join(', ')}) into ${rootfs}`);
    await run(
      'debootstrap',
      [
        `--variant=${RECIPE.variant}`,
        `--include=${RECIPE.packages.join(',')}`,
        `--components=${RECIPE.components.join(',')}`,
        RECIPE.suite,
        rootfs,
        mirror,
      ],
      {
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    // Package caches are not part of the recipe's meaning; dropping them shrinks the image.
    for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
      for (const f of readdirSync(join(rootfs, dir)))
        if (f.endsWith('.deb') || f.endsWith('_Packages')) rmSync(join(rootfs, dir, f), { force: true });
    }
    log(`importing ${tag}`);
    await importRootfs(docker, rootfs, tag);
    const built = await findImage(docker, tag);
    if (!built) throw new Error(`docker import finished but ${tag} is not there`);
    return { ...built, built: true };
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
    rmSync(lock, { force: true });
  }
}

/** `tar -c` of the rootfs streamed into the engine's import endpoint (what `docker import -` does). */
async function importRootfs(docker: Docker, rootfs: string, tag: string): Promise<void> {
  const [repo, version] = tag.split(':');
  const tar = spawn('tar', ['--numeric-owner', '-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  tar.stderr.on('data', (d) => (stderr += d));
  const tarDone = new Promise<void>((resolve, reject) =>
    tar.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}: ${stderr.trim()}`)))),
  );
  const stream = await docker.importImage(tar.stdout, { repo, tag: version, changes: [`LABEL ironlab.recipe=${recipeHash()}`] } as object);
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
  await tarDone;
}

/** `ironlab image build`: build (or find) the workload image and say which it is. Exit code 0 either way. */
export async function buildImageCommand(): Promise<number> {
  const info = await buildImage({ log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(`${info.tag} ${info.id} ${info.built ? '(built)' : '(already present)'}\n`);
  return 0;
}
