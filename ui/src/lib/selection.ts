// Turns checked tables into the job's include rules, and back.
import type { SelectedTable } from "../bindings/SelectedTable";

export type Tree = Map<string, SelectedTable[]>;

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

/** Include rules for `checked` (schema.table keys): `db.*` for whole schemas. */
export function includeRules(all: Tree, checked: Set<string>): string[] {
  const rules: string[] = [];
  for (const [schema, tables] of all) {
    const picked = tables.filter((t) => checked.has(key(schema, t.name)));
    if (picked.length === 0) continue;
    if (picked.length === tables.length) rules.push(`${schema}.*`);
    else rules.push(...picked.map((t) => key(schema, t.name)));
  }
  return rules;
}

/** Which tables the include rules pick (exact names and `db.*`; other wildcards are kept as rules). */
export function checkedFrom(all: Tree, include: string[]): Set<string> {
  const checked = new Set<string>();
  for (const [schema, tables] of all) {
    for (const t of tables) {
      if (include.length === 0 || include.includes(`${schema}.*`) || include.includes(key(schema, t.name))) {
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
