//! Prechecks of server-wide variables, driven with SET GLOBAL. They run in their own
//! test binary (own server pair) so no other test sees the changed variables.

mod support;

use ferry::precheck::{self, Status};
use ferry::profile::Mode;
use support::precheck::{assert_status, clean_schema, profile, with_global};
use support::Server;

/// The test that owns server-wide variables: it changes them one at a time.
#[tokio::test]
async fn server_variables_drive_checks() {
    let pair = support::pair();
    let (s, t) = (&pair.source, &pair.target);
    let (_db, include) = clean_schema(s, "glob_").await;
    let all = profile(s, t, Mode::All, &include);

    // A healthy pair: nothing fails, and more than 25 distinct checks ran.
    let report = precheck::run(&all).await;
    assert!(report.blocking(&[]).is_empty(), "{:#?}", report.checks);
    let mut ids: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert!(ids.len() >= 30, "{} checks: {ids:?}", ids.len());
    for id in [
        "connect.source",
        "connect.target",
        "tls.source",
        "tls.target",
        "version.compatibility",
        "privileges.source",
        "privileges.target",
        "privileges.meta",
        "binlog.enabled",
        "binlog.format",
        "binlog.row_image",
        "binlog.server_id",
        "binlog.filters",
        "binlog.compression",
        "binlog.gtid",
        "binlog.retention",
        "target.conflicts",
        "target.lower_case_table_names",
        "target.charsets",
        "target.max_allowed_packet",
        "server.connections",
        "source.role",
        "server.time_zone",
        "server.sql_mode",
        "server.charset",
        "tables.primary_key",
        "tables.engine",
        "tables.foreign_keys",
        "objects.definers",
        "tables.online_ddl",
        "objects.routing",
        "objects.rules",
        "tables.cascades",
        "tables.system_versioned",
        "source.innodb_stats_on_metadata",
        "binlog.prepared_xa",
    ] {
        assert_status(&report, id, Status::Pass);
    }
    // Free space: checked where the target reports it, a warning where it does
    // not (it passed unchecked).
    let capacity = report.get("target.capacity").unwrap();
    assert!(
        (capacity.status == Status::Pass && capacity.detail.contains("MiB free"))
            || (capacity.status == Status::Warn && capacity.detail.contains("could not check")),
        "{capacity:?}"
    );
    assert!(report
        .get("tls.target")
        .unwrap()
        .detail
        .contains("TLS in use"));
    // MariaDB 10.11 defaults to binlog_row_metadata = NO_LOG.
    assert_status(&report, "binlog.row_metadata", Status::Warn);
    let r = with_global(
        s,
        "SET GLOBAL binlog_row_metadata = 'FULL'",
        "SET GLOBAL binlog_row_metadata = 'NO_LOG'",
        &all,
    )
    .await;
    assert_status(&r, "binlog.row_metadata", Status::Pass);

    let cases: &[(&Server, &str, &str, &str, Status)] = &[
        (
            s,
            "SET GLOBAL binlog_format = 'STATEMENT'",
            "SET GLOBAL binlog_format = 'ROW'",
            "binlog.format",
            Status::Fail,
        ),
        (
            s,
            "SET GLOBAL binlog_row_image = 'MINIMAL'",
            "SET GLOBAL binlog_row_image = 'FULL'",
            "binlog.row_image",
            Status::Fail,
        ),
        (
            s,
            // The id this job registers with (derived from its name).
            &*Box::leak(
                format!(
                    "SET GLOBAL server_id = {}",
                    ferry::profile::Incremental::default().server_id_for("precheck-test")
                )
                .into_boxed_str(),
            ),
            "SET GLOBAL server_id = 1",
            "binlog.server_id",
            Status::Fail,
        ),
        (
            s,
            "SET GLOBAL innodb_stats_on_metadata = ON",
            "SET GLOBAL innodb_stats_on_metadata = OFF",
            "source.innodb_stats_on_metadata",
            Status::Warn,
        ),
        (
            s,
            "SET GLOBAL binlog_expire_logs_seconds = 3600",
            "SET GLOBAL binlog_expire_logs_seconds = 0",
            "binlog.retention",
            Status::Warn,
        ),
        (
            s,
            "SET GLOBAL read_only = 1",
            "SET GLOBAL read_only = 0",
            "source.role",
            Status::Warn,
        ),
        (
            s,
            "SET GLOBAL sql_mode = ''",
            "SET GLOBAL sql_mode = DEFAULT",
            "server.sql_mode",
            Status::Warn,
        ),
        (
            t,
            "SET GLOBAL time_zone = '+03:00'",
            "SET GLOBAL time_zone = 'SYSTEM'",
            "server.time_zone",
            Status::Warn,
        ),
        (
            t,
            "SET GLOBAL character_set_server = 'utf8mb4'",
            "SET GLOBAL character_set_server = DEFAULT",
            "server.charset",
            Status::Warn,
        ),
        (
            t,
            "SET GLOBAL max_allowed_packet = 1024",
            "SET GLOBAL max_allowed_packet = DEFAULT",
            "target.max_allowed_packet",
            Status::Warn,
        ),
    ];
    for (server, set, restore, id, expected) in cases {
        let r = with_global(server, set, restore, &all).await;
        assert_status(&r, id, *expected);
        let again = precheck::run(&all).await;
        assert_status(&again, id, Status::Pass);
    }

    // An incremental job starting from a GTID set, on a source without gtid_strict_mode.
    let mut from_gtid = profile(s, t, Mode::Incremental, &include);
    let pos: Vec<String> = s.query("SELECT @@gtid_binlog_pos").await;
    from_gtid.incremental.start = format!("gtid:{}", pos[0]);
    let r = precheck::run(&from_gtid).await;
    assert_status(&r, "binlog.gtid", Status::Warn);
    assert!(
        r.get("binlog.gtid")
            .unwrap()
            .remedy
            .contains("gtid_strict_mode"),
        "{:?}",
        r.get("binlog.gtid")
    );
    let r = with_global(
        s,
        "SET GLOBAL gtid_strict_mode = ON",
        "SET GLOBAL gtid_strict_mode = OFF",
        &from_gtid,
    )
    .await;
    assert_status(&r, "binlog.gtid", Status::Pass);

    // Connection limits: fewer free connections than the job's threads.
    let mut threads = all.clone();
    threads.options.import_threads = 64;
    let r = with_global(
        t,
        "SET GLOBAL max_connections = 60",
        "SET GLOBAL max_connections = 200",
        &threads,
    )
    .await;
    assert_status(&r, "server.connections", Status::Fail);
    assert_status(
        &precheck::run(&threads).await,
        "server.connections",
        Status::Pass,
    );
    s.sql("CREATE DATABASE IF NOT EXISTS test_xa").await;
    a_prepared_xa_transaction_fails_the_precheck(s, t, &all).await;
}

/// An XA transaction left prepared on the source would be missed (its rows are in
/// the binlog before the job's start): the precheck fails until it ends. Here, not
/// in tests/precheck.rs: a prepared XA fails every job's precheck on that server.
async fn a_prepared_xa_transaction_fails_the_precheck(s: &Server, t: &Server, p: &ferry::Profile) {
    use mysql_async::prelude::Queryable;
    let xid = support::unique("pending");
    let mut c = s.conn().await;
    c.query_drop(format!(
        "CREATE TABLE IF NOT EXISTS test_xa.t (id INT PRIMARY KEY); XA START '{xid}'; INSERT INTO test_xa.t VALUES (1); XA END '{xid}'; XA PREPARE '{xid}'"
    ))
    .await
    .unwrap();
    let r = precheck::run(p).await;
    assert_status(&r, "binlog.prepared_xa", Status::Fail);
    assert!(r.get("binlog.prepared_xa").unwrap().objects.contains(&xid));
    c.query_drop(format!("XA ROLLBACK '{xid}'")).await.unwrap();
    assert_status(&precheck::run(p).await, "binlog.prepared_xa", Status::Pass);
    let _ = t;
}
