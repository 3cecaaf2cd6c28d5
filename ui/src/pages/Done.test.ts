import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { RunSummary } from "../bindings/RunSummary";
import Done from "./Done.svelte";

afterEach(() => {
  cleanup();
  clearMocks();
});

const summary = {
  tables: 1,
  rows: 10,
  bytes: 2048,
  seconds: 2,
  resumed: false,
  position: { file: "binlog.000001", pos: 4, gtid: null },
  lock_ms: 3,
  verify: {
    equal: true,
    tables: [{ schema: "shop", table: "orders", target_schema: "shop", target_table: "orders", source_rows: 10, target_rows: 10, chunks: 1, mismatches: [], definition: [], last_ddl: null, equal: true }],
  },
  synced_to: null,
  sync_end: "completed",
} as unknown as RunSummary;

// The whole job's report as the engine makes it (see ferry::report).
const jobReport = (over: Record<string, unknown> = {}) => ({
  job: "shop", generated_at: 1_800_000_000, mode: "all", phase: "completed", running: false,
  started_at: 1_800_000_000 - 7200, ended_at: 1_800_000_000,
  rows_copied: 5_000_000, bytes_copied: 3 * 1048576, row_changes: 1_234_567, ddl_ran: 2,
  runs: [
    { started_at: 1_800_000_000 - 7200, ended_at: null, end: "interrupted", resumed: null, rows_copied: 0, phases: [{ phase: "copy", seconds: 3000 }] },
    { started_at: 1_800_000_000 - 4000, ended_at: 1_800_000_000, end: "completed", resumed: "copy", rows_copied: 5_000_000, phases: [{ phase: "copy", seconds: 1000 }, { phase: "sync", seconds: 3000 }] },
  ],
  phases: [{ phase: "copy", seconds: 4000 }, { phase: "sync", seconds: 3000 }],
  ddl: [
    { at: 1_800_000_000 - 100, statement: "ALTER TABLE shop.orders ADD COLUMN note INT", outcome: "applied", position: "binlog.000002:100" },
    { at: 1_800_000_000 - 50, statement: "ALTER TABLE shop.orders ADD INDEX k (note)", outcome: "refused: duplicate key name", position: "binlog.000002:200" },
  ],
  warnings: [{ at: 1_800_000_000 - 50, severity: "error", text: "replicate.ddl_failed: the target refused a DDL" }],
  verification: null, verified_at: null, late_writes: null,
  checklist: [
    { id: "events", text: "1 event was created DISABLED on the target", sql: "ALTER EVENT `shop`.`purge` ENABLE;" },
    { id: "accounts", text: "Accounts and grants are not migrated: 1 account has grants", sql: "CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY '<password>';\nGRANT SELECT ON `shop`.* TO 'app'@'%';" },
  ],
  ...over,
});
const profile = { name: "shop" } as never;

