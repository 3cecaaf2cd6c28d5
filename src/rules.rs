//! Object selection and routing, like DM's `block-allow-list` + `table_migrate_rule`.
//!
//! A pattern is `schema.table`, each part a glob (`*` any run, `?` one character);
//! `shop` alone means `shop.*`; backticks quote a part holding dots or wildcards
//! literally (`` `a.b`.t ``). A table is selected when it matches some `include`
//! (all tables when `include` is empty) and no `exclude`. The first `route` whose
//! `from` matches renames it on the target; in `to`, a part that is only `*` keeps
//! the source name and each other `*` takes, in order, what the `*`s of `from`
//! matched, schema part first (`shard_*.orders` -> `merged.orders_*` turns
//! `shard_07.orders` into `merged.orders_07`).
//!
//! Names compare the way the source compares them: exactly when
//! `lower_case_table_names = 0`, case-insensitively otherwise.

use std::collections::HashSet;

use serde::Serialize;

use crate::catalog::Catalog;
use crate::error::Coded;

pub use crate::profile::{ObjectRules, Route};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("the object pattern '{pattern}' is malformed: {reason}")]
    BadPattern { pattern: String, reason: String },
    #[error("the rule '{pattern}' names schema '{schema}', which does not exist on the source")]
    UnknownSchema { pattern: String, schema: String },
    #[error("the rule '{pattern}' matches no schema on the source")]
    NoSchemaMatches { pattern: String },
    #[error(
        "the rule '{pattern}' names table {schema}.{table}, which does not exist on the source"
    )]
    UnknownTable {
        pattern: String,
        schema: String,
        table: String,
    },
}

impl Coded for RulesError {
    fn code(&self) -> &'static str {
        match self {
            RulesError::BadPattern { .. } => "rules.bad_pattern",
            RulesError::UnknownSchema { .. } => "rules.unknown_schema",
            RulesError::NoSchemaMatches { .. } => "rules.no_match",
            RulesError::UnknownTable { .. } => "rules.unknown_table",
        }
    }

    fn remedy(&self) -> String {
        match self {
            RulesError::BadPattern { .. } => {
                "write patterns as schema.table with * and ? wildcards, e.g. shop.* or shop.tb_*".into()
            }
            _ => "⟦cli:fix the spelling in [objects] (see `ferry objects JOB` for what exists)|app:fix the spelling in the rules on the Objects page⟧, or remove the rule".into(),
        }
    }
}

