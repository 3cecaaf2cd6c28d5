import { describe, expect, it } from "vitest";
import { endpointErrors, jobNameError, newEndpoint } from "./validate";

describe("job names (seed 004's rule)", () => {
  it("accepts letters, digits, _ and - after a first letter", () => {
    expect(jobNameError("shop-to-tidb_2")).toBeNull();
  });
  it("says what is wrong", () => {
    expect(jobNameError("")).toMatch(/name/);
    expect(jobNameError("1shop")).toMatch(/letter/);
    expect(jobNameError("a".repeat(60))).toMatch(/60/);
    expect(jobNameError("shop.db")).toMatch(/letters, digits/);
  });
});

describe("endpoint fields", () => {
  const ok = { ...newEndpoint(), host: "db1", user: "migrator" };
  it("accepts a complete endpoint", () => {
    expect(endpointErrors(ok)).toEqual({});
  });
  it("names each bad field", () => {
    expect(endpointErrors({ ...ok, host: " " }).host).toBeTruthy();
    expect(endpointErrors({ ...ok, port: 0 }).port).toBeTruthy();
    expect(endpointErrors({ ...ok, port: 70000 }).port).toBeTruthy();
    expect(endpointErrors({ ...ok, port: Number.NaN }).port).toBeTruthy();
    expect(endpointErrors({ ...ok, user: "" }).user).toBeTruthy();
    expect(endpointErrors({ ...ok, tls: "verify-ca" }).ca).toBeTruthy();
    expect(endpointErrors({ ...ok, tls: "verify-ca", ca: "/etc/ca.pem" }).ca).toBeUndefined();
  });
});
