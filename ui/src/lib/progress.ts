// What the Run view says about each table and each phase, from a run's folded
// events; kept apart from the page so the rules can be tested on their own.
import type { Phase } from "../bindings/Phase";
import type { TableTotals } from "../bindings/TableTotals";
import type { Run } from "./runs.svelte";

export type TableState =
  | "queued"
  | "copying"
  | "copied"
  | "building indexes"
  | "verifying"
  | "verified"
  | "differs"
  | "syncing"
  | "synced"
  | "no contact"
  | "stopped";

const key = (t: TableTotals) => `${t.schema}.${t.table}`;
const copied = (t: TableTotals) => t.chunks > 0 && t.chunks_done >= t.chunks;

/** Where a table stands. */
export function tableState(run: Run, t: TableTotals): TableState {
  const verified = run.verified[key(t)];
  if (verified !== undefined) return verified ? "verified" : "differs";
  const phase = run.reached;
  // A run that has ended is not live: its tables are neither copying nor synced.
  if (!run.active && phase !== "completed") return copied(t) || t.chunks_done > 0 || (run.tableRead[key(t)] ?? 0) > 0 ? "stopped" : "queued";
  if (phase === "verify") return "verifying";
  if (phase === "sync" || phase === "completing" || phase === "completed") {
    // Out of contact with the source, nothing is known to be synced.
    if (run.sync && run.sync.health !== "streaming" && phase !== "completed") return "no contact";
    return run.sync?.synced ? "synced" : "syncing";
  }
  if (copied(t)) return phase === "objects" ? "building indexes" : "copied";
  return t.chunks_done > 0 || (run.tableRead[key(t)] ?? 0) > 0 ? "copying" : "queued";
}

/** Rows of the table on the target or on their way, as far as this window knows. */
export function tableRows(run: Run, t: TableTotals): number {
  return Math.max(run.tableRead[key(t)] ?? 0, t.rows_done + (run.tableRows[key(t)] ?? 0));
}

/** How far the copy of a table is: from the rows read against the estimate,
 * never 100 before its last chunk has committed (estimates are approximate). */
export function tablePercent(run: Run, t: TableTotals): number {
  if (copied(t)) return 100;
  if (t.rows_estimate > 0) return Math.min(99, Math.floor((tableRows(run, t) / t.rows_estimate) * 100));
  return t.chunks > 0 ? Math.floor((t.chunks_done / t.chunks) * 100) : 0;
}

/** Row changes the sync applied to a table over the whole job. */
export function tableChanges(run: Run, t: TableTotals): number {
  return run.sync?.tables.find((c) => c.schema === t.schema && c.table === t.table)?.count ?? 0;
}

/** How long each step of the timeline took in this run: from the first of its
 * phases to the first phase of a later step (or now, or the run's end), in seconds;
 * null for a step the run did not enter. */
export function stepDurations(run: Run, steps: { phases: Phase[] }[], at: number): (number | null)[] {
  const starts = steps.map((s) => {
    const times = s.phases.map((p) => run.phaseAt[p]).filter((v): v is number => v !== undefined);
    return times.length > 0 ? Math.min(...times) : null;
  });
  const stops = (["paused", "failed", "aborted"] as Phase[]).map((p) => run.phaseAt[p]).filter((v): v is number => v !== undefined);
  const end = run.endedAt ?? (stops.length > 0 ? Math.min(...stops) : at);
  return starts.map((start, i) => {
    if (start === null) return null;
    const next = starts.slice(i + 1).find((v): v is number => v !== null && v >= start);
    return Math.max(0, (next ?? end) - start);
  });
}

/** The sync's contact with the source in a DBA's words: "streaming", "retrying
 * for 12 s — why", "stopped"; null before the sync has reported. */
export function healthText(run: Run, now: number): string | null {
  const s = run.sync;
  if (!s) return null;
  const since = s.health_since !== null ? ` for ${Math.max(0, Math.round(now - s.health_since))} s` : "";
  if (!run.active) return "stopped";
  switch (s.health) {
    case "streaming":
      return "streaming";
    case "retrying":
      return `retrying${since}${s.retry ? ` — ${s.retry}` : ""}`;
    default:
      return "stopped";
  }
}

/** Why Complete cannot be clicked now, or null when it can. */
export function completeBlocked(run: Run): string | null {
  const s = run.sync;
  if (!s) return "the sync has not started";
  if (s.health !== "streaming") return "the source cannot be reached: Ferry cannot tell what the target lacks";
  if (s.cutover && (s.cutover.step === "draining" || s.cutover.step === "confirming")) return "a cutover is under way";
  if (!s.synced) return "waiting for lag 0";
  return null;
}