/// One part of a pattern: literal text and wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Lit(char),
    Any,
    One,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    fn parse(part: &str, quoted: bool) -> Glob {
        let tokens = part
            .chars()
            .map(|c| match c {
                '*' if !quoted => Token::Any,
                '?' if !quoted => Token::One,
                c => Token::Lit(c),
            })
            .collect();
        Glob { tokens }
    }

    fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Lit(_)))
    }

    fn literal(&self) -> String {
        self.tokens
            .iter()
            .filter_map(|t| match t {
                Token::Lit(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    fn wildcards(&self) -> usize {
        self.tokens
            .iter()
            .filter(|t| matches!(t, Token::Any))
            .count()
    }

    /// Matches `name`; on success returns what each `*` matched, in order.
    fn captures(&self, name: &str, fold: bool) -> Option<Vec<String>> {
        let name: Vec<char> = name.chars().collect();
        let mut caps = Vec::new();
        if match_from(&self.tokens, &name, fold, &mut caps) {
            Some(
                caps.into_iter()
                    .map(|(s, e)| name[s..e].iter().collect())
                    .collect(),
            )
        } else {
            None
        }
    }
}

fn same(a: char, b: char, fold: bool) -> bool {
    if fold {
        a.to_lowercase().eq(b.to_lowercase())
    } else {
        a == b
    }
}

// Backtracking matcher: names are short (≤ 64 chars), so the worst case stays tiny.
fn match_from(tokens: &[Token], name: &[char], fold: bool, caps: &mut Vec<(usize, usize)>) -> bool {
    fn go(t: &[Token], n: &[char], pos: usize, fold: bool, caps: &mut Vec<(usize, usize)>) -> bool {
        match t.first() {
            None => pos == n.len(),
            Some(Token::Lit(c)) => {
                pos < n.len() && same(*c, n[pos], fold) && go(&t[1..], n, pos + 1, fold, caps)
            }
            Some(Token::One) => pos < n.len() && go(&t[1..], n, pos + 1, fold, caps),
            Some(Token::Any) => {
                for end in pos..=n.len() {
                    caps.push((pos, end));
                    if go(&t[1..], n, end, fold, caps) {
                        return true;
                    }
                    caps.pop();
                }
                false
            }
        }
    }
    go(tokens, name, 0, fold, caps)
}

/// A compiled `schema.table` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    schema: Glob,
    table: Glob,
}

/// Splits `schema.table` on the first unquoted dot; backticks quote (`` `` `` escapes).
fn split_parts(text: &str) -> Result<Vec<(String, bool)>, String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' if quoted && chars.peek() == Some(&'`') => {
                chars.next();
                cur.push('`');
            }
            '`' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '.' if !quoted => {
                parts.push((std::mem::take(&mut cur), was_quoted));
                was_quoted = false;
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("a backtick is not closed".into());
    }
    parts.push((cur, was_quoted));
    Ok(parts)
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, RulesError> {
        let bad = |reason: &str| RulesError::BadPattern {
            pattern: text.to_string(),
            reason: reason.to_string(),
        };
        let parts = split_parts(text.trim()).map_err(|r| bad(&r))?;
        let (schema, table) = match parts.as_slice() {
            [s] => (s.clone(), ("*".to_string(), false)),
            [s, t] => (s.clone(), t.clone()),
            _ => return Err(bad("use at most one dot, between schema and table (quote names holding dots with backticks)")),
        };
        if schema.0.is_empty() || table.0.is_empty() {
            return Err(bad("schema and table parts must not be empty"));
        }
        Ok(Pattern {
            text: text.to_string(),
            schema: Glob::parse(&schema.0, schema.1),
            table: Glob::parse(&table.0, table.1),
        })
    }

    fn captures(
        &self,
        schema: &str,
        table: &str,
        fold: bool,
    ) -> Option<(Vec<String>, Vec<String>)> {
        Some((
            self.schema.captures(schema, fold)?,
            self.table.captures(table, fold)?,
        ))
    }
}

/// The target side of a route: per part, literal text with `*` holes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template {
    schema: String,
    table: String,
}

