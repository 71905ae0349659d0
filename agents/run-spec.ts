// One run as the orchestrator hands it to an agent: what to start, with which quotas and cores, for how long.
// Every backend (sim, docker) takes exactly this record, so a campaign file runs unchanged on any testbed.
import { z } from 'zod';
import { DEFAULT_VICTIM, ScenarioParams, VictimWorkload, WorkloadKind } from '../workloads/catalog.ts';
import { Enforcement } from './enforcement/modes.ts';

/** Core numbers: bounded here (a cpumask is built from them), and by the host's own cores where the run lands. */
export const MAX_CPU = 1023;
export const CpuList = z
  .array(z.number().int().min(0).max(MAX_CPU))
  .min(1)
  .max(MAX_CPU + 1);

import { ContainerBlock, isIpv4 } from './container-block.ts';
export { isIpv4 };
/** A unicast IPv4 address a traffic network can carry: not 0/8, loopback, multicast or reserved. */
export const Ipv4Address = z
  .string()
  .max(15)
  .refine(isIpv4, { error: 'expected an IPv4 address (four numbers 0-255)' })
  .refine((a) => ![0, 127].includes(Number(a.split('.')[0])) && Number(a.split('.')[0]) < 224, {
    error: 'expected a unicast address (not 0/8, 127/8, multicast or reserved)',
  });

/**
 * The range every ironlab traffic network lives in: IPv4 link-local (RFC 3927). Run networks, the emulated lab's
 * wire and an inventory lab's traffic NICs all take their addresses from it, so a run spec naming any other
 * address (a site network, a public host) is refused before a flood could be pointed there.
 */
export const TRAFFIC_RANGE = '169.254.0.0/16';
export const isTrafficAddress = (a: string): boolean => isIpv4(a) && a.startsWith('169.254.');
/** A traffic peer's or server's address: unicast IPv4 inside TRAFFIC_RANGE. */
export const TrafficAddress = Ipv4Address.refine(isTrafficAddress, {
  error: `expected an address inside ${TRAFFIC_RANGE} (ironlab's traffic range)`,
});

export const ContainerShape = z
  .object({
    /** CFS bandwidth: quota per period, in microseconds (cpu.cfs_quota_us / cpu.cfs_period_us). */
    quotaUs: z.number().int().min(1000).max(10_000_000),
    periodUs: z.number().int().min(1000).max(1_000_000),
    /** cpuset: the cores the container may run on. */
    cpus: CpuList,
  })
  .strict();
export type ContainerShape = z.infer<typeof ContainerShape>;
/** The victim: its shape and the workload it runs (absent = sysbench, as every run spec before it). */
export const VictimShape = ContainerShape.extend({ workload: VictimWorkload.optional() }).strict();

/** The workload a run's victim runs. */
export const victimWorkloadOf = (run: { victim: { workload?: VictimWorkload } }): VictimWorkload => run.victim.workload ?? DEFAULT_VICTIM;

export const RunSpec = z
  .object({
    runId: z.string().min(1),
    campaignId: z.string().min(1),
    scenarioId: z.string().min(1),
    repetition: z.number().int().min(0),
    /** The neighbours' workload (the victim's is victim.workload). */
    workload: WorkloadKind,
    params: ScenarioParams,
    enforcement: Enforcement,
    /** Number of neighbour containers (K) beside the one victim. */
    neighbours: z.number().int().min(1).max(64),
    warmupS: z.number().min(0).max(600),
    durationS: z.number().positive().max(3600),
    victim: VictimShape,
    neighbour: ContainerShape,
    /**
     * Traffic peers (iperf3 servers for senders, clients for receivers): unconstrained, off the victim's cores.
     * Without `hostId` they run on the server host; with it, on that peer host (the campaign leases it with the
     * server), and the traffic crosses the hosts' traffic NICs. `address` / `serverAddress`: the peer's and the
     * server's IPv4 address on the traffic network, from which each side derives the other's container addresses.
     */
    peer: z
      .object({
        cpus: CpuList,
        hostId: z.string().max(63).optional(),
        address: TrafficAddress.optional(),
        serverAddress: TrafficAddress.optional(),
        /** The peer host's and the server host's container address blocks (CIDR, from the inventory or the
         *  emulated lab): each side's containers take their addresses on the wire from its own block. */
        block: ContainerBlock.optional(),
        serverBlock: ContainerBlock.optional(),
      })
      .strict(),
    /** Cores that take the NIC's receive processing (IRQ affinity on a real NIC, RPS on veth). */
    nicCpus: CpuList,
    seed: z.number().int(),
    /** Host profile for the simulated kernel (ignored by real backends). */
    profile: z.string().default('paper'),
  })
  .strict();
export type RunSpec = z.infer<typeof RunSpec>;
