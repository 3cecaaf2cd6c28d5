//! Binlog positions: file + offset, and GTID sets in the MySQL (`uuid:1-23`) and
//! MariaDB (`domain-server-seq`) forms. A snapshot records both where the server
//! has them, so the incremental phase can start from either.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use serde::{Deserialize, Serialize};

use crate::endpoint::Flavor;
pub use crate::gtid::{MariaGtids, MysqlGtids};

/// Where in the source's history something happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Position {
    /// Binlog file name, e.g. `binlog.000003`.
    pub file: Option<String>,
    /// Byte offset in `file`.
    pub pos: Option<u64>,
    /// GTID set executed up to this point (MySQL `gtid_executed` form, or MariaDB
    /// `gtid_binlog_pos` form).
    pub gtid: Option<String>,
}

impl Position {
    pub fn is_known(&self) -> bool {
        self.file.is_some() || self.gtid.as_ref().is_some_and(|g| !g.is_empty())
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.file, self.pos) {
            (Some(file), Some(pos)) => write!(f, "{file}:{pos}")?,
            _ => write!(f, "-")?,
        }
        if let Some(g) = self.gtid.as_ref().filter(|g| !g.is_empty()) {
            write!(f, " (gtid {g})")?;
        }
        Ok(())
    }
}

/// Reads the server's current binlog position on `conn`. Inside FLUSH TABLES WITH
/// READ LOCK this is the position of the snapshot taken under the lock.
///
/// On MySQL with `BACKUP_ADMIN`, `performance_schema.log_status` gives the file,
/// the offset and the GTID set in one read that blocks commits while it runs, so
/// the three name the same point even while the application writes; elsewhere
/// they are two reads, the GTID set possibly a few transactions later (a later
/// start is still right for every caller: each needs a point no later than what it
/// reads next, and binlog positions before it are only re-applied idempotently).
pub async fn current(conn: &mut Conn, flavor: Flavor) -> Result<Position, mysql_async::Error> {
    match flavor {
        Flavor::MySQL => {
            if let Some(at) = log_status(conn).await {
                return Ok(at);
            }
        }
        Flavor::MariaDB => return mariadb_current(conn).await,
        Flavor::TiDB => {}
    }
    let status = binlog_status(conn).await?;
    let gtid = gtid_executed(conn, flavor).await?;
    Ok(from_status(status, gtid))
}

/// The position a binlog status row (file, offset, …) and a GTID set name.
fn from_status(status: Option<mysql_async::Row>, gtid: Option<String>) -> Position {
    let mut position = Position {
        gtid,
        ..Position::default()
    };
    if let Some(mut row) = status {
        position.file = row.take_opt::<String, _>(0).and_then(Result::ok);
        position.pos = row.take_opt::<u64, _>(1).and_then(Result::ok);
    }
    position
}

/// MariaDB's file, offset and GTID position in one packet (at a distance each
/// query is a round trip; `SHOW MASTER STATUS` answers in every MariaDB version,
/// its `SHOW BINLOG STATUS` alias only from 10.5.2).
async fn mariadb_current(conn: &mut Conn) -> Result<Position, mysql_async::Error> {
    let mut answer = conn
        .query_iter("SHOW MASTER STATUS; SELECT @@GLOBAL.gtid_binlog_pos")
        .await?;
    let status: Vec<mysql_async::Row> = answer.collect().await?;
    let gtid: Vec<Result<Option<String>, _>> = answer.try_collect().await?;
    answer.drop_result().await?;
    let gtid = gtid
        .into_iter()
        .next()
        .and_then(Result::ok)
        .flatten()
        .map(|g| g.replace('\n', ""));
    Ok(from_status(status.into_iter().next(), gtid))
}

