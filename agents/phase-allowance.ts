// How long past a phase's own length the orchestrator waits for an agent's answer (its request deadline). The
// agents bound their workloads by it: a run's window can open that late (a slow host's warm-up: the enforcer's
// start, a peer's flood start, under TCG tens of seconds) and the run still be measured.
export const PHASE_ALLOWANCE_MS = 60_000;

/**
 * The latest a run's window can end, in seconds after its warm-up starts, before the orchestrator gives up on the
 * run: warm-up and window, each with the allowance. A workload that must cover the window, whenever it opens,
 * runs until the agent stops it at the window's end and is bounded by this only should the agent be gone.
 */
export const latestWindowEndS = (run: { warmupS: number; durationS: number }): number =>
  run.warmupS + run.durationS + (2 * PHASE_ALLOWANCE_MS) / 1000;
