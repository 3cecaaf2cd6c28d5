//! Every precheck driven to pass and to warn/fail on real MariaDB servers: grants
//! revoked, objects created, a server with other startup options. Checks of
//! server-wide variables live in `precheck_globals.rs` (their own server pair).

mod support;

use ferry::precheck::{self, Status};
use ferry::profile::{Mode, OnExisting};
use ferry::rules::Route;
use support::precheck::{assert_status, clean_schema, endpoint, profile};
use support::Server;

#[tokio::test]
async fn a_source_without_binlog_fails_and_a_dead_endpoint_stops_the_rest() {
    let pair = support::pair();
    let (db, include) = clean_schema(&pair.target, "nobin_").await;
    // The target server has no binlog: as a source it cannot feed a sync.
    let p = profile(&pair.target, &pair.source, Mode::All, &include);
    let r = precheck::run(&p).await;
    assert_status(&r, "binlog.enabled", Status::Fail);
    // A full copy does not need the binlog, so the check is not run.
    let full = profile(&pair.target, &pair.source, Mode::Full, &include);
    assert!(precheck::run(&full).await.get("binlog.enabled").is_none());
    let _ = db;

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut dead = profile(&pair.source, &pair.target, Mode::All, &include);
    dead.source.port = closed;
    let r = precheck::run(&dead).await;
    assert_status(&r, "connect.source", Status::Fail);
    assert_status(&r, "connect.target", Status::Pass);
    // One failing check for one unreachable server: TLS is not judged, the
    // rest did not run (a warning that says so).
    assert_status(&r, "precheck.skipped", Status::Warn);
    assert!(r.get("tls.source").is_none());
    assert_eq!(
        r.checks.iter().filter(|c| c.status == Status::Fail).count(),
        1
    );
    assert!(r
        .get("connect.source")
        .unwrap()
        .detail
        .contains("endpoint.unreachable"));
    let mut dead = profile(&pair.source, &pair.target, Mode::Full, &include);
    dead.target.port = closed;
    let r = precheck::run(&dead).await;
    assert_status(&r, "connect.source", Status::Pass);
    assert_status(&r, "connect.target", Status::Fail);
}

#[tokio::test]
async fn privileges_are_checked_per_mode() {
    let pair = support::pair();
    let (s, t) = (&pair.source, &pair.target);
    let (db, include) = clean_schema(s, "priv_").await;
    let lim = support::unique("lim");
    s.sql(&format!(
        "CREATE USER '{lim}'@'%'; GRANT SELECT ON `{db}`.* TO '{lim}'@'%';"
    ))
    .await;
    let mut p = profile(s, t, Mode::All, &include);
    p.source = endpoint(s, &lim);
    let r = precheck::run(&p).await;
    assert_status(&r, "privileges.source", Status::Fail);
    let c = r.get("privileges.source").unwrap();
    assert!(
        c.objects.iter().any(|o| o.contains("REPLICATION SLAVE")),
        "{:?}",
        c.objects
    );

    // The fix is SQL to run as it is: after it, enough for a sync, but no RELOAD
    // (as on managed MySQL): the precheck says the copy will be chunked.
    let fix = c
        .remedy
        .strip_prefix("on the source, run: ")
        .unwrap_or_else(|| panic!("not runnable: {}", c.remedy));
    assert!(fix.contains("BINLOG MONITOR"), "MariaDB's privilege: {fix}");
    s.sql(fix).await;
    let r = precheck::run(&p).await;
    assert_status(&r, "privileges.source", Status::Pass);
    let detail = &r.get("privileges.source").unwrap().detail;
    assert!(detail.contains("the copy is chunked"), "{detail}");
    // A copy alone has no sync to make chunks agree: one reader (warn).
    let mut full = p.clone();
    full.mode = Mode::Full;
    assert_status(
        &precheck::run(&full).await,
        "privileges.source",
        Status::Warn,
    );
    s.sql(&format!("GRANT RELOAD ON *.* TO '{lim}'@'%'")).await;
    assert_status(&precheck::run(&p).await, "privileges.source", Status::Pass);

    // Target: only SELECT on the target schema, nothing on the meta schema.
    let tl = support::unique("tl");
    t.sql(&format!(
        "CREATE USER '{tl}'@'%'; GRANT SELECT ON `{db}`.* TO '{tl}'@'%';"
    ))
    .await;
    let mut p = profile(s, t, Mode::Full, &include);
    p.target = endpoint(t, &tl);
    let r = precheck::run(&p).await;
    assert_status(&r, "privileges.target", Status::Fail);
    assert_status(&r, "privileges.meta", Status::Fail);
    let fix = r.get("privileges.target").unwrap().remedy.clone();
    t.sql(
        fix.strip_prefix("on the target, run: ")
            .unwrap_or_else(|| panic!("not runnable: {fix}")),
    )
    .await;
    let r = precheck::run(&p).await;
    assert_status(&r, "privileges.target", Status::Pass);
    assert_status(&r, "privileges.meta", Status::Fail);
    t.sql(&format!("GRANT ALL ON `ferry_meta`.* TO '{tl}'@'%'"))
        .await;
    assert_status(&precheck::run(&p).await, "privileges.meta", Status::Pass);
}

