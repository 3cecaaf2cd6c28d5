import { describe, expect, it } from "vitest";
import { checklist } from "./checklist";

const at = 1796314986;
const line = (text: string, severity = "warning") => ({ at, severity, text });

describe("the Done page's checklist", () => {
  it("lists the events to enable with their SQL, the rewritten definers, refused objects, the triggers, and always the accounts", () => {
    const items = checklist([
      line("run started", "info"),
      line("snapshot.definer_rewritten: 3 views/triggers/routines/events are created with the target login as DEFINER Fix: …"),
      line("snapshot.event_disabled: event shop_v2.purge was created DISABLED on the target Fix: after cutover run ALTER EVENT shop_v2.purge ENABLE"),
      line("snapshot.event_disabled: event shop_v2.purge was created DISABLED on the target Fix: after cutover run ALTER EVENT shop_v2.purge ENABLE"),
      line("snapshot.object_skipped: the view shop.v could not be created on the target: no table Fix: create it by hand"),
      line("phase: completed", "info"),
    ]);
    expect(items.map((i) => i.id)).toEqual(["events", "definers", "skipped-0", "triggers", "accounts"]);
    expect(items[0].sql).toBe("ALTER EVENT shop_v2.purge ENABLE;");
    expect(items[0].text).toMatch(/^1 event was created DISABLED/);
    expect(items[2].text).toMatch(/^the view shop.v could not be created/);
  });

  it("always says accounts and grants are not migrated", () => {
    expect(checklist([]).map((i) => i.id)).toEqual(["accounts"]);
  });
});
