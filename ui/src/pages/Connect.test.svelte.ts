import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Profile } from "../bindings/Profile";
import Connect from "./Connect.svelte";
import { testProfile } from "../test/fixtures";

const profile = testProfile;

afterEach(() => {
  cleanup();
  clearMocks();
});

describe("Connect", () => {
  it("reports bad fields next to them and saves nothing", async () => {
    const calls: string[] = [];
    mockIPC((cmd) => {
      calls.push(cmd);
    });
    const p = profile();
    p.source.host = "";
    p.name = "9lives";
    render(Connect, { props: { profile: p, onsaved: vi.fn(), oncancel: vi.fn() } });
    await fireEvent.input(screen.getByTestId("target-port"), { target: { value: "70000" } });
    await fireEvent.click(screen.getByTestId("save"));
    expect(screen.getByTestId("error-source-host").textContent).toMatch(/host/);
    expect(screen.getByTestId("error-target-port").textContent).toMatch(/1 to 65535/);
    expect(screen.getByTestId("error-job-name").textContent).toMatch(/letter/);
    expect(calls).not.toContain("profile_save");
  });

  it("says what to press when it opens with an introduction (the demo), and nothing otherwise", async () => {
    mockIPC(() => undefined);
    render(Connect, { props: { profile: profile(), onsaved: vi.fn(), oncancel: vi.fn(), intro: "Press Test and continue" } });
    expect(screen.getByTestId("connect-intro").textContent).toMatch(/Test and continue/);
    cleanup();
    render(Connect, { props: { profile: profile(), onsaved: vi.fn(), oncancel: vi.fn() } });
    expect(screen.queryByTestId("connect-intro")).toBeNull();
  });

  it("shows the server's facts, or the engine's error with its remedy", async () => {
    mockIPC((cmd, args) => {
      if (cmd !== "test_connection") return;
      const a = args as { side: string; password: string | null };
      if (a.side === "source") {
        return {
          version: "10.11.19-MariaDB",
          version_number: [10, 11, 19],
          flavor: "MariaDB",
          server_id: 1,
          log_bin: true,
          binlog_format: "ROW",
          binlog_row_image: "FULL",
          gtid_mode: "Off",
          lower_case_table_names: 0,
          max_allowed_packet: 16777216,
          time_zone: "SYSTEM",
          system_time_zone: "UTC",
          character_set_server: "utf8mb4",
          collation_server: "utf8mb4_general_ci",
          read_only: false,
          tls_version: null,
        };
      }
      throw {
        code: "endpoint.auth_failed",
        message: "the target server at db2:3306 refused the login of 'root'",
        remedy: "check the target user and password",
      };
    });
    render(Connect, { props: { profile: profile(), onsaved: vi.fn(), oncancel: vi.fn() } });
    await fireEvent.click(screen.getByTestId("source-test"));
    await fireEvent.click(screen.getByTestId("target-test"));
    expect((await screen.findByTestId("source-facts")).textContent).toMatch(/MariaDB\s+10\.11\.19.*server_id 1.*binlog ROW/s);
    const failure = await screen.findByTestId("target-failure");
    expect(failure.textContent).toMatch(/refused the login/);
    expect(failure.textContent).toMatch(/check the target user and password/);
  });

  it("saves with the typed passwords going to the shell, not into the profile", async () => {
    let saved: unknown = null;
    mockIPC((cmd, args) => {
      if (cmd === "profile_save") saved = args;
    });
    const onsaved = vi.fn();
    render(Connect, { props: { profile: profile(), onsaved, oncancel: vi.fn() } });
    await fireEvent.input(screen.getByTestId("source-password"), { target: { value: "s3cret" } });
    await fireEvent.click(screen.getByTestId("save"));
    await vi.waitFor(() => expect(onsaved).toHaveBeenCalled());
    const a = saved as { profile: Profile; sourcePassword: string | null; targetPassword: string | null };
    expect(a.sourcePassword).toBe("s3cret");
    expect(a.targetPassword).toBeNull();
    expect(JSON.stringify(a.profile)).not.toContain("s3cret");
  });
});

