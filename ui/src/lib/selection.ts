// Turns checked tables into the job's include rules, and back.
import type { Route } from "../bindings/Route";
import type { SelectedTable } from "../bindings/SelectedTable";
import type { Selection } from "../bindings/Selection";

export type Tree = Map<string, SelectedTable[]>;

/** Rules typed one per line, blank lines dropped. */
export const lines = (text: string) =>
  text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");

/** The routes with both sides filled in (a row being typed is not a rule yet). */
export const completeRoutes = (routes: Route[]) => routes.filter((r) => r.from.trim() && r.to.trim());

export function tree(tables: SelectedTable[]): Tree {
  const t: Tree = new Map();
  for (const table of tables) {
    const list = t.get(table.schema) ?? [];
    list.push(table);
    t.set(table.schema, list);
  }
  return t;
}

const key = (schema: string, table: string) => `${schema}.${table}`;

/** One part of a rule, backtick-quoted when it holds a dot, a wildcard or a backtick. */
const part = (name: string) => (/[.*?`]/.test(name) ? "`" + name.replaceAll("`", "``") + "`" : name);

/** The include rule that names exactly `schema`.`table`. */
export const ruleOf = (schema: string, table: string) => `${part(schema)}.${part(table)}`;

/** Include rules with `tables` added (exact names), each once. */
export function withTables(include: string[], tables: [string, string][]): string[] {
  const added = tables.map(([s, t]) => ruleOf(s, t)).filter((r) => !include.includes(r));
  return [...include, ...new Set(added)];
}

/** What leaving tables out costs, per table left out: the views and triggers that
 * go with it and the foreign keys of selected tables that point at it. */
export type Cost = { schema: string; table: string; objects: string[]; keys: string[] };
export function costs(preview: Selection | null): Cost[] {
  const by = new Map<string, Cost>();
  const at = (schema: string, table: string) => {
    const k = key(schema, table);
    let c = by.get(k);
    if (!c) {
      c = { schema, table, objects: [], keys: [] };
      by.set(k, c);
    }
    return c;
  };
  for (const l of preview?.left_out ?? []) {
    for (const [s, t] of l.missing) at(s, t).objects.push(`${l.object.kind} ${l.object.schema}.${l.object.name}`);
  }
  for (const k of preview?.broken_keys ?? []) at(k.parent_schema, k.parent_table).keys.push(`${k.schema}.${k.table} (${k.name})`);
  return [...by.values()].sort((a, b) => key(a.schema, a.table).localeCompare(key(b.schema, b.table)));
}

/** Include rules for `checked` (schema.table keys): `db.*` for whole schemas. */
export function includeRules(all: Tree, checked: Set<string>): string[] {
  const rules: string[] = [];
  for (const [schema, tables] of all) {
    const picked = tables.filter((t) => checked.has(key(schema, t.name)));
    if (picked.length === 0) continue;
    if (picked.length === tables.length) rules.push(`${part(schema)}.*`);
    else rules.push(...picked.map((t) => ruleOf(schema, t.name)));
  }
  return rules;
}

/** Which tables the include rules pick (exact names and `db.*`; other wildcards are kept as rules). */
export function checkedFrom(all: Tree, include: string[]): Set<string> {
  const checked = new Set<string>();
  for (const [schema, tables] of all) {
    for (const t of tables) {
      if (include.length === 0 || include.includes(`${part(schema)}.*`) || include.includes(ruleOf(schema, t.name))) {
        checked.add(key(schema, t.name));
      }
    }
  }
  return checked;
}

/** A schema's checkbox: all, none, or some of its tables. */
export function schemaState(all: Tree, checked: Set<string>, schema: string): "all" | "none" | "some" {
  const tables = all.get(schema) ?? [];
  const n = tables.filter((t) => checked.has(key(schema, t.name))).length;
  return n === 0 ? "none" : n === tables.length ? "all" : "some";
}

/** A target table fed by several source tables (of one source or of several). */
export type Merged = { target: string; shards: { source: string; table: string; rows: number }[] };

/** The merged target tables of a job, from each source's selection. */
export function mergedTargets(bySource: [string, Selection][]): Merged[] {
  const by = new Map<string, Merged>();
  for (const [source, sel] of bySource) {
    for (const t of sel.tables) {
      const target = key(t.target_schema, t.target_name);
      const m = by.get(target) ?? { target, shards: [] };
      m.shards.push({ source, table: key(t.schema, t.name), rows: t.row_estimate });
      by.set(target, m);
    }
  }
  return [...by.values()].filter((m) => m.shards.length > 1).sort((a, b) => a.target.localeCompare(b.target));
}
