import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, describe, expect, it, vi } from "vitest";
import Jobs from "./Jobs.svelte";

afterEach(() => {
  cleanup();
  clearMocks();
});

const endpoint = (host: string) => ({ host, port: 3306, user: "u", tls: "preferred", connect_timeout_secs: 10 });
const saved = (name: string) => ({
  name,
  profile: { name, mode: "all", source: endpoint("s1"), target: endpoint("t1"), objects: { include: ["shop.*", "shop.orders", "crm"] }, options: {} },
  error: null,
});

describe("Jobs", () => {
  it("lists saved jobs with their last state and deletes one", async () => {
    let names = ["alpha", "beta"];
    const deleted: string[] = [];
    mockIPC((cmd, args) => {
      const a = args as { name?: string; profile?: { name: string } };
      if (cmd === "profiles_list") return names.map(saved);
      if (cmd === "status") {
        return a.profile?.name === "alpha"
          ? { job: "alpha", mode: "all", phase: "sync", running: false, snapshot: null, applied: null, live: null, live_age_secs: 125, pending_ddl: null }
          : { job: "beta", mode: null, phase: null, running: false, snapshot: null, applied: null, live: null, live_age_secs: null, pending_ddl: null };
      }
      if (cmd === "profile_delete") {
        deleted.push(a.name ?? "");
        names = names.filter((n) => n !== a.name);
      }
    });
    const onduplicate = vi.fn();
    const onreport = vi.fn();
    render(Jobs, { props: { onopen: vi.fn(), onnew: vi.fn(), onduplicate, onreport } });
    expect((await screen.findByTestId("job-alpha")).textContent).toMatch(/s1:3306 → t1:3306/);
    await vi.waitFor(() => expect(screen.getByTestId("state-alpha").textContent).toBe("paused"));
    expect(screen.getByTestId("state-beta").textContent).toBe("never run");
    // The mode in words, the schemas the rules name, and when the job last reported.
    expect(screen.getByTestId("mode-alpha").textContent).toBe("Full copy + incremental sync");
    expect(screen.getByTestId("schemas-alpha").textContent).toBe("shop, crm");
    expect(screen.getByTestId("detail-alpha").textContent).toBe("last status 2 min 5 s ago");
    expect(screen.getByTestId("run-alpha").textContent).toBe("Resume");
    expect(screen.getByTestId("run-beta").textContent).toBe("Run");
    // A job that has run has a report; one that never ran has none.
    expect(screen.queryByTestId("report-beta")).toBeNull();
    await fireEvent.click(screen.getByTestId("report-alpha"));
    expect(onreport.mock.calls[0][0].name).toBe("alpha");
    await fireEvent.click(screen.getByTestId("duplicate-alpha"));
    expect(onduplicate.mock.calls[0][0].name).toBe("alpha");
    // Delete asks first and says what stays on the servers.
    await fireEvent.click(screen.getByTestId("delete-beta"));
    expect(screen.getByTestId("delete-dialog").textContent).toMatch(/target keeps its tables/);
    expect(deleted).toEqual([]);
    await fireEvent.click(screen.getByTestId("delete-dialog-confirm"));
    await vi.waitFor(() => expect(screen.queryByTestId("job-beta")).toBeNull());
    expect(deleted).toEqual(["beta"]);
  });

  it("decides a refused DDL from the list and resumes straight into the run", async () => {
    const decided: unknown[] = [];
    const pending = { position: "binlog.000001:900", statement: "ALTER TABLE shop.orders MODIFY note VARCHAR(60)", error: "Unknown column 'note'" };
    mockIPC((cmd, args) => {
      if (cmd === "profiles_list") return [saved("alpha")];
      if (cmd === "status") return { job: "alpha", mode: "all", phase: "sync", running: false, live: null, live_age_secs: 3, pending_ddl: pending };
      if (cmd === "decide_ddl") decided.push((args as { decision: unknown }).decision);
    });
    const onresume = vi.fn();
    const onrun = vi.fn();
    render(Jobs, { props: { onopen: vi.fn(), onnew: vi.fn(), onresume, onrun } });
    await fireEvent.click(await screen.findByTestId("decide-alpha"));
    expect((await screen.findByTestId("ddl-statement")).textContent).toBe(pending.statement);
    await fireEvent.click(screen.getByTestId("ddl-skip"));
    await vi.waitFor(() => expect(onresume).toHaveBeenCalled());
    expect(onresume.mock.calls[0][0].name).toBe("alpha");
    expect(decided).toEqual(["skip"]);
    // Not through the precheck again.
    expect(onrun).not.toHaveBeenCalled();
  });

  it("says a job whose process ended is interrupted, and follows one another process runs", async () => {
    mockIPC((cmd, args) => {
      const a = args as { profile?: { name: string } };
      if (cmd === "profiles_list") return ["killed", "background"].map(saved);
      if (cmd === "status") {
        const base = { mode: "all", phase: "sync", snapshot: null, applied: null, live: null, pending_ddl: null, behind_bytes: null, source_now: null };
        return a.profile?.name === "killed"
          ? { ...base, job: "killed", running: false, interrupted: true, live_age_secs: 130, behind_bytes: 4096 }
          : { ...base, job: "background", running: true, interrupted: false, live_age_secs: 1 };
      }
    });
    const onshow = vi.fn();
    const onview = vi.fn();
    const onopen = vi.fn();
    render(Jobs, { props: { onopen, onnew: vi.fn(), onshow, onview } });
    await vi.waitFor(() => expect(screen.getByTestId("state-killed").textContent).toBe("interrupted 2 min 10 s ago"));
    expect(screen.getByTestId("state-killed").className).toMatch(/chip-fail/);
    expect(screen.getByTestId("detail-killed").textContent).toMatch(/4.0 KiB of binlog to apply/);
    expect(screen.getByTestId("run-killed").textContent).toBe("Resume");
    await vi.waitFor(() => expect(screen.getByTestId("state-background").textContent).toBe("running"));
    await fireEvent.click(screen.getByTestId("show-background"));
    expect(onshow.mock.calls[0][0].name).toBe("background");
    // A running job opens read-only; a stopped one opens the wizard.
    expect(screen.getByTestId("open-background").textContent).toBe("View");
    await fireEvent.click(screen.getByTestId("open-background"));
    expect(onview.mock.calls[0][1]).toBe("This job is running");
    expect(screen.getByTestId("open-killed").textContent).toBe("Open");
    await fireEvent.click(screen.getByTestId("open-killed"));
    expect(onopen.mock.calls[0][0].name).toBe("killed");
  });
});
