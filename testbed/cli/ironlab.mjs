#!/usr/bin/env node
// Entry point: the CLI's bundle when it is fresh (built on first use and after a source changes; see bundle.mjs),
// else the TypeScript sources through tsx's loader (no build step, so a clone runs as it is).
// IRONLAB_NO_BUNDLE=1 always takes the sources.
import { buildBundle, freshBundle } from './bundle.mjs';

const bundle = process.env.IRONLAB_NO_BUNDLE === '1' ? null : (freshBundle() ?? (await buildBundle()));
if (bundle) await import(bundle);
else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./cli.ts');
}
