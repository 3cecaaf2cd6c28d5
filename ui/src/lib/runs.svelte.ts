// The jobs running in this window, folded from the engine's `job-event` stream. A
// run outlives the Progress page: the DBA can go back to the job list (to start a
// second, scheduled job for instance) and come back to a job's live view.
import type { JobEvent } from "../bindings/JobEvent";
import type { Phase } from "../bindings/Phase";
import type { Profile } from "../bindings/Profile";
import type { Report } from "../bindings/Report";
import type { ReverseState } from "../bindings/ReverseState";
import type { RunSummary } from "../bindings/RunSummary";
import type { SyncStatus } from "../bindings/SyncStatus";
import type { TableTotals } from "../bindings/TableTotals";
import { asReport, engine } from "../engine";
import { clusterOf } from "./placement.svelte";

export interface Run {
  job: string;
  /** True from start until the engine's `start` call returns. */
  active: boolean;
  phase: Phase;
  /** The furthest working phase reached (a pause or failure does not move it). */
  reached: Phase;
  tables: TableTotals[];
  /** Rows copied per table by this run (`schema.table`), from its chunk events. */
  tableRows: Record<string, number>;
  /** Rows read per table so far, chunks in flight included (earlier runs' chunks too). */
  tableRead: Record<string, number>;
  /** Rows per second per table, over the last throughput tick. */
  tableRate: Record<string, number>;
  /** Verification outcome per table, once verified. */
  verified: Record<string, boolean>;
  /** When this run entered each phase (seconds since the epoch), and when it ended. */
  phaseAt: Partial<Record<Phase, number>>;
  endedAt: number | null;
  /** When `tableRead` was last updated. */
  readAt: number | null;
  rows: { done: number; total: number; perSec: number; eta: number | null };
  sync: SyncStatus | null;
  /** Lag of the last few minutes, one value per sync status (about one a second). */
  lags: [number, number][];
  /** Throughput of the last few minutes: rows/s while copying, transactions/s while syncing. */
  rates: [number, number][];
  /** The job's log in this window, kept across its runs (resumes). */
  log: LogEntry[];
  scheduled: string | null;
  /** The job whose copy this one waits for (scheduled jobs start one after another). */
  queuedBehind: string | null;
  error: Report | null;
  summary: RunSummary | null;
  /** The reverse sync after the cutover, once it started (see the engine's `reverse`). */
  reverse: ReverseState | null;
  /** The DM-master the job runs on, when it was handed to a cluster. */
  cluster: string | null;
  /** Another process runs the job (a background run, `ferry run`): this window
   * follows it through the status and log it keeps on the target. */
  elsewhere: boolean;
}

export type Severity = "info" | "warning" | "error";
export interface LogEntry {
  at: number;
  severity: Severity;
  text: string;
}

export const runs: Record<string, Run> = $state({});

const entry = (severity: Severity, text: string): LogEntry => ({ at: Date.now() / 1000, severity, text });

export function newRun(job: string): Run {
  return {
    job,
    active: true,
    phase: "precheck",
    reached: "precheck",
    tables: [],
    tableRows: {},
    tableRead: {},
    tableRate: {},
    verified: {},
    phaseAt: { precheck: now() },
    endedAt: null,
    readAt: null,
    rows: { done: 0, total: 0, perSec: 0, eta: null },
    sync: null,
    lags: [],
    rates: [],
    log: [],
    scheduled: null,
    queuedBehind: null,
    error: null,
    summary: null,
    cluster: null,
    reverse: null,
    elsewhere: false,
  };
}

const severityOf = (s: string): Severity => (s === "error" || s === "warning" ? s : "info");

/** Seconds since the epoch: the charts' time axis. */
const now = () => Date.now() / 1000;

/** Folds one engine event into a run. */
export function apply(run: Run, event: JobEvent) {
  switch (event.type) {
    case "phase":
      run.phase = event.phase;
      if (run.phaseAt[event.phase] === undefined) run.phaseAt = { ...run.phaseAt, [event.phase]: now() };
      if (!["paused", "failed", "aborted"].includes(event.phase)) run.reached = event.phase;
      run.queuedBehind = null;
      break;
    case "plan":
      run.tables = event.tables;
      break;
    case "chunk":
      run.tableRows = { ...run.tableRows, [`${event.schema}.${event.table}`]: (run.tableRows[`${event.schema}.${event.table}`] ?? 0) + event.rows };
      run.tables = run.tables.map((t) =>
        t.schema === event.schema && t.table === event.table ? { ...t, chunks_done: event.chunks_done } : t,
      );
      break;
    case "throughput":
      run.rows = { done: event.rows_done, total: event.rows_total, perSec: event.rows_per_sec, eta: event.eta_secs };
      {
        const at = now();
        const elapsed = run.readAt === null ? 0 : at - run.readAt;
        const read: Record<string, number> = {};
        const rate: Record<string, number> = {};
        for (const t of event.tables) {
          const key = `${t.schema}.${t.table}`;
          read[key] = t.count;
          rate[key] = elapsed > 0 ? Math.max(0, (t.count - (run.tableRead[key] ?? t.count)) / elapsed) : 0;
        }
        run.tableRead = read;
        run.tableRate = rate;
        run.readAt = at;
      }
      run.rates = [...run.rates, [now(), event.rows_per_sec] as [number, number]].slice(-300);
      break;
    case "sync": {
      const { type: _type, ...status } = event;
      void _type;
      // The copy's rows/s give way to the sync's transactions/s.
      run.rates = [...(run.sync ? run.rates : []), [now(), status.transactions_per_sec] as [number, number]].slice(-300);
      run.sync = status;
      // An unknown lag (no contact with the source) is left out, not drawn as 0.
      if (status.lag_secs !== null) run.lags = [...run.lags, [now(), status.lag_secs] as [number, number]].slice(-300);
      break;
    }
    case "warning":
      run.log = [...run.log, entry("warning", `${event.report.code}: ${event.report.message} Fix: ${event.report.remedy}`)];
      break;
    case "error":
      run.log = [...run.log, entry("error", `${event.report.code}: ${event.report.message} Fix: ${event.report.remedy}`)];
      break;
    case "retrying":
      run.log = [...run.log, entry("warning", `retrying (${event.attempt}) — ${event.cause}`)];
      break;
    case "verified":
      run.verified = { ...run.verified, [`${event.schema}.${event.table}`]: event.equal };
      break;
    case "ddl":
      run.log = [...run.log, entry(event.outcome.startsWith("refused") ? "warning" : "info", `DDL ${event.outcome}: ${event.statement}`)];
      break;
    case "scheduled":
      run.scheduled = event.start_at;
      break;
    case "queued":
      run.queuedBehind = event.behind;
      break;
    case "reverse": {
      const { type: _type, ...state } = event;
      void _type;
      run.reverse = state;
      break;
    }
  }
}

