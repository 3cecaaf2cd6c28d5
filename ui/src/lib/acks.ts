// Warnings the user has read and accepted, per job on this computer: a resume (or
// a re-run) that meets the same warnings does not ask again; any change — a new
// warning, other objects, another text — asks again.
import type { Check } from "../bindings/Check";
import { perJob } from "./perJob";

const acks = perJob<{ warnings: string; at: string }>("ferry.acks");

/** The warnings as one comparable value: each check's id, text and objects. */
export function fingerprint(warnings: Check[]): string {
  return JSON.stringify(
    warnings.map((c) => [c.id, c.detail, [...c.objects].sort()]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  );
}

/** When these very warnings were acknowledged for the job, or null. */
export function acknowledgedAt(job: string, warnings: Check[]): string | null {
  const s = acks.get(job);
  return s && s.warnings === fingerprint(warnings) ? s.at : null;
}

/** Remembers (or, `false`, forgets) that the job's warnings were acknowledged. */
export function remember(job: string, warnings: Check[], acknowledged: boolean) {
  // Where it cannot be kept, it is asked again next time.
  acks.set(job, acknowledged ? { warnings: fingerprint(warnings), at: new Date().toISOString() } : null);
}
