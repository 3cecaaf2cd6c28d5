import { cleanup, render, screen } from "@testing-library/svelte";
import { afterEach, describe, expect, it } from "vitest";
import StepRail from "./StepRail.svelte";

afterEach(cleanup);

describe("StepRail", () => {
  it("marks the steps before the current one done and the later ones to do", () => {
    render(StepRail, { props: { current: "precheck" } });
    const state = (id: string) => screen.getByTestId(`step-${id}`).dataset.state;
    expect(["connect", "mode", "objects", "options"].map(state)).toEqual(["done", "done", "done", "done"]);
    expect(state("precheck")).toBe("current");
    expect(screen.getByTestId("step-precheck").getAttribute("aria-current")).toBe("step");
    expect([state("progress"), state("done")]).toEqual(["todo", "todo"]);
  });
});
