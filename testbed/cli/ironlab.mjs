#!/usr/bin/env node
// Entry point: runs the TypeScript CLI through tsx's loader (no build step, so a clone runs as it is).
import { register } from 'tsx/esm/api';
register();
await import('./cli.ts');
