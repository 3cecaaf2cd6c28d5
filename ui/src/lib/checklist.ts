// The Done page's "before you switch the application" list, from what the job's
// log on the target says it did (every run, any process): events it created
// DISABLED, definers it rewrote, objects the target refused, triggers it created
// at the cutover; accounts and grants, which Ferry never migrates, always.
import type { LogEntry } from "../bindings/LogEntry";

export interface ChecklistItem {
  id: string;
  text: string;
  /** SQL to run on the target, when there is some to copy. */
  sql: string | null;
}

/** The log's code for an entry: "snapshot.event_disabled: …" → that code. */
const code = (e: LogEntry) => /^([a-z_]+\.[a-z_]+): /.exec(e.text)?.[1] ?? null;

export function checklist(log: LogEntry[]): ChecklistItem[] {
  const items: ChecklistItem[] = [];
  const events = new Set<string>();
  for (const e of log) {
    const m = code(e) === "snapshot.event_disabled" ? /ALTER EVENT (\S+?) ENABLE/.exec(e.text) : null;
    if (m) events.add(m[1]);
  }
  if (events.size > 0) {
    items.push({
      id: "events",
      text: `${events.size} event${events.size === 1 ? " was" : "s were"} created DISABLED on the target, so they would not change its data before the cutover: enable them once the application uses the target.`,
      sql: [...events].map((name) => `ALTER EVENT ${name} ENABLE;`).join("\n"),
    });
  }
  const definers = log.filter((e) => code(e) === "snapshot.definer_rewritten");
  if (definers.length > 0) {
    items.push({
      id: "definers",
      text: "Views, triggers, routines and events run as the target login (their definers were rewritten): check that it may do what they do, or recreate them with the application's accounts as definers.",
      sql: null,
    });
  }
  const skipped = log.filter((e) => code(e) === "snapshot.object_skipped");
  for (const [i, e] of skipped.entries()) {
    items.push({ id: `skipped-${i}`, text: e.text.replace(/^snapshot\.object_skipped: /, ""), sql: null });
  }
  if (log.some((e) => e.text === "phase: completed")) {
    items.push({
      id: "triggers",
      text: "The triggers were created at the cutover: from now on they fire on the target for the application's writes.",
      sql: null,
    });
  }
  items.push({
    id: "accounts",
    text: "Accounts and grants are not migrated: create the application's accounts on the target (SHOW CREATE USER and SHOW GRANTS on the source list them), then point the application at the target.",
    sql: null,
  });
  return items;
}