let listening: Promise<unknown> | null = null;

/** Starts the job, or returns its run when it is already running in this window. */
export async function startRun(profile: Profile): Promise<Run> {
  const current = runs[profile.name];
  if (current?.active) return current;
  listening ??= engine.onJobEvent((e) => {
    const run = runs[e.job];
    if (run?.active) apply(run, e.event);
  });
  await listening;
  // The job's log from its target (earlier runs, other processes), unless this
  // window already has it.
  let earlier: LogEntry[] = current?.log ?? [];
  if (earlier.length === 0) {
    try {
      earlier = (await engine.jobLog(profile)).map((e) => ({ at: e.at, severity: severityOf(e.severity), text: e.text }));
    } catch {
      earlier = []; // no meta schema yet, or the target is away: the live log still fills
    }
  }
  runs[profile.name] = newRun(profile.name);
  const run = runs[profile.name];
  const cluster = clusterOf(profile.name);
  run.cluster = cluster?.master ?? null;
  run.log = [
    ...earlier,
    entry("info", `${earlier.length > 0 ? "resumed" : "started"}${cluster ? ` on the DM cluster at ${cluster.master}` : ""}`),
  ];
  const started = cluster ? engine.startOnCluster(profile, cluster.master, cluster.token || null) : engine.start(profile, true);
  started.then(
    (summary) => {
      run.summary = summary;
      run.active = false;
      run.endedAt = now();
      run.log = [...run.log, entry("info", summary.sync_end ? `run ended: ${summary.sync_end.replace("_", " ")}` : "run ended")];
    },
    (e) => {
      run.error = asReport(e);
      run.active = false;
      run.endedAt = now();
      run.log = [...run.log, entry("error", `${run.error.code}: ${run.error.message}`)];
    },
  );
  return run;
}

const PHASES: Phase[] = ["precheck", "snapshot", "schema", "copy", "objects", "verify", "sync", "completing", "completed", "paused", "failed", "aborted"];

/** Follows a job that another process runs (reattaching to a background run):
 * its live status and its log, read from the target about once a second, until
 * that process stops. Pause, Complete and Abort reach it through the target. */
export function followRun(profile: Profile): Run {
  const current = runs[profile.name];
  if (current?.active) return current;
  runs[profile.name] = newRun(profile.name);
  const run = runs[profile.name];
  run.elsewhere = true;
  run.log = [entry("info", "following the job, which runs in another process")];
  let ticks = 0;
  const poll = async () => {
    try {
      const s = await engine.status(profile);
      const phase = PHASES.find((p) => p === s.phase);
      if (phase) {
        run.phase = phase;
        run.reached = phase;
        run.phaseAt[phase] ??= now();
      }
      if (s.live) {
        run.sync = s.live;
        if (s.live.lag_secs !== null) run.lags = [...run.lags, [now(), s.live.lag_secs] as [number, number]].slice(-300);
        run.rates = [...run.rates, [now(), s.live.transactions_per_sec] as [number, number]].slice(-300);
      }
      if (ticks++ % 5 === 0) {
        const log = await engine.jobLog(profile);
        run.log = log.map((e) => ({ at: e.at, severity: severityOf(e.severity), text: e.text }));
      }
      if (!s.running) {
        run.active = false;
        run.endedAt = now();
        run.log = [...run.log, entry("info", `the other process stopped the job (phase ${s.phase ?? "unknown"})`)];
        return;
      }
    } catch (e) {
      run.error = asReport(e);
    }
    setTimeout(poll, 1000);
  };
  void poll();
  return run;
}

/** What the job list shows for a job running in this window, if it is. */
export function runLabel(job: string): string | null {
  const run = runs[job];
  if (!run?.active) return null;
  if (run.queuedBehind) return `queued behind ${run.queuedBehind}`;
  if (run.scheduled && run.tables.length === 0 && run.phase === "precheck") return `scheduled for ${run.scheduled} UTC`;
  return `running here (${run.phase})`;
}

/** The error that ended this window's last run of `job`, if it ended so. */
export function lastError(job: string): Report | null {
  const run = runs[job];
  return run && !run.active ? run.error : null;
}

/** Forgets every run and the event listener (tests start from nothing). */
export function resetRuns() {
  for (const k of Object.keys(runs)) delete runs[k];
  listening = null;
}
