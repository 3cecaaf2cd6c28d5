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

describe("Done", () => {
  it("saves the report and the verification as files and says where", async () => {
    const files: { name: string; contents: string }[] = [];
    mockIPC((cmd, args) => {
      if (cmd === "save_report") {
        const a = args as { name: string; contents: string };
        files.push(a);
        return `/home/dba/Downloads/${a.name}`;
      }
    });
    render(Done, { props: { job: "shop", summary, onclose: vi.fn() } });
    expect(screen.getByTestId("verify-result").textContent).toMatch(/0 differences/);
    await fireEvent.click(screen.getByTestId("export-json"));
    await fireEvent.click(screen.getByTestId("export-csv"));
    await vi.waitFor(() => expect(screen.getAllByTestId("exported")).toHaveLength(2));
    expect(screen.getAllByTestId("exported")[0].textContent).toBe("Saved to /home/dba/Downloads/shop-report.json");
    expect(JSON.parse(files[0].contents)).toMatchObject({ job: "shop", rows: 10, verify: { equal: true } });
    expect(files[1].name).toBe("shop-verification.csv");
    expect(files[1].contents).toBe(
      "source,target,source_rows,target_rows,chunks,differing_chunks,definition,last_ddl,equal\nshop.orders,shop.orders,10,10,1,0,,,true\n",
    );
  });

  it("sums up the whole job across its runs when it has the profile", async () => {
    mockIPC((cmd) => {
      if (cmd === "status") {
        return {
          job: "shop", mode: "all", phase: "completed", running: false,
          snapshot: { file: "binlog.000001", pos: 4, gtid: "0-1-7" }, applied: { file: "binlog.000002", pos: 900, gtid: null },
          live: { job_changes: 1234567, job_ddl: 2 }, live_age_secs: 1, pending_ddl: null,
          copied_rows: 5000000, copied_bytes: 3 * 1048576, started_at: Math.floor(Date.now() / 1000) - 7200,
        };
      }
    });
    const profile = { name: "shop" } as never;
    render(Done, { props: { job: "shop", summary: { ...summary, rows: 0, resumed: true }, onclose: vi.fn(), profile } });
    expect((await screen.findByTestId("job-rows")).textContent).toBe("5,000,000 (3.0 MiB)");
    expect(screen.getByTestId("job-changes").textContent).toBe("1,234,567 row changes · 2 DDL statements");
    expect(screen.getByTestId("job-snapshot").textContent).toBe("binlog.000001:4 (gtid 0-1-7)");
    expect(screen.getByTestId("job-summary").textContent).toMatch(/2 h 0 min ago/);
  });

  it("watches the source after the cutover and applies what it finds on request", async () => {
    const calls: string[] = [];
    mockIPC(
      (cmd) => {
        calls.push(cmd);
        if (cmd === "watch") return new Promise(() => {}); // watches while the page is open
        if (cmd === "apply_late") return { ...summary, sync_end: "completed", verify: { equal: true, tables: [] } };
        if (cmd === "stop_watch") return true;
        if (cmd === "job_log") {
          return [
            { at: 1, severity: "warning", text: "snapshot.event_disabled: event shop.purge was created DISABLED on the target Fix: after cutover run ALTER EVENT shop.purge ENABLE" },
            { at: 2, severity: "info", text: "phase: completed" },
          ];
        }
      },
      { shouldMockEvents: true },
    );
    const profile = { name: "shop" } as never;
    const at = { file: "binlog.000002", pos: 900, gtid: null };
    const view = render(Done, { props: { job: "shop", summary: { ...summary, synced_to: at }, onclose: vi.fn(), profile } });
    await vi.waitFor(() => expect(calls).toContain("watch"));
    // Before the application moves: the event to enable (with its SQL), the
    // triggers now live, the accounts Ferry does not migrate.
    expect((await screen.findByTestId("todo-events")).textContent).toMatch(/ALTER EVENT shop.purge ENABLE;/);
    expect(screen.getByTestId("todo-triggers")).toBeTruthy();
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
            mismatches: [{ chunk: 1, range: "(5 .. 10]", source_rows: 5, target_rows: 4 }], definition: [], last_ddl: null, equal: false,
          },
        ],
      },
    } as unknown as RunSummary;
    const onresume = vi.fn();
    render(Done, { props: { job: "shop", summary: differs, onclose: vi.fn(), profile: { name: "shop" } as never, onresume } });
    expect(screen.getByTestId("range-shop.orders-1").textContent).toMatch(/Key range \(5 .. 10\]: 5 rows on the source, 4 on the target/);
    expect(screen.getByTestId("verify-next").textContent).toMatch(/source was still written to/);
    await fireEvent.click(screen.getByTestId("resume-sync"));
    expect(onresume).toHaveBeenCalled();
    await fireEvent.click(screen.getByTestId("verify-again"));
    await vi.waitFor(() => expect(screen.getByTestId("verify-result").textContent).toMatch(/Verified again: 1 tables equal, 0 differences/));
    expect(screen.queryByTestId("range-shop.orders-1")).toBeNull();
  });
});
