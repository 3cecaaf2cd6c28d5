import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { JobEvent } from "../bindings/JobEvent";
import type { Profile } from "../bindings/Profile";
import { resetRuns } from "../lib/runs.svelte";
import { place, placements } from "../lib/placement.svelte";
import Jobs from "./Jobs.svelte";
import Progress from "./Progress.svelte";

const profile = { name: "shop" } as unknown as Profile;

afterEach(() => {
  cleanup();
  clearMocks();
  resetRuns();
  localStorage.clear();
  for (const k of Object.keys(placements)) delete placements[k];
});

describe("Progress", () => {
  it("follows the reverse sync after the cutover and rolls back only once confirmed", async () => {
    const calls: string[] = [];
    mockIPC(
      (cmd) => {
        calls.push(cmd);
        if (cmd === "start") return new Promise(() => {});
        return true;
      },
      { shouldMockEvents: true },
    );
    const reversible = { name: "shop", source: { host: "old.example", port: 3306 } } as unknown as Profile;
    const onreport = vi.fn();
    render(Progress, { props: { profile: reversible, ondone: vi.fn(), onreport } });
    const send = (event: JobEvent) => emit("job-event", { job: "shop", event });
    await vi.waitFor(() => expect(screen.getByTestId("phase")).toBeTruthy());
    await send({ type: "phase", phase: "completed" });
    await send({
      type: "reverse",
      state: "syncing",
      start: { file: "binlog.000002", pos: 4711, gtid: null },
      until: Date.now() / 1000 + 24 * 3600,
      tables: [["shop.orders", "shop.orders"]],
      ended_at: null,
    });
    expect((await screen.findByTestId("wayback-state")).textContent).toMatch(/reverse sync syncing · ends by itself in 2[34]\.\d h/);
    expect(screen.getByTestId("wayback").textContent).toMatch(/old\.example:3306/);
    // The forward job has cut over: no Complete or Abort for it any more.
    expect(screen.queryByTestId("complete")).toBeNull();
    expect(screen.queryByTestId("abort")).toBeNull();
    // Done opens the report while the reverse sync goes on.
    await fireEvent.click(screen.getByTestId("done"));
    expect(onreport).toHaveBeenCalled();
    await fireEvent.click(screen.getByTestId("rollback"));
    expect(screen.getByTestId("rollback-dialog").textContent).toMatch(/Stop the application's writes to the target first/);
    expect(calls).not.toContain("rollback");
    await fireEvent.click(screen.getByTestId("rollback-dialog-confirm"));
    await vi.waitFor(() => expect(calls).toContain("rollback"));
    expect(screen.getByTestId("rollback").textContent).toBe("Rolling back…");
    expect(calls).not.toContain("release");
  });

  it("shows the continuous verification and asks for a differing range's repair", async () => {
    const repairs: unknown[] = [];
    mockIPC(
      (cmd, args) => {
        if (cmd === "start") return new Promise(() => {});
        if (cmd === "repair") {
          repairs.push(args);
          return { ranges: 1, running: true };
        }
        return true;
      },
      { shouldMockEvents: true },
    );
    render(Progress, { props: { profile, ondone: vi.fn() } });
    const send = (event: JobEvent) => emit("job-event", { job: "shop", event });
    await vi.waitFor(() => expect(screen.getByTestId("phase")).toBeTruthy());
    const at = { file: "binlog.000001", pos: 900, gtid: null };
    await send({ type: "phase", phase: "sync" });
    await send({
      type: "sync",
      state: "syncing", transactions: 1, changes: 1, job_changes: 1, job_ddl: 0, job_read_bytes: 0, transactions_per_sec: 0, changes_per_sec: 0, health: "streaming",
      health_since: 0, lag_secs: 0, behind_bytes: 0, catch_up_secs: 0, applied: at, source: at, synced: true, retry: null, tables: [], shard_locks: [],
      sources: [], after_cutover: null, last_ddl: [], cutover: null,
      verification: {
        state: "verifying", detail: null, chunks: 40, verified: 39, compared: 120, requeued: 3,
        not_continuous: ["shop.audit: the job's filters leave out some of its changes"],
        differences: [
          {
            schema: "shop", table: "orders", target_schema: "shop", target_table: "orders", position: "binlog.000001:800", repair_pending: false,
            mismatch: { chunk: 3, range: "(3000 .. 4000]", source_rows: 1000, target_rows: 999, samples: [{ key: "3456", difference: "missing on the target" }] },
          },
        ],
      },
    });
    expect((await screen.findByTestId("verified-percent")).textContent).toBe("verified 97 %");
    expect(screen.getByTestId("differences").textContent).toBe("1 difference");
    expect(screen.getByTestId("verify-bar").getAttribute("aria-valuenow")).toBe("97");
    expect(screen.getByTestId("difference-orders-3").textContent).toMatch(/\(3000 \.\. 4000\].*1000 \/ 999.*3456 \(missing on the target\)/);
    expect(screen.getByTestId("not-continuous").textContent).toMatch(/shop.audit/);
    await fireEvent.click(screen.getByTestId("repair-orders-3"));
    await vi.waitFor(() => expect(repairs).toEqual([{ profile, schema: "shop", table: "orders", range: 3 }]));
    expect(screen.getByTestId("repair-orders-3").textContent).toBe("Repairing…");
  });

  it("follows a job another process runs (a background run) instead of starting it again", async () => {
    const calls: string[] = [];
    let running = true;
    const at = { file: "binlog.000001", pos: 900, gtid: null };
    const live = {
      state: "syncing", transactions: 1, changes: 1, job_changes: 7, job_ddl: 0, job_read_bytes: 0, transactions_per_sec: 2, changes_per_sec: 2, health: "streaming",
      health_since: 0, lag_secs: 0.4, behind_bytes: 0, catch_up_secs: 0, applied: at, source: at, synced: true, retry: null, tables: [], shard_locks: [],
      sources: [], cutover: null, after_cutover: null, last_ddl: [],
      verification: null,
    };
    mockIPC((cmd) => {
      calls.push(cmd);
      if (cmd === "status") return { job: "shop", mode: "all", phase: "sync", running, interrupted: false, live, live_age_secs: 0.5, pending_ddl: null };
      if (cmd === "job_log") return [{ at: 1796314986, severity: "info", text: "run resumed (phase sync)" }];
    });
    render(Progress, { props: { profile, ondone: vi.fn() } });
    expect((await screen.findByTestId("elsewhere")).textContent).toMatch(/another process/);
    expect((await screen.findByTestId("lag")).textContent).toBe("0.4 s");
    // The header repeats the state and the lag, in view however far the page scrolls.
    expect(screen.getByTestId("head-lag").textContent).toBe("0.4 s");
    expect(screen.getByTestId("run-status").textContent).toMatch(/syncing · synced/);
    expect(screen.queryByTestId("banner")).toBeNull();
    await vi.waitFor(() => expect(screen.getByTestId("log").textContent).toMatch(/run resumed \(phase sync\)/));
    expect(calls).not.toContain("start");
    running = false;
    expect(await screen.findByTestId("progress-close", {}, { timeout: 3000 })).toBeTruthy();
  });

  it("shows a refused cutover and completes accepting the late writes only when asked", async () => {
    const completes: unknown[] = [];
    mockIPC(
      (cmd, args) => {
        if (cmd === "start") return new Promise(() => {});
        if (cmd === "complete") completes.push(args);
        return true;
      },
      { shouldMockEvents: true },
    );
    render(Progress, { props: { profile, ondone: vi.fn() } });
    const send = (event: JobEvent) => emit("job-event", { job: "shop", event });
    await vi.waitFor(() => expect(screen.getByTestId("phase")).toBeTruthy());
    const at = { file: "binlog.000001", pos: 900, gtid: null };
    await send({ type: "phase", phase: "sync" });
    await send({
      type: "sync",
      state: "syncing", transactions: 1, changes: 1, job_changes: 1, job_ddl: 0, job_read_bytes: 0, transactions_per_sec: 0, changes_per_sec: 0, health: "streaming",
      health_since: 0, lag_secs: 0, behind_bytes: 0, catch_up_secs: 0, applied: at, source: at, synced: true, retry: null, tables: [], shard_locks: [],
      sources: [], after_cutover: null, last_ddl: [],
      verification: null,
      cutover: {
        attempt: 1, step: "refused", mark: at, frozen: false, accept_late: false,
        late: { since: at, first: at, last: at, rows: 12, tables: [{ schema: "shop", table: "audit_log", count: 12 }] },
      },
    });
    expect((await screen.findByTestId("late-writes")).textContent).toMatch(/refused: 12 row changes.*shop.audit_log 12/);
    expect(screen.getByTestId("banner").textContent).toMatch(/cutover was refused/);
    await fireEvent.click(screen.getByTestId("complete"));
    expect(screen.getByTestId("cutover-refused").textContent).toMatch(/12 row changes were written to the source after it was asked/);
    expect((screen.getByTestId("cutover-confirm") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.click(screen.getByTestId("cutover-accept-late"));
    await fireEvent.click(screen.getByTestId("cutover-confirm"));
    await vi.waitFor(() => expect(completes).toHaveLength(1));
    expect(completes[0]).toMatchObject({ freezeSource: false, acceptLate: true });
  });

  it("follows the job's events and enables Complete once synced", async () => {
    const calls: string[] = [];
    mockIPC(
      (cmd) => {
        calls.push(cmd);
        if (cmd === "start") return new Promise(() => {}); // runs until completed
        if (cmd === "complete") return true;
      },
      { shouldMockEvents: true },
    );
    render(Progress, { props: { profile, ondone: vi.fn() } });
    await vi.waitFor(() => expect(calls).toContain("start"));
    const send = (event: JobEvent, job = "shop") => emit("job-event", { job, event });
    await send({ type: "phase", phase: "copy" });
    await send({
      type: "plan",
      tables: [{ schema: "shop", table: "orders", target: "shop.orders", rows_estimate: 10, bytes_estimate: 100, chunks: 2, chunks_done: 0, rows_done: 0 }],
    });
    await send({ type: "chunk", schema: "shop", table: "orders", rows: 5, bytes: 500, chunks_done: 1, chunks: 2 });
    await send({ type: "throughput", rows_done: 5, bytes_done: 500, rows_total: 10, bytes_total: 1000, rows_per_sec: 1200, bytes_per_sec: 1000, eta_secs: 125, tables: [] });
    // The overall bar and the per-table row: %, grouped digits, state, ETA in minutes.
    await vi.waitFor(() => expect(screen.getByTestId("copy-percent").textContent).toBe("50 %"));
    expect(screen.getByTestId("rows").textContent).toMatch(/1,200 rows\/s · \d+ s elapsed · about 2 min 5 s left/);
    expect(screen.getByTestId("table-state-shop.orders").textContent).toBe("copying");
    expect(screen.getByTestId("table-shop.orders").textContent).toMatch(/5 \/ ~10.*50 %/);
    expect((await screen.findByTestId("rate-chart")).textContent).toMatch(/Copy: max 1200 rows\/s/);
    await send({ type: "phase", phase: "sync" }, "another-job");
    expect((await screen.findByTestId("phase")).textContent).toMatch(/copy/);
    const status = {
      state: "syncing",
      transactions: 5,
      changes: 20,
      job_changes: 20,
      job_ddl: 0, job_read_bytes: 0,
      transactions_per_sec: 5,
      changes_per_sec: 20,
      health: "streaming" as const,
      health_since: 0,
      lag_secs: 2.5,
      behind_bytes: 3000,
      catch_up_secs: 125,
      applied: { file: "binlog.000001", pos: 900, gtid: "0-1-9" },
      source: { file: "binlog.000001", pos: 1200, gtid: null },
      synced: false,
      retry: null,
      tables: [],
      shard_locks: [],
      sources: [],
      cutover: null,
      after_cutover: null,
      last_ddl: [],
      verification: null,
    };
    await send({ type: "phase", phase: "sync" });
    await send({ type: "sync", ...status });
    expect((await screen.findByTestId("lag")).textContent).toMatch(/2\.5 s/);
    expect(screen.getByTestId("behind").textContent).toBe("2.9 KiB of binlog · caught up in ~2 min 5 s");
    expect((screen.getByTestId("complete") as HTMLButtonElement).disabled).toBe(true);
    await send({ type: "sync", ...status, lag_secs: 0, synced: true, applied: { ...status.applied, pos: 1200 } });
    await vi.waitFor(() => expect((screen.getByTestId("complete") as HTMLButtonElement).disabled).toBe(false));
    // The lag chart has a point per status: 2.5 s, then 0.
    expect(screen.getByTestId("lag-chart").dataset.points).toBe("2");
    expect(screen.getByTestId("lag-chart").textContent).toMatch(/Lag: max 2\.5 s/);
    // Throughput over time: the sync's transactions/s (the copy's rows/s are dropped).
    expect(screen.getByTestId("rate-chart").dataset.points).toBe("2");
    expect(screen.getByTestId("rate-chart").textContent).toMatch(/Apply: max 5\.0 txn\/s/);
    // Complete opens the cutover checklist: it waits for the writes to be stopped
    // (or the source frozen) before it cuts over.
    await fireEvent.click(screen.getByTestId("complete"));
    expect(screen.getByTestId("cutover-lag").textContent).toMatch(/✔/);
    expect((screen.getByTestId("cutover-confirm") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.click(screen.getByTestId("cutover-writes-stopped"));
    await fireEvent.click(screen.getByTestId("cutover-confirm"));
    await vi.waitFor(() => expect(calls).toContain("complete"));
    // The source goes away: lag and behind are unknown (never 0), no table reads
    // synced, Complete is disabled and says why.
    await send({
      type: "sync",
      ...status,
      health: "retrying",
      health_since: Date.now() / 1000 - 12,
      lag_secs: null,
      behind_bytes: null,
      synced: false,
      retry: "retrying (2) — connection refused",
    });
    await vi.waitFor(() => expect(screen.getByTestId("lag").textContent).toBe("unknown"));
    expect(screen.getByTestId("health").textContent).toMatch(/retrying for 1\d s — retrying \(2\) — connection refused/);
    expect(screen.queryByTestId("behind")).toBeNull();
    expect(screen.getByTestId("table-state-shop.orders").textContent).toBe("no contact");
    expect((screen.getByTestId("complete") as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByTestId("complete").title).toMatch(/source cannot be reached/);
    // Abort asks first, saying what stays on the target; Cancel leaves the job alone.
    await fireEvent.click(screen.getByTestId("abort"));
    expect(screen.getByText(/keeps what was copied/)).toBeTruthy();
    await fireEvent.click(screen.getByTestId("abort-dialog-cancel"));
    expect(calls).not.toContain("abort");
  });

  it("shows a merged table's waiting DDL lock and each source of a job with several", async () => {
    const calls: string[] = [];
    mockIPC(
      (cmd) => {
        calls.push(cmd);
        return cmd === "start" ? new Promise(() => {}) : undefined;
      },
      { shouldMockEvents: true },
    );
    render(Progress, { props: { profile, ondone: vi.fn() } });
    await vi.waitFor(() => expect(calls).toContain("start"));
    const send = (event: JobEvent) => emit("job-event", { job: "shop", event });
    const at = (pos: number) => ({ file: "binlog.000001", pos, gtid: null });
    const part = (source: string, state: string) => ({
      source, state, applied: at(900), source_position: at(900), synced: state !== "waiting", health: "streaming" as const, lag_secs: 0, changes_per_sec: 3,
    });
    await send({ type: "phase", phase: "sync" });
    await send({
      type: "sync",
      state: "waiting", transactions: 1, changes: 1, job_changes: 1, job_ddl: 0, job_read_bytes: 0, transactions_per_sec: 0, changes_per_sec: 6, health: "streaming", health_since: 0,
      lag_secs: 0, behind_bytes: 0, catch_up_secs: 0, applied: at(900), source: at(900), synced: false, retry: null, tables: [],
      shard_locks: [{ target: "db.orders", statement: "ALTER TABLE db.orders ADD c INT", arrived: ["source:s1.orders"], waiting_for: ["east:s2.orders"] }],
      sources: [part("source", "waiting"), part("east", "syncing")],
      cutover: null,
      after_cutover: null,
      last_ddl: [],
      verification: null,
    });
    const lock = await screen.findByTestId("shard-lock");
    expect(lock.textContent).toMatch(/db\.orders waits for east:s2\.orders/);
    expect(lock.textContent).toMatch(/ALTER TABLE db\.orders ADD c INT/);
    expect(screen.getByTestId("source-east").textContent).toMatch(/syncing · synced/);
    expect(screen.getByTestId("source-source").textContent).toMatch(/waiting/);
  });

  it("shows a queued job, keeps it running when the page is left, and lists it as running here", async () => {
    const starts: string[] = [];
    mockIPC(
      (cmd, args) => {
        const a = args as { profile?: { name: string } };
        if (cmd === "start") {
          starts.push(a.profile?.name ?? "");
          return new Promise(() => {});
        }
        if (cmd === "profiles_list") return [{ name: "shop", profile: { ...profile, mode: "all", source: { host: "s", port: 1 }, target: { host: "t", port: 2 } }, error: null }];
        if (cmd === "status") return { job: "shop", mode: null, phase: null, running: false };
      },
      { shouldMockEvents: true },
    );
    const onleave = vi.fn();
    render(Progress, { props: { profile, ondone: vi.fn(), onleave } });
    await vi.waitFor(() => expect(starts).toEqual(["shop"]));
    await emit("job-event", { job: "shop", event: { type: "scheduled", start_at: "2026-11-23T03:00:00Z", in_secs: 60 } });
    expect((await screen.findByTestId("scheduled")).textContent).toMatch(/03:00:00Z/);
    await emit("job-event", { job: "shop", event: { type: "queued", behind: "orders-eu" } });
    expect((await screen.findByTestId("queued")).textContent).toMatch(/when orders-eu has finished its copy/);
    await fireEvent.click(screen.getByTestId("leave"));
    expect(onleave).toHaveBeenCalled();
    cleanup();
    // The job list shows it as queued, with its live view instead of Run.
    const onshow = vi.fn();
    render(Jobs, { props: { onopen: vi.fn(), onnew: vi.fn(), onshow } });
    await vi.waitFor(() => expect(screen.getByTestId("state-shop").textContent).toBe("queued behind orders-eu"));
    expect(screen.queryByTestId("run-shop")).toBeNull();
    await fireEvent.click(screen.getByTestId("show-shop"));
    expect(onshow).toHaveBeenCalled();
    cleanup();
    // Back on its page: the same run (not started twice), still following events.
    render(Progress, { props: { profile, ondone: vi.fn() } });
    await emit("job-event", { job: "shop", event: { type: "phase", phase: "copy" } });
    await vi.waitFor(() => expect(screen.getByTestId("phase").textContent).toMatch(/copy/));
    expect(screen.queryByTestId("queued")).toBeNull();
    expect(starts).toEqual(["shop"]);
  });

  it("offers Resume after a pause, which starts the job again", async () => {
    let starts = 0;
    const paused = { tables: 1, rows: 0, bytes: 0, seconds: 1, resumed: false, position: {}, lock_ms: 0, verify: null, synced_to: null, sync_end: "paused" };
    mockIPC((cmd) => {
      if (cmd === "start") {
        starts += 1;
        return starts === 1 ? paused : new Promise(() => {});
      }
    }, { shouldMockEvents: true });
    render(Progress, { props: { profile, ondone: vi.fn() } });
    await fireEvent.click(await screen.findByTestId("resume"));
    await vi.waitFor(() => expect(starts).toBe(2));
    await vi.waitFor(() => expect(screen.queryByTestId("resume")).toBeNull());
    expect(screen.getByTestId("pause")).toBeTruthy();
  });

  it("a sync stopped on a refused DDL offers Skip, Replace and Retry, and resumes after the decision", async () => {
    let starts = 0;
    const decisions: unknown[] = [];
    const refused = { code: "replicate.ddl_failed", message: "the target refused ALTER TABLE t ADD COLUMN c INT", remedy: "decide" };
    const sync = {
      state: "syncing", transactions: 1, changes: 1, transactions_per_sec: 0, changes_per_sec: 0, lag_secs: 0,
      behind_bytes: 0, catch_up_secs: 0, applied: { file: "binlog.000001", pos: 900, gtid: null },
      source: { file: "binlog.000001", pos: 900, gtid: null }, synced: true, retry: null, tables: [],
      shard_locks: [], sources: [],
    };
    mockIPC((cmd, args) => {
      if (cmd === "start") {
        starts += 1;
        if (starts === 1) {
          return new Promise((_, reject) => {
            setTimeout(() => emit("job-event", { job: "shop", event: { type: "sync", ...sync } }), 0);
            setTimeout(() => reject(refused), 20);
          });
        }
        return new Promise(() => {});
      }
      if (cmd === "status") {
        return { pending_ddl: { position: "binlog.000001:900", statement: "ALTER TABLE t ADD COLUMN c INT", error: "Duplicate column name 'c'" } };
      }
      if (cmd === "decide_ddl") {
        decisions.push((args as { decision: unknown }).decision);
        return true;
      }
    }, { shouldMockEvents: true });
    render(Progress, { props: { profile, ondone: vi.fn() } });
    expect((await screen.findByTestId("ddl-statement")).textContent).toBe("ALTER TABLE t ADD COLUMN c INT");
    expect(screen.getByTestId("ddl-error").textContent).toBe("Duplicate column name 'c'");
    // The header says so first thing, with a way to the decision.
    expect(screen.getByTestId("banner").textContent).toMatch(/waits for your decision/);
    expect(screen.getByTestId("run-status").textContent).toMatch(/stopped by an error/);
    await fireEvent.click(screen.getByTestId("banner-go"));
    expect(document.activeElement?.closest("#ddl-decision")).toBeTruthy();
    // The stopped job no longer claims to be syncing.
    expect(screen.getByTestId("sync-state").textContent).toBe("stopped by an error");
    expect(screen.queryByTestId("lag")).toBeNull();
    await fireEvent.click(screen.getByTestId("ddl-replace"));
    const editor = screen.getByTestId("ddl-replacement") as HTMLTextAreaElement;
    expect(editor.value).toBe("ALTER TABLE t ADD COLUMN c INT");
    await fireEvent.input(editor, { target: { value: "ALTER TABLE t ADD COLUMN IF NOT EXISTS c INT" } });
    await fireEvent.click(screen.getByTestId("ddl-replace-run"));
    await vi.waitFor(() => expect(starts).toBe(2));
    expect(decisions).toEqual([{ replace: "ALTER TABLE t ADD COLUMN IF NOT EXISTS c INT" }]);
    await vi.waitFor(() => expect(screen.queryByTestId("ddl-decision")).toBeNull());
    // The log keeps the first run's stop across the resume, and filters by severity.
    const log = () => [...screen.getByTestId("log").querySelectorAll("li")].map((li) => li.textContent ?? "");
    await vi.waitFor(() => expect(log().some((l) => l.includes("resumed"))).toBe(true));
    expect(log().some((l) => l.includes("replicate.ddl_failed"))).toBe(true);
    await fireEvent.change(screen.getByTestId("log-filter"), { target: { value: "error" } });
    expect(log()).toHaveLength(1);
    expect(log()[0]).toMatch(/replicate\.ddl_failed/);
  });

  it("runs a job placed on a DM cluster there: Pause stops it there, no cutover or abort from here", async () => {
    const calls: [string, unknown][] = [];
    mockIPC(
      (cmd, args) => {
        calls.push([cmd, args]);
        if (cmd === "start_on_cluster") return new Promise(() => {});
        if (cmd === "pause") return true;
      },
      { shouldMockEvents: true },
    );
    place("shop", { master: "http://10.0.0.5:8261", token: "" });
    render(Progress, { props: { profile, ondone: vi.fn() } });
    expect((await screen.findByTestId("on-cluster")).textContent).toMatch(/10\.0\.0\.5:8261/);
    await vi.waitFor(() => expect(calls.map(([c]) => c)).toContain("start_on_cluster"));
    expect(calls.find(([c]) => c === "start_on_cluster")?.[1]).toMatchObject({ master: "http://10.0.0.5:8261", token: null });
    expect(calls.map(([c]) => c)).not.toContain("start");
    expect(screen.queryByTestId("complete")).toBeNull();
    expect(screen.queryByTestId("abort")).toBeNull();
    expect(screen.getByTestId("pause").textContent).toMatch(/Stop on the cluster/);
    await fireEvent.click(screen.getByTestId("pause"));
    await vi.waitFor(() => expect(calls.map(([c]) => c)).toContain("pause"));
  });
});
