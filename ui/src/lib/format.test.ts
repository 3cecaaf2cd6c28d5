import { describe, expect, it } from "vitest";
import { bytes, count, counted, duration, localInput, utcFromLocal } from "./format";

describe("format", () => {
  it("groups digits", () => {
    expect(count(5000000)).toBe("5,000,000");
    expect(count(12.6)).toBe("13");
  });
  it("shows binary sizes", () => {
    expect(bytes(300)).toBe("300 B");
    expect(bytes(1536)).toBe("1.5 KiB");
    expect(bytes(5 * 1048576)).toBe("5.0 MiB");
  });
  it("shows durations in h/m/s", () => {
    expect(duration(42)).toBe("42 s");
    expect(duration(125)).toBe("2 min 5 s");
    expect(duration(3 * 3600 + 120)).toBe("3 h 2 min");
  });
  it("turns a local start time into the job file's UTC and back", () => {
    const utc = utcFromLocal("2026-11-23T02:30");
    expect(utc).toMatch(/^2026-11-2\dT\d{2}:30:00Z$/);
    expect(localInput(utc)).toBe("2026-11-23T02:30");
    expect(utcFromLocal("")).toBeUndefined();
    expect(localInput("not a time")).toBe("");
  });
});

describe("counted", () => {
  it("says one thing in the singular and the rest in the plural", () => {
    expect(counted(1, "row change")).toBe("1 row change");
    expect(counted(0, "row change")).toBe("0 row changes");
    expect(counted(1234, "table")).toBe("1,234 tables");
    expect(counted(2, "index", "indexes")).toBe("2 indexes");
  });
});