/// MySQL 8's `performance_schema.log_status` (needs `BACKUP_ADMIN`): `None` where
/// the table, the privilege or the binlog is missing, so the caller reads the
/// status row instead.
async fn log_status(conn: &mut Conn) -> Option<Position> {
    let local: String = conn
        .query_first::<Option<String>, _>(
            "SELECT CAST(`LOCAL` AS CHAR) FROM `performance_schema`.`log_status`",
        )
        .await
        .ok()
        .flatten()
        .flatten()?;
    let json: serde_json::Value = serde_json::from_str(&local).ok()?;
    let file = json.get("binary_log_file")?.as_str()?.to_string();
    let pos = json.get("binary_log_position")?.as_u64()?;
    let gtid = json
        .get("gtid_executed")
        .and_then(|g| g.as_str())
        .map(|g| g.replace('\n', ""));
    Some(Position {
        file: Some(file),
        pos: Some(pos),
        gtid,
    })
}

/// The server's binlog status row (file, position, Binlog_Do_DB, Binlog_Ignore_DB,
/// …): `SHOW BINARY LOG STATUS` (MySQL 8.2+, the only form 8.4 knows), else `SHOW
/// MASTER STATUS` (MariaDB, MySQL before 8.2).
pub async fn binlog_status(
    conn: &mut Conn,
) -> Result<Option<mysql_async::Row>, mysql_async::Error> {
    match conn.query_first("SHOW BINARY LOG STATUS").await {
        Ok(r) => Ok(r),
        Err(_) => conn.query_first("SHOW MASTER STATUS").await,
    }
}

/// The executed GTID set, in the flavor's own form.
pub async fn gtid_executed(
    conn: &mut Conn,
    flavor: Flavor,
) -> Result<Option<String>, mysql_async::Error> {
    let sql = match flavor {
        Flavor::MariaDB => "SELECT @@GLOBAL.gtid_binlog_pos",
        Flavor::MySQL => "SELECT @@GLOBAL.gtid_executed",
        // TiDB has no binlog GTIDs; its positions come from TiCDC, not this path.
        Flavor::TiDB => return Ok(None),
    };
    let gtid: Option<Option<String>> = conn.query_first(sql).await?;
    Ok(gtid.flatten().map(|g| g.replace('\n', "")))
}

/// MariaDB's lock-free snapshot position: after `START TRANSACTION WITH CONSISTENT
/// SNAPSHOT`, these status variables give the binlog position that transaction sees.
pub async fn mariadb_snapshot_position(conn: &mut Conn) -> Result<Position, mysql_async::Error> {
    let rows: Vec<(String, String)> = conn
        .query("SHOW STATUS WHERE Variable_name IN ('binlog_snapshot_file', 'binlog_snapshot_position')")
        .await?;
    let mut position = Position::default();
    for (name, value) in rows {
        match name.to_ascii_lowercase().as_str() {
            "binlog_snapshot_file" if !value.is_empty() => position.file = Some(value),
            "binlog_snapshot_position" => position.pos = value.parse().ok(),
            _ => {}
        }
    }
    Ok(position)
}

/// Orders two file/offset positions of one server (`None` when either lacks them).
/// Binlog file names share a base name and a zero-padded, growing number.
pub fn file_pos_cmp(a: &Position, b: &Position) -> Option<std::cmp::Ordering> {
    let (fa, pa) = (a.file.as_ref()?, a.pos?);
    let (fb, pb) = (b.file.as_ref()?, b.pos?);
    Some(
        suffix(fa)
            .cmp(&suffix(fb))
            .then_with(|| fa.cmp(fb))
            .then(pa.cmp(&pb)),
    )
}

