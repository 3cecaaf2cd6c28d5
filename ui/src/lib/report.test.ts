import { describe, expect, it } from "vitest";
import type { RunSummary } from "../bindings/RunSummary";
import { summaryJson, verificationCsv } from "./report";

const summary: RunSummary = {
  tables: 2,
  rows: 30,
  bytes: 2048,
  seconds: 1.5,
  resumed: false,
  position: { file: "binlog.000001", pos: 4, gtid: null },
  lock_ms: 3,
  synced_to: null,
  sync_end: "completed",
  late_writes: null,
  verify: {
    equal: false,
    tables: [
      { schema: "shop", table: "a", target_schema: "shop_v2", target_table: "a", source_rows: 10, target_rows: 10, chunks: 1, mismatches: [], definition: [], last_ddl: null, equal: true },
      {
        schema: "shop",
        table: "b,c",
        target_schema: "shop_v2",
        target_table: "b,c",
        source_rows: 20,
        target_rows: 19,
        chunks: 2,
        mismatches: [{ chunk: 1, range: "(10 .. 20]", source_rows: 10, target_rows: 9 }],
        definition: ["key `k`: (a, b) on the source, (a) on the target"],
        last_ddl: "ALTER TABLE b ADD INDEX k (a, b) (skipped by decision at binlog.000001:900)",
        equal: false,
      },
    ],
  },
};

describe("report exports", () => {
  it("writes one CSV line per table, quoting names with commas", () => {
    const lines = verificationCsv(summary).trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[1]).toBe("shop.a,shop_v2.a,10,10,1,0,,,true");
    expect(lines[2]).toBe(
      '"shop.b,c","shop_v2.b,c",20,19,2,1,"key `k`: (a, b) on the source, (a) on the target","ALTER TABLE b ADD INDEX k (a, b) (skipped by decision at binlog.000001:900)",false',
    );
  });
  it("keeps the whole summary in the JSON", () => {
    const back = JSON.parse(summaryJson("shop-job", summary));
    expect(back.job).toBe("shop-job");
    expect(back.verify.tables[1].mismatches[0].range).toBe("(10 .. 20]");
  });
});