#[tokio::test]
async fn target_tables_conflict_or_are_missing() {
    let pair = support::pair();
    let (s, t) = (&pair.source, &pair.target);
    let (db, include) = clean_schema(s, "tgt_").await;
    // Incremental: a missing target table is named (the job may start before
    // it exists, as DM's tasks do: its first change stops the sync).
    let inc = profile(s, t, Mode::Incremental, &include);
    let r = precheck::run(&inc).await;
    assert_status(&r, "target.tables_exist", Status::Warn);
    assert_eq!(
        r.get("target.tables_exist").unwrap().objects,
        vec![format!("{db}.t")]
    );
    t.sql(&format!("CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, ts TIMESTAMP NULL, body TEXT)")).await;
    assert_status(
        &precheck::run(&inc).await,
        "target.tables_exist",
        Status::Pass,
    );
    // Full: an existing empty table is fine; one with rows conflicts.
    let mut full = profile(s, t, Mode::Full, &include);
    assert_status(
        &precheck::run(&full).await,
        "target.conflicts",
        Status::Pass,
    );
    t.sql(&format!("INSERT INTO `{db}`.t (id) VALUES (9)"))
        .await;
    assert_status(
        &precheck::run(&full).await,
        "target.conflicts",
        Status::Fail,
    );
    full.options.on_existing = OnExisting::Truncate;
    assert_status(
        &precheck::run(&full).await,
        "target.conflicts",
        Status::Warn,
    );
}

#[tokio::test]
async fn object_checks_warn_and_fail() {
    let pair = support::pair();
    let (s, t) = (&pair.source, &pair.target);
    let db = support::unique("obj_");
    let other = support::unique("oth_");
    s.sql(&format!(
        "CREATE DATABASE `{other}`; CREATE TABLE `{other}`.parent (id INT PRIMARY KEY);
         CREATE DATABASE `{db}`; USE `{db}`;
         CREATE TABLE a (id INT PRIMARY KEY, p INT, CONSTRAINT fk_out FOREIGN KEY (p) REFERENCES `{other}`.parent (id));
         CREATE TABLE loose (v INT);
         CREATE TABLE old_engine (id INT PRIMARY KEY) ENGINE=MyISAM;
         CREATE TABLE _a_gho (id INT PRIMARY KEY);
         CREATE DEFINER=`ghost`@`%` SQL SECURITY INVOKER VIEW v AS SELECT id FROM a;"
    ))
    .await;
    let include = vec![format!("{db}.*")];
    let p = profile(s, t, Mode::Full, &include);
    let r = precheck::run(&p).await;
    assert_status(&r, "tables.foreign_keys", Status::Fail);
    // The fix the app offers: add the parent table.
    assert_eq!(
        r.get("tables.foreign_keys").unwrap().add_tables,
        [(other.clone(), "parent".to_string())]
    );
    assert_status(&r, "objects.left_out", Status::Pass);
    assert_status(&r, "tables.primary_key", Status::Warn);
    assert_eq!(
        r.get("tables.primary_key").unwrap().objects,
        vec![format!("{db}.loose")]
    );
    assert_status(&r, "tables.engine", Status::Warn);
    assert_status(&r, "tables.online_ddl", Status::Warn);
    assert_status(&r, "objects.definers", Status::Warn);
    assert!(r
        .get("objects.definers")
        .unwrap()
        .detail
        .contains("rewrite"));
    assert_status(&r, "objects.routing", Status::Pass);

    // Including the referenced schema fixes the foreign key check.
    let both = profile(s, t, Mode::Full, &[format!("{db}.*"), format!("{other}.*")]);
    assert_status(
        &precheck::run(&both).await,
        "tables.foreign_keys",
        Status::Pass,
    );

    // A view whose table is left out is said, with the table to add back.
    let without_a = profile(s, t, Mode::Full, &[format!("{db}.loose")]);
    let r = precheck::run(&without_a).await;
    assert_status(&r, "objects.left_out", Status::Warn);
    let left = r.get("objects.left_out").unwrap();
    assert_eq!(left.objects, [format!("view {db}.v (built on {db}.a)")]);
    assert_eq!(left.add_tables, [(db.clone(), "a".to_string())]);

    // Two tables routed onto one name collide.
    let mut routed = profile(
        s,
        t,
        Mode::Full,
        &[format!("{db}.a"), format!("{db}.loose")],
    );
    routed.objects.route = vec![Route {
        from: format!("{db}.*"),
        to: format!("{db}_m.merged"),
    }];
    // Merging is allowed (shard merge); tables of other shapes cannot merge.
    let merged = precheck::run(&routed).await;
    assert_status(&merged, "objects.routing", Status::Pass);
    assert_status(&merged, "shards.schemas", Status::Fail);

    // A rule naming a schema that does not exist.
    let bad = profile(s, t, Mode::Full, &["no_such_schema.*".to_string()]);
    assert_status(&precheck::run(&bad).await, "objects.rules", Status::Fail);
}