fn suffix(file: &str) -> u64 {
    file.rsplit('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers the position queries as MySQL does: 8.0 knows only
    /// `SHOW MASTER STATUS`, 8.4 only `SHOW BINARY LOG STATUS`; `gtid_executed`
    /// prints a set of several UUIDs over lines.
    struct MysqlLike {
        v84: bool,
        /// The account holds BACKUP_ADMIN: `log_status` answers.
        backup_admin: bool,
    }

    const GTIDS: &str =
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n4e11fa47-71ca-11e1-9e33-c80aa9429563:1-3";

    #[async_trait::async_trait]
    impl<W: tokio::io::AsyncWrite + Send + Unpin> opensrv_mysql::AsyncMysqlShim<W> for MysqlLike {
        type Error = std::io::Error;

        fn version(&self) -> String {
            if self.v84 { "8.4.3" } else { "8.0.40" }.into()
        }

        async fn on_prepare<'a>(
            &'a mut self,
            _: &'a str,
            info: opensrv_mysql::StatementMetaWriter<'a, W>,
        ) -> std::io::Result<()> {
            info.error(
                opensrv_mysql::ErrorKind::ER_UNKNOWN_ERROR,
                b"no prepared statements here",
            )
            .await
        }

        async fn on_execute<'a>(
            &'a mut self,
            _: u32,
            _: opensrv_mysql::ParamParser<'a>,
            results: opensrv_mysql::QueryResultWriter<'a, W>,
        ) -> std::io::Result<()> {
            results
                .completed(opensrv_mysql::OkResponse::default())
                .await
        }

        async fn on_close<'a>(&'a mut self, _: u32) {}

        async fn on_query<'a>(
            &'a mut self,
            query: &'a str,
            results: opensrv_mysql::QueryResultWriter<'a, W>,
        ) -> std::io::Result<()> {
            use opensrv_mysql::{Column, ColumnFlags, ColumnType};
            let text = |name: &str| Column {
                table: String::new(),
                column: name.into(),
                coltype: ColumnType::MYSQL_TYPE_VAR_STRING,
                colflags: ColumnFlags::empty(),
            };
            let status = match query {
                "SHOW BINARY LOG STATUS" => self.v84,
                "SHOW MASTER STATUS" => !self.v84,
                "SELECT CAST(`LOCAL` AS CHAR) FROM `performance_schema`.`log_status`" => {
                    if !self.backup_admin {
                        return results
                            .error(
                                opensrv_mysql::ErrorKind::ER_SPECIFIC_ACCESS_DENIED_ERROR,
                                b"Access denied; you need (at least one of) the BACKUP_ADMIN privilege(s) for this operation",
                            )
                            .await;
                    }
                    // As MySQL prints it: the GTID set over lines, inside JSON.
                    let local = serde_json::json!({
                        "gtid_executed": GTIDS,
                        "binary_log_file": "binlog.000043",
                        "binary_log_position": 4321,
                    });
                    let cols = [text("CAST(`LOCAL` AS CHAR)")];
                    let mut w = results.start(&cols).await?;
                    w.write_row([local.to_string()]).await?;
                    return w.finish().await;
                }
                "SELECT @@GLOBAL.gtid_executed" => {
                    let cols = [text("@@GLOBAL.gtid_executed")];
                    let mut w = results.start(&cols).await?;
                    w.write_row([GTIDS]).await?;
                    return w.finish().await;
                }
                // The driver's own session queries.
                _ if query.starts_with("SELECT @@") || query.starts_with("SET ") => {
                    return results
                        .completed(opensrv_mysql::OkResponse::default())
                        .await
                }
                _ => false,
            };
            if !status {
                return results
                    .error(
                        opensrv_mysql::ErrorKind::ER_PARSE_ERROR,
                        format!("You have an error in your SQL syntax near '{query}'").as_bytes(),
                    )
                    .await;
            }
            let cols = [
                text("File"),
                Column {
                    table: String::new(),
                    column: "Position".into(),
                    coltype: ColumnType::MYSQL_TYPE_LONGLONG,
                    colflags: ColumnFlags::UNSIGNED_FLAG,
                },
                text("Binlog_Do_DB"),
                text("Binlog_Ignore_DB"),
                text("Executed_Gtid_Set"),
            ];
            let mut w = results.start(&cols).await?;
            w.write_col("binlog.000042")?;
            w.write_col(1234u64)?;
            w.write_col("shop")?;
            w.write_col("")?;
            w.write_col(GTIDS)?;
            w.end_row().await?;
            w.finish().await
        }
    }

    async fn mysql_like(v84: bool, backup_admin: bool) -> Conn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (r, w) = socket.into_split();
            let _ = opensrv_mysql::AsyncMysqlIntermediary::run_on(
                MysqlLike { v84, backup_admin },
                r,
                w,
            )
            .await;
        });
        Conn::new(
            mysql_async::OptsBuilder::default()
                .ip_or_hostname("127.0.0.1")
                .tcp_port(port)
                .user(Some("ferry")),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn mysql_8_0_and_8_4_positions_and_gtid_sets() {
        for v84 in [false, true] {
            let mut conn = mysql_like(v84, false).await;
            let at = current(&mut conn, Flavor::MySQL).await.unwrap();
            assert_eq!(at.file.as_deref(), Some("binlog.000042"), "8.4: {v84}");
            assert_eq!(at.pos, Some(1234), "8.4: {v84}");
            assert_eq!(
                at.gtid.as_deref(),
                Some("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4e11fa47-71ca-11e1-9e33-c80aa9429563:1-3"),
                "8.4: {v84}"
            );
            // The precheck reads the binlog filters from the same row.
            let mut row = binlog_status(&mut conn).await.unwrap().unwrap();
            assert_eq!(
                row.take::<String, _>(2).as_deref(),
                Some("shop"),
                "8.4: {v84}"
            );
        }
    }

    #[tokio::test]
    async fn mysql_with_backup_admin_reads_file_offset_and_gtids_in_one_read() {
        for v84 in [false, true] {
            let mut conn = mysql_like(v84, true).await;
            let at = current(&mut conn, Flavor::MySQL).await.unwrap();
            // log_status's point, not the status row's (binlog.000042:1234).
            assert_eq!(at.file.as_deref(), Some("binlog.000043"), "8.4: {v84}");
            assert_eq!(at.pos, Some(4321), "8.4: {v84}");
            assert_eq!(
                at.gtid.as_deref(),
                Some("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4e11fa47-71ca-11e1-9e33-c80aa9429563:1-3"),
                "8.4: {v84}"
            );
        }
    }

    #[test]
    fn mariadb_gtid_positions_round_trip() {
        let mut g = MariaGtids::parse("0-1-31, 2-5-7").unwrap();
        g.set(0, 3, 32);
        g.set(1, 1, 1);
        assert_eq!(g.to_string(), "0-3-32,1-1-1,2-5-7");
        assert!(MariaGtids::parse("0-1").is_err());
        assert!(MariaGtids::parse("").unwrap().is_empty());
    }

    #[test]
    fn mysql_gtid_sets_merge_intervals() {
        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let mut g = MysqlGtids::parse(&format!("{u}:1-5:7")).unwrap();
        assert_eq!(g.to_string(), format!("{u}:1-5:7"));
        g.add(u, 6);
        assert_eq!(g.to_string(), format!("{u}:1-7"));
        g.add(u, 9);
        assert_eq!(g.to_string(), format!("{u}:1-7:9"));
        assert!(MysqlGtids::parse("nope:1-2").is_err());
    }

    #[test]
    fn file_positions_order_across_files() {
        let p = |f: &str, pos| Position {
            file: Some(f.into()),
            pos: Some(pos),
            gtid: None,
        };
        use std::cmp::Ordering::*;
        assert_eq!(
            file_pos_cmp(&p("b.000002", 4), &p("b.000001", 900)),
            Some(Greater)
        );
        assert_eq!(
            file_pos_cmp(&p("b.000001", 4), &p("b.000001", 900)),
            Some(Less)
        );
        assert_eq!(
            file_pos_cmp(&p("b.999999", 4), &p("b.1000000", 4)),
            Some(Less)
        );
        assert_eq!(file_pos_cmp(&Position::default(), &p("b.1", 4)), None);
    }

    #[test]
    fn displays_file_pos_and_gtid() {
        let p = Position {
            file: Some("binlog.000002".into()),
            pos: Some(1234),
            gtid: Some("0-1-42".into()),
        };
        assert_eq!(p.to_string(), "binlog.000002:1234 (gtid 0-1-42)");
        assert!(p.is_known());
        assert!(!Position::default().is_known());
    }
}
