import { describe, expect, it } from "vitest";
import type { SelectedTable } from "../bindings/SelectedTable";
import { checkedFrom, includeRules, schemaState, tree } from "./selection";

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
});
