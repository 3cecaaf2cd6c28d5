import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Check } from "../bindings/Check";
import type { Profile } from "../bindings/Profile";
import Precheck from "./Precheck.svelte";
import { toasts } from "../lib/toasts.svelte";
import { wizard } from "../lib/wizard.svelte";

const profile = { name: "shop", ignore_checks: [], objects: {} } as unknown as Profile;
const check = (id: string, status: Check["status"]): Check => ({
  id,
  title: id,
  status,
  detail: `${id} detail`,
  remedy: `${id} remedy`,
  objects: status === "pass" ? [] : ["shop.orders"],
  add_tables: [],
});

afterEach(() => {
  cleanup();
  clearMocks();
  localStorage.clear();
  toasts.splice(0);
  wizard.blocked = null;
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

  it("puts failures first, then warnings with their acknowledgement, grouped by family; passed checks fold away; SQL fixes can be copied", async () => {
    const written: string[] = [];
    Object.defineProperty(navigator, "clipboard", { value: { writeText: async (t: string) => void written.push(t) }, configurable: true });
    const binlog = { ...check("binlog.format", "fail"), remedy: "SET GLOBAL binlog_format = 'ROW' (and in my.cnf); sessions already open keep their old format" };
    mockIPC((cmd) => {
      if (cmd === "precheck") {
        return { checks: [check("connect.source", "pass"), check("tables.keys", "warn"), binlog, check("privileges.source", "pass")] };
      }
    });
    render(Precheck, { props: { profile, onstart: vi.fn(), onback: vi.fn() } });
    const fail = await screen.findByTestId("group-fail");
    const warn = screen.getByTestId("group-warn");
    // Failures come before warnings in the page, each under its family.
    expect(fail.compareDocumentPosition(warn) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
    expect(fail.textContent).toMatch(/Binlog/);
    expect(warn.textContent).toMatch(/Objects/);
    expect((screen.getByTestId("group-pass") as HTMLDetailsElement).open).toBe(false);
    expect(screen.getByTestId("group-pass").textContent).toMatch(/Passed \(2\)/);
    expect(screen.getByTestId("sql-binlog.format").textContent).toBe("SET GLOBAL binlog_format = 'ROW'");
    await fireEvent.click(screen.getByTestId("copy-binlog.format"));
    await vi.waitFor(() => expect(written).toEqual(["SET GLOBAL binlog_format = 'ROW'"]));
    expect(screen.getByTestId("copy-binlog.format").textContent).toBe("Copied");
  });

  it("adds a foreign key's parent table to the selection from the fix, saves the job and checks again", async () => {
    const saved: Profile[] = [];
    let round = 0;
    const fk: Check = { ...check("tables.foreign_keys", "fail"), add_tables: [["shop", "customers"]] };
    mockIPC((cmd, args) => {
      if (cmd === "profile_save") saved.push((args as { profile: Profile }).profile);
      if (cmd !== "precheck") return;
      round += 1;
      return { checks: [round === 1 ? fk : check("tables.foreign_keys", "pass")] };
    });
    const mine = { ...profile, objects: { include: ["shop.orders"] } } as Profile;
    render(Precheck, { props: { profile: mine, onstart: vi.fn(), onback: vi.fn() } });
    const add = await screen.findByTestId("add-tables-tables.foreign_keys");
    expect(add.textContent).toBe("Add shop.customers");
    await fireEvent.click(add);
    await vi.waitFor(() => expect(round).toBe(2));
    expect(saved[0].objects.include).toEqual(["shop.orders", "shop.customers"]);
    await vi.waitFor(() => expect((screen.getByTestId("start") as HTMLButtonElement).disabled).toBe(false));
    cleanup();
    // Every table is selected already (no include rules): an exclude rule is the cause, nothing to add.
    round = 0;
    render(Precheck, { props: { profile, onstart: vi.fn(), onback: vi.fn() } });
    await screen.findByTestId("check-tables.foreign_keys");
    expect(screen.queryByTestId("add-tables-tables.foreign_keys")).toBeNull();
  });

  it("remembers acknowledged warnings for the job until they change", async () => {
    let warnings = [check("tables.keys", "warn")];
    mockIPC((cmd) => (cmd === "precheck" ? { checks: [check("connect.source", "pass"), ...warnings] } : undefined));
    const start = () => screen.getByTestId("start") as HTMLButtonElement;
    render(Precheck, { props: { profile, onstart: vi.fn(), onback: vi.fn() } });
    await fireEvent.click(await screen.findByTestId("ack-warnings"));
    expect(start().disabled).toBe(false);
    cleanup();
    // The same warnings on a resume: acknowledged already, and said so.
    render(Precheck, { props: { profile, onstart: vi.fn(), onback: vi.fn() } });
    expect((await screen.findByTestId("ack-remembered")).textContent).toMatch(/same warnings/);
    expect((screen.getByTestId("ack-warnings") as HTMLInputElement).checked).toBe(true);
    expect(start().disabled).toBe(false);
    cleanup();
    // Another object in a warning: asked again.
    warnings = [{ ...check("tables.keys", "warn"), objects: ["shop.orders", "shop.log"] }];
    render(Precheck, { props: { profile, onstart: vi.fn(), onback: vi.fn() } });
    expect((await screen.findByTestId("ack-warnings") as HTMLInputElement).checked).toBe(false);
    expect(screen.queryByTestId("ack-remembered")).toBeNull();
    expect(start().disabled).toBe(true);
  });

  it("copies every GRANT of a privileges fix together", async () => {
    const written: string[] = [];
    Object.defineProperty(navigator, "clipboard", { value: { writeText: async (t: string) => void written.push(t) }, configurable: true });
    const grants = {
      ...check("privileges.source", "fail"),
      remedy: "on the source, run: GRANT SELECT ON `shop`.* TO 'mig'@'%'; GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'mig'@'%';",
    };
    mockIPC((cmd) => (cmd === "precheck" ? { checks: [grants] } : undefined));
    render(Precheck, { props: { profile, onstart: vi.fn(), onback: vi.fn() } });
    await fireEvent.click(await screen.findByTestId("copy-privileges.source"));
    await vi.waitFor(() =>
      expect(written).toEqual(["GRANT SELECT ON `shop`.* TO 'mig'@'%';\nGRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'mig'@'%';"]),
    );
  });

  it("checks one failing check again and says how it stands; the step rail shows Run blocked meanwhile", async () => {
    let round = 0;
    mockIPC((cmd) => {
      if (cmd !== "precheck") return;
      round += 1;
      return { checks: [check("binlog.format", round === 1 ? "fail" : "pass"), check("target.conflicts", "fail")] };
    });
    render(Precheck, { props: { profile, onstart: vi.fn(), onback: vi.fn() } });
    await screen.findByTestId("recheck-binlog.format");
    await vi.waitFor(() => expect(wizard.blocked).toEqual({ step: "progress", reason: "2 checks fail" }));
    await fireEvent.click(screen.getByTestId("recheck-binlog.format"));
    await vi.waitFor(() => expect(toasts.map((t) => t.text)).toEqual(["binlog.format: passes now"]));
    expect(screen.getByTestId("check-binlog.format").dataset.status).toBe("pass");
    expect(wizard.blocked).toEqual({ step: "progress", reason: "1 check fails" });
    await fireEvent.click(screen.getByTestId("recheck-target.conflicts"));
    await vi.waitFor(() => expect(toasts.map((t) => t.text)).toContain("target.conflicts: still fails"));
  });
});
