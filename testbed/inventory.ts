// The inventory of a real lab: the hosts ironlab reaches over SSH, what each is for, its NIC and its cores, and
// the address at which the hosts reach the orchestrator. Validated completely before anything is touched; a
// mistake is one UserInputError with file:line:col, like a campaign file.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { isIpv4 } from '../agents/run-spec.ts';
import { blockHolds, blocksOverlap, parseBlock, type Block } from '../agents/container-block.ts';
import { UserInputError } from '../workloads/common/errors.ts';
import { describeIssue, locator, refusal } from '../workloads/common/yaml-problems.ts';
import { HOST_ID_PATTERN } from '../agents/protocol.ts';

const cpuList = z
  .array(z.number({ error: 'expected a core number' }).int().min(0).max(1023), { error: 'expected a list of core numbers, e.g. [0]' })
  .min(1, { error: 'expected at least one core' });
/** A host name or an IPv4 address: nothing ssh could read as an option or a user, nothing a shell would expand. */
const hostOrIpv4 = (what: string) =>
  z
    .string({ error: `expected ${what}` })
    .regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/, {
      error: `expected ${what}: a host name or an IPv4 address`,
    })
    .max(253)
    .refine((a) => !/^[\d.]+$/.test(a) || isIpv4(a), { error: `expected ${what}: a host name or an IPv4 address (four numbers 0-255)` });
const name = (what: string) =>
  z
    .string({ error: `expected ${what}` })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, { error: `expected ${what} of letters, digits, dot, dash or underscore` });

const InventoryHost = z
  .object({
    id: z
      .string({ error: 'expected a host id' })
      .regex(HOST_ID_PATTERN, { error: 'expected a host id of letters, digits, dot, dash or underscore' }),
    /** What SSH dials (a name or an address). */
    address: hostOrIpv4('the address SSH reaches the host at'),
    ssh: z
      .object({
        user: z.string({ error: 'expected an SSH user' }).regex(/^[a-z_][a-z0-9_.-]{0,31}$/, {
          error: 'expected an SSH user name: lower-case letters, digits, _ . - (not starting with - or a digit)',
        }),
        key: z
          .string({ error: 'expected the path of an SSH private key' })
          .regex(/^[^-\s][^\n\0]*$/, { error: 'expected the path of an SSH private key (not starting with - or a space)' }),
        port: z.number({ error: 'expected a port number' }).int().min(1).max(65535).default(22),
      })
      .strict(),
    roles: z
      .array(z.enum(['server', 'peer'], { error: 'expected server or peer' }))
      .min(1)
      .default(['server']),
    /** The NIC the test traffic crosses: its driver and queue IRQ affinity are reported and steered. */
    nic: name('a network interface name'),
    /** The link-local block (CIDR) its containers take their addresses from on the lab's wire, inside the NIC's
     *  subnet, its own (no other host's): required for a docker host. */
    containerBlock: z.string({ error: 'expected a CIDR block such as 169.254.0.64/28' }).optional(),
    cores: z.object({ victim: cpuList, neighbours: cpuList, peers: cpuList, nic: cpuList }).strict(),
    backend: z.enum(['docker', 'sim'], { error: 'expected docker or sim' }).default('docker'),
    /** Where the agent is installed on the host: a directory of its own (it carries an ironlab marker, and
     *  `down` removes only a marked directory), at least two levels deep. */
    installDir: z
      .string()
      .regex(/^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._-]+){2,}$/, {
        error: 'expected an absolute path at least two levels deep (e.g. /opt/ironlab-agent), of letters, digits, . _ -',
      })
      .default('/opt/ironlab-agent'),
  })
  .strict();

export const Inventory = z
  .object({
    name: z.string().optional(),
    /** The address (of this machine) the hosts' agents dial, and its port. */
    orchestrator: z
      .object({
        address: hostOrIpv4('the address the hosts reach this machine at'),
        port: z.number().int().min(1).max(65535).default(7787),
      })
      .strict(),
    hosts: z.array(InventoryHost, { error: 'expected a list of hosts' }).min(1, { error: 'expected at least one host' }),
  })
  .strict();
