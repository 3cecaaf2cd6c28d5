import { cleanup, render, screen } from "@testing-library/svelte";
import { afterEach, describe, expect, it } from "vitest";
import StepRail from "./StepRail.svelte";
import { block, unblock, wizard } from "./wizard.svelte";

afterEach(() => {
  cleanup();
  wizard.blocked = null;
});

const state = (id: string) => screen.getByTestId(`step-${id}`).dataset.state;

describe("StepRail", () => {
  it("marks the steps before the current one done and the later ones to do", () => {
    render(StepRail, { props: { current: "precheck" } });
    expect(["connect", "mode", "objects", "options"].map(state)).toEqual(["done", "done", "done", "done"]);
    expect(state("precheck")).toBe("current");
    expect(screen.getByTestId("step-precheck").getAttribute("aria-current")).toBe("step");
    expect([state("progress"), state("done")]).toEqual(["todo", "todo"]);
  });

  it("shows a blocked step with its reason, and clears it", async () => {
    block("progress", "2 checks fail");
    render(StepRail, { props: { current: "precheck" } });
    expect(state("progress")).toBe("blocked");
    expect(screen.getByTestId("step-progress").getAttribute("title")).toBe("2 checks fail");
    expect(screen.getByTestId("step-progress").textContent).toContain("blocked: 2 checks fail");
    unblock("progress");
    await Promise.resolve();
    expect(state("progress")).toBe("todo");
  });

  it("does not mark a step blocked once the DBA has passed it", () => {
    block("precheck", "a check fails");
    render(StepRail, { props: { current: "done" } });
    expect(state("precheck")).toBe("done");
  });
});
