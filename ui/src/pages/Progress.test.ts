import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { JobEvent } from "../bindings/JobEvent";
import type { Profile } from "../bindings/Profile";
import Progress from "./Progress.svelte";

const profile = { name: "shop" } as unknown as Profile;

afterEach(() => {
  cleanup();
  clearMocks();
});

describe("Progress", () => {
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
      tables: [{ schema: "shop", table: "orders", target: "shop.orders", rows_estimate: 10, bytes_estimate: 100, chunks: 2, chunks_done: 0 }],
    });
    await send({ type: "phase", phase: "sync" }, "another-job");
    expect((await screen.findByTestId("phase")).textContent).toMatch(/copy/);
    const status = {
      state: "syncing",
      transactions: 5,
      changes: 20,
      transactions_per_sec: 5,
      changes_per_sec: 20,
      lag_secs: 2.5,
      behind_bytes: 300,
      applied: { file: "binlog.000001", pos: 900, gtid: "0-1-9" },
      source: { file: "binlog.000001", pos: 1200, gtid: null },
      synced: false,
      retry: null,
    };
    await send({ type: "phase", phase: "sync" });
    await send({ type: "sync", ...status });
    expect((await screen.findByTestId("lag")).textContent).toMatch(/2\.5 s/);
    expect((screen.getByTestId("complete") as HTMLButtonElement).disabled).toBe(true);
    await send({ type: "sync", ...status, lag_secs: 0, synced: true, applied: { ...status.applied, pos: 1200 } });
    await vi.waitFor(() => expect((screen.getByTestId("complete") as HTMLButtonElement).disabled).toBe(false));
    // The lag chart has a point per status: 2.5 s, then 0.
    expect(screen.getByTestId("lag-chart").querySelector("polyline")?.getAttribute("points")?.split(" ")).toHaveLength(2);
    await fireEvent.click(screen.getByTestId("complete"));
    await vi.waitFor(() => expect(calls).toContain("complete"));
    // Abort asks first, saying what stays on the target.
    await fireEvent.click(screen.getByTestId("abort"));
    expect(screen.getByText(/keeps what was copied/)).toBeTruthy();
    expect(calls).not.toContain("abort");
  });
});