describe("Connect, several sources", () => {
  it("adds a source with its own name, test and password, checks every server before saving, and removes it", async () => {
    const tested: { job: string; side: string; host: string }[] = [];
    let saved: { profile: Profile; shardPasswords: Record<string, string> } | null = null;
    mockIPC((cmd, args) => {
      if (cmd === "test_connection") {
        const a = args as { job: string; side: string; config: { host: string } };
        // The shell takes an endpoint's fields only (a shard's name is refused).
        expect(Object.keys(a.config).sort()).toEqual(["ca", "cert", "connect_timeout_secs", "host", "key", "port", "tls", "user"]);
        tested.push({ job: a.job, side: a.side, host: a.config.host });
        if (a.config.host === "down") throw { code: "endpoint.unreachable", message: "no answer from down:3306", remedy: "check the address" };
        return { flavor: "MariaDB", version: "10.11", server_id: 7, log_bin: true, binlog_format: "ROW", tls_version: null };
      }
      if (cmd === "profile_save") saved = args as typeof saved;
      if (cmd === "password_stored") return false;
    });
    // As the app holds it: reactive, so a source added shows.
    const p = $state(profile());
    const onsaved = vi.fn();
    render(Connect, { props: { profile: p, onsaved, oncancel: vi.fn() } });
    await fireEvent.click(screen.getByTestId("add-source"));
    expect((screen.getByTestId("shard-0-name") as HTMLInputElement).value).toBe("shard2");
    await fireEvent.input(screen.getByTestId("shard-0-name"), { target: { value: "east" } });
    await fireEvent.input(screen.getByTestId("shard-0-host"), { target: { value: "down" } });
    await fireEvent.input(screen.getByTestId("shard-0-user"), { target: { value: "repl" } });
    await fireEvent.input(screen.getByTestId("shard-0-password"), { target: { value: "e4st" } });
    // A source that cannot be reached stops the step, next to it.
    await fireEvent.click(screen.getByTestId("save"));
    expect((await screen.findByTestId("shard-0-failure")).textContent).toMatch(/no answer/);
    expect(screen.getByTestId("save-error").textContent).toMatch(/Source “east” could not be reached/);
    expect(onsaved).not.toHaveBeenCalled();
    // Its own keyring name: the job's name and the source's.
    expect(tested).toContainEqual({ job: `${p.name}.east`, side: "source", host: "down" });
    await fireEvent.input(screen.getByTestId("shard-0-host"), { target: { value: "db-east" } });
    await fireEvent.click(screen.getByTestId("save"));
    await vi.waitFor(() => expect(onsaved).toHaveBeenCalled());
    expect(saved!.profile.shards?.map((s) => [s.name, s.host, s.user])).toEqual([["east", "db-east", "repl"]]);
    expect(saved!.shardPasswords).toEqual({ east: "e4st" });
    expect(JSON.stringify(saved!.profile)).not.toContain("e4st");
    // A name used twice is refused next to the field.
    await fireEvent.click(screen.getByTestId("add-source"));
    await fireEvent.input(screen.getByTestId("shard-1-name"), { target: { value: "east" } });
    await fireEvent.click(screen.getByTestId("save"));
    expect(screen.getByTestId("error-shard-1-name").textContent).toMatch(/Another source/);
    await fireEvent.click(screen.getByTestId("shard-1-remove"));
    expect(screen.queryByTestId("shard-1-form")).toBeNull();
    expect(p.shards?.length).toBe(1);
  });
});

describe("Connect, TLS files", () => {
  it("fills a file field from the native file dialog and pairs certificate with key", async () => {
    const dialogs: unknown[] = [];
    let saved = false;
    mockIPC((cmd, args) => {
      if (cmd === "plugin:dialog|open") {
        dialogs.push(args);
        return "/etc/ssl/ferry/client-cert.pem";
      }
      if (cmd === "profile_save") saved = true;
    });
    // The app binds a reactive profile; so does this test.
    const p = $state(profile());
    render(Connect, { props: { profile: p, onsaved: vi.fn(), oncancel: vi.fn() } });
    await fireEvent.click(screen.getByTestId("target-cert-browse"));
    await vi.waitFor(() => expect((screen.getByTestId("target-cert") as HTMLInputElement).value).toBe("/etc/ssl/ferry/client-cert.pem"));
    expect(JSON.stringify(dialogs[0])).toMatch(/Target client certificate/);
    // A certificate without its key is reported at the key field; nothing is saved.
    await fireEvent.click(screen.getByTestId("save"));
    expect(screen.getByTestId("error-target-key").textContent).toMatch(/key file/);
    expect(saved).toBe(false);
  });
});
