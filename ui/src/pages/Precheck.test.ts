import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Check } from "../bindings/Check";
import type { Profile } from "../bindings/Profile";
import Precheck from "./Precheck.svelte";

const profile = { name: "shop", ignore_checks: [] } as unknown as Profile;
const check = (id: string, status: Check["status"]): Check => ({
  id,
  title: id,
  status,
  detail: `${id} detail`,
  remedy: `${id} remedy`,
  objects: status === "pass" ? [] : ["shop.orders"],
});

afterEach(() => {
  cleanup();
  clearMocks();
});

describe("Precheck", () => {
  it("keeps Start disabled while a check fails, and shows the fix", async () => {
    let round = 0;
    mockIPC((cmd) => {
      if (cmd !== "precheck") return;
      round += 1;
      return round === 1
        ? { checks: [check("connect.source", "pass"), check("target.conflicts", "fail")] }
        : { checks: [check("connect.source", "pass"), check("tables.keys", "warn")] };
    });
    const onstart = vi.fn();
    render(Precheck, { props: { profile, onstart, onback: vi.fn() } });
    const failing = await screen.findByTestId("check-target.conflicts");
    expect(failing.dataset.status).toBe("fail");
    expect(failing.textContent).toMatch(/target.conflicts remedy/);
    expect(failing.textContent).toMatch(/shop.orders/);
    expect((screen.getByTestId("start") as HTMLButtonElement).disabled).toBe(true);

    // Fixed on the servers; a warning remains and must be acknowledged.
    await fireEvent.click(screen.getByTestId("check-again"));
    await screen.findByTestId("check-tables.keys");
    expect((screen.getByTestId("start") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.click(screen.getByTestId("ack-warnings"));
    expect((screen.getByTestId("start") as HTMLButtonElement).disabled).toBe(false);
    await fireEvent.click(screen.getByTestId("start"));
    expect(onstart).toHaveBeenCalled();
  });
});
