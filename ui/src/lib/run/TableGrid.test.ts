import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { afterEach, describe, expect, it } from "vitest";
import type { TableTotals } from "../../bindings/TableTotals";
import { newRun } from "../runs.svelte";
import TableGrid from "./TableGrid.svelte";

const table = (name: string, rows: number, bytes: number): TableTotals => ({
  schema: "shop",
  table: name,
  target: `shop.${name}`,
  rows_estimate: rows,
  bytes_estimate: bytes,
  chunks: 1,
  chunks_done: 0,
  rows_done: 0,
});

afterEach(cleanup);

const order = () => [...screen.getByTestId("tables").querySelectorAll("tbody tr")].map((r) => r.getAttribute("data-testid")?.replace("table-shop.", ""));

describe("TableGrid", () => {
  it("sorts by a column (again: the other way) and filters by name", async () => {
    const run = newRun("shop");
    run.tables = ["orders", "items", "customers", "audit", "stock", "prices"].map((n, i) => table(n, 100 * (i + 1), 1000 * (6 - i)));
    render(TableGrid, { props: { run, syncing: false } });
    expect(order()).toEqual(["audit", "customers", "items", "orders", "prices", "stock"]);
    await fireEvent.click(screen.getByTestId("sort-size"));
    // Sizes: biggest first.
    expect(order()).toEqual(["orders", "items", "customers", "audit", "stock", "prices"]);
    expect(screen.getByTestId("sort-size").closest("th")?.getAttribute("aria-sort")).toBe("descending");
    await fireEvent.click(screen.getByTestId("sort-size"));
    expect(order()).toEqual(["prices", "stock", "audit", "customers", "items", "orders"]);
    await fireEvent.input(screen.getByTestId("tables-filter"), { target: { value: "ord" } });
    expect(order()).toEqual(["orders"]);
    await fireEvent.input(screen.getByTestId("tables-filter"), { target: { value: "nothing" } });
    expect(screen.getByTestId("tables-none").textContent).toMatch(/No table matches/);
  });
});
