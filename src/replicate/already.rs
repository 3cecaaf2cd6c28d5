//! Whether a DDL statement the target refuses because the object "already exists"
//! (1050 table, 1060 column, 1061 key) was really applied already.
//!
//! After a crash between a DDL and its checkpoint the statement comes again and
//! the target answers 1050/1060/1061: then the table is exactly what the statement
//! made of it (later statements are later in the binlog, so none of them ran).
//! The same errors also come when the target held an object of that name before
//! — a column of another type, an index on other columns — and accepting them
//! then lets the schemas drift apart silently. So the statement is run again on
//! a scratch copy of the table in the meta schema, without the objects it
//! collides with, and the two definitions (`SHOW CREATE TABLE`) are compared:
//! equal means applied; different stops the sync with both definitions.
//!
//! The copy is made with `CREATE TABLE … LIKE`, which leaves foreign keys out;
//! they are left out of the comparison too (a statement adding one fails with
//! another error than these three).

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::mysql::quote;

/// What the check found.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// The target's table is what the statement makes: applied already.
    Same,
    /// The target has an object of that name, defined otherwise.
    Differs {
        /// `column `x`` / `key `k`` / `table `db`.`t``.
        object: String,
        target: String,
        statement: String,
    },
    /// The check could not be made (why).
    Unknown(String),
}

/// The error codes this module checks.
pub const CHECKED: &[u16] = &[1050, 1060, 1061];

/// Name of the scratch table in the meta schema, followed by the connection's id:
/// the shards of a merged table may check at the same moment.
const SCRATCH: &str = "_ferry_ddl_check_";

/// Runs the check for `sql` (run with `schema` as the default schema, which
/// `conn` has selected) that failed with `code` / `message`.
pub async fn check(
    conn: &mut Conn,
    sql: &str,
    schema: Option<&str>,
    scratch_schema: &str,
    code: u16,
    message: &str,
) -> Result<Found, mysql_async::Error> {
    let id: Option<u64> = conn.query_first("SELECT CONNECTION_ID()").await?;
    let scratch = (
        scratch_schema.to_string(),
        format!("{SCRATCH}{}", id.unwrap_or_default()),
    );
    let Some((table, on_scratch)) =
        super::ddl::on_scratch(sql, schema.unwrap_or_default(), &scratch)
    else {
        return Ok(Found::Unknown(
            "the statement changes several tables, or renames or drops one".into(),
        ));
    };
    let scratch_name = format!("{}.{}", quote(&scratch.0), quote(&scratch.1));
    let table_name = format!("{}.{}", quote(&table.0), quote(&table.1));
    conn.query_drop(format!("DROP TABLE IF EXISTS {scratch_name}"))
        .await?;
    let made = make(conn, code, &on_scratch, &scratch_name, &table_name).await;
    let found = match made {
        Ok(None) => {
            let target = definition(conn, &table_name).await?;
            let mut statement = definition(conn, &scratch_name).await?;
            if code == 1050 && !names_a_charset(sql) {
                // Made in the scratch schema, the table took that schema's
                // defaults; made for real it takes its own schema's.
                if let Some((charset, collation)) =
                    crate::catalog::schema_defaults(conn, &table.0).await?
                {
                    statement = with_table_defaults(statement, &charset, &collation);
                }
            }
            if target == statement {
                Found::Same
            } else {
                let object = object_of(code, message);
                Found::Differs {
                    target: part(&target, code, &object),
                    statement: part(&statement, code, &object),
                    object: describe(code, &object, &table),
                }
            }
        }
        Ok(Some(why)) => Found::Unknown(why),
        Err(e) => Found::Unknown(e.to_string()),
    };
    conn.query_drop(format!("DROP TABLE IF EXISTS {scratch_name}"))
        .await?;
    Ok(found)
}

/// Makes the scratch table as the statement makes the real one: `Some(why)` when
/// it cannot.
async fn make(
    conn: &mut Conn,
    code: u16,
    on_scratch: &str,
    scratch: &str,
    table: &str,
) -> Result<Option<String>, mysql_async::Error> {
    if code == 1050 {
        conn.query_drop(on_scratch).await?;
        return Ok(None);
    }
    conn.query_drop(format!("CREATE TABLE {scratch} LIKE {table}"))
        .await?;
    // The statement may add several objects that exist: drop each it collides
    // with, then run it again.
    for _ in 0..16 {
        match conn.query_drop(on_scratch).await {
            Ok(()) => return Ok(None),
            Err(mysql_async::Error::Server(se)) if se.code == 1060 || se.code == 1061 => {
                let name = object_of(se.code, &se.message);
                let drop = if se.code == 1060 { "COLUMN" } else { "INDEX" };
                conn.query_drop(format!(
                    "ALTER TABLE {scratch} DROP {drop} {}",
                    quote(&name)
                ))
                .await?;
            }
            Err(e) => return Ok(Some(e.to_string())),
        }
    }
    Ok(Some("the statement collides with too many objects".into()))
}

