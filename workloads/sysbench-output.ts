// sysbench's per-interval reports (`[ 3s ] thds: 1 eps: 4490.35 lat (ms,95%): 0.24`), each with the wall-clock
// time Docker stamped on the line. The measurement window is cut out of these: warm-up intervals are dropped.

export interface SysbenchInterval {
  /** Wall-clock time the report was printed (the end of its interval), ms since the epoch. */
  atMs: number;
  /** Length of the interval in seconds (the --report-interval). */
  lengthS: number;
  eps: number;
}

/** Lines as `docker logs --timestamps` gives them: `2026-11-27T11:34:58.123456789Z [ 1s ] thds: ...`. */
export function parseSysbenchIntervals(text: string, lengthS = 1): SysbenchInterval[] {
  const out: SysbenchInterval[] = [];
  for (const line of text.split('\n')) {
    const m = line.match(/^(\S+)\s+\[\s*\d+s\s*\]\s+thds:\s*\d+\s+eps:\s*([\d.]+)/);
    if (!m) continue;
    const atMs = Date.parse(m[1]);
    if (Number.isFinite(atMs)) out.push({ atMs, lengthS, eps: Number(m[2]) });
  }
  return out;
}

/**
 * Events per second over [startMs, endMs]: the mean of the intervals that lie inside the window (a small
 * tolerance for the time between sysbench's write and Docker's timestamp). Null when none lies inside, or when
 * the reports stop more than one interval before the window's end (sysbench ended or was killed inside it): a
 * mean over part of the window would pass for the whole. One missing report is let pass: a throttled or emulated
 * sysbench prints late, and is stopped just after the window's end.
 */
export function eventsPerSecondIn(intervals: SysbenchInterval[], startMs: number, endMs: number, toleranceMs = 150): number | null {
  const inside = intervals.filter((i) => i.atMs - i.lengthS * 1000 >= startMs - toleranceMs && i.atMs <= endMs + toleranceMs);
  if (!inside.length) return null;
  const lastMs = Math.max(...intervals.map((i) => i.atMs));
  if (lastMs < endMs - 2 * inside[0].lengthS * 1000 - toleranceMs) return null;
  return inside.reduce((s, i) => s + i.eps, 0) / inside.length;
}
