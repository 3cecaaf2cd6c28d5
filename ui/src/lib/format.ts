/** Numbers as the pages show them: grouped digits, binary sizes, h/m/s. */

export function count(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** A count with its noun, singular for one: "1 row change", "3 row changes". */
export function counted(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function duration(secs: number): string {
  const s = Math.max(0, Math.round(secs));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${r} s`;
  return `${r} s`;
}

/** A job's mode in a DBA's words (the job list, a job's read-only view). */
export const modeWords: Record<string, string> = {
  all: "Full copy + incremental sync",
  full: "Full copy",
  incremental: "Incremental sync",
};

// The job file keeps a start time as UTC (`2026-11-23T02:00:00Z`); a form
// shows and takes local time, which is how a DBA plans a window.
const pad = (n: number) => String(n).padStart(2, "0");

/** A UTC time as a `datetime-local` field's value (local time), or "". */
export function localInput(utc: string | undefined | null): string {
  if (!utc) return "";
  const d = new Date(utc);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A `datetime-local` field's value as the job file's UTC time. */
export function utcFromLocal(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  if (Number.isNaN(d.getTime())) return undefined;
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A sync's lag as shown everywhere: unknown (out of contact) is never 0. */
export function lag(secs: number | null): string {
  return secs === null ? "unknown" : `${secs.toFixed(1)} s`;
}

/** A precheck status as one mark. */
export const statusMark = { pass: "✔", warn: "▲", fail: "✖" } as const;
