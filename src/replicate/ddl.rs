//! DDL from the binlog: which selected tables a statement touches, the statement
//! to run on the target under the job's routes, and the table maps after it.
//!
//! Statements are read with a small tokenizer that knows MySQL/MariaDB quoting
//! and comments, not with a full grammar: only the table names of a statement
//! matter here, and the statement that runs on the target is the source's own
//! text with just those names replaced. So MariaDB's dialect (`IF NOT EXISTS` on
//! columns, `INVISIBLE`, `WITH SYSTEM VERSIONING`, `ALGORITHM=INSTANT`, table
//! options) reaches the target as the source wrote it.
//!
//! Online schema-change tools (pt-online-schema-change, gh-ost) work on shadow
//! tables (`_t_new`, `_t_gho`, `_t_ghc`, `_t_old`, `_t_del`) and swap them in with
//! one RENAME; a shadow of a synced table is synced with it, under the same target
//! schema, so the swap lands the altered table on the target with every row. Their
//! helper triggers are not created on the target: the rows they write arrive as row
//! events already.

use std::collections::HashMap;
use std::sync::Arc;

use super::reader::{Statement, TableMap};
use crate::mysql::{tokens, Comments, Token as Tok, TokenKind as TokKind};
use crate::rules::Matcher;

type Name = (String, String);

/// What to do with one statement from the binlog.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Not about a selected table (other schemas, users, a BEGIN-less DML…).
    Ignore,
    /// Run `sql` on the target (after `USE use_schema` when set), then rebuild the
    /// maps of `refresh` (source names) from the target and forget `forget`.
    Apply {
        sql: String,
        use_schema: Option<String>,
        refresh: Vec<Name>,
        forget: Vec<Name>,
        /// Source names whose target tables the statement renames: old → new.
        renamed: Vec<(Name, Name)>,
    },
    /// It names a selected table but cannot be parsed: replicating it blind could
    /// break the target, so the sync stops with the statement.
    Unparsed { tables: Vec<String>, cause: String },
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Role {
    /// The statement changes this existing table (ALTER, CREATE INDEX, TRUNCATE).
    Change,
    Create,
    Drop,
    RenameFrom,
    RenameTo,
    /// Only read (`CREATE TABLE … LIKE this`): renamed on the target, no map change.
    Read,
}

/// A table name found in a statement: where it is in the text and what it means.
#[derive(Debug, Clone)]
struct Found {
    name: Name,
    start: usize,
    end: usize,
    role: Role,
}

/// What kind of statement this is, by its first words.
#[derive(Debug, PartialEq)]
enum Shape {
    /// Table DDL with the names it touches.
    Tables(Vec<Found>),
    /// CREATE DATABASE / SCHEMA: the name and its span.
    CreateSchema {
        name: String,
        start: usize,
        end: usize,
    },
    /// Changes no table data on the target, or is handled elsewhere (triggers at
    /// cutover; table maintenance; temporary tables; routines, views, users).
    Ignore,
    /// DML written as a statement.
    Dml,
    /// Something else.
    Unknown(String),
}

impl PartialEq for Found {
    fn eq(&self, o: &Found) -> bool {
        self.name == o.name && self.role == o.role
    }
}

struct Cursor<'a> {
    t: &'a [Tok],
    i: usize,
    default_schema: &'a str,
}