describe("Done", () => {
  it("saves the job's report as JSON, CSV and an HTML page, through the engine, and says where", async () => {
    const asked: string[] = [];
    mockIPC((cmd, args) => {
      if (cmd === "job_report") return jobReport();
      if (cmd === "export_report") {
        const format = (args as { format: string }).format;
        asked.push(format);
        return `/home/dba/Downloads/shop-report.${format}`;
      }
    });
    render(Done, { props: { job: "shop", summary, onclose: vi.fn(), profile } });
    expect(screen.getByTestId("verify-result").textContent).toMatch(/0 differences/);
    await fireEvent.click(screen.getByTestId("export-json"));
    await fireEvent.click(screen.getByTestId("export-csv"));
    await fireEvent.click(screen.getByTestId("export-html"));
    await vi.waitFor(() => expect(screen.getAllByTestId("exported")).toHaveLength(3));
    expect(asked).toEqual(["json", "csv", "html"]);
    expect(screen.getAllByTestId("exported")[2].textContent).toBe("Saved to /home/dba/Downloads/shop-report.html");
  });

  it("is the whole job's report: every run, the time per phase, the DDL with their outcomes, the warnings", async () => {
    mockIPC((cmd) => (cmd === "job_report" ? jobReport() : undefined));
    render(Done, { props: { job: "shop", summary: { ...summary, rows: 0, resumed: true }, onclose: vi.fn(), profile } });
    expect((await screen.findByTestId("job-rows")).textContent).toBe("5,000,000 (3.0 MiB)");
    expect(screen.getByTestId("job-changes").textContent).toBe("1,234,567 row changes · 2 DDL statements ran on the target");
    expect(screen.getByTestId("job-phases").textContent).toBe("copy 1 h 6 min · sync 50 min 0 s");
    expect(screen.getByTestId("run-0").textContent).toMatch(/interrupted/);
    expect(screen.getByTestId("run-1").textContent).toMatch(/completed \(resumed in copy\)/);
    expect(screen.getByTestId("job-ddl").textContent).toMatch(/ADD INDEX k \(note\)refused: duplicate key name/);
    expect(screen.getByTestId("job-warnings").textContent).toMatch(/Warnings and errors over the job: 1/);
    // This run's own figures stay below it.
    expect(screen.getByTestId("summary").textContent).toMatch(/Resumed at/);
  });

  it("opens from the job list without a run: the report alone, its verification with the keys that differ", async () => {
    const verification = {
      equal: false,
      tables: [
        {
          schema: "shop", table: "orders", target_schema: "shop", target_table: "orders", source_rows: 10, target_rows: 9, chunks: 2,
          mismatches: [{ chunk: 1, range: "(5 .. 10]", source_rows: 5, target_rows: 4, samples: [{ key: "7", difference: "missing on the target" }] }],
          definition: [], last_ddl: null, equal: false,
        },
      ],
    };
    mockIPC((cmd) => (cmd === "job_report" ? jobReport({ verification, verified_at: 1_800_000_000 }) : undefined));
    render(Done, { props: { job: "shop", onclose: vi.fn(), profile } });
    expect((await screen.findByTestId("samples-shop.orders-1")).textContent).toBe("7 (missing on the target)");
    expect(screen.queryByTestId("summary")).toBeNull();
    expect(screen.queryByTestId("after-cutover")).toBeNull();
    expect(screen.getByTestId("todo-events").textContent).toMatch(/ALTER EVENT `shop`.`purge` ENABLE;/);
    expect(screen.getByTestId("todo-accounts").textContent).toMatch(/GRANT SELECT ON `shop`.\* TO 'app'@'%';/);
  });

  it("watches the source after the cutover and applies what it finds on request", async () => {
    const calls: string[] = [];
    mockIPC(
      (cmd) => {
        calls.push(cmd);
        if (cmd === "watch") return new Promise(() => {}); // watches while the page is open
        if (cmd === "apply_late") return { ...summary, sync_end: "completed", verify: { equal: true, tables: [] } };
        if (cmd === "stop_watch") return true;
        if (cmd === "job_report") return jobReport();
      },
      { shouldMockEvents: true },
    );
    const at = { file: "binlog.000002", pos: 900, gtid: null };
    const view = render(Done, { props: { job: "shop", summary: { ...summary, synced_to: at }, onclose: vi.fn(), profile } });
    await vi.waitFor(() => expect(calls).toContain("watch"));
    // Before the application moves: the report's checklist.
    expect((await screen.findByTestId("todo-events")).textContent).toMatch(/ALTER EVENT `shop`.`purge` ENABLE;/);
    expect(screen.getByTestId("todo-accounts").textContent).toMatch(/Accounts and grants are not migrated/);
    const found = (rows: number) => ({
      type: "after_cutover" as const,
      late: { since: at, first: rows ? at : null, last: rows ? at : null, rows, tables: rows ? [{ schema: "shop", table: "audit_log", count: rows }] : [] },
      watching_until: Date.now() / 1000 + 600,
      read_to: at,
    });
    await emit("job-event", { job: "shop", event: found(0) });
    expect((await screen.findByTestId("no-late-writes")).textContent).toMatch(/No write to the migrated tables since the cutover; watching the source until/);
    await emit("job-event", { job: "shop", event: found(3) });
    expect((await screen.findByTestId("late-writes")).textContent).toMatch(/3 row changes\s+\(shop.audit_log 3\) since binlog.000002:900/);
    await fireEvent.click(screen.getByTestId("apply-late"));
    expect(screen.getByText(/overwritten by the\s+source's/)).toBeTruthy();
    await fireEvent.click(screen.getByTestId("apply-late-dialog-confirm"));
    expect((await screen.findByTestId("applied-late")).textContent).toMatch(/every table equal/);
    expect(calls).toContain("apply_late");
    view.unmount();
    expect(calls).toContain("stop_watch");
  });

  it("shows the key ranges that differ, verifies again, and resumes the sync", async () => {
    mockIPC((cmd) => {
      if (cmd === "verify") {
        return { equal: true, tables: [{ schema: "shop", table: "orders", target_schema: "shop", target_table: "orders", source_rows: 10, target_rows: 10, chunks: 1, mismatches: [], definition: [], last_ddl: null, equal: true }] };
      }
    });
    const differs = {
      ...summary,
      sync_end: "completed_unverified",
      verify: {
        equal: false,
        tables: [
          {
            schema: "shop", table: "orders", target_schema: "shop", target_table: "orders", source_rows: 10, target_rows: 9, chunks: 2,
            mismatches: [{ chunk: 1, range: "(5 .. 10]", source_rows: 5, target_rows: 4, samples: [] }], definition: [], last_ddl: null, equal: false,
          },
        ],
      },
    } as unknown as RunSummary;
    const onresume = vi.fn();
    render(Done, { props: { job: "shop", summary: differs, onclose: vi.fn(), profile, onresume } });
    expect(screen.getByTestId("range-shop.orders-1").textContent).toMatch(/Key range \(5 .. 10\]: 5 rows on the source, 4 on the target/);
    expect(screen.getByTestId("verify-next").textContent).toMatch(/source was still written to/);
    await fireEvent.click(screen.getByTestId("resume-sync"));
    expect(onresume).toHaveBeenCalled();
    await fireEvent.click(screen.getByTestId("verify-again"));
    await vi.waitFor(() => expect(screen.getByTestId("verify-result").textContent).toMatch(/Verified again: 1 tables equal, 0 differences/));
    expect(screen.queryByTestId("range-shop.orders-1")).toBeNull();
  });

  it("keeps the way back after the cutover: runs the reverse sync nobody runs, rolls back, and says so", async () => {
    const calls: string[] = [];
    let started = false;
    mockIPC(
      (cmd) => {
        calls.push(cmd);
        if (cmd === "job_report")
          return jobReport({
            way_back: {
              reverse: { state: "syncing", start: { file: "binlog.000003", pos: 4, gtid: null }, until: null, tables: [["shop.orders", "shop.orders"]], ended_at: null },
              running: false,
              sync: null,
            },
          });
        if (cmd === "job_log") return [];
        if (cmd === "start") {
          started = true;
          return new Promise(() => {});
        }
        // Delivered once a process runs the reverse sync.
        if (cmd === "rollback") return started;
        return true;
      },
      { shouldMockEvents: true },
    );
    const reversible = { name: "shop", source: { host: "old.example", port: 3306 }, incremental: { reverse: "until-released" } } as never;
    render(Done, { props: { job: "shop", onclose: vi.fn(), profile: reversible } });
    expect((await screen.findByTestId("wayback-state")).textContent).toMatch(/reverse sync not running/);
    // No after-cutover watch: the reverse sync's own writes reach the source.
    expect(calls).not.toContain("watch");
    await fireEvent.click(screen.getByTestId("rollback"));
    await fireEvent.click(screen.getByTestId("rollback-dialog-confirm"));
    await vi.waitFor(() => expect(calls.filter((c) => c === "rollback").length).toBe(2), { timeout: 3000 });
    expect(calls.indexOf("start")).toBeGreaterThan(calls.indexOf("rollback"));
    await emit("job-event", {
      job: "shop",
      event: { type: "reverse", state: "rolled_back", start: { file: "binlog.000003", pos: 4, gtid: null }, until: null, tables: [["shop.orders", "shop.orders"]], ended_at: 1_800_000_100 },
    });
    expect((await screen.findByTestId("wayback-ended")).textContent).toMatch(/Rolled back at .*: the source \(old\.example:3306\) has every change the target had/);
    expect(screen.queryByTestId("wayback")).toBeNull();
  });
});
