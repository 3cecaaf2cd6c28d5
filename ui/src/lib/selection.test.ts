import { describe, expect, it } from "vitest";
import type { SelectedTable } from "../bindings/SelectedTable";
import type { Selection } from "../bindings/Selection";
import { checkedFrom, costs, includeRules, mergedTargets, ruleOf, schemaState, tree, withTables } from "./selection";

const t = (schema: string, name: string): SelectedTable => ({
  schema,
  name,
  target_schema: schema,
  target_name: name,
  engine: "InnoDB",
  row_estimate: 1,
  bytes: 16384,
  row_key: ["id"],
});
const all = tree([t("shop", "orders"), t("shop", "items"), t("crm", "customers")]);

describe("selection rules", () => {
  it("writes whole schemas as db.* and single tables by name", () => {
    const checked = new Set(["shop.orders", "shop.items", "crm.customers"]);
    expect(includeRules(all, checked)).toEqual(["shop.*", "crm.*"]);
    checked.delete("shop.items");
    expect(includeRules(all, checked)).toEqual(["shop.orders", "crm.*"]);
    expect(schemaState(all, checked, "shop")).toBe("some");
    expect(schemaState(all, checked, "crm")).toBe("all");
  });
  it("reads rules back into checks; no rules means everything", () => {
    expect([...checkedFrom(all, ["shop.orders"])]).toEqual(["shop.orders"]);
    expect(checkedFrom(all, []).size).toBe(3);
    expect(schemaState(all, checkedFrom(all, ["crm.*"]), "shop")).toBe("none");
  });
  it("quotes names a rule would read as wildcards or dots, and reads them back", () => {
    expect(ruleOf("shop", "order.items")).toBe("shop.`order.items`");
    expect(ruleOf("a`b", "t*")).toBe("`a``b`.`t*`");
    const odd = tree([t("shop", "order.items"), t("shop", "orders")]);
    const rules = includeRules(odd, new Set(["shop.order.items"]));
    expect(rules).toEqual(["shop.`order.items`"]);
    expect([...checkedFrom(odd, rules)]).toEqual(["shop.order.items"]);
  });
  it("adds tables to the rules once", () => {
    expect(withTables(["shop.orders"], [["shop", "customers"], ["shop", "customers"], ["shop", "orders"]])).toEqual([
      "shop.orders",
      "shop.customers",
    ]);
  });
  it("groups what leaving a table out costs by that table", () => {
    const object = (kind: string, name: string) => ({ kind, schema: "shop", name, target_schema: "shop", target_name: name, depends_on: [] });
    const preview: Selection = {
      tables: [],
      objects: [],
      left_out: [
        { object: object("view", "v_orders"), missing: [["shop", "customers"]] },
        { object: object("trigger", "trg_c"), missing: [["shop", "customers"]] },
      ],
      broken_keys: [{ schema: "shop", table: "orders", name: "fk_c", parent_schema: "shop", parent_table: "customers" }],
    };
    expect(costs(preview)).toEqual([
      { schema: "shop", table: "customers", objects: ["view shop.v_orders", "trigger shop.trg_c"], keys: ["shop.orders (fk_c)"] },
    ]);
    expect(costs(null)).toEqual([]);
  });
  it("lists the target tables several sources feed", () => {
    const sel = (...tables: SelectedTable[]): Selection => ({ tables, objects: [], left_out: [], broken_keys: [] });
    const merged = mergedTargets([
      ["source", sel(t("sales", "orders"), t("sales", "own"))],
      ["east", sel(t("sales", "orders"))],
    ]);
    expect(merged).toEqual([
      {
        target: "sales.orders",
        shards: [
          { source: "source", table: "sales.orders", rows: 1 },
          { source: "east", table: "sales.orders", rows: 1 },
        ],
      },
    ]);
  });
});
