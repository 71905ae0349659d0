// The workload image on every emulated host's engine. It is built once (workloads/image.ts: debootstrap +
// import) and kept as a `docker save` archive in a cache outside the testbed (IRONLAB_CACHE_DIR, default
// /var/lib/ironlab/cache), so a later `up` after `down` loads it in seconds instead of building it again.
// Where the machine's own dockerd already has the image, it is saved from there instead of built.
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import Docker from 'dockerode';
import { buildImage, findImage, imageTag, type ImageInfo } from '../workloads/image.ts';
import type { Say } from './steps.ts';

export const cacheDir = () => process.env.IRONLAB_CACHE_DIR ?? '/var/lib/ironlab/cache';
export const cachedArchive = (tag = imageTag()) => join(cacheDir(), `${tag.replace(':', '-')}.tar`);

/** The image archive in the cache: saved from a daemon that has the image, or built into `builder` first. */
export async function ensureArchive(builder: Docker, say: Say): Promise<string> {
  const archive = cachedArchive();
  if (existsSync(archive)) return archive;
  const system = new Docker();
  let source = (await findImage(system).catch(() => null)) ? system : (await findImage(builder)) ? builder : null;
  if (!source) {
    say(`building the workload image ${imageTag()} (debootstrap, about a minute)`);
    await buildImage({ docker: builder, log: say });
    source = builder;
  }
  mkdirSync(cacheDir(), { recursive: true });
  const tmp = `${archive}.${process.pid}.tmp`;
  try {
    await pipeline(await source.getImage(imageTag()).get(), createWriteStream(tmp));
    renameSync(tmp, archive);
  } finally {
    rmSync(tmp, { force: true });
  }
  return archive;
}

/** Load the image into a host's engine unless it has it; returns its tag and id (the digest runs record). */
export async function ensureImage(docker: Docker, builder: Docker, say: Say): Promise<ImageInfo> {
  const have = await findImage(docker);
  if (have) return have;
  const archive = await ensureArchive(builder, say);
  const built = await findImage(docker); // the builder itself, when the image was just built there
  if (built) return built;
  const stream = await docker.loadImage(createReadStream(archive));
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
  const loaded = await findImage(docker);
  if (!loaded) throw new Error(`loaded ${archive} but ${imageTag()} is not there`);
  return loaded;
}
