import { describe, expect, it } from "vitest";
import type { JobEvent } from "../bindings/JobEvent";
import type { SyncStatus } from "../bindings/SyncStatus";
import { stepDurations, tableChanges, tablePercent, tableRows, tableState } from "./progress";
import { apply, newRun } from "./runs.svelte";

const heap = { schema: "shop", table: "heap", target: "shop.heap", rows_estimate: 1000, bytes_estimate: 1 << 20, chunks: 1, chunks_done: 0, rows_done: 0 };
const throughput = (count: number): JobEvent => ({
  type: "throughput",
  rows_done: count,
  bytes_done: 0,
  rows_total: 1000,
  bytes_total: 0,
  rows_per_sec: 0,
  bytes_per_sec: 0,
  eta_secs: null,
  tables: [{ schema: "shop", table: "heap", count }],
});
const sync = (synced: boolean): SyncStatus => ({
  state: "syncing",
  transactions: 3,
  changes: 5,
  job_changes: 5,
  job_ddl: 0, job_read_bytes: 0,
  transactions_per_sec: 1,
  changes_per_sec: 1,
  health: "streaming",
  health_since: 0,
  lag_secs: 0,
  behind_bytes: 0,
  catch_up_secs: null,
  applied: { file: "b.000001", pos: 4, gtid: null },
  source: null,
  synced,
  retry: null,
  tables: [{ schema: "shop", table: "heap", count: 5 }],
  shard_locks: [],
  sources: [],
  cutover: null,
  after_cutover: null,
  last_ddl: [],
      verification: null,
});

describe("per-table progress", () => {
  it("moves a table copied as one chunk before the chunk commits, and never says 100 % early", () => {
    const run = newRun("j");
    apply(run, { type: "plan", tables: [heap] });
    expect(tableState(run, run.tables[0])).toBe("queued");
    apply(run, { type: "phase", phase: "copy" });
    apply(run, throughput(400));
    expect(tableState(run, run.tables[0])).toBe("copying");
    expect(tablePercent(run, run.tables[0])).toBe(40);
    // The estimate was low: still 99 % until the chunk commits.
    apply(run, throughput(1500));
    expect(tablePercent(run, run.tables[0])).toBe(99);
    apply(run, { type: "chunk", schema: "shop", table: "heap", rows: 1500, bytes: 10, chunks_done: 1, chunks: 1 });
    expect(tablePercent(run, run.tables[0])).toBe(100);
    expect(tableRows(run, run.tables[0])).toBe(1500);
    expect(tableState(run, run.tables[0])).toBe("copied");
    apply(run, { type: "phase", phase: "objects" });
    expect(tableState(run, run.tables[0])).toBe("building indexes");
  });

  it("counts the rows earlier runs copied", () => {
    const run = newRun("j");
    apply(run, { type: "plan", tables: [{ ...heap, chunks: 2, chunks_done: 1, rows_done: 700 }] });
    expect(tableRows(run, run.tables[0])).toBe(700);
    apply(run, { type: "chunk", schema: "shop", table: "heap", rows: 300, bytes: 10, chunks_done: 2, chunks: 2 });
    expect(tableRows(run, run.tables[0])).toBe(1000);
  });

  it("counts rows per second per table between ticks", () => {
    const run = newRun("j");
    apply(run, { type: "plan", tables: [heap] });
    apply(run, throughput(100));
    run.readAt = (run.readAt ?? 0) - 2;
    apply(run, throughput(300));
    expect(Math.round(run.tableRate["shop.heap"])).toBe(100);
  });

  it("shows syncing, then synced with the table's changes, then the verification", () => {
    const run = newRun("j");
    apply(run, { type: "plan", tables: [{ ...heap, chunks_done: 1 }] });
    apply(run, { type: "phase", phase: "sync" });
    apply(run, { type: "sync", ...sync(false) });
    expect(tableState(run, run.tables[0])).toBe("syncing");
    apply(run, { type: "sync", ...sync(true) });
    expect(tableState(run, run.tables[0])).toBe("synced");
    expect(tableChanges(run, run.tables[0])).toBe(5);
    // Stopped (an error, a pause): no longer "synced".
    run.active = false;
    expect(tableState(run, run.tables[0])).toBe("stopped");
    run.active = true;
    apply(run, { type: "phase", phase: "verify" });
    expect(tableState(run, run.tables[0])).toBe("verifying");
    apply(run, { type: "verified", schema: "shop", table: "heap", equal: false, source_rows: 2, target_rows: 1, chunks: 1, mismatched_chunks: 1 });
    expect(tableState(run, run.tables[0])).toBe("differs");
  });
});

describe("phase durations", () => {
  const steps = [{ phases: ["precheck"] }, { phases: ["schema"] }, { phases: ["copy"] }, { phases: ["sync"] }] as const;
  it("runs from a step's first phase to the next step's, the current one up to now, a stopped one up to the stop", () => {
    const run = newRun("j");
    run.phaseAt = { precheck: 100, schema: 102, copy: 105 };
    expect(stepDurations(run, steps.map((s) => ({ phases: [...s.phases] })), 115)).toEqual([2, 3, 10, null]);
    run.phaseAt = { ...run.phaseAt, paused: 111 };
    expect(stepDurations(run, steps.map((s) => ({ phases: [...s.phases] })), 200)[2]).toBe(6);
    run.endedAt = 112;
    expect(stepDurations(run, steps.map((s) => ({ phases: [...s.phases] })), 200)[2]).toBe(7);
  });
});
