//! Table definitions compared, source against target: what rows alone cannot
//! show (a column of another type or default, a key on other columns, a column
//! only one side has). A DDL replayed over an object the target already had, or
//! skipped by decision, leaves the rows equal and the schemas apart; the
//! application then meets the difference after the cutover.
//!
//! Column order is left out (rows are compared by column name). Read from
//! `information_schema` (COLUMNS, STATISTICS). Integer display widths
//! and the quoting of defaults are normalized away; between two flavors (MySQL
//! and MariaDB spell types and defaults differently) only names, order,
//! nullability and keys are compared.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

/// One column: name, type, nullable, default.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub column_type: String,
    pub nullable: bool,
    pub default: Option<String>,
}

/// A table's columns in order and its keys by name (unique, columns with prefix
/// lengths).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Definition {
    pub columns: Vec<Column>,
    pub keys: BTreeMap<String, (bool, Vec<String>)>,
}

/// Reads `schema.table`'s definition.
pub async fn read(
    conn: &mut Conn,
    schema: &str,
    table: &str,
) -> Result<Definition, mysql_async::Error> {
    let columns: Vec<(String, String, String, Option<String>)> = conn
        .exec(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (schema, table),
        )
        .await?;
    let stats: Vec<(String, u8, String, Option<u64>)> = conn
        .exec(
            "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            (schema, table),
        )
        .await?;
    let mut keys: BTreeMap<String, (bool, Vec<String>)> = BTreeMap::new();
    for (name, non_unique, column, sub_part) in stats {
        let part = match sub_part {
            Some(n) => format!("{column}({n})"),
            None => column,
        };
        keys.entry(name)
            .or_insert_with(|| (non_unique == 0, Vec::new()))
            .1
            .push(part);
    }
    Ok(Definition {
        columns: columns
            .into_iter()
            .map(|(name, column_type, nullable, default)| Column {
                name,
                column_type,
                nullable: nullable == "YES",
                default,
            })
            .collect(),
        keys,
    })
}

/// `int(11)` → `int`; other types as they are, lowercase.
fn normal_type(t: &str) -> String {
    let t = t.to_ascii_lowercase();
    for int in ["tinyint", "smallint", "mediumint", "bigint", "int"] {
        if let Some(rest) = t.strip_prefix(int) {
            if let Some(close) = rest
                .strip_prefix('(')
                .and_then(|r| r.find(')').map(|i| &r[i + 1..]))
            {
                return format!("{int}{close}");
            }
        }
    }
    t
}

/// A default without the quotes MariaDB puts around strings; `NULL` as none.
fn normal_default(d: &Option<String>) -> Option<String> {
    let d = d.as_deref()?;
    if d.eq_ignore_ascii_case("NULL") {
        return None;
    }
    Some(d.trim_matches('\'').to_string())
}

fn describe(c: &Column) -> String {
    format!(
        "{}{}{}",
        c.column_type,
        if c.nullable { " NULL" } else { " NOT NULL" },
        normal_default(&c.default).map_or(String::new(), |d| format!(" DEFAULT {d}"))
    )
}

fn describe_key(unique: bool, columns: &[String]) -> String {
    format!(
        "{}({})",
        if unique { "UNIQUE " } else { "" },
        columns.join(", ")
    )
}

/// What differs between the source's and the target's definition, one line
/// each; empty when they agree. `same_flavor`: types and defaults compared too.
pub fn differences(source: &Definition, target: &Definition, same_flavor: bool) -> Vec<String> {
    let mut out = Vec::new();
    let names = |d: &Definition| d.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    // Column order is not compared: rows are compared by column name, and a
    // target stored in another order holds the same rows.
    let sn = names(source);
    for c in &source.columns {
        match target.columns.iter().find(|t| t.name == c.name) {
            None => out.push(format!(
                "column `{}` is only on the source ({})",
                c.name,
                describe(c)
            )),
            Some(t) => {
                let typed = same_flavor
                    && (normal_type(&c.column_type) != normal_type(&t.column_type)
                        || normal_default(&c.default) != normal_default(&t.default));
                if typed || c.nullable != t.nullable {
                    out.push(format!(
                        "column `{}`: {} on the source, {} on the target",
                        c.name,
                        describe(c),
                        describe(t)
                    ));
                }
            }
        }
    }
    for t in &target.columns {
        if !sn.contains(&t.name) {
            out.push(format!(
                "column `{}` is only on the target ({})",
                t.name,
                describe(t)
            ));
        }
    }
    for (name, (unique, cols)) in &source.keys {
        match target.keys.get(name) {
            None => out.push(format!(
                "key `{name}` {} is only on the source",
                describe_key(*unique, cols)
            )),
            Some((tu, tc)) if tu != unique || tc != cols => out.push(format!(
                "key `{name}`: {} on the source, {} on the target",
                describe_key(*unique, cols),
                describe_key(*tu, tc)
            )),
            Some(_) => {}
        }
    }
    for (name, (unique, cols)) in &target.keys {
        if !source.keys.contains_key(name) {
            out.push(format!(
                "key `{name}` {} is only on the target",
                describe_key(*unique, cols)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, t: &str, nullable: bool, default: Option<&str>) -> Column {
        Column {
            name: name.into(),
            column_type: t.into(),
            nullable,
            default: default.map(String::from),
        }
    }

    #[test]
    fn definitions_differ_by_type_default_nullability_and_key() {
        let mut source = Definition {
            columns: vec![
                col("id", "int(11)", false, None),
                col("loyalty", "int(11)", false, Some("7")),
            ],
            ..Definition::default()
        };
        source
            .keys
            .insert("PRIMARY".into(), (true, vec!["id".into()]));
        source
            .keys
            .insert("idx".into(), (false, vec!["loyalty".into(), "id".into()]));
        let same = Definition {
            columns: vec![
                col("id", "int", false, Some("NULL")),
                col("loyalty", "int", false, Some("'7'")),
            ],
            keys: source.keys.clone(),
        };
        assert!(
            differences(&source, &same, true).is_empty(),
            "{:?}",
            differences(&source, &same, true)
        );
        let mut other = same.clone();
        other.columns[1] = col("loyalty", "varchar(5)", true, None);
        other
            .keys
            .insert("idx".into(), (false, vec!["loyalty".into()]));
        let d = differences(&source, &other, true);
        assert_eq!(
            d,
            vec![
                "column `loyalty`: int(11) NOT NULL DEFAULT 7 on the source, varchar(5) NULL on the target".to_string(),
                "key `idx`: (loyalty, id) on the source, (loyalty) on the target".to_string(),
            ]
        );
        // Between flavors the type is not compared; nullability is.
        assert_eq!(differences(&source, &other, false).len(), 2);
        other.columns[1].nullable = false;
        assert_eq!(differences(&source, &other, false).len(), 1);
        let swapped = Definition {
            columns: vec![same.columns[1].clone(), same.columns[0].clone()],
            keys: same.keys.clone(),
        };
        assert!(
            differences(&source, &swapped, true).is_empty(),
            "order is not compared"
        );
    }
}
