// A campaign's identity: the SHA-256 of its validated spec as canonical JSON (keys sorted), so the same
// campaign written in another order or with its defaults spelled out hashes the same.
import { createHash } from 'node:crypto';
import type { CampaignSpec } from './model.ts';

export function hashSpec(spec: CampaignSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

/** JSON with object keys sorted at every level and undefined dropped: one text per meaning. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}