impl Cursor<'_> {
    fn peek(&self) -> &str {
        self.t
            .get(self.i)
            .filter(|t| t.kind == TokKind::Word)
            .map_or("", |t| t.word.as_str())
    }
    fn eat(&mut self, w: &str) -> bool {
        if self.peek() == w {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat_seq(&mut self, ws: &[&str]) -> bool {
        let ok = ws.iter().enumerate().all(|(k, w)| {
            self.t
                .get(self.i + k)
                .is_some_and(|t| t.kind == TokKind::Word && t.word == *w)
        });
        if ok {
            self.i += ws.len();
        }
        ok
    }
    fn punct(&self, c: &str) -> bool {
        self.t
            .get(self.i)
            .is_some_and(|t| t.kind == TokKind::Punct && t.text == c)
    }
    /// `ident [. ident]` at the cursor.
    fn name(&mut self, role: Role) -> Option<Found> {
        let ident = |t: Option<&Tok>| {
            t.filter(|t| matches!(t.kind, TokKind::Word | TokKind::Quoted))
                .cloned()
        };
        let first = ident(self.t.get(self.i))?;
        let dotted = self
            .t
            .get(self.i + 1)
            .is_some_and(|t| t.kind == TokKind::Punct && t.text == ".");
        if dotted {
            let second = ident(self.t.get(self.i + 2))?;
            self.i += 3;
            Some(Found {
                name: (first.text, second.text),
                start: first.start,
                end: second.end,
                role,
            })
        } else {
            self.i += 1;
            if self.default_schema.is_empty() {
                return None;
            }
            Some(Found {
                name: (self.default_schema.to_string(), first.text),
                start: first.start,
                end: first.end,
                role,
            })
        }
    }
    /// The table of `CREATE INDEX` / `DROP INDEX`: the name after the next ON.
    fn index_table(&mut self, statement: &str) -> Shape {
        while self.i < self.t.len() && self.peek() != "ON" {
            self.i += 1;
        }
        if !self.eat("ON") {
            return Shape::Unknown(format!("{statement} without ON"));
        }
        match self.name(Role::Change) {
            Some(t) => Shape::Tables(vec![t]),
            None => Shape::Unknown("no table name after ON".into()),
        }
    }

    /// A comma-separated list of names.
    fn names(&mut self, role: Role, out: &mut Vec<Found>) -> Option<()> {
        loop {
            out.push(self.name(role)?);
            if self.punct(",") {
                self.i += 1;
            } else {
                return Some(());
            }
        }
    }
}

fn shape(sql: &str, default_schema: &str) -> Shape {
    let toks = tokens(sql, Comments::Skip);
    let mut c = Cursor {
        t: &toks,
        i: 0,
        default_schema,
    };
    let unknown = |why: &str| Shape::Unknown(why.to_string());
    let mut found = Vec::new();
    match c.peek() {
        "ALTER" => {
            c.i += 1;
            c.eat("ONLINE");
            c.eat("IGNORE");
            if !c.eat("TABLE") {
                return Shape::Ignore; // ALTER VIEW / USER / DATABASE / EVENT / …
            }
            c.eat_seq(&["IF", "EXISTS"]);
            let Some(table) = c.name(Role::Change) else {
                return unknown("no table name after ALTER TABLE");
            };
            // `RENAME [TO|AS|=] new` at the top level (not RENAME COLUMN/INDEX/KEY).
            let mut depth = 0i32;
            let mut renamed_to = None;
            while c.i < toks.len() {
                let t = &toks[c.i];
                match (t.kind, t.word.as_str()) {
                    (TokKind::Punct, "(") => depth += 1,
                    (TokKind::Punct, ")") => depth -= 1,
                    (TokKind::Word, "RENAME") if depth == 0 => {
                        c.i += 1;
                        if matches!(c.peek(), "COLUMN" | "INDEX" | "KEY" | "CONSTRAINT") {
                            continue;
                        }
                        if !(c.eat("TO") || c.eat("AS")) && c.punct("=") {
                            c.i += 1;
                        }
                        renamed_to = c.name(Role::RenameTo);
                        continue;
                    }
                    _ => {}
                }
                c.i += 1;
            }
            match renamed_to {
                Some(new) => {
                    found.push(Found {
                        role: Role::RenameFrom,
                        ..table
                    });
                    found.push(new);
                }
                None => found.push(table),
            }
            Shape::Tables(found)
        }
        "CREATE" => {
            c.i += 1;
            c.eat_seq(&["OR", "REPLACE"]);
            if c.eat("TEMPORARY") {
                return Shape::Ignore;
            }
            // DEFINER = user@host, ALGORITHM = …, SQL SECURITY …: views/routines.
            match c.peek() {
                "TABLE" => {
                    c.i += 1;
                    c.eat_seq(&["IF", "NOT", "EXISTS"]);
                    let Some(t) = c.name(Role::Create) else {
                        return unknown("no table name after CREATE TABLE");
                    };
                    found.push(t);
                    // `LIKE other` / `(LIKE other)`: the other table is only read.
                    let mut k = c.i;
                    while k < toks.len() && toks[k].kind == TokKind::Punct && toks[k].text == "(" {
                        k += 1;
                    }
                    if toks
                        .get(k)
                        .is_some_and(|t| t.kind == TokKind::Word && t.word == "LIKE")
                    {
                        c.i = k + 1;
                        if let Some(src) = c.name(Role::Read) {
                            found.push(src);
                        }
                    }
                    Shape::Tables(found)
                }
                "DATABASE" | "SCHEMA" => {
                    c.i += 1;
                    c.eat_seq(&["IF", "NOT", "EXISTS"]);
                    match toks.get(c.i) {
                        Some(t) if matches!(t.kind, TokKind::Word | TokKind::Quoted) => {
                            Shape::CreateSchema {
                                name: t.text.clone(),
                                start: t.start,
                                end: t.end,
                            }
                        }
                        _ => unknown("no name after CREATE DATABASE"),
                    }
                }
                "UNIQUE" | "FULLTEXT" | "SPATIAL" | "INDEX" | "ONLINE" | "OFFLINE" => {
                    while matches!(
                        c.peek(),
                        "UNIQUE" | "FULLTEXT" | "SPATIAL" | "ONLINE" | "OFFLINE"
                    ) {
                        c.i += 1;
                    }
                    if !c.eat("INDEX") {
                        return unknown("CREATE … without INDEX");
                    }
                    c.index_table("CREATE INDEX")
                }
                _ => Shape::Ignore, // VIEW, TRIGGER, PROCEDURE, FUNCTION, EVENT, USER, ROLE, SEQUENCE…
            }
        }
        "DROP" => {
            c.i += 1;
            if c.eat("TEMPORARY") {
                return Shape::Ignore;
            }
            match c.peek() {
                "TABLE" | "TABLES" => {
                    c.i += 1;
                    c.eat_seq(&["IF", "EXISTS"]);
                    if c.names(Role::Drop, &mut found).is_none() {
                        return unknown("a name in DROP TABLE");
                    }
                    Shape::Tables(found)
                }
                "INDEX" => {
                    c.i += 1;
                    c.index_table("DROP INDEX")
                }
                "DATABASE" | "SCHEMA" => unknown("DROP DATABASE"),
                _ => Shape::Ignore,
            }
        }
        "RENAME" => {
            c.i += 1;
            if !(c.eat("TABLE") || c.eat("TABLES")) {
                return Shape::Ignore; // RENAME USER
            }
            loop {
                let Some(old) = c.name(Role::RenameFrom) else {
                    return unknown("a name in RENAME TABLE");
                };
                c.eat_seq(&["WAIT"]).then(|| c.i += 1);
                c.eat("NOWAIT");
                if !c.eat("TO") {
                    return unknown("RENAME TABLE without TO");
                }
                let Some(new) = c.name(Role::RenameTo) else {
                    return unknown("a name in RENAME TABLE");
                };
                found.push(old);
                found.push(new);
                if c.punct(",") {
                    c.i += 1;
                } else {
                    break;
                }
            }
            Shape::Tables(found)
        }
        "TRUNCATE" => {
            c.i += 1;
            c.eat("TABLE");
            match c.name(Role::Change) {
                Some(t) => Shape::Tables(vec![t]),
                None => unknown("no table name after TRUNCATE"),
            }
        }
        "OPTIMIZE" | "ANALYZE" | "REPAIR" | "CHECK" | "CHECKSUM" | "FLUSH" | "GRANT" | "REVOKE"
        | "SET" | "INSTALL" | "UNINSTALL" | "SAVEPOINT" | "RELEASE" | "DO" | "XA" => Shape::Ignore,
        "INSERT" | "REPLACE" | "UPDATE" | "DELETE" | "LOAD" | "CALL" => Shape::Dml,
        "" => unknown("an empty or unreadable statement"),
        other => Shape::Unknown(format!("{other} statements are not understood")),
    }
}

/// The target name of a source table: its route, or for an online schema-change
/// shadow of a synced table, the target schema of that table.
pub fn route_of(matcher: &Matcher, tracked: &HashMap<Name, TableMap>, n: &Name) -> Name {
    if !matcher.selects(&n.0, &n.1) {
        if let Some(base) = shadow_base(tracked, n) {
            if let Some(map) = tracked.get(&base) {
                return (map.target_schema.clone(), n.1.clone());
            }
        }
    }
    matcher.route(&n.0, &n.1)
}

/// The synced table `n` is an online schema-change shadow of: `_t_new`, `__t_new`,
/// `_t_old` (pt-online-schema-change), `_t_gho`, `_t_ghc`, `_t_del` (gh-ost).
fn shadow_base(tracked: &HashMap<Name, TableMap>, n: &Name) -> Option<Name> {
    let bare = n.1.trim_start_matches('_');
    if bare.len() == n.1.len() {
        return None;
    }
    ["_new", "_old", "_gho", "_ghc", "_del"]
        .iter()
        .filter_map(|suffix| bare.strip_suffix(suffix))
        .map(|base| (n.0.clone(), base.to_string()))
        .find(|base| tracked.contains_key(base))
}

/// Whether DML written as a statement touches a synced table: the name of the
/// first such table (matched as whole identifiers, so it errs towards stopping).
pub fn statement_dml(statement: &Statement, tracked: &HashMap<Name, TableMap>) -> Option<String> {
    if shape(&statement.sql, &statement.schema) != Shape::Dml {
        return None;
    }
    named_tables(statement, tracked).into_iter().next()
}

/// Decides what `statement` means for the job. `tracked` are the source tables
/// being synced now; new tables join when `matcher` selects them.
pub fn plan(statement: &Statement, matcher: &Matcher, tracked: &HashMap<Name, TableMap>) -> Plan {
    let default_schema = statement.schema.as_str();
    let found = match shape(&statement.sql, default_schema) {
        Shape::Tables(f) => f,
        Shape::CreateSchema { name, start, end } => {
            if !matcher.touches_schema(&name) {
                return Plan::Ignore;
            }
            let target = matcher.route_schema(&name);
            let sql = replace_spans(&statement.sql, &[(start, end, quote(&target))]);
            return Plan::Apply {
                sql,
                use_schema: None,
                refresh: Vec::new(),
                forget: Vec::new(),
                renamed: Vec::new(),
            };
        }
        Shape::Ignore | Shape::Dml => return Plan::Ignore,
        Shape::Unknown(cause) => return unparsed(statement, tracked, cause),
    };
    let selectable = |n: &Name| matcher.selects(&n.0, &n.1) || shadow_base(tracked, n).is_some();
    // Follow renames pair by pair: `a → tmp, b → a, tmp → b` swaps two synced
    // tables through a name that is synced only for the moment.
    let mut live: HashMap<Name, bool> = HashMap::new();
    let is_live = |live: &HashMap<Name, bool>, n: &Name| {
        live.get(n)
            .copied()
            .unwrap_or_else(|| tracked.contains_key(n))
    };
    let mut relevant = false;
    let mut renamed = Vec::new();
    let mut touched: Vec<Name> = Vec::new();
    let mut k = 0;
    while k < found.len() {
        let f = &found[k];
        touched.push(f.name.clone());
        match f.role {
            Role::RenameFrom => {
                let Some(to) = found.get(k + 1) else { break };
                touched.push(to.name.clone());
                let was = is_live(&live, &f.name);
                live.insert(f.name.clone(), false);
                live.insert(to.name.clone(), was);
                if was {
                    relevant = true;
                    renamed.push((f.name.clone(), to.name.clone()));
                }
                k += 2;
                continue;
            }
            Role::Create if selectable(&f.name) => {
                relevant = true;
                live.insert(f.name.clone(), true);
            }
            Role::Drop | Role::Change if is_live(&live, &f.name) => {
                relevant = true;
                if f.role == Role::Drop {
                    live.insert(f.name.clone(), false);
                }
            }
            _ => {}
        }
        k += 1;
    }
    if !relevant {
        return Plan::Ignore;
    }
    let mut refresh = Vec::new();
    let mut forget = Vec::new();
    touched.dedup();
    let mut seen = std::collections::HashSet::new();
    for n in touched {
        if !seen.insert(n.clone()) {
            continue;
        }
        let now = is_live(&live, &n);
        if now && selectable(&n) {
            refresh.push(n);
        } else if tracked.contains_key(&n) && !now || now && !selectable(&n) {
            forget.push(n);
        }
    }
    // A table renamed out of the selection only: stop following it, leave the
    // target alone.
    let into_selection = found
        .iter()
        .any(|f| f.role != Role::RenameFrom && f.role != Role::RenameTo || selectable(&f.name));
    if !into_selection {
        return Plan::Apply {
            sql: String::new(),
            use_schema: None,
            refresh: Vec::new(),
            forget,
            renamed: Vec::new(),
        };
    }
    let mut edits = Vec::new();
    let mut rewrite = false;
    for f in &found {
        let (ts, tt) = route_of(matcher, tracked, &f.name);
        if ts != f.name.0 || tt != f.name.1 {
            rewrite = true;
        }
        edits.push((f.start, f.end, format!("{}.{}", quote(&ts), quote(&tt))));
    }
    let (sql, use_schema) = if rewrite {
        (replace_spans(&statement.sql, &edits), None)
    } else {
        // Same names on both sides: run the source's own text, in its schema.
        (
            statement.sql.clone(),
            Some(default_schema.to_string()).filter(|s| !s.is_empty()),
        )
    };
    Plan::Apply {
        sql,
        use_schema,
        refresh,
        forget,
        renamed,
    }
}

/// `sql` run against `scratch` instead of the one table it creates or changes:
/// that table and the rewritten statement; `None` when it creates or changes
/// several tables, renames or drops one (see `already`).
pub fn on_scratch(sql: &str, default_schema: &str, scratch: &Name) -> Option<(Name, String)> {
    let Shape::Tables(found) = shape(sql, default_schema) else {
        return None;
    };
    let mut written = found
        .iter()
        .filter(|f| f.role != Role::Read)
        .collect::<Vec<_>>();
    let f = written.pop().filter(|_| written.is_empty())?;
    if !matches!(f.role, Role::Change | Role::Create) {
        return None;
    }
    let name = format!("{}.{}", quote(&scratch.0), quote(&scratch.1));
    Some((
        f.name.clone(),
        replace_spans(sql, &[(f.start, f.end, name)]),
    ))
}

fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// `sql` with each `(start, end)` byte span replaced, spans in text order.
fn replace_spans(sql: &str, edits: &[(usize, usize, String)]) -> String {
    let mut sorted: Vec<&(usize, usize, String)> = edits.iter().collect();
    sorted.sort_by_key(|e| e.0);
    let mut out = String::with_capacity(sql.len() + 32);
    let mut at = 0;
    for (start, end, text) in sorted {
        if *start < at {
            continue;
        }
        out.push_str(sql.get(at..*start).unwrap_or_default());
        out.push_str(text);
        at = *end;
    }
    out.push_str(sql.get(at..).unwrap_or_default());
    out
}

/// Synced tables a statement names, as whole identifiers: a table counts as
/// named when its name appears and its schema is the default one or appears too.
fn named_tables(statement: &Statement, tracked: &HashMap<Name, TableMap>) -> Vec<String> {
    let words: std::collections::HashSet<String> = tokens(&statement.sql, Comments::Skip)
        .into_iter()
        .filter(|t| matches!(t.kind, TokKind::Word | TokKind::Quoted))
        .map(|t| t.text.to_lowercase())
        .collect();
    let default_schema = statement.schema.to_lowercase();
    let mut tables: Vec<String> = tracked
        .keys()
        .filter(|(s, t)| {
            let s = s.to_lowercase();
            words.contains(&t.to_lowercase()) && (s == default_schema || words.contains(&s))
        })
        .map(|(s, t)| format!("{s}.{t}"))
        .collect();
    tables.sort();
    tables
}

fn unparsed(statement: &Statement, tracked: &HashMap<Name, TableMap>, cause: String) -> Plan {
    let tables = named_tables(statement, tracked);
    if tables.is_empty() {
        Plan::Ignore
    } else {
        Plan::Unparsed { tables, cause }
    }
}

/// The filter kind of a DDL statement (`alter table`, `create index`…).
pub fn kind(sql: &str) -> Option<crate::profile::EventKind> {
    use crate::profile::EventKind;
    let toks = tokens(sql, Comments::Skip);
    let w = |i: usize| {
        toks.get(i)
            .filter(|t| t.kind == TokKind::Word)
            .map_or("", |t| t.word.as_str())
    };
    let after_create = (1..toks.len().min(6))
        .map(w)
        .find(|x| {
            !matches!(
                *x,
                "OR" | "REPLACE"
                    | "UNIQUE"
                    | "FULLTEXT"
                    | "SPATIAL"
                    | "ONLINE"
                    | "OFFLINE"
                    | "TEMPORARY"
            )
        })
        .unwrap_or("");
    Some(match (w(0), after_create) {
        ("ALTER", _) if (1..4).any(|i| w(i) == "TABLE") => EventKind::AlterTable,
        ("CREATE", "TABLE") => EventKind::CreateTable,
        ("CREATE", "INDEX") => EventKind::CreateIndex,
        ("TRUNCATE", _) => EventKind::TruncateTable,
        ("DROP", "TABLE" | "TABLES") => EventKind::DropTable,
        ("DROP", "INDEX") => EventKind::DropIndex,
        ("RENAME", "TABLE" | "TABLES") => EventKind::RenameTable,
        _ => return None,
    })
}

/// Whether a statement creates a (lasting, not TEMPORARY) table.
pub fn creates_table(sql: &str) -> bool {
    let toks = tokens(sql, Comments::Skip);
    let temporary = toks
        .iter()
        .take(4)
        .any(|t| t.kind == TokKind::Word && t.word == "TEMPORARY");
    kind(sql) == Some(crate::profile::EventKind::CreateTable) && !temporary
}

/// Server errors that mean "this DDL is already applied": after a crash between a
/// DDL and its checkpoint the statement comes again.
pub const ALREADY_APPLIED: &[u16] = &[
    1007, // database exists
    1050, // table exists
    1051, // unknown table (drop)
    1060, // duplicate column
    1061, // duplicate key name
    1091, // can't drop: does not exist
    1146, // table does not exist (rename of a renamed table)
];

/// The maps after a statement: forgotten and renamed-away tables removed.
pub fn without(
    tracked: &Arc<HashMap<Name, TableMap>>,
    forget: &[Name],
    renamed: &[(Name, Name)],
) -> HashMap<Name, TableMap> {
    let mut maps = (**tracked).clone();
    for n in forget {
        maps.remove(n);
    }
    for (old, _) in renamed {
        maps.remove(old);
    }
    maps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::ObjectRules;

    fn matcher(include: &[&str], route: Option<(&str, &str)>) -> Matcher {
        let mut rules = ObjectRules {
            include: include.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        if let Some((from, to)) = route {
            rules.route.push(crate::rules::Route {
                from: from.into(),
                to: to.into(),
            });
        }
        rules.compile(0).unwrap()
    }

    fn tracked(names: &[(&str, &str)]) -> HashMap<Name, TableMap> {
        names
            .iter()
            .map(|(s, t)| {
                (
                    (s.to_string(), t.to_string()),
                    TableMap {
                        target_schema: s.to_string(),
                        target_name: t.to_string(),
                        columns: Vec::new(),
                        key: Vec::new(),
                        skip: Default::default(),
                        serial: false,
                        transactional: true,
                        cascade_parent: false,
                        absent: false,
                        key_collations: Vec::new(),
                        plain: true,
                    },
                )
            })
            .collect()
    }

    fn stmt(schema: &str, sql: &str) -> Statement {
        Statement {
            schema: schema.into(),
            sql: sql.into(),
        }
    }

    #[test]
    fn alter_of_a_selected_table_runs_as_is_in_its_schema() {
        let m = matcher(&["shop.*"], None);
        let t = tracked(&[("shop", "orders")]);
        let p = plan(
            &stmt("shop", "ALTER TABLE orders ADD COLUMN note TEXT"),
            &m,
            &t,
        );
        assert_eq!(
            p,
            Plan::Apply {
                sql: "ALTER TABLE orders ADD COLUMN note TEXT".into(),
                use_schema: Some("shop".into()),
                refresh: vec![("shop".into(), "orders".into())],
                forget: vec![],
                renamed: vec![],
            }
        );
    }

    #[test]
    fn routes_rewrite_the_names() {
        let m = matcher(&["shop.*"], Some(("shop.*", "shop_v2.*")));
        let t = tracked(&[("shop", "orders")]);
        let Plan::Apply {
            sql, use_schema, ..
        } = plan(
            &stmt("other", "ALTER TABLE shop.orders ADD INDEX k (a)"),
            &m,
            &t,
        )
        else {
            panic!("expected Apply");
        };
        assert_eq!(use_schema, None);
        assert!(sql.starts_with("ALTER TABLE `shop_v2`.`orders`"), "{sql}");
        let Plan::Apply { sql, refresh, .. } = plan(
            &stmt("shop", "CREATE TABLE fresh (id INT PRIMARY KEY)"),
            &m,
            &t,
        ) else {
            panic!("expected Apply");
        };
        assert!(sql.contains("`shop_v2`.`fresh`"), "{sql}");
        assert_eq!(refresh, vec![("shop".to_string(), "fresh".to_string())]);
    }

    #[test]
    fn renames_drops_and_unrelated_statements() {
        let m = matcher(&["shop.*"], None);
        let t = tracked(&[("shop", "a"), ("shop", "b")]);
        let Plan::Apply { renamed, .. } = plan(&stmt("shop", "RENAME TABLE a TO c"), &m, &t) else {
            panic!("expected Apply");
        };
        assert_eq!(
            renamed,
            vec![(("shop".into(), "a".into()), ("shop".into(), "c".into()))]
        );
        let Plan::Apply { forget, .. } = plan(&stmt("shop", "DROP TABLE b"), &m, &t) else {
            panic!("expected Apply");
        };
        assert_eq!(forget, vec![("shop".to_string(), "b".to_string())]);
        assert_eq!(
            plan(&stmt("crm", "ALTER TABLE a ADD x INT"), &m, &t),
            Plan::Ignore
        );
        assert_eq!(plan(&stmt("shop", "CREATE USER u"), &m, &t), Plan::Ignore);
        // The target judges what follows the table name.
        assert!(matches!(
            plan(&stmt("shop", "ALTER TABLE a FROBNICATE"), &m, &t),
            Plan::Apply { .. }
        ));
        assert!(matches!(
            plan(&stmt("other", "FROBNICATE TABLE shop.b"), &m, &t),
            Plan::Unparsed { .. }
        ));
        // Unparsable, but about other tables: "a" only as a letter inside words.
        assert_eq!(
            plan(
                &stmt("other", "CREATE TABLE gen (a_b INT INVISIBLE)"),
                &m,
                &t
            ),
            Plan::Ignore
        );
    }
}
