import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Profile } from "../bindings/Profile";
import { testProfile } from "../test/fixtures";
import Options from "./Options.svelte";

afterEach(() => cleanup());

const profile = testProfile;

describe("Options", () => {
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
    await fireEvent.input(screen.getByTestId("start-at"), { target: { value: "tomorrow" } });
    expect((await screen.findByTestId("error-start-at")).textContent).toMatch(/UTC/);
    await fireEvent.input(screen.getByTestId("start-at"), { target: { value: "2030-01-01T06:00:00Z" } });
    await vi.waitFor(() => expect(screen.queryByTestId("error-start-at")).toBeNull());
    expect(p.options.start_at).toBe("2030-01-01T06:00:00Z");
    // Sizes are shown and entered in MiB.
    expect((screen.getByTestId("chunk-mib") as HTMLInputElement).value).toBe("4");
    await fireEvent.input(screen.getByTestId("chunk-mib"), { target: { value: "0.5" } });
    expect(p.options.chunk_bytes).toBe(524288);
  });

  it("shows apply workers and cutover for the default full + incremental job, whose binlog settings were left out", async () => {
    const p: Profile = $state({ ...profile(), mode: "all", incremental: undefined });
    render(Options, { props: { profile: p, onnext: vi.fn(), onback: vi.fn() } });
    expect((screen.getByTestId("apply-workers") as HTMLInputElement).value).toBe("1");
    expect((screen.getByTestId("cutover") as HTMLSelectElement).value).toBe("auto");
    expect(p.incremental?.start).toBe("snapshot");
  });
});