#[tokio::test]
async fn binlog_filters_and_name_case_rules() {
    let pair = support::pair();
    // A third server with lower_case_table_names = 1 and a binlog filter.
    let odd = &Server::start_with(
        "odd",
        3,
        true,
        None,
        &[
            "--lower-case-table-names=1",
            "--binlog-ignore-db=ignored_db",
            "--bind-address=0.0.0.0",
        ],
    );
    // Source with binlog_ignore_db = ignored_db.
    odd.sql("CREATE DATABASE IF NOT EXISTS ignored_db; CREATE TABLE IF NOT EXISTS ignored_db.t (id INT PRIMARY KEY);
             CREATE DATABASE IF NOT EXISTS kept_db; CREATE TABLE IF NOT EXISTS kept_db.t (id INT PRIMARY KEY);")
        .await;
    let p = profile(odd, &pair.target, Mode::All, &["ignored_db.*".to_string()]);
    let r = precheck::run(&p).await;
    assert_status(&r, "binlog.filters", Status::Fail);
    let p = profile(odd, &pair.target, Mode::All, &["kept_db.*".to_string()]);
    assert_status(&precheck::run(&p).await, "binlog.filters", Status::Pass);

    // Target folding names: two source tables differing only in case collide.
    let db = support::unique("case_");
    pair.source
        .sql(&format!("CREATE DATABASE `{db}`; CREATE TABLE `{db}`.Orders (id INT PRIMARY KEY); CREATE TABLE `{db}`.orders (id INT PRIMARY KEY);"))
        .await;
    let p = profile(&pair.source, odd, Mode::Full, &[format!("{db}.*")]);
    let r = precheck::run(&p).await;
    assert_status(&r, "target.lower_case_table_names", Status::Fail);
    let p = profile(&pair.source, odd, Mode::Full, &[format!("{db}.orders")]);
    assert_status(
        &precheck::run(&p).await,
        "target.lower_case_table_names",
        Status::Warn,
    );

    // Plain TCP to an address beyond loopback warns; the odd server has no TLS.
    let ip = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("10.255.255.255:9").map(|_| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .expect("a non-loopback address");
    assert!(!ip.is_loopback() && !ip.is_unspecified(), "{ip}");
    odd.sql("CREATE USER IF NOT EXISTS 'plain'@'%'; GRANT ALL ON *.* TO 'plain'@'%';")
        .await;
    let mut p = profile(odd, &pair.target, Mode::Full, &["kept_db.*".to_string()]);
    p.source = endpoint(odd, "plain");
    p.source.host = ip.to_string();
    let r = precheck::run(&p).await;
    assert_status(&r, "connect.source", Status::Pass);
    assert_status(&r, "tls.source", Status::Warn);
    assert_status(&r, "tls.target", Status::Pass);
}

#[tokio::test]
async fn cli_precheck_json_and_run_refuses_on_failure() {
    let pair = support::pair();
    let (db, include) = clean_schema(&pair.source, "clip_").await;
    let home = tempfile::tempdir().unwrap();
    let job = home.path().join("job.toml");
    let write = |extra: &str| {
        std::fs::write(
            &job,
            format!(
                "name = \"clip\"\nmode = \"full\"\n{extra}\n[source]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n[target]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n[objects]\ninclude = [\"{}\"]\n",
                pair.source.port, pair.target.port, include[0]
            ),
        )
        .unwrap();
    };
    let ferry = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("FERRY_KEYRING", "keyutils")
            .output()
            .unwrap()
    };
    write("");
    let out = ferry(&["precheck", job.to_str().unwrap(), "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.len() >= 25);
    for c in checks {
        for key in ["id", "title", "status", "detail", "remedy", "objects"] {
            assert!(c.get(key).is_some(), "{key} in {c}");
        }
    }
    // A target table with rows fails the precheck; `run` refuses to start.
    pair.target
        .sql(&format!("CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, ts TIMESTAMP NULL, body TEXT); INSERT INTO `{db}`.t (id) VALUES (1);"))
        .await;
    let out = ferry(&["precheck", job.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  target.conflicts"), "{stdout}");
    let out = ferry(&["run", job.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("error precheck.failed") && stderr.contains("target.conflicts"),
        "{stderr}"
    );
    // Ignoring the check lets run start (and then the copy itself refuses the rows).
    write("ignore_checks = [\"target.conflicts\"]");
    let out = ferry(&["run", job.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("snapshot.target_not_empty"), "{stderr}");
}

#[tokio::test]
async fn incremental_start_position_must_still_be_on_the_source() {
    let pair = support::pair();
    let (s, t) = (&pair.source, &pair.target);
    let (_db, include) = clean_schema(s, "start_").await;
    let mut p = profile(s, t, Mode::Incremental, &include);
    let (file, pos): (String, u64) = {
        let rows: Vec<mysql_async::Row> = s.query("SHOW MASTER STATUS").await;
        let mut r = rows.into_iter().next().unwrap();
        (r.take(0).unwrap(), r.take(1).unwrap())
    };
    let gtid: Vec<String> = s.query("SELECT @@gtid_binlog_pos").await;
    for start in [
        "now".to_string(),
        format!("binlog:{file}:{pos}"),
        format!("gtid:{}", gtid[0]),
    ] {
        p.incremental.start = start.clone();
        let r = precheck::run(&p).await;
        assert_status(&r, "binlog.start_position", Status::Pass);
    }
    p.incremental.start = format!("binlog:{file}:{}", pos + 1_000_000_000);
    assert_status(
        &precheck::run(&p).await,
        "binlog.start_position",
        Status::Fail,
    );
    // Purge the binlog holding those positions: the file and the GTID are gone.
    s.sql("FLUSH BINARY LOGS").await;
    let newest: Vec<mysql_async::Row> = s.query("SHOW MASTER STATUS").await;
    let newest: String = newest.into_iter().next().unwrap().take(0).unwrap();
    // MariaDB keeps a binlog until its binlog checkpoint is written: retry a while.
    for _ in 0..100 {
        s.sql(&format!("PURGE BINARY LOGS TO '{newest}'")).await;
        let logs: Vec<mysql_async::Row> = s.query("SHOW BINARY LOGS").await;
        if logs.len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for start in [format!("binlog:{file}:{pos}"), "gtid:0-1-1".to_string()] {
        p.incremental.start = start.clone();
        let r = precheck::run(&p).await;
        assert_status(&r, "binlog.start_position", Status::Fail);
        assert!(
            !r.get("binlog.start_position").unwrap().objects.is_empty(),
            "{start}"
        );
    }
}

/// A character-sets directory with one collation Debian's MariaDB does not have: a
/// server started with it knows `utf8mb3_ferry_ci`, every other server does not.
fn charsets_with_custom_collation(dir: &std::path::Path) -> String {
    let stock = std::path::Path::new("/usr/share/mysql/charsets");
    std::fs::create_dir_all(dir).unwrap();
    for f in std::fs::read_dir(stock).expect("Debian's MariaDB charsets directory") {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
    }
    let index = dir.join("Index.xml");
    let xml = std::fs::read_to_string(&index).unwrap();
    let at = xml
        .find("<charset name=\"utf8mb3\">")
        .expect("utf8mb3 in Index.xml");
    let end = at + xml[at..].find("</charset>").unwrap();
    let custom = "  <collation name=\"utf8mb3_ferry_ci\" id=\"2000\">\n    <rules><reset>a</reset><s>b</s></rules>\n  </collation>\n";
    std::fs::write(&index, format!("{}{custom}{}", &xml[..end], &xml[end..])).unwrap();
    format!("--character-sets-dir={}", dir.display())
}

/// The checks that need a server unlike the pair: an older version, a collation only
/// one side has, a target disk with less room than the data.
#[tokio::test]
async fn older_target_unknown_collation_and_a_full_disk() {
    let pair = support::pair();
    let charsets = tempfile::tempdir().unwrap();
    let charsets_arg = charsets_with_custom_collation(&charsets.path().join("charsets"));
    // Reports itself as MariaDB 10.6 (the binary is 10.11), has its own collation, and
    // keeps its data on a 256 MiB disk; the disks plugin makes it report free space.
    let odd = &Server::start_on_small_disk(
        "small",
        4,
        &[
            "--version=10.6.1-MariaDB",
            &charsets_arg,
            "--plugin-load-add=disks",
        ],
        256,
    );
    let (_db, include) = clean_schema(&pair.source, "odd_").await;
    // Source 10.11 → target 10.6: fail; 10.6 → 10.11: pass.
    let to_old = profile(&pair.source, odd, Mode::Full, &include);
    let r = precheck::run(&to_old).await;
    assert_status(&r, "version.compatibility", Status::Fail);
    assert!(
        r.get("version.compatibility")
            .unwrap()
            .detail
            .contains("10.11 → 10.6"),
        "{:?}",
        r.get("version.compatibility")
    );
    // The target reports its disk: plenty of room for one row.
    assert_status(&r, "target.capacity", Status::Pass);
    assert!(
        r.get("target.capacity")
            .unwrap()
            .detail
            .contains("MiB free"),
        "{:?}",
        r.get("target.capacity")
    );

    // A table using the collation only this server knows, copied to the pair's target.
    let db = support::unique("coll_");
    odd.sql(&format!(
        "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.names (id INT PRIMARY KEY, name VARCHAR(20) CHARACTER SET utf8mb3 COLLATE utf8mb3_ferry_ci);
         CREATE TABLE `{db}`.plain (id INT PRIMARY KEY, name VARCHAR(20));"
    ))
    .await;
    let from_odd = profile(odd, &pair.target, Mode::Full, &[format!("{db}.names")]);
    let r = precheck::run(&from_odd).await;
    assert_status(&r, "version.compatibility", Status::Pass);
    assert_status(&r, "target.charsets", Status::Fail);
    assert_eq!(
        r.get("target.charsets").unwrap().objects,
        vec!["utf8mb3_ferry_ci".to_string()]
    );
    let plain = profile(odd, &pair.target, Mode::Full, &[format!("{db}.plain")]);
    assert_status(
        &precheck::run(&plain).await,
        "target.charsets",
        Status::Pass,
    );

    // About 3 MiB of rows on the source, 1 MiB left on the target's disk.
    let big = support::unique("big_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{big}`; CREATE TABLE `{big}`.t (id INT PRIMARY KEY, body TEXT);
             INSERT INTO `{big}`.t SELECT seq, REPEAT('x', 1000) FROM `{big}`.seq_1_to_3000;
             ANALYZE TABLE `{big}`.t;"
        ))
        .await;
    odd.fill_disk(1 << 20).await;
    let p = profile(&pair.source, odd, Mode::Full, &[format!("{big}.*")]);
    let r = precheck::run(&p).await;
    assert_status(&r, "target.capacity", Status::Warn);
}

/// What the sync will meet, named before the start: cascading foreign keys,
/// system-versioned tables (which cannot be migrated as they are), accounts that
/// may write rows as statements, and seed 001's innodb_stats_on_metadata.
#[tokio::test]
async fn fidelity_checks_name_what_the_sync_will_meet() {
    let pair = support::pair();
    let (s, t) = (&pair.source, &pair.target);
    let db = support::unique("fid_");
    let app = support::unique("app_");
    s.sql(&format!(
        "CREATE DATABASE `{db}`; USE `{db}`;
         CREATE TABLE p (id INT PRIMARY KEY);
         CREATE TABLE c (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE);
         CREATE TABLE hist (id INT PRIMARY KEY, v INT) WITH SYSTEM VERSIONING;
         CREATE USER '{app}'@'%' IDENTIFIED BY 'x'; GRANT BINLOG ADMIN ON *.* TO '{app}'@'%';"
    ))
    .await;
    let p = profile(s, t, Mode::All, &[format!("{db}.*")]);
    let r = precheck::run(&p).await;
    assert_status(&r, "tables.cascades", Status::Pass);
    assert!(r.get("tables.cascades").unwrap().objects[0].contains("ON DELETE CASCADE"));
    assert_status(&r, "tables.system_versioned", Status::Fail);
    assert_eq!(
        r.get("tables.system_versioned").unwrap().objects,
        vec![format!("{db}.hist")]
    );
    assert_status(&r, "binlog.session_overrides", Status::Warn);
    assert!(r
        .get("binlog.session_overrides")
        .unwrap()
        .objects
        .iter()
        .any(|g| g.contains(&app)));
    // Leaving the versioned table out passes.
    let mut without = profile(s, t, Mode::All, &[format!("{db}.*")]);
    without.objects.exclude = vec![format!("{db}.hist")];
    assert_status(
        &precheck::run(&without).await,
        "tables.system_versioned",
        Status::Pass,
    );
    s.sql(&format!("DROP USER '{app}'@'%'")).await;
}
