import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import { utcFromLocal } from "../lib/format";
import type { Profile } from "../bindings/Profile";
import { testProfile } from "../test/fixtures";
import Options from "./Options.svelte";
import { clusterOf, placements } from "../lib/placement.svelte";

afterEach(() => {
  cleanup();
  localStorage.clear();
  for (const k of Object.keys(placements)) delete placements[k];
});

const profile = testProfile;

describe("Options", () => {
  it("groups the settings and folds the advanced ones until one of them is wrong", async () => {
    const p = $state(profile());
    render(Options, { props: { profile: p, onnext: vi.fn(), onback: vi.fn() } });
    for (const g of ["group-copy", "group-sync", "group-schedule", "where"]) expect(screen.getByTestId(g)).toBeTruthy();
    const advanced = screen.getByTestId("advanced") as HTMLDetailsElement;
    expect(advanced.open).toBe(false);
    expect(advanced.contains(screen.getByTestId("chunk-mib"))).toBe(true);
    expect(advanced.contains(screen.getByTestId("apply-workers"))).toBe(true);
    await fireEvent.input(screen.getByTestId("chunk-mib"), { target: { value: "0.001" } });
    await vi.waitFor(() => expect(advanced.open).toBe(true));
    expect(screen.getByTestId("error-chunk")).toBeTruthy();
  });

  it("rejects out-of-range numbers next to the field", async () => {
    // The app binds a reactive profile; so does this test.
    const p = $state(profile());
    render(Options, { props: { profile: p, onnext: vi.fn(), onback: vi.fn() } });
    await fireEvent.input(screen.getByTestId("export-threads"), { target: { value: "0" } });
    expect((await screen.findByTestId("error-export")).textContent).toMatch(/1 to 64/);
    expect((screen.getByTestId("options-next") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.input(screen.getByTestId("export-threads"), { target: { value: "8" } });
    await vi.waitFor(() => expect(screen.queryByTestId("error-export")).toBeNull());
    expect((screen.getByTestId("options-next") as HTMLButtonElement).disabled).toBe(false);
    // A start time from a job file that is not one is said; the picker takes
    // local time and the job keeps it as UTC, shown beside it.
    p.options.start_at = "tomorrow";
    expect((await screen.findByTestId("error-start-at")).textContent).toMatch(/date and time/);
    await fireEvent.input(screen.getByTestId("start-at"), { target: { value: "2030-01-01T06:00" } });
    await vi.waitFor(() => expect(screen.queryByTestId("error-start-at")).toBeNull());
    expect(p.options.start_at).toBe(utcFromLocal("2030-01-01T06:00"));
    expect(screen.getByTestId("start-at-utc").textContent).toContain(`${p.options.start_at?.slice(0, 10)}`);
    // Sizes are shown and entered in MiB.
    expect((screen.getByTestId("chunk-mib") as HTMLInputElement).value).toBe("4");
    await fireEvent.input(screen.getByTestId("chunk-mib"), { target: { value: "0.5" } });
    expect(p.options.chunk_bytes).toBe(524288);
  });

  it("shows apply workers and cutover for the default full + incremental job, whose binlog settings were left out", async () => {
    const p: Profile = $state({ ...profile(), mode: "all", incremental: undefined });
    render(Options, { props: { profile: p, onnext: vi.fn(), onback: vi.fn() } });
    expect((screen.getByTestId("apply-workers") as HTMLSelectElement).value).toBe("0");
    expect(screen.getByTestId("apply-workers").textContent).toContain("Automatic");
    expect((screen.getByTestId("cutover") as HTMLSelectElement).value).toBe("auto");
    expect(p.incremental?.start).toBe("snapshot");
  });

  it("hands the job to a DM cluster when asked, with the master's address checked and remembered", async () => {
    const p = $state(profile());
    const onnext = vi.fn();
    render(Options, { props: { profile: p, onnext, onback: vi.fn() } });
    expect(screen.queryByTestId("dm-master")).toBeNull();
    await fireEvent.click(screen.getByTestId("run-on-cluster"));
    expect(screen.getByTestId("cluster-note").textContent).toMatch(/safe mode/);
    await fireEvent.input(screen.getByTestId("dm-master"), { target: { value: "dm-master:8261" } });
    expect((await screen.findByTestId("error-dm-master")).textContent).toMatch(/http:\/\//);
    expect((screen.getByTestId("options-next") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.input(screen.getByTestId("dm-master"), { target: { value: "http://10.0.0.5:8261" } });
    await fireEvent.input(screen.getByTestId("dm-token"), { target: { value: "t0k" } });
    await fireEvent.click(screen.getByTestId("options-next"));
    expect(onnext).toHaveBeenCalled();
    expect(clusterOf("shop")).toEqual({ master: "http://10.0.0.5:8261", token: "t0k" });
    // The address outlives the window; the token does not.
    expect(localStorage.getItem("ferry.placement")).toBe(JSON.stringify({ shop: "http://10.0.0.5:8261" }));
    expect(localStorage.getItem("ferry.placement")).not.toMatch(/t0k/);
  });
});
