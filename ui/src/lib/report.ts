// The Done page's exports: the run summary and its verification as JSON or CSV.
import type { RunSummary } from "../bindings/RunSummary";

export function summaryJson(job: string, s: RunSummary): string {
  return JSON.stringify({ job, ...s }, null, 2);
}

/** One line per table: names, row counts on both sides, chunks, differing chunks,
 * how the definitions differ, the last DDL on a table that differs, equal. */
export function verificationCsv(s: RunSummary): string {
  const quote = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const lines = ["source,target,source_rows,target_rows,chunks,differing_chunks,definition,last_ddl,equal"];
  for (const t of s.verify?.tables ?? []) {
    lines.push(
      [
        quote(`${t.schema}.${t.table}`),
        quote(`${t.target_schema}.${t.target_table}`),
        t.source_rows,
        t.target_rows,
        t.chunks,
        t.mismatches.length,
        quote(t.definition.join("; ")),
        quote(t.last_ddl ?? ""),
        t.equal,
      ].join(","),
    );
  }
  return lines.join("\n") + "\n";
}