export type Inventory = z.infer<typeof Inventory>;
export type InventoryHost = z.infer<typeof InventoryHost>;

export function loadInventory(path: string): Inventory {
  if (!existsSync(path)) throw new UserInputError('no such inventory file', path);
  return parseInventory(readFileSync(path, 'utf8'), path);
}

export function parseInventory(text: string, file: string): Inventory {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  if (doc.errors.length) {
    throw refusal(
      doc.errors.map((e) => ({
        where: e.linePos?.[0] ? `${file}:${e.linePos[0].line}:${e.linePos[0].col}` : file,
        message: `YAML syntax: ${e.message.split('\n')[0]}`,
      })),
    );
  }
  const raw = doc.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new UserInputError('expected a mapping with `orchestrator` and `hosts`', `${file}:1:1`);
  const locate = locator(doc, lineCounter, file);
  const parsed = Inventory.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw refusal(parsed.error.issues.flatMap((i) => describeIssue(i, locate, Inventory)));
  const inv = parsed.data;
  const problems = [];
  const seen = new Set<string>();
  for (const [i, h] of inv.hosts.entries()) {
    if (seen.has(h.id)) problems.push({ where: locate(['hosts', i, 'id']).where, message: `hosts[${i}].id: '${h.id}' is listed twice` });
    seen.add(h.id);
    h.ssh.key = expandPath(h.ssh.key, dirname(resolve(file)));
    if (!existsSync(h.ssh.key))
      problems.push({ where: locate(['hosts', i, 'ssh', 'key']).where, message: `hosts[${i}].ssh.key: no such file ${h.ssh.key}` });
  }
  problems.push(...blockProblems(inv, (path) => locate(path).where));
  if (problems.length) throw refusal(problems);
  return inv;
}

/** Each docker host's container block: declared, a CIDR block inside 169.254.0.0/16 of at least 4 addresses,
 *  its own (no overlap with another host's), and clear of the hosts' and the orchestrator's addresses. Whether it
 *  lies on the host's NIC's subnet is checked on the host (inventory-preflight.ts). */
function blockProblems(inv: Inventory, where: (path: (string | number)[]) => string): { where: string; message: string }[] {
  const problems: { where: string; message: string }[] = [];
  const seen: { i: number; id: string; cidr: string; block: Block }[] = [];
  const addresses = [
    { what: 'the orchestrator address', ip: inv.orchestrator.address },
    ...inv.hosts.map((h) => ({ what: `host ${h.id}'s address`, ip: h.address })),
  ];
  for (const [i, h] of inv.hosts.entries()) {
    const field = `hosts[${i}].containerBlock (host ${h.id})`;
    if (!h.containerBlock) {
      if (h.backend === 'docker')
        problems.push({
          where: where(['hosts', i, 'id']),
          message: `${field}: is required for a docker host: the link-local block its containers take on the lab's wire, inside its NIC's subnet (e.g. containerBlock: 169.254.0.${64 + 16 * i}/28)`,
        });
      continue;
    }
    const at = where(['hosts', i, 'containerBlock']);
    const block = parseBlock(h.containerBlock);
    if (typeof block === 'string') {
      problems.push({ where: at, message: `${field}: ${block}` });
      continue;
    }
    const other = seen.find((s) => blocksOverlap(s.block, block));
    if (other)
      problems.push({
        where: at,
        message: `${field}: ${h.containerBlock} overlaps hosts[${other.i}].containerBlock (host ${other.id}) ${other.cidr}; each host needs a block of its own`,
      });
    const held = addresses.find((a) => blockHolds(block, a.ip));
    if (held)
      problems.push({ where: at, message: `${field}: ${h.containerBlock} holds ${held.what} ${held.ip}; containers would take it` });
    seen.push({ i, id: h.id, cidr: h.containerBlock, block });
  }
  return problems;
}

/** `~/x` and paths relative to the inventory file, as a user expects. */
function expandPath(p: string, base: string): string {
  if (p.startsWith('~/')) return join(homedir(), p.slice(2));
  return isAbsolute(p) ? p : join(base, p);
}
