// The lab's batch scheduler queue as the dashboard shows it (ironlab's jobs: who, running where or pending why).
// The reader is injected by the command: Slurm's is the testbed's (`squeue`), and imports run testbed ->
// orchestrator. It is read at most every QUEUE_EVERY_MS (a process spawn each time), never per page view.

/** One ironlab job in the scheduler's queue. */
export interface QueuedJob {
  jobId: string;
  user: string;
  state: string;
  elapsed: string;
  timeLimit: string;
  nodes: string;
  /** Node list when running, the scheduler's reason when pending. */
  where: string;
  campaign: string;
}

/** Reads the queue now (throws when the scheduler cannot be asked). */
export type ReadQueue = () => QueuedJob[] | Promise<QueuedJob[]>;

/** What the page gets: the jobs as last read, or why they could not be read. */
export interface QueueView {
  scheduler: 'slurm';
  jobs: QueuedJob[];
  /** The reader's error when the last read failed (the jobs are then empty). */
  error: string | null;
}

export const QUEUE_EVERY_MS = 5000;

export async function readQueueView(read: ReadQueue): Promise<QueueView> {
  try {
    return { scheduler: 'slurm', jobs: await read(), error: null };
  } catch (err) {
    return { scheduler: 'slurm', jobs: [], error: (err as Error).message };
  }
}