/// Fills one part of a route target. `caps` is shared by both parts, so a `*` in
/// the table part can take what a `*` of the schema part matched.
fn fill<'a>(template: &str, source: &str, caps: &mut impl Iterator<Item = &'a String>) -> String {
    if template == "*" {
        return source.to_string();
    }
    let mut out = String::new();
    for c in template.chars() {
        match c {
            '*' => out.push_str(caps.next().map_or("", String::as_str)),
            c => out.push(c),
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CompiledRoute {
    from: Pattern,
    to: Template,
}

impl ObjectRules {
    /// Checks every pattern's syntax; done when a profile is loaded.
    pub fn validate(&self) -> Result<(), RulesError> {
        self.compile(0).map(|_| ())
    }

    /// Compiles the rules for a source with the given `lower_case_table_names`.
    pub fn compile(&self, lower_case_table_names: u8) -> Result<Matcher, RulesError> {
        let fold = lower_case_table_names != 0;
        let include = self
            .include
            .iter()
            .map(|p| Pattern::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let exclude = self
            .exclude
            .iter()
            .map(|p| Pattern::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut routes = Vec::new();
        for r in &self.route {
            let from = Pattern::parse(&r.from)?;
            let parts = split_parts(r.to.trim()).map_err(|reason| RulesError::BadPattern {
                pattern: r.to.clone(),
                reason,
            })?;
            let (schema, table) = match parts.as_slice() {
                [s] => (s.0.clone(), "*".to_string()),
                [s, t] => (s.0.clone(), t.0.clone()),
                _ => {
                    return Err(RulesError::BadPattern {
                        pattern: r.to.clone(),
                        reason: "a route target is schema or schema.table".into(),
                    })
                }
            };
            let mut holes = 0;
            for tpl in [&schema, &table] {
                if tpl.is_empty() {
                    return Err(RulesError::BadPattern {
                        pattern: r.to.clone(),
                        reason: "schema and table parts must not be empty".into(),
                    });
                }
                if tpl.contains('?') {
                    return Err(RulesError::BadPattern {
                        pattern: r.to.clone(),
                        reason: "'?' has no meaning in a route target".into(),
                    });
                }
                if tpl != "*" {
                    holes += tpl.matches('*').count();
                }
            }
            let wildcards = from.schema.wildcards() + from.table.wildcards();
            if holes > wildcards {
                return Err(RulesError::BadPattern {
                    pattern: r.to.clone(),
                    reason: format!(
                        "it has {holes} '*' to fill but '{}' has only {wildcards}",
                        r.from
                    ),
                });
            }
            routes.push(CompiledRoute {
                from,
                to: Template { schema, table },
            });
        }
        let mut skip = Vec::new();
        for text in &self.skip {
            skip.push(parse_skip(text)?);
        }
        Ok(Matcher {
            fold,
            include,
            exclude,
            routes,
            skip,
        })
    }
}

/// Rules compiled for one source; answers "is it selected" and "what is it called
/// on the target".
#[derive(Debug, Clone)]
pub struct Matcher {
    fold: bool,
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
    routes: Vec<CompiledRoute>,
    /// Objects left out: (kind, schema, name).
    skip: Vec<(String, String, String)>,
}

/// The kinds of schema object a `skip` entry may name.
const OBJECT_KINDS: [&str; 5] = ["view", "trigger", "procedure", "function", "event"];

/// Parses a `skip` entry: `kind schema.name`, the name optionally backquoted.
fn parse_skip(text: &str) -> Result<(String, String, String), RulesError> {
    let bad = |reason: &str| RulesError::BadPattern {
        pattern: text.to_string(),
        reason: reason.to_string(),
    };
    let (kind, rest) = text
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| bad("write it as `kind schema.name`, e.g. `view shop.v_orders`"))?;
    let kind = kind.to_ascii_lowercase();
    if !OBJECT_KINDS.contains(&kind.as_str()) {
        return Err(bad(
            "the kind is one of view, trigger, procedure, function, event",
        ));
    }
    let parts = split_parts(rest.trim()).map_err(|reason| bad(&reason))?;
    match parts.as_slice() {
        [(schema, _), (name, _)] if !schema.is_empty() && !name.is_empty() => {
            Ok((kind, schema.clone(), name.clone()))
        }
        _ => Err(bad("name the object as schema.name")),
    }
}

impl Matcher {
    pub fn case_insensitive(&self) -> bool {
        self.fold
    }

    pub fn selects(&self, schema: &str, table: &str) -> bool {
        let included = self.include.is_empty()
            || self
                .include
                .iter()
                .any(|p| p.captures(schema, table, self.fold).is_some());
        included && !self.excludes(schema, table)
    }

    /// Whether the exclude rules name `schema`.`name`.
    pub fn excludes(&self, schema: &str, name: &str) -> bool {
        self.exclude
            .iter()
            .any(|p| p.captures(schema, name, self.fold).is_some())
    }

    /// Whether any table of `schema` could be selected (for schema-level objects).
    pub fn touches_schema(&self, schema: &str) -> bool {
        self.include.is_empty()
            || self
                .include
                .iter()
                .any(|p| p.schema.captures(schema, self.fold).is_some())
    }

    /// Whether routines and events of `schema` go along: only when the whole schema
    /// is selected (`shop` / `shop.*`, or no include list) and not excluded whole.
    pub fn selects_whole_schema(&self, schema: &str) -> bool {
        let whole = |p: &Pattern| {
            p.table.tokens == [Token::Any] && p.schema.captures(schema, self.fold).is_some()
        };
        (self.include.is_empty() || self.include.iter().any(whole))
            && !self.exclude.iter().any(whole)
    }

    /// Whether the rules leave out this view, trigger, routine or event by name.
    pub fn skips(&self, kind: &str, schema: &str, name: &str) -> bool {
        let eq = |a: &str, b: &str| {
            if self.fold {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        self.skip
            .iter()
            .any(|(k, s, n)| k == kind && eq(s, schema) && eq(n, name))
    }

    /// The target `(schema, table)` of a source table.
    pub fn route(&self, schema: &str, table: &str) -> (String, String) {
        for r in &self.routes {
            if let Some((scaps, tcaps)) = r.from.captures(schema, table, self.fold) {
                let mut caps = scaps.iter().chain(tcaps.iter());
                let target_schema = fill(&r.to.schema, schema, &mut caps);
                return (target_schema, fill(&r.to.table, table, &mut caps));
            }
        }
        (schema.to_string(), table.to_string())
    }

    /// The target schema of a source schema, for objects that live in a schema but
    /// not in a table (views, routines): the first route whose schema part matches.
    pub fn route_schema(&self, schema: &str) -> String {
        // Only whole-schema routes (`shop.*`) move schema-level objects; a route of
        // one table (`shop.customers -> crm.clients`) does not drag routines along.
        for r in self
            .routes
            .iter()
            .filter(|r| r.from.table.tokens == [Token::Any])
        {
            if let Some(caps) = r.from.schema.captures(schema, self.fold) {
                return fill(&r.to.schema, schema, &mut caps.iter());
            }
        }
        schema.to_string()
    }

    /// Checks `include` patterns against what the source holds: a literal schema or
    /// table that does not exist, or a wildcard schema matching nothing, is a typo the
    /// user must hear about before anything runs.
    pub fn check_against<'a, I>(&self, tables: I, schemas: &[String]) -> Result<(), RulesError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)> + Clone,
    {
        for p in &self.include {
            let schema_hits: Vec<&String> = schemas
                .iter()
                .filter(|s| p.schema.captures(s, self.fold).is_some())
                .collect();
            if schema_hits.is_empty() {
                return Err(if p.schema.is_literal() {
                    RulesError::UnknownSchema {
                        pattern: p.text.clone(),
                        schema: p.schema.literal(),
                    }
                } else {
                    RulesError::NoSchemaMatches {
                        pattern: p.text.clone(),
                    }
                });
            }
            if p.schema.is_literal() && p.table.is_literal() {
                let exists = tables
                    .clone()
                    .into_iter()
                    .any(|(s, t)| p.captures(s, t, self.fold).is_some());
                if !exists {
                    return Err(RulesError::UnknownTable {
                        pattern: p.text.clone(),
                        schema: p.schema.literal(),
                        table: p.table.literal(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A selected table with the name it gets on the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SelectedTable {
    pub schema: String,
    pub name: String,
    pub target_schema: String,
    pub target_name: String,
    pub engine: Option<String>,
    pub row_estimate: u64,
    pub bytes: u64,
    /// Columns of the primary key or NOT NULL unique key; empty when the table has none.
    pub row_key: Vec<String>,
}

/// A view, trigger, routine or event carried along with the tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SelectedObject {
    /// `view`, `trigger`, `procedure`, `function` or `event`.
    pub kind: String,
    pub schema: String,
    pub name: String,
    pub target_schema: String,
    pub target_name: String,
    /// The tables and views it is built on: a view's (from its definition), a
    /// trigger's table. Routines' and events' bodies are not read.
    pub depends_on: Vec<(String, String)>,
}

/// An object of a selected schema that cannot come along: something it is built
/// on is not selected (a view on a table left out, a trigger of one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LeftOut {
    pub object: SelectedObject,
    /// What it is built on that is not selected.
    pub missing: Vec<(String, String)>,
}

/// A foreign key of a selected table whose parent table is not selected: the
/// target's rows would reference nothing (the precheck fails such a job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct BrokenKey {
    pub schema: String,
    pub table: String,
    pub name: String,
    pub parent_schema: String,
    pub parent_table: String,
}

/// What a job would migrate: tables with target names, plus schema-level objects,
/// and what leaving tables out costs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Selection {
    pub tables: Vec<SelectedTable>,
    pub objects: Vec<SelectedObject>,
    /// Views and triggers of the selected schemas left out with a table.
    pub left_out: Vec<LeftOut>,
    /// Foreign keys of selected tables to tables not selected.
    pub broken_keys: Vec<BrokenKey>,
}

impl Selection {
    /// The target schemas the selected tables go to.
    pub fn target_schemas(&self) -> std::collections::BTreeSet<&str> {
        self.tables
            .iter()
            .map(|t| t.target_schema.as_str())
            .collect()
    }

    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.row_estimate).sum()
    }

    pub fn total_bytes(&self) -> u64 {
        self.tables.iter().map(|t| t.bytes).sum()
    }

    /// The tables `keep` keeps, with the same objects.
    pub fn tables_where(&self, keep: impl Fn(&SelectedTable) -> bool) -> Selection {
        Selection {
            tables: self.tables.iter().filter(|t| keep(t)).cloned().collect(),
            objects: self.objects.clone(),
            left_out: Vec::new(),
            broken_keys: Vec::new(),
        }
    }
}

impl Matcher {
    /// Applies the rules to a catalog. The views, routines and events of every
    /// schema with a selected table come along (or of a schema selected whole),
    /// unless skipped by name; a view also when its own name is selected. A
    /// trigger goes with its table. A view whose tables or views are not all
    /// selected, and the trigger of a table left out, are `left_out`, with why.
    pub fn select(&self, catalog: &Catalog) -> Selection {
        let tables = catalog
            .tables
            .iter()
            .filter(|t| self.selects(&t.schema, &t.name))
            .map(|t| {
                let (target_schema, target_name) = self.route(&t.schema, &t.name);
                SelectedTable {
                    schema: t.schema.clone(),
                    name: t.name.clone(),
                    target_schema,
                    target_name,
                    engine: t.engine.clone(),
                    row_estimate: t.row_estimate,
                    bytes: t.total_bytes(),
                    row_key: t.row_key().map(|k| k.columns.clone()).unwrap_or_default(),
                }
            })
            .collect::<Vec<_>>();
        let with_tables: HashSet<&str> = tables.iter().map(|t| t.schema.as_str()).collect();
        let comes_along =
            |schema: &str| with_tables.contains(schema) || self.selects_whole_schema(schema);
        let views = self.views_built(catalog, &tables, &comes_along);

        let mut objects = Vec::new();
        let mut left_out = Vec::new();
        let object = |kind: &str,
                      schema: &str,
                      name: &str,
                      target: (String, String),
                      on: Vec<(String, String)>| {
            SelectedObject {
                kind: kind.to_string(),
                schema: schema.to_string(),
                name: name.to_string(),
                target_schema: target.0,
                target_name: target.1,
                depends_on: on,
            }
        };
        for (v, missing) in views {
            let o = object(
                "view",
                &v.schema,
                &v.name,
                self.route(&v.schema, &v.name),
                v.uses.clone(),
            );
            if missing.is_empty() {
                objects.push(o);
            } else {
                left_out.push(LeftOut { object: o, missing });
            }
        }
        // A trigger goes where its table goes.
        for t in catalog.triggers.iter().filter(|t| comes_along(&t.schema)) {
            if self.skips("trigger", &t.schema, &t.name) {
                continue;
            }
            let table = (t.schema.clone(), t.table.clone());
            let o = object(
                "trigger",
                &t.schema,
                &t.name,
                (self.route(&t.schema, &t.table).0, t.name.clone()),
                vec![table.clone()],
            );
            if self.selects(&t.schema, &t.table) {
                objects.push(o);
            } else {
                left_out.push(LeftOut {
                    object: o,
                    missing: vec![table],
                });
            }
        }
        for r in catalog.routines.iter().filter(|r| comes_along(&r.schema)) {
            let kind = r.kind.to_ascii_lowercase();
            if !self.skips(&kind, &r.schema, &r.name) {
                let target = (self.route_schema(&r.schema), r.name.clone());
                objects.push(object(&kind, &r.schema, &r.name, target, Vec::new()));
            }
        }
        for e in catalog.events.iter().filter(|e| comes_along(&e.schema)) {
            if !self.skips("event", &e.schema, &e.name) {
                let target = (self.route_schema(&e.schema), e.name.clone());
                objects.push(object("event", &e.schema, &e.name, target, Vec::new()));
            }
        }
        let broken_keys = self.broken_keys(catalog, &tables);
        Selection {
            tables,
            objects,
            left_out,
            broken_keys,
        }
    }

    /// The views that come along, each with what it reads that is not selected
    /// (empty: it can be created). A view on a view needs that view created first,
    /// so the views are settled in rounds until none changes.
    fn views_built<'c>(
        &self,
        catalog: &'c Catalog,
        tables: &[SelectedTable],
        comes_along: &dyn Fn(&str) -> bool,
    ) -> Vec<(&'c crate::catalog::View, Vec<(String, String)>)> {
        let candidates: Vec<&crate::catalog::View> = catalog
            .views
            .iter()
            .filter(|v| {
                (self.selects(&v.schema, &v.name)
                    || (comes_along(&v.schema) && !self.excludes(&v.schema, &v.name)))
                    && !self.skips("view", &v.schema, &v.name)
            })
            .collect();
        // What exists on the target once the tables and the views built so far are.
        let mut present: HashSet<(String, String)> = tables
            .iter()
            .map(|t| (t.schema.clone(), t.name.clone()))
            .collect();
        loop {
            let before = present.len();
            for v in &candidates {
                if v.uses.iter().all(|u| present.contains(u)) {
                    present.insert((v.schema.clone(), v.name.clone()));
                }
            }
            if present.len() == before {
                break;
            }
        }
        candidates
            .into_iter()
            .map(|v| {
                let missing = v
                    .uses
                    .iter()
                    .filter(|u| !present.contains(*u))
                    .cloned()
                    .collect();
                (v, missing)
            })
            .collect()
    }

    /// The foreign keys of `tables` whose parent is not selected.
    fn broken_keys(&self, catalog: &Catalog, tables: &[SelectedTable]) -> Vec<BrokenKey> {
        let mut broken = Vec::new();
        for sel in tables {
            let Some(t) = catalog.table(&sel.schema, &sel.name) else {
                continue;
            };
            for fk in &t.foreign_keys {
                if !self.selects(&fk.ref_schema, &fk.ref_table) {
                    broken.push(BrokenKey {
                        schema: t.schema.clone(),
                        table: t.name.clone(),
                        name: fk.name.clone(),
                        parent_schema: fk.ref_schema.clone(),
                        parent_table: fk.ref_table.clone(),
                    });
                }
            }
        }
        broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(include: &[&str], exclude: &[&str], routes: &[(&str, &str)]) -> ObjectRules {
        ObjectRules {
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            route: routes
                .iter()
                .map(|(f, t)| Route {
                    from: f.to_string(),
                    to: t.to_string(),
                })
                .collect(),
            skip: Vec::new(),
        }
    }

    #[test]
    fn include_exclude_and_wildcards() {
        let m = rules(&["shop.*", "crm.customers"], &["shop.tmp_*"], &[])
            .compile(0)
            .unwrap();
        assert!(m.selects("shop", "orders"));
        assert!(!m.selects("shop", "tmp_orders"));
        assert!(m.selects("crm", "customers"));
        assert!(!m.selects("crm", "leads"));
        assert!(!m.selects("Shop", "orders"), "case-sensitive when lctn = 0");
        let m = rules(&["shop.tb_?"], &[], &[]).compile(0).unwrap();
        assert!(m.selects("shop", "tb_1"));
        assert!(!m.selects("shop", "tb_12"));
    }

    #[test]
    fn empty_include_means_everything() {
        let m = rules(&[], &["logs"], &[]).compile(0).unwrap();
        assert!(m.selects("shop", "x"));
        assert!(!m.selects("logs", "x"), "a bare schema means schema.*");
    }

    #[test]
    fn case_follows_lower_case_table_names() {
        let m = rules(&["Shop.Orders"], &[], &[("shop.*", "shop_v2.*")])
            .compile(1)
            .unwrap();
        assert!(m.selects("shop", "orders"));
        assert_eq!(
            m.route("SHOP", "orders"),
            ("shop_v2".into(), "orders".into())
        );
    }

    #[test]
    fn routes_rename_schema_and_table() {
        let m = rules(
            &[],
            &[],
            &[
                ("shop.*", "shop_v2.*"),
                ("shard_*.orders", "merged.orders_*"),
                ("crm.customers", "crm2.clients"),
                ("`a.b`.t", "ab"),
            ],
        )
        .compile(0)
        .unwrap();
        assert_eq!(m.route("shop", "items"), ("shop_v2".into(), "items".into()));
        assert_eq!(
            m.route("shard_07", "orders"),
            ("merged".into(), "orders_07".into())
        );
        assert_eq!(
            m.route("crm", "customers"),
            ("crm2".into(), "clients".into())
        );
        assert_eq!(m.route("crm", "leads"), ("crm".into(), "leads".into()));
        assert_eq!(m.route("a.b", "t"), ("ab".into(), "t".into()));
        assert_eq!(m.route_schema("shop"), "shop_v2");
        assert_eq!(
            m.route_schema("crm"),
            "crm",
            "a one-table route does not move the schema"
        );
    }

    #[test]
    fn route_holes_take_captures_across_parts() {
        let m = rules(&[], &[], &[("s_*.t_*", "all.t_*_*")])
            .compile(0)
            .unwrap();
        assert_eq!(
            m.route("s_eu", "t_2024"),
            ("all".into(), "t_eu_2024".into())
        );
    }

    #[test]
    fn first_matching_route_wins() {
        let m = rules(&[], &[], &[("shop.vip", "vip.x"), ("shop.*", "s2.*")])
            .compile(0)
            .unwrap();
        assert_eq!(m.route("shop", "vip"), ("vip".into(), "x".into()));
        assert_eq!(m.route("shop", "y"), ("s2".into(), "y".into()));
    }

    #[test]
    fn skip_entries_name_one_object_of_one_kind() {
        let mut r = rules(&[], &[], &[]);
        r.skip = vec!["view shop.v_a".into(), "TRIGGER `shop`.`t.b`".into()];
        let m = r.compile(0).unwrap();
        assert!(m.skips("view", "shop", "v_a"));
        assert!(!m.skips("trigger", "shop", "v_a"), "the kind must match");
        assert!(m.skips("trigger", "shop", "t.b"));
        assert!(
            !m.skips("view", "shop", "V_A"),
            "case-sensitive with lctn 0"
        );
        assert!(r.compile(1).unwrap().skips("view", "SHOP", "V_A"));
        for bad in [
            "v_a",
            "table shop.t",
            "view shop",
            "view shop.a.b",
            "view .a",
        ] {
            r.skip = vec![bad.into()];
            assert!(r.validate().is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn malformed_patterns_are_rejected() {
        for bad in ["a.b.c", ".t", "s.", "`s.t"] {
            let err = rules(&[bad], &[], &[]).compile(0).unwrap_err();
            assert_eq!(err.code(), "rules.bad_pattern", "{bad}");
        }
        let err = rules(&[], &[], &[("shop.t", "x.t_*")])
            .compile(0)
            .unwrap_err();
        assert_eq!(err.code(), "rules.bad_pattern");
    }

    #[test]
    fn unknown_names_are_reported() {
        let schemas = vec!["shop".to_string(), "crm".to_string()];
        let tables = [("shop", "orders"), ("crm", "customers")];
        let m = rules(&["nosuch.*"], &[], &[]).compile(0).unwrap();
        let err = m
            .check_against(tables.iter().copied(), &schemas)
            .unwrap_err();
        assert_eq!(
            err,
            RulesError::UnknownSchema {
                pattern: "nosuch.*".into(),
                schema: "nosuch".into()
            }
        );
        let m = rules(&["x*.*"], &[], &[]).compile(0).unwrap();
        let err = m
            .check_against(tables.iter().copied(), &schemas)
            .unwrap_err();
        assert_eq!(err.code(), "rules.no_match");
        let m = rules(&["crm.custmers"], &[], &[]).compile(0).unwrap();
        let err = m
            .check_against(tables.iter().copied(), &schemas)
            .unwrap_err();
        assert_eq!(err.code(), "rules.unknown_table");
        let m = rules(&["shop.*", "crm.customers"], &[], &[])
            .compile(0)
            .unwrap();
        assert!(m.check_against(tables.iter().copied(), &schemas).is_ok());
    }
}
