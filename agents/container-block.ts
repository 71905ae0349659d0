// A host's container address block: the link-local range (CIDR) from which its side of a cross-host run takes
// the containers' addresses on the lab's wire. Hosts on one wire must not share addresses while each host's
// engine allocates only from its own pool, so each host is given a block of its own: a real lab declares it in
// its inventory, the emulated lab derives one per host (testbed/lab-network.ts). The agent is told its block
// (--container-block) and reports it in its facts; a run across hosts carries both hosts' blocks.
import { z } from 'zod';

/** Dotted-quad IPv4, four numbers 0-255 without leading zeros (which some parsers read as octal). */
export function isIpv4(a: string): boolean {
  const parts = a.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}
/** The range every ironlab traffic network lives in (run-spec.ts says why). */
const LINK_LOCAL = { text: '169.254.0.0/16', start: 169 * 2 ** 24 + 254 * 2 ** 16, size: 2 ** 16 };

export interface Block {
  /** First address, as a 32-bit number. */
  start: number;
  /** Number of addresses (a power of two). */
  size: number;
}

export const ipToInt = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
export const intToIp = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** Smallest block: the victim and one neighbour (or two peers), besides the first and last address. */
export const MIN_BLOCK_PREFIX = 30;

/** `169.254.0.64/28` -> its block, or why it is not one (not a CIDR, host bits set, outside 169.254/16). */
export function parseBlock(cidr: string): Block | string {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  if (!m || !isIpv4(m[1])) return `expected a CIDR block such as 169.254.0.64/28, got '${cidr}'`;
  const bits = Number(m[2]);
  if (bits < 16 || bits > MIN_BLOCK_PREFIX)
    return `expected a prefix length from /16 to /${MIN_BLOCK_PREFIX} (at least 4 addresses), got /${bits}`;
  const size = 2 ** (32 - bits);
  const start = ipToInt(m[1]);
  if (start % size !== 0) return `${cidr} is not a block boundary (did you mean ${intToIp(start - (start % size))}/${bits}?)`;
  if (!blocksOverlap(LINK_LOCAL, { start, size }))
    return `${cidr} is outside ${LINK_LOCAL.text} (ironlab's traffic range: link-local addresses only)`;
  return { start, size };
}

export const ContainerBlock = z.string().superRefine((v, ctx) => {
  const b = parseBlock(v);
  if (typeof b === 'string') ctx.addIssue({ code: 'custom', message: b });
});

export const blockOf = (cidr: string): Block => {
  const b = parseBlock(cidr);
  if (typeof b === 'string') throw new Error(b);
  return b;
};

/** Containers a block holds: every address but its first and last (which a /N on its own would reserve). */
export const blockCapacity = (b: Block): number => b.size - 2;
/** The i-th container address of a block (0-based), after its first address. */
export const blockAddress = (b: Block, i: number): string => intToIp(b.start + 1 + i);
export const blocksOverlap = (a: Block, b: Block): boolean => a.start < b.start + b.size && b.start < a.start + a.size;
export const blockHolds = (b: Block, ip: string): boolean => isIpv4(ip) && ipToInt(ip) >= b.start && ipToInt(ip) < b.start + b.size;
