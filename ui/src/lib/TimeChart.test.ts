import { cleanup, render, screen } from "@testing-library/svelte";
import { afterEach, describe, expect, it } from "vitest";
import TimeChart from "./TimeChart.svelte";

afterEach(cleanup);

describe("TimeChart", () => {
  it("says the real maximum, 0 when every value is 0, over the time the values span", () => {
    render(TimeChart, { props: { points: [[100, 0], [101, 0], [130, 0]], label: "Lag", unit: "s", testid: "c" } });
    expect(screen.getByTestId("c").textContent).toMatch(/Lag: max 0\.0 s over the last 30 s/);
  });
  it("breaks the line where values are missing (an outage), not across it", () => {
    const every = (from: number, to: number): [number, number][] => Array.from({ length: to - from }, (_, i) => [from + i, 1]);
    render(TimeChart, { props: { points: [...every(100, 110), ...every(160, 170)], label: "Lag", unit: "s", testid: "c" } });
    expect(screen.getByTestId("c").querySelectorAll("polyline")).toHaveLength(2);
    cleanup();
    render(TimeChart, { props: { points: every(100, 120), label: "Lag", unit: "s", testid: "c" } });
    expect(screen.getByTestId("c").querySelectorAll("polyline")).toHaveLength(1);
  });
  it("says when there is nothing yet", () => {
    render(TimeChart, { props: { points: [], label: "Apply", unit: "txn/s", testid: "c" } });
    expect(screen.getByTestId("c").textContent).toMatch(/no values yet/);
  });
});