/// `SHOW CREATE TABLE` without what differs between two tables made alike: the
/// name, the AUTO_INCREMENT counter, foreign keys (see the module's note).
async fn definition(conn: &mut Conn, table: &str) -> Result<Vec<String>, mysql_async::Error> {
    let row: Option<(String, String)> = conn
        .query_first(format!("SHOW CREATE TABLE {table}"))
        .await?;
    let ddl = row.map(|(_, d)| d).unwrap_or_default();
    Ok(normalize(&ddl))
}

/// Whether a statement names a character set or collation anywhere (then its
/// table does not simply inherit its schema's).
fn names_a_charset(sql: &str) -> bool {
    let upper = sql.to_ascii_uppercase();
    ["CHARSET", "CHARACTER SET", "COLLATE", "CHARACTER_SET"]
        .iter()
        .any(|w| upper.contains(w))
}

/// A definition's table options with `charset` and `collation` as its defaults
/// (the options line: `) ENGINE=… DEFAULT CHARSET=… COLLATE=…`).
fn with_table_defaults(mut lines: Vec<String>, charset: &str, collation: &str) -> Vec<String> {
    if let Some(last) = lines.last_mut() {
        let words: Vec<String> = last
            .split(' ')
            .map(|w| {
                if w.starts_with("CHARSET=") {
                    format!("CHARSET={charset}")
                } else if w.starts_with("COLLATE=") {
                    format!("COLLATE={collation}")
                } else {
                    w.to_string()
                }
            })
            .collect();
        *last = words.join(" ");
    }
    lines
}

fn normalize(ddl: &str) -> Vec<String> {
    let auto_increment = |l: &str| {
        l.split(' ')
            .filter(|w| !w.starts_with("AUTO_INCREMENT="))
            .collect::<Vec<_>>()
            .join(" ")
    };
    ddl.lines()
        .skip(1)
        .map(|l| auto_increment(l.trim().trim_end_matches(',')))
        .filter(|l| !l.contains("FOREIGN KEY"))
        .collect()
}

/// The object named in a 1050/1060/1061 message: `Duplicate column name 'x'`,
/// `Duplicate key name 'k'`, `Table 't' already exists`.
fn object_of(code: u16, message: &str) -> String {
    let quoted = message.split('\'').nth(1).unwrap_or_default();
    if code == 1050 {
        return quoted.rsplit('.').next().unwrap_or(quoted).to_string();
    }
    quoted.to_string()
}

fn describe(code: u16, object: &str, table: &(String, String)) -> String {
    match code {
        1060 => format!("column `{object}` of `{}`.`{}`", table.0, table.1),
        1061 => format!("key `{object}` of `{}`.`{}`", table.0, table.1),
        _ => format!("table `{}`.`{}`", table.0, table.1),
    }
}

/// The lines of a definition that define `object` (its column or key line), or
/// the whole definition for a table.
fn part(definition: &[String], code: u16, object: &str) -> String {
    let quoted = format!("`{}`", object.replace('`', "``"));
    let lines: Vec<&String> = match code {
        1060 => definition
            .iter()
            .filter(|l| l.starts_with(&quoted))
            .collect(),
        1061 => definition
            .iter()
            .filter(|l| l.contains("KEY ") && l.contains(&quoted))
            .collect(),
        _ => Vec::new(),
    };
    if lines.is_empty() {
        return definition.join(", ");
    }
    lines
        .iter()
        .map(|l| l.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_table_made_in_the_scratch_schema_is_compared_with_its_own_schemas_defaults() {
        let scratch = normalize(
            "CREATE TABLE `s` (\n  `i` tinyint(4) DEFAULT NULL\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        );
        let target = normalize(
            "CREATE TABLE `t` (\n  `i` tinyint(4) DEFAULT NULL\n) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci",
        );
        assert_ne!(scratch, target);
        assert_eq!(
            with_table_defaults(scratch, "latin1", "latin1_swedish_ci"),
            target
        );
        assert!(!names_a_charset(
            "CREATE TABLE t (i TINYINT, j INT UNIQUE KEY)"
        ));
        assert!(names_a_charset(
            "CREATE TABLE t (v TEXT) DEFAULT CHARSET=utf8mb4"
        ));
        assert!(names_a_charset(
            "create table t (v text collate utf8mb4_bin)"
        ));
    }

    use super::*;

    #[test]
    fn definitions_compare_without_name_counter_and_foreign_keys() {
        let a = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `p` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  KEY `k` (`p`),\n  CONSTRAINT `f` FOREIGN KEY (`p`) REFERENCES `q` (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=7 DEFAULT CHARSET=utf8mb4";
        let b = "CREATE TABLE `_ferry_ddl_check` (\n  `id` int(11) NOT NULL,\n  `p` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  KEY `k` (`p`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
        assert_eq!(normalize(a), normalize(b));
        assert_eq!(
            object_of(1060, "Duplicate column name 'loyalty'"),
            "loyalty"
        );
        assert_eq!(
            object_of(1061, "Duplicate key name 'idx_status'"),
            "idx_status"
        );
        assert_eq!(object_of(1050, "Table 'shop.t' already exists"), "t");
        let def = normalize(a);
        assert_eq!(part(&def, 1060, "p"), "`p` int(11) DEFAULT NULL");
        assert_eq!(part(&def, 1061, "k"), "KEY `k` (`p`)");
    }
}
