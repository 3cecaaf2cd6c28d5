//! Binlog event filters, like DM's `binlog_filter_rule`: leave out kinds of row
//! changes or DDL on some tables, or DDL whose text matches a pattern.

use regex::Regex;

pub use crate::profile::{EventKind, FilterRule};
use crate::rules::{Matcher, ObjectRules};

struct Compiled {
    tables: Option<Matcher>,
    events: Vec<EventKind>,
    sql: Vec<Regex>,
}

/// The compiled filters of a job.
#[derive(Default)]
pub struct Filters(Vec<Compiled>);

impl std::fmt::Debug for Filters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Filters({} rules)", self.0.len())
    }
}

/// The DML kinds to leave out for one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DmlSkip {
    pub insert: bool,
    pub update: bool,
    pub delete: bool,
}

impl Filters {
    pub fn compile(rules: &[FilterRule], lower_case_table_names: u8) -> Result<Filters, String> {
        let mut out = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let n = i + 1;
            let events = r.event_kinds();
            let sql = r.sql_patterns(n)?;
            if events.is_empty() && sql.is_empty() {
                return Err(format!("rule {n} names neither events nor sql patterns"));
            }
            let tables = if r.tables.is_empty() {
                None
            } else {
                Some(
                    ObjectRules {
                        include: r.tables.clone(),
                        ..Default::default()
                    }
                    .compile(lower_case_table_names)
                    .map_err(|e| format!("rule {n}: {e}"))?,
                )
            };
            out.push(Compiled {
                tables,
                events,
                sql,
            });
        }
        Ok(Filters(out))
    }

    fn applies(c: &Compiled, schema: &str, table: &str) -> bool {
        c.tables.as_ref().is_none_or(|m| m.selects(schema, table))
    }

    /// Which row changes of `schema.table` are left out.
    pub fn dml(&self, schema: &str, table: &str) -> DmlSkip {
        let mut skip = DmlSkip::default();
        for c in self.0.iter().filter(|c| Self::applies(c, schema, table)) {
            skip.insert |= c.events.contains(&EventKind::Insert);
            skip.update |= c.events.contains(&EventKind::Update);
            skip.delete |= c.events.contains(&EventKind::Delete);
        }
        skip
    }

    /// Whether a DDL statement of `kind` on `tables` with text `sql` is left out.
    pub fn skips_ddl(
        &self,
        kind: Option<EventKind>,
        tables: &[(String, String)],
        sql: &str,
    ) -> bool {
        self.0.iter().any(|c| {
            let on_table = c.tables.is_none() || tables.iter().any(|(s, t)| Self::applies(c, s, t));
            on_table
                && (kind.is_some_and(|k| c.events.contains(&k))
                    || c.sql.iter().any(|r| r.is_match(sql)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(tables: &[&str], events: &[&str], sql: &[&str]) -> FilterRule {
        FilterRule {
            tables: tables.iter().map(|s| s.to_string()).collect(),
            events: events.iter().map(|s| s.parse().unwrap()).collect(),
            sql: sql.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn rules_pick_events_and_tables() {
        let f = Filters::compile(
            &[
                rule(&["shop.log_*"], &["delete", "Truncate  Table"], &[]),
                rule(&[], &[], &[r"^alter\s+table\s+\S+\s+drop\s+column"]),
            ],
            0,
        )
        .unwrap();
        assert_eq!(
            f.dml("shop", "log_2024"),
            DmlSkip {
                insert: false,
                update: false,
                delete: true
            }
        );
        assert_eq!(f.dml("shop", "orders"), DmlSkip::default());
        let log = [("shop".to_string(), "log_1".to_string())];
        let orders = [("shop".to_string(), "orders".to_string())];
        let truncate = Some(EventKind::TruncateTable);
        let alter = Some(EventKind::AlterTable);
        assert!(f.skips_ddl(truncate, &log, "TRUNCATE log_1"));
        assert!(!f.skips_ddl(truncate, &orders, "TRUNCATE orders"));
        assert!(f.skips_ddl(alter, &orders, "ALTER TABLE orders DROP COLUMN x"));
        assert!(!f.skips_ddl(alter, &orders, "ALTER TABLE orders ADD x INT"));
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        let e = "upsert".parse::<EventKind>().unwrap_err();
        assert!(e.contains("unknown event \"upsert\""), "{e}");
        let e = Filters::compile(&[rule(&[], &[], &[])], 0).unwrap_err();
        assert!(e.contains("neither events nor sql"), "{e}");
        let e = Filters::compile(&[rule(&[], &[], &["("])], 0).unwrap_err();
        assert!(e.contains("sql pattern"), "{e}");
        assert!(Filters::compile(&[rule(&["a.*"], &[], &[])], 0).is_err());
    }
}
