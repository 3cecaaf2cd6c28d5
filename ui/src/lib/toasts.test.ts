import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import Toasts from "./Toasts.svelte";
import { TOAST_MS, toast, toasts } from "./toasts.svelte";

afterEach(() => {
  cleanup();
  toasts.splice(0);
  vi.useRealTimers();
});

describe("toasts", () => {
  it("shows a toast, lets it be dismissed, and drops it after a while", async () => {
    vi.useFakeTimers();
    render(Toasts);
    toast("Pause requested");
    toast("SQL copied", "success");
    await vi.advanceTimersByTimeAsync(0);
    expect(screen.getAllByTestId("toast").map((t) => t.textContent?.trim())).toEqual(["Pause requested", "SQL copied"]);
    await fireEvent.click(screen.getAllByRole("button", { name: "Dismiss" })[0]);
    expect(screen.getAllByTestId("toast")).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(TOAST_MS);
    expect(screen.queryAllByTestId("toast")).toHaveLength(0);
  });

  it("announces itself politely", () => {
    render(Toasts);
    expect(screen.getByTestId("toasts").getAttribute("aria-live")).toBe("polite");
  });
});
