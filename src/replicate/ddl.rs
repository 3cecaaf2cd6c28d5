//! DDL from the binlog: which selected tables a statement touches (parsed with
//! sqlparser's MySQL dialect, not matched by pattern), the statement to run on the
//! target under the job's routes, and the table maps after it.

use std::collections::HashMap;
use std::sync::Arc;

use sqlparser::ast::{ObjectName, ObjectNamePart, ObjectType, Statement as Ast};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::reader::{Statement, TableMap};
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

#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// The statement changes this existing table (ALTER, CREATE INDEX, TRUNCATE).
    Change,
    Create,
    Drop,
    RenameFrom,
    RenameTo,
}

fn parts(name: &ObjectName, default_schema: &str) -> Option<Name> {
    let idents: Vec<String> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(i.value.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    match idents.as_slice() {
        [t] if !default_schema.is_empty() => Some((default_schema.to_string(), t.clone())),
        [s, t] => Some((s.clone(), t.clone())),
        _ => None,
    }
}

fn qualified(schema: &str, table: &str) -> ObjectName {
    ObjectName(vec![
        ObjectNamePart::Identifier(sqlparser::ast::Ident::with_quote('`', schema)),
        ObjectNamePart::Identifier(sqlparser::ast::Ident::with_quote('`', table)),
    ])
}

/// The table names a statement touches, with their role, for the kinds of DDL
/// that change tables.
fn names(ast: &mut Ast) -> Vec<(&mut ObjectName, Role)> {
    match ast {
        Ast::AlterTable { name, .. } => vec![(name, Role::Change)],
        Ast::CreateTable(ct) => vec![(&mut ct.name, Role::Create)],
        Ast::CreateIndex(ci) => vec![(&mut ci.table_name, Role::Change)],
        Ast::Truncate { table_names, .. } => table_names
            .iter_mut()
            .map(|t| (&mut t.name, Role::Change))
            .collect(),
        Ast::Drop {
            object_type: ObjectType::Table,
            names,
            ..
        } => names.iter_mut().map(|n| (n, Role::Drop)).collect(),
        Ast::Drop {
            object_type: ObjectType::Index,
            table: Some(t),
            ..
        } => vec![(t, Role::Change)],
        Ast::RenameTable(list) => list
            .iter_mut()
            .flat_map(|r| {
                [
                    (&mut r.old_name, Role::RenameFrom),
                    (&mut r.new_name, Role::RenameTo),
                ]
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Decides what `statement` means for the job. `tracked` are the source tables
/// being synced now; new tables join when `matcher` selects them.
pub fn plan(statement: &Statement, matcher: &Matcher, tracked: &HashMap<Name, TableMap>) -> Plan {
    let default_schema = statement.schema.as_str();
    let mut asts = match Parser::parse_sql(&MySqlDialect {}, &statement.sql) {
        Ok(a) => a,
        Err(e) => return unparsed(statement, tracked, e.to_string()),
    };
    if asts.len() != 1 {
        return unparsed(statement, tracked, "more than one statement".into());
    }
    let Some(ast) = asts.first_mut() else {
        return Plan::Ignore;
    };
    let is_tracked = |n: &Name| tracked.contains_key(n);
    let mut refresh = Vec::new();
    let mut forget = Vec::new();
    let mut renamed = Vec::new();
    let mut relevant = false;
    let mut rewrite = false;
    let mut pending_from: Option<(Name, bool)> = None;
    for (name, role) in names(ast) {
        let Some(n) = parts(name, default_schema) else {
            continue;
        };
        let selected = match role {
            Role::Create | Role::RenameTo => matcher.selects(&n.0, &n.1),
            _ => is_tracked(&n),
        };
        match role {
            Role::RenameFrom => {
                pending_from = Some((n.clone(), selected));
                if !selected {
                    continue;
                }
            }
            Role::RenameTo => {
                let from = pending_from.take();
                match (from, selected) {
                    (Some((old, true)), true) => renamed.push((old, n.clone())),
                    // Leaves the selection: the target keeps its table as it is.
                    (Some((old, true)), false) => {
                        forget.push(old);
                        continue;
                    }
                    _ => continue,
                }
            }
            _ if !selected => continue,
            Role::Drop => forget.push(n.clone()),
            Role::Create | Role::Change => refresh.push(n.clone()),
        }
        relevant = true;
        let (ts, tt) = matcher.route(&n.0, &n.1);
        if ts != n.0 || tt != n.1 {
            rewrite = true;
        }
        *name = qualified(&ts, &tt);
    }
    if !relevant {
        return if forget.is_empty() {
            Plan::Ignore
        } else {
            // A rename out of the selection: stop tracking, leave the target alone.
            Plan::Apply {
                sql: String::new(),
                use_schema: None,
                refresh,
                forget,
                renamed,
            }
        };
    }
    let (sql, use_schema) = if rewrite {
        (ast.to_string(), None)
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

fn unparsed(statement: &Statement, tracked: &HashMap<Name, TableMap>, cause: String) -> Plan {
    // Identifiers of the statement, as whole words: a tracked table counts as named
    // when its name appears and its schema is the default one or appears too.
    let words: std::collections::HashSet<String> = statement
        .sql
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
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
    if tables.is_empty() {
        Plan::Ignore
    } else {
        Plan::Unparsed { tables, cause }
    }
}

/// The filter kind of a DDL statement (`alter table`, `create index`…).
pub fn kind(sql: &str) -> Option<&'static str> {
    let asts = Parser::parse_sql(&MySqlDialect {}, sql).ok()?;
    Some(match asts.first()? {
        Ast::AlterTable { .. } => "alter table",
        Ast::CreateTable(_) => "create table",
        Ast::CreateIndex(_) => "create index",
        Ast::Truncate { .. } => "truncate table",
        Ast::Drop {
            object_type: ObjectType::Table,
            ..
        } => "drop table",
        Ast::Drop {
            object_type: ObjectType::Index,
            ..
        } => "drop index",
        Ast::RenameTable(_) => "rename table",
        _ => return None,
    })
}

/// Server errors that mean "this DDL is already applied": after a crash between a
/// DDL and its checkpoint the statement comes again.
pub const ALREADY_APPLIED: &[u16] = &[
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
        assert!(matches!(
            plan(&stmt("shop", "ALTER TABLE a FROBNICATE"), &m, &t),
            Plan::Unparsed { .. }
        ));
        assert!(matches!(
            plan(&stmt("other", "ALTER TABLE shop.b FROBNICATE"), &m, &t),
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
