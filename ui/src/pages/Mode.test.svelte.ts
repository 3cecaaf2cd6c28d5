import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, describe, expect, it, vi } from "vitest";
import Mode from "./Mode.svelte";
import { testProfile } from "../test/fixtures";

afterEach(() => {
  cleanup();
  clearMocks();
});

describe("Mode", () => {
  it("writes the mode and the start position into the profile and checks the form", async () => {
    const asked: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd === "source_position") {
        asked.push(args);
        return { file: "binlog.000003", pos: 98765, gtid: "0-1-42" };
      }
    });
    // The app binds a reactive profile; so does this test.
    const p = $state(testProfile());
    const onnext = vi.fn();
    render(Mode, { props: { profile: p, onnext, onback: vi.fn() } });
    expect((screen.getByTestId("mode-all") as HTMLInputElement).checked).toBe(true);
    expect(screen.queryByTestId("start-position")).toBeNull();
    await fireEvent.click(screen.getByTestId("mode-incremental"));
    expect(p.mode).toBe("incremental");
    // An incremental-only job starts "now" unless told otherwise, never at a snapshot.
    expect(p.incremental?.start).toBe("now");
    await fireEvent.change(screen.getByTestId("start-kind"), { target: { value: "binlog" } });
    await fireEvent.input(screen.getByTestId("start-value"), { target: { value: "binlog.000003" } });
    await fireEvent.click(screen.getByTestId("mode-next"));
    expect(screen.getByTestId("error-start").textContent).toMatch(/binlog.000012:4/);
    expect(onnext).not.toHaveBeenCalled();
    await fireEvent.input(screen.getByTestId("start-value"), { target: { value: "binlog.000003:1234" } });
    await fireEvent.click(screen.getByTestId("mode-next"));
    expect(onnext).toHaveBeenCalledTimes(1);
    expect(p.incremental?.start).toBe("binlog:binlog.000003:1234");
    // The hint reads the source with the password saved in the keyring (none sent).
    await fireEvent.click(screen.getByTestId("read-position"));
    expect((await screen.findByTestId("position-hint")).textContent).toMatch(/binlog.000003:98765 · GTID 0-1-42/);
    expect(asked).toEqual([{ job: "shop", config: $state.snapshot(p.source), password: null }]);
    // Either form of it can be taken as the start.
    await fireEvent.click(screen.getByTestId("use-gtid"));
    expect(p.incremental?.start).toBe("gtid:0-1-42");
    expect((screen.getByTestId("start-value") as HTMLInputElement).value).toBe("0-1-42");
    await fireEvent.click(screen.getByTestId("use-binlog"));
    expect(p.incremental?.start).toBe("binlog:binlog.000003:98765");
    // Back to full + incremental: the sync starts at the snapshot again.
    await fireEvent.click(screen.getByTestId("mode-all"));
    expect(p.incremental?.start).toBe("snapshot");
  });
});
