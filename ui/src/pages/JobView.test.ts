import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Profile } from "../bindings/Profile";
import JobView from "./JobView.svelte";

afterEach(cleanup);

const endpoint = (host: string) => ({ host, port: 3306, user: "u", tls: "preferred", connect_timeout_secs: 10 });
const profile = {
  name: "shop",
  mode: "all",
  source: endpoint("s1"),
  target: endpoint("t1"),
  objects: { include: ["shop.*"], route: [{ from: "shop.*", to: "shop_v2.*" }] },
  options: {},
} as unknown as Profile;

describe("JobView", () => {
  it("shows a completed job's settings read-only and offers a duplicate to change them", async () => {
    const onduplicate = vi.fn();
    render(JobView, { props: { profile, reason: "This job has completed", onduplicate, onclose: vi.fn() } });
    expect(screen.getByTestId("readonly-reason").textContent).toMatch(/This job has completed: its settings are shown as they run/);
    expect(screen.getByTestId("view-source").textContent).toBe("u@s1:3306 (TLS preferred)");
    expect(screen.getByTestId("job-view").textContent).toMatch(/shop\.\* → shop_v2\.\*/);
    expect(screen.queryByRole("textbox")).toBeNull();
    expect(screen.queryByTestId("view-show")).toBeNull();
    await fireEvent.click(screen.getByTestId("view-duplicate"));
    expect(onduplicate).toHaveBeenCalled();
  });
});
