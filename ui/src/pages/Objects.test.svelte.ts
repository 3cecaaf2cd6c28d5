import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Profile } from "../bindings/Profile";
import type { SelectedTable } from "../bindings/SelectedTable";
import Objects from "./Objects.svelte";

const t = (schema: string, name: string, target_schema = schema): SelectedTable => ({
  schema,
  name,
  target_schema,
  target_name: name,
  engine: "InnoDB",
  row_estimate: 10,
  bytes: 16384,
  row_key: ["id"],
});

afterEach(() => {
  cleanup();
  clearMocks();
});

describe("Objects", () => {
  it("turns checked tables and routes into the job's rules, previewed by the engine", async () => {
    const asked: Profile[] = [];
    mockIPC((cmd, args) => {
      if (cmd !== "objects") return;
      const p = (args as { profile: Profile }).profile;
      asked.push(p);
      const routed = (p.objects.route ?? []).length > 0 ? "shop_v2" : "shop";
      return { tables: [t("shop", "orders", routed), t("shop", "items", routed), t("crm", "customers")], objects: [] };
    });
    const profile = { name: "shop", objects: {} } as unknown as Profile;
    const onnext = vi.fn();
    render(Objects, { props: { profile, onnext, onback: vi.fn() } });
    await screen.findByTestId("preview-table"); // the source's tables are in
    await fireEvent.click(screen.getByTestId("scope-custom"));
    await fireEvent.click(await screen.findByTestId("table-shop.items"));
    const shop = screen.getByTestId("schema-shop") as HTMLInputElement;
    expect(shop.indeterminate).toBe(true);
    await fireEvent.input(screen.getByTestId("exclude-patterns"), { target: { value: "shop.tmp_*\n\n" } });
    await fireEvent.click(screen.getByTestId("add-route"));
    await fireEvent.input(screen.getByTestId("route-from-0"), { target: { value: "shop.*" } });
    await fireEvent.input(screen.getByTestId("route-to-0"), { target: { value: "shop_v2.*" } });
    await fireEvent.click(screen.getByTestId("objects-next"));
    await vi.waitFor(() => expect(onnext).toHaveBeenCalled());
    const last = asked[asked.length - 1];
    expect(last.objects.include).toEqual(["shop.orders", "crm.*"]);
    expect(last.objects.route).toEqual([{ from: "shop.*", to: "shop_v2.*" }]);
    expect(last.objects.exclude).toEqual(["shop.tmp_*"]);
    expect(screen.getByTestId("preview-table").textContent).toMatch(/shop\.orders\s*shop_v2\.orders/);
  });

  it("says what leaving a table out takes with it and which foreign keys break, with Add back", async () => {
    mockIPC((cmd, args) => {
      if (cmd !== "objects") return;
      const include = (args as { profile: Profile }).profile.objects.include ?? [];
      const without = include.length > 0 && !include.includes("shop.*") && !include.includes("shop.customers");
      const view = { kind: "view", schema: "shop", name: "v_orders", target_schema: "shop", target_name: "v_orders", depends_on: [["shop", "customers"]] };
      return {
        tables: without ? [t("shop", "orders")] : [t("shop", "orders"), t("shop", "customers")],
        objects: without ? [] : [view],
        left_out: without ? [{ object: view, missing: [["shop", "customers"]] }] : [],
        broken_keys: without ? [{ schema: "shop", table: "orders", name: "fk_c", parent_schema: "shop", parent_table: "customers" }] : [],
      };
    });
    const profile = { name: "shop", objects: {} } as unknown as Profile;
    render(Objects, { props: { profile, onnext: vi.fn(), onback: vi.fn() } });
    await screen.findByTestId("preview-table");
    expect(screen.queryByTestId("left-out")).toBeNull();
    await fireEvent.click(screen.getByTestId("scope-custom"));
    await fireEvent.click(await screen.findByTestId("table-shop.customers"));
    const cost = await screen.findByTestId("cost-shop.customers", {}, { timeout: 2000 });
    expect(cost.textContent).toMatch(/takes view shop\.v_orders with it/);
    expect(cost.textContent).toMatch(/breaks the foreign key of shop\.orders \(fk_c\)/);
    await fireEvent.click(screen.getByTestId("add-back-shop.customers"));
    expect((screen.getByTestId("table-shop.customers") as HTMLInputElement).checked).toBe(true);
    await vi.waitFor(() => expect(screen.queryByTestId("left-out")).toBeNull(), { timeout: 2000 });
    expect(profile.objects.include).toEqual(["shop.*"]);
  });

  it("previews a job's merged tables from every source and runs the shard checks on demand", async () => {
    mockIPC((cmd) => {
      if (cmd === "objects") return { tables: [t("sales", "orders")], objects: [], left_out: [], broken_keys: [] };
      if (cmd === "objects_by_source") {
        return [
          ["source", { tables: [t("sales", "orders")], objects: [], left_out: [], broken_keys: [] }],
          ["east", { tables: [t("sales", "orders")], objects: [], left_out: [], broken_keys: [] }],
        ];
      }
      if (cmd === "precheck") {
        return {
          checks: [
            { id: "connect.source", title: "Source", status: "pass", detail: "", remedy: "", objects: [], add_tables: [] },
            { id: "shards.keys", title: "Shard keys", status: "fail", detail: "key ranges overlap", remedy: "re-key", objects: ["sales.orders"], add_tables: [] },
          ],
        };
      }
    });
    const profile = { name: "m", objects: {}, shards: [{ name: "east" }] } as unknown as Profile;
    render(Objects, { props: { profile, onnext: vi.fn(), onback: vi.fn() } });
    const row = await screen.findByTestId("merged-sales.orders");
    expect(row.textContent).toMatch(/source: sales\.orders \+ east: sales\.orders/);
    expect(row.textContent).toMatch(/20/);
    await fireEvent.click(screen.getByTestId("check-shards"));
    const check = await screen.findByTestId("shard-check-shards.keys");
    expect(check.textContent).toMatch(/key ranges overlap/);
    expect(check.textContent).toMatch(/Fix: re-key/);
    expect(screen.queryByTestId("shard-check-connect.source")).toBeNull();
  });

  it("gives a further source its own tables and routes, and previews what they merge", async () => {
    const asked: Profile[] = [];
    mockIPC((cmd, args) => {
      if (cmd === "objects") return { tables: [t("sales", "orders")], objects: [], left_out: [], broken_keys: [] };
      if (cmd !== "objects_by_source") return;
      const p = (args as { profile: Profile }).profile;
      asked.push(p);
      const own = p.shards?.[0]?.objects;
      const east = own ? t("sales_east", "orders", (own.route ?? []).length > 0 ? "sales" : "sales_east") : t("sales", "orders");
      return [
        ["source", { tables: [t("sales", "orders")], objects: [], left_out: [], broken_keys: [] }],
        ["east", { tables: [east], objects: [], left_out: [], broken_keys: [] }],
      ];
    });
    const profile = $state({ name: "m", objects: {}, shards: [{ name: "east", objects: null }] } as unknown as Profile);
    render(Objects, { props: { profile, onnext: vi.fn(), onback: vi.fn() } });
    await screen.findByTestId("merged-sales.orders");
    await fireEvent.click(screen.getByTestId("shard-0-rules-own"));
    await fireEvent.input(screen.getByTestId("shard-0-include"), { target: { value: "sales_east.*\n" } });
    await vi.waitFor(() => expect(screen.queryByTestId("merged-sales.orders")).toBeNull());
    await fireEvent.click(screen.getByTestId("shard-0-add-route"));
    await fireEvent.input(screen.getByTestId("shard-0-route-from-0"), { target: { value: "sales_east.*" } });
    await fireEvent.input(screen.getByTestId("shard-0-route-to-0"), { target: { value: "sales.*" } });
    const row = await screen.findByTestId("merged-sales.orders", {}, { timeout: 3000 });
    expect(row.textContent).toMatch(/east: sales_east\.orders/);
    expect(asked[asked.length - 1].shards?.[0]?.objects).toEqual({
      include: ["sales_east.*"],
      exclude: [],
      route: [{ from: "sales_east.*", to: "sales.*" }],
      skip: [],
    });
    expect(profile.shards?.[0]?.objects?.include).toEqual(["sales_east.*"]);
    await fireEvent.click(screen.getByTestId("shard-0-rules-same"));
    await vi.waitFor(() => expect(profile.shards?.[0]?.objects).toBeNull());
  });

  it("follows each change with the target names, without a click, and lists views and triggers", async () => {
    mockIPC((cmd, args) => {
      if (cmd !== "objects") return;
      const p = (args as { profile: Profile }).profile;
      const routed = (p.objects.route ?? []).some((r) => r.to === "shop_v2.*") ? "shop_v2" : "shop";
      return {
        tables: [t("shop", "orders", routed)],
        objects: [{ kind: "view", schema: "shop", name: "big_orders", target_schema: routed, target_name: "big_orders" }],
      };
    });
    const profile = { name: "shop", objects: {} } as unknown as Profile;
    render(Objects, { props: { profile, onnext: vi.fn(), onback: vi.fn() } });
    expect((await screen.findByTestId("preview-objects")).textContent).toMatch(/view\s*shop\.big_orders\s*shop\.big_orders/);
    await fireEvent.click(screen.getByTestId("add-route"));
    await fireEvent.input(screen.getByTestId("route-from-0"), { target: { value: "shop.*" } });
    await fireEvent.input(screen.getByTestId("route-to-0"), { target: { value: "shop_v2.*" } });
    await vi.waitFor(() => expect(screen.getByTestId("preview-table").textContent).toMatch(/shop_v2\.orders/), { timeout: 3000 });
    expect(screen.getByTestId("preview-objects").textContent).toMatch(/shop_v2\.big_orders/);
  });

  it("leaves out an unticked view or trigger under its schema, and shows the job's earlier choice", async () => {
    const asked: Profile[] = [];
    mockIPC((cmd, args) => {
      if (cmd !== "objects") return;
      asked.push((args as { profile: Profile }).profile);
      return {
        tables: [t("shop", "orders")],
        objects: [
          { kind: "view", schema: "shop", name: "big_orders", target_schema: "shop", target_name: "big_orders" },
          { kind: "trigger", schema: "shop", name: "audit", target_schema: "shop", target_name: "audit" },
        ],
      };
    });
    const profile = { name: "shop", objects: { skip: ["trigger `shop`.`audit`", "event shop.typed_by_hand"] } } as unknown as Profile;
    const onnext = vi.fn();
    render(Objects, { props: { profile, onnext, onback: vi.fn() } });
    const view = (await screen.findByTestId("object-view-shop.big_orders")) as HTMLInputElement;
    const trigger = screen.getByTestId("object-trigger-shop.audit") as HTMLInputElement;
    expect(screen.getByTestId("objects-of-shop").textContent).toMatch(/shop/);
    expect([view.checked, trigger.checked]).toEqual([true, false]);
    await fireEvent.click(view);
    await fireEvent.click(trigger);
    expect(screen.getByTestId("preview-objects").textContent).toMatch(/big_orders\s*left out/);
    await fireEvent.click(screen.getByTestId("objects-next"));
    await vi.waitFor(() => expect(onnext).toHaveBeenCalled());
    expect(profile.objects.skip).toEqual(["event shop.typed_by_hand", "view `shop`.`big_orders`"]);
    // The preview asks without the skips, so left-out objects stay listed.
    expect(asked.every((p) => (p.objects.skip ?? []).length === 0)).toBe(true);
  });
});
