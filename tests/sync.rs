//! `mode = "all"`: snapshot copy, then binlog sync, on a real MariaDB pair with
//! writes during sync, a SIGKILL in the middle, and a resume.

mod support;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use support::job::{all_job, ferry, phase, spawn_run, text, wait_for};
use support::Server;

/// Row count and content checksums of both tables, source vs target. (CHECKSUM
/// TABLE is not used: MariaDB includes stale VIRTUAL column buffers in it.)
async fn tables_equal(pair: &support::Pair, db: &str) -> bool {
    let sums = |d: &str| {
        format!(
            "SELECT (SELECT CONCAT(COUNT(*), '/', COALESCE(BIT_XOR(CRC32(CONCAT_WS('#', id, bal, small, note, at, gen, CONCAT(ISNULL(bal), ISNULL(small), ISNULL(note), ISNULL(at))))), 0), '/', COALESCE(SUM(CRC32(CONCAT_WS('#', id, bal, small, note, at))), 0)) FROM `{d}`.acct),
                    (SELECT CONCAT(COUNT(*), '/', COALESCE(BIT_XOR(CRC32(CONCAT_WS('#', v, w, CONCAT(ISNULL(v), ISNULL(w))))), 0), '/', COALESCE(SUM(CRC32(CONCAT_WS('#', v, w, ISNULL(v), ISNULL(w)))), 0)) FROM `{d}`.loose)"
        )
    };
    let a: Vec<(String, String)> = pair.source.query(&sums(db)).await;
    let target_db = format!("{db}_s");
    let exists: Vec<u64> = pair
        .target
        .query(&format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{target_db}'"
        ))
        .await;
    if exists[0] < 2 {
        return false;
    }
    let b: Vec<(String, String)> = pair.target.query(&sums(&target_db)).await;
    a == b
}

/// Every column of every row, source vs target (under the `_s` route).
async fn same_rows(pair: &support::Pair, db: &str, table: &str) -> bool {
    let target_db = format!("{db}_s");
    let exists: Vec<u64> = pair
        .target
        .query(&format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{target_db}' AND TABLE_NAME = '{table}'"
        ))
        .await;
    if exists[0] == 0 {
        return false;
    }
    let rows = |d: &str| format!("SELECT * FROM `{d}`.`{table}` ORDER BY 1");
    let a: Vec<mysql_async::Row> = pair.source.query(&rows(db)).await;
    let b: Vec<mysql_async::Row> = pair.target.query(&rows(&target_db)).await;
    let values = |v: Vec<mysql_async::Row>| -> Vec<Vec<mysql_async::Value>> {
        v.into_iter().map(|r| r.unwrap()).collect()
    };
    values(a) == values(b)
}

#[tokio::test]
async fn snapshot_then_sync_survives_a_kill_and_stops_on_ctrl_c() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("sync_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`;
             CREATE TABLE acct (id INT PRIMARY KEY, bal BIGINT UNSIGNED, small TINYINT UNSIGNED, note VARCHAR(50), at DATETIME(6), gen INT AS (id * 2) VIRTUAL);
             CREATE TABLE loose (v INT, w VARCHAR(10));
             INSERT INTO acct (id, bal, small, note, at) SELECT seq, seq * 100, seq % 256, CONCAT('n', seq), '2024-01-01 00:00:00' FROM seq_1_to_2000;
             INSERT INTO loose VALUES (1, 'a'), (1, 'a'), (2, NULL);
             CREATE TABLE audit (acct_id INT);
             CREATE TRIGGER acct_audit AFTER INSERT ON acct FOR EACH ROW INSERT INTO audit VALUES (NEW.id);"
        ))
        .await;
    let name = format!("sync-{}", db.replace('_', "-"));
    let job = home.path().join("job.toml");
    all_job(&job, &pair, &name, &db, "");

    let mut child = spawn_run(home.path(), &job);
    let target = &pair.target;
    wait_for("the sync phase", &mut child, async || {
        phase(target, &name).await.as_deref() == Some("sync")
    })
    .await;

    // Writes while syncing: inserts, updates (one moving its key), deletes, an
    // unsigned value at its limit, NULLs, a multi-statement transaction, keyless rows.
    pair.source
        .sql(&format!(
            "USE `{db}`;
             INSERT INTO acct (id, bal, small, note, at) VALUES (5000, 18446744073709551615, 255, 'max', '2030-12-31 23:59:59.999999');
             UPDATE acct SET bal = bal + 1, note = NULL WHERE id <= 100;
             UPDATE acct SET id = 9000 WHERE id = 200;
             DELETE FROM acct WHERE id BETWEEN 300 AND 399;
             START TRANSACTION; INSERT INTO acct (id, note) VALUES (6000, 'tx'); UPDATE acct SET small = 0 WHERE id = 6000; COMMIT;
             INSERT INTO loose VALUES (3, 'c');
             DELETE FROM loose WHERE v = 1 LIMIT 1;"
        ))
        .await;
    wait_for("the target to catch up", &mut child, async || {
        tables_equal(&pair, &db).await
    })
    .await;

    // Kill without warning, write more, resume: nothing lost, nothing doubled.
    child.kill().unwrap();
    child.wait().unwrap();
    pair.source
        .sql(&format!(
            "USE `{db}`;
             UPDATE acct SET note = 'after kill' WHERE id BETWEEN 1000 AND 1100;
             INSERT INTO acct (id, bal) SELECT seq, seq FROM seq_7000_to_7500;
             DELETE FROM acct WHERE id = 5000;
             UPDATE loose SET w = 'z' WHERE v = 2;"
        ))
        .await;
    let mut child = spawn_run(home.path(), &job);
    wait_for("the resumed sync to catch up", &mut child, async || {
        tables_equal(&pair, &db).await
    })
    .await;
    let counts: Vec<(u64, u64)> = pair
        .target
        .query(&format!(
            "SELECT COUNT(*), COUNT(DISTINCT id) FROM `{db}_s`.acct"
        ))
        .await;
    assert_eq!(counts[0].0, counts[0].1);
    let src: Vec<u64> = pair
        .source
        .query(&format!("SELECT COUNT(*) FROM `{db}`.acct"))
        .await;
    assert_eq!(counts[0].0, src[0]);
    let max: Vec<(Option<u64>, Option<u8>)> = pair
        .target
        .query(&format!(
            "SELECT bal, small FROM `{db}_s`.acct WHERE id = 6000"
        ))
        .await;
    assert_eq!(max, vec![(None, Some(0))]);

    // The server drops the replication connection: the sync reconnects by itself.
    let dumps: Vec<u64> = pair
        .source
        .query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
        .await;
    assert!(!dumps.is_empty());
    for id in dumps {
        pair.source.sql(&format!("KILL {id}")).await;
    }
    pair.source
        .sql(&format!(
            "UPDATE `{db}`.acct SET note = 'after server kill' WHERE id < 50"
        ))
        .await;
    wait_for(
        "the sync to recover from a killed connection",
        &mut child,
        async || tables_equal(&pair, &db).await,
    )
    .await;

    // DDL while syncing, under the route: columns, an index, a new table that the
    // rules select, a rename; rows written after each must land in the new shape.
    pair.source
        .sql(&format!(
            "USE `{db}`;
             ALTER TABLE acct ADD COLUMN extra VARCHAR(10) NOT NULL DEFAULT 'x';
             UPDATE acct SET extra = CONCAT('e', id) WHERE id < 20;
             ALTER TABLE acct MODIFY note VARCHAR(80);
             CREATE INDEX k_at ON acct (at);
             INSERT INTO acct (id, note, extra) VALUES (8000, REPEAT('n', 70), 'new');
             CREATE TABLE fresh (id INT PRIMARY KEY, v VARCHAR(5));
             INSERT INTO fresh VALUES (1, 'a'), (2, 'b'); UPDATE fresh SET v = 'c' WHERE id = 2;
             CREATE TABLE moved (id INT PRIMARY KEY); INSERT INTO moved VALUES (1);
             RENAME TABLE moved TO moved2; INSERT INTO moved2 VALUES (2);
             ALTER TABLE fresh ADD COLUMN junk INT DEFAULT 1; ALTER TABLE fresh DROP COLUMN junk;
             ALTER TABLE acct DROP COLUMN extra; UPDATE acct SET note = 'after drop' WHERE id = 8000;"
        ))
        .await;
    for table in ["acct", "fresh", "moved2"] {
        wait_for(&format!("{table} after DDL"), &mut child, async || {
            same_rows(&pair, &db, table).await
        })
        .await;
    }

    // Ctrl-C pauses cleanly with the position.
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ferry did not stop within 30 s of Ctrl-C");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("sync paused at binlog."), "{stdout}");

    // Complete with no process running: the job runs here, catches up, verifies, and
    // only now creates the trigger (during sync its effects came as row changes).
    let out = ferry(home.path(), &["complete", job.to_str().unwrap()]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("completed"), "{all}");
    let src_audit: Vec<u64> = pair
        .source
        .query(&format!("SELECT COUNT(*) FROM `{db}`.audit"))
        .await;
    let tgt_audit: Vec<u64> = pair
        .target
        .query(&format!("SELECT COUNT(*) FROM `{db}_s`.audit"))
        .await;
    assert_eq!(src_audit, tgt_audit);
    let triggers: Vec<String> = pair
        .target
        .query(&format!(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{db}_s'"
        ))
        .await;
    assert_eq!(triggers, vec!["acct_audit".to_string()]);
    assert_eq!(
        phase(&pair.target, &name).await.as_deref(),
        Some("completed")
    );
}

fn write_job(home: &std::path::Path, file: &str, body: &str) -> std::path::PathBuf {
    let path = home.join(file);
    std::fs::write(&path, body).unwrap();
    path
}

async fn ids(server: &Server, table: &str) -> Vec<u64> {
    server
        .query(&format!("SELECT id FROM {table} ORDER BY id"))
        .await
}

async fn wait_rows(child: &mut Child, server: &Server, table: &str, want: &[u64]) {
    let want = want.to_vec();
    wait_for(&format!("{table} = {want:?}"), child, async || {
        let exists: Vec<u64> = server
            .query(&format!(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) = '{}'",
                table.replace('`', "")
            ))
            .await;
        exists[0] == 1 && ids(server, table).await == want
    })
    .await;
}

/// Incremental-only jobs from a file position, a GTID and `now`; `ferry status`,
/// `complete`, `pause` and `abort` against running jobs; clear errors for a
/// purged position and a missing target table.
#[tokio::test]
async fn incremental_start_positions_and_control_commands() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let db = support::unique("inc_");
    let table = "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))";
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`; {table}; INSERT INTO t VALUES (1, 'before');"
        ))
        .await;
    for suffix in ["f", "g", "n"] {
        pair.target
            .sql(&format!(
                "CREATE DATABASE `{db}_{suffix}`; USE `{db}_{suffix}`; {table}; INSERT INTO t VALUES (1, 'before');"
            ))
            .await;
    }
    let (file, pos): (String, u64) = {
        let rows: Vec<mysql_async::Row> = pair.source.query("SHOW MASTER STATUS").await;
        let mut r = rows.into_iter().next().unwrap();
        (r.take(0).unwrap(), r.take(1).unwrap())
    };
    let gtid: Vec<String> = pair.source.query("SELECT @@gtid_binlog_pos").await;
    pair.source
        .sql(&format!("INSERT INTO `{db}`.t VALUES (2, 'after')"))
        .await;

    let job = |name: &str, suffix: &str, start: &str| {
        format!(
            "name = \"{name}\"\nmode = \"incremental\"\n[source]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n[target]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n[objects]\ninclude = [\"{db}.*\"]\n[[objects.route]]\nfrom = \"{db}.*\"\nto = \"{db}_{suffix}.*\"\n[incremental]\nstart = \"{start}\"\n",
            pair.source.port, pair.target.port
        )
    };
    let name = |s: &str| format!("{}-{s}", db.replace('_', "-"));
    let jf = write_job(
        home,
        "f.toml",
        &job(&name("f"), "f", &format!("binlog:{file}:{pos}")),
    );
    let jg = write_job(
        home,
        "g.toml",
        &job(&name("g"), "g", &format!("gtid:{}", gtid[0])),
    );
    let jn = write_job(home, "n.toml", &job(&name("n"), "n", "now"));

    let mut f = spawn_run(home, &jf);
    let mut g = spawn_run(home, &jg);
    let (tf, tg, tn) = (
        format!("`{db}_f`.t"),
        format!("`{db}_g`.t"),
        format!("`{db}_n`.t"),
    );
    wait_rows(&mut f, &pair.target, &tf, &[1, 2]).await;
    wait_rows(&mut g, &pair.target, &tg, &[1, 2]).await;
    let mut n = spawn_run(home, &jn);
    let target = &pair.target;
    let nn = name("n");
    wait_for("the `now` job to sync", &mut n, async || {
        phase(target, &nn).await.as_deref() == Some("sync")
    })
    .await;
    pair.source
        .sql(&format!("INSERT INTO `{db}`.t VALUES (3, 'later')"))
        .await;
    wait_rows(&mut f, &pair.target, &tf, &[1, 2, 3]).await;
    wait_rows(&mut g, &pair.target, &tg, &[1, 2, 3]).await;
    // `now` started after row 2 was written: it never sees it.
    wait_rows(&mut n, &pair.target, &tn, &[1, 3]).await;

    // Status of a running job, as JSON.
    let jg_path = jg.to_str().unwrap();
    let mut live = serde_json::Value::Null;
    for _ in 0..50 {
        let out = ferry(home, &["status", jg_path, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        live = serde_json::from_slice(&out.stdout).unwrap();
        if live["live"]["synced"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(live["running"], true, "{live}");
    assert_eq!(live["phase"], "sync", "{live}");
    assert_eq!(live["live"]["synced"], true, "{live}");
    // Row 3 came through the binlog: the per-table count has it.
    let per_table = &live["live"]["tables"][0];
    assert_eq!(per_table["schema"], db.as_str(), "{live}");
    assert_eq!(per_table["table"], "t", "{live}");
    assert!(
        per_table["count"].as_u64().is_some_and(|n| n >= 1),
        "{live}"
    );
    assert!(
        live["applied"]["gtid"]
            .as_str()
            .is_some_and(|g| !g.is_empty()),
        "{live}"
    );

    // complete: catches up, verifies, finishes; the running process exits 0.
    // --freeze-source makes the source read-only first (root may still write).
    let out = ferry(home, &["complete", "--freeze-source", jf.to_str().unwrap()]);
    let read_only: Vec<u64> = pair.source.query("SELECT @@GLOBAL.read_only").await;
    pair.source.sql("SET GLOBAL read_only = OFF").await;
    assert_eq!(read_only, vec![1]);
    let done = f.wait_with_output().unwrap();
    let both = format!("complete: {}\nrun: {}", text(&out), text(&done));
    assert_eq!(out.status.code(), Some(0), "{both}");
    assert!(text(&out).contains("completed"), "{both}");
    assert_eq!(done.status.code(), Some(0), "{both}");
    assert_eq!(
        phase(&pair.target, &name("f")).await.as_deref(),
        Some("completed")
    );

    // pause: the job stops with a checkpoint and says so.
    let out = ferry(home, &["pause", jg_path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("paused"), "{}", text(&out));
    let paused = g.wait_with_output().unwrap();
    assert_eq!(paused.status.code(), Some(0), "{}", text(&paused));
    assert!(
        text(&paused).contains("sync paused at"),
        "{}",
        text(&paused)
    );

    // abort: stops at once and tells what a restart needs.
    let out = ferry(home, &["abort", jn.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("drop or empty the target tables"),
        "{}",
        text(&out)
    );
    let _ = n.wait_with_output().unwrap();
    assert_eq!(
        phase(&pair.target, &name("n")).await.as_deref(),
        Some("aborted")
    );

    // A purged (never existing) file position is a clear, immediate error.
    let jp = write_job(
        home,
        "p.toml",
        &job(&name("p"), "f", "binlog:binlog.999999:4"),
    );
    let out = ferry(home, &["run", jp.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // The precheck stops it before anything runs, naming the position.
    assert!(
        text(&out).contains("binlog.start_position")
            && text(&out).contains("binlog.999999 is not on the source"),
        "{}",
        text(&out)
    );

    // A DDL the target refuses stops the job with the statement and the choices;
    // `ferry ddl replace` runs an edited statement instead and the sync goes on.
    pair.target
        .sql(&format!(
            "CREATE DATABASE `{db}_d`; CREATE TABLE `{db}_d`.t (id INT PRIMARY KEY); INSERT INTO `{db}_d`.t VALUES (1), (2), (3);"
        ))
        .await;
    let jd = write_job(home, "d.toml", &job(&name("d"), "d", "now"));
    let mut d = spawn_run(home, &jd);
    let nd = name("d");
    wait_for("the ddl job to sync", &mut d, async || {
        phase(target, &nd).await.as_deref() == Some("sync")
    })
    .await;
    pair.source
        .sql(&format!(
            "ALTER TABLE `{db}`.t CHANGE v v2 VARCHAR(20); INSERT INTO `{db}`.t VALUES (4, 'four');"
        ))
        .await;
    let refused = d.wait_with_output().unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("replicate.ddl_failed")
            && text(&refused).contains("CHANGE v v2")
            && text(&refused).contains("ferry ddl skip"),
        "{}",
        text(&refused)
    );
    // The refused statement waits for a decision: status shows it, and the
    // precheck before a resume names it instead of letting the run stop again.
    let out = ferry(home, &["status", jd.to_str().unwrap(), "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        status["pending_ddl"]["statement"]
            .as_str()
            .is_some_and(|s| s.contains("CHANGE v v2")),
        "{status}"
    );
    let out = ferry(home, &["precheck", jd.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "target.pending_ddl")
        .cloned();
    assert_eq!(
        check.as_ref().map(|c| c["status"].clone()),
        Some(serde_json::json!("warn")),
        "{report}"
    );
    let out = ferry(
        home,
        &[
            "ddl",
            "replace",
            jd.to_str().unwrap(),
            "ALTER TABLE t ADD COLUMN v2 VARCHAR(20)",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut d = spawn_run(home, &jd);
    let td = format!("`{db}_d`.t");
    wait_rows(&mut d, &pair.target, &td, &[1, 2, 3, 4]).await;
    let v2: Vec<Option<String>> = pair
        .target
        .query(&format!("SELECT v2 FROM `{db}_d`.t WHERE id = 4"))
        .await;
    assert_eq!(v2, vec![Some("four".to_string())]);
    let _ = d.kill();
    let _ = d.wait();

    // A standby never completes.
    let js = write_job(
        home,
        "s.toml",
        &format!("{}cutover = \"never\"\n", job(&name("s"), "f", "now")),
    );
    let out = ferry(home, &["complete", js.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("job.standby"), "{}", text(&out));

    // A missing target table: the job starts (as DM's tasks do; the precheck
    // warns), and the first change to it stops the sync, naming it.
    let jm = write_job(home, "m.toml", &job(&name("m"), "missing", "now"));
    let mut m = spawn_run(home, &jm);
    let nm = name("m");
    wait_for("the job with a missing table to sync", &mut m, async || {
        phase(target, &nm).await.as_deref() == Some("sync")
    })
    .await;
    pair.source
        .sql(&format!("INSERT INTO `{db}`.t VALUES (5, 'five')"))
        .await;
    let stopped = m.wait_with_output().unwrap();
    assert_eq!(stopped.status.code(), Some(1), "{}", text(&stopped));
    assert!(
        text(&stopped).contains("replicate.no_target_table")
            && text(&stopped).contains(&format!("{db}_missing.t")),
        "{}",
        text(&stopped)
    );
}

/// Every type of the copy's torture schema, inserted, updated and deleted while
/// syncing (the binlog path decodes each differently from the copy path).
#[tokio::test]
async fn every_type_survives_the_binlog() {
    every_type_case(&[]).await;
}

/// The same, with every batch of a plain table's final rows written by LOAD DATA
/// (the path a backlog takes from 128 rows).
#[tokio::test]
async fn every_type_survives_the_binlog_when_loaded() {
    every_type_case(&[("FERRY_APPLY_LOAD_FROM", "1")]).await;
}

/// The same, written by prepared multi-row statements, as into MySQL near the
/// target (the default into MariaDB is bulk executes).
#[tokio::test]
async fn every_type_survives_the_binlog_without_bulk_executes() {
    every_type_case(&[("FERRY_APPLY_BULK", "0")]).await;
}

async fn every_type_case(env: &[(&str, &str)]) {
    use support::torture::{TORTURE, TORTURE_TABLES};
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("tsync_");
    let seed = format!("{db}_seed");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{seed}`; USE `{seed}`; {TORTURE}"
        ))
        .await;
    let mut create = format!("CREATE DATABASE `{db}`; USE `{db}`;");
    for t in TORTURE_TABLES {
        create.push_str(&format!("CREATE TABLE `{t}` LIKE `{seed}`.`{t}`;"));
    }
    pair.source.sql(&create).await;
    let name = format!("tsync-{}", db.replace('_', "-"));
    let job = home.path().join("job.toml");
    all_job(&job, &pair, &name, &db, "");
    let mut child = support::job::spawn_run_with(home.path(), &job, env);
    let target = &pair.target;
    wait_for("the sync phase", &mut child, async || {
        phase(target, &name).await.as_deref() == Some("sync")
    })
    .await;
    let mut writes =
        format!("USE `{db}`; SET SESSION sql_mode = ''; SET SESSION time_zone = '-07:00';");
    for t in TORTURE_TABLES {
        let cols = if *t == "gen" {
            "(id, a, b, hidden)"
        } else {
            ""
        };
        let select = if *t == "gen" { "id, a, b, hidden" } else { "*" };
        writes.push_str(&format!(
            "INSERT INTO `{t}` {cols} SELECT {select} FROM `{seed}`.`{t}`;"
        ));
    }
    writes.push_str(
        "UPDATE ints SET bu = bu - 1, b64 = b'0101', tu = 254 WHERE id = 1;
         UPDATE strs SET e = 'a', st = 'y,z', j = '{\"k\": 1}', vb = x'00' WHERE id = 'emoji';
         UPDATE times SET ts = '2001-02-03 04:05:06.789', t = '-12:34:56.5' WHERE id = 1;
         UPDATE nums SET d = -d WHERE id = 7;
         UPDATE composite SET b = 'moved' WHERE a = 1 AND b = 'a';
         DELETE FROM geo WHERE id = 2;
         DELETE FROM nokey WHERE msg = 'dup' LIMIT 1;
         UPDATE gen SET a = 100 WHERE id = 1;",
    );
    pair.source.sql(&writes).await;
    for t in TORTURE_TABLES {
        wait_for(&format!("{t} to match"), &mut child, async || {
            same_rows(&pair, &db, t).await
        })
        .await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A write load runs the whole time while Ferry is killed (SIGKILL) at
/// pseudo-random moments and restarted; once the load stops, the target equals
/// the source row for row, and `ferry complete` verifies it.
#[tokio::test]
async fn kills_at_random_moments_under_load_lose_nothing() {
    use mysql_async::prelude::Queryable;
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("load_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`;
             CREATE TABLE acc (id INT PRIMARY KEY, v BIGINT NOT NULL, note VARCHAR(40));
             INSERT INTO acc SELECT seq, seq, CONCAT('r', seq) FROM seq_1_to_3000;
             CREATE TABLE u (id INT PRIMARY KEY, code INT NOT NULL, UNIQUE KEY (code));
             INSERT INTO u SELECT seq, seq FROM seq_1_to_200;
             CREATE TABLE log (x INT, y VARCHAR(10));"
        ))
        .await;
    let name = format!("load-{}", db.replace('_', "-"));
    let job = home.path().join("job.toml");
    all_job(
        &job,
        &pair,
        &name,
        &db,
        "[incremental]\napply_workers = 3\n",
    );

    // The load: small transactions mixing updates, moves of the key, deletes and
    // inserts, swaps of a unique value between rows, and keyless rows.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // DDL waits for the sync: during the copy it would queue behind the snapshot's
    // metadata locks and block the copy's next reads (and itself) indefinitely.
    let syncing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let syncing = syncing.clone();
        let mut conn = pair.source.conn().await;
        let db = db.clone();
        tokio::spawn(async move {
            let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut next = move |n: u64| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 33) % n
            };
            let mut fresh = 10_000;
            let mut i = 0u64;
            let mut ddl_done = false;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let a = next(3000) + 1;
                let b = next(200) + 1;
                // A different row to swap unique codes with.
                let c = (b + next(199)) % 200 + 1;
                fresh += 1;
                let sql = format!(
                    "USE `{db}`; START TRANSACTION;
                     UPDATE acc SET v = v + 1, note = NULL WHERE id = {a};
                     INSERT INTO acc (id, v, note) VALUES ({fresh}, {i}, 'new') ON DUPLICATE KEY UPDATE v = v + 1;
                     DELETE FROM acc WHERE id = {};
                     UPDATE acc SET id = {} WHERE id = {};
                     SELECT code INTO @cb FROM u WHERE id = {b};
                     SELECT code INTO @cc FROM u WHERE id = {c};
                     UPDATE u SET code = -1 WHERE id = {b};
                     UPDATE u SET code = @cb WHERE id = {c};
                     UPDATE u SET code = @cc WHERE id = {b};
                     INSERT INTO log VALUES ({}, 'x');
                     COMMIT;",
                    next(3000) + 1,
                    fresh + 100_000,
                    next(3000) + 1,
                    i % 7,
                );
                conn.query_drop(sql).await.unwrap();
                if i >= 150 && !ddl_done && syncing.load(std::sync::atomic::Ordering::Relaxed) {
                    ddl_done = true;
                    // DDL in the middle of the load.
                    conn.query_drop(format!(
                        "ALTER TABLE `{db}`.acc ADD COLUMN extra INT NOT NULL DEFAULT 7; CREATE INDEX k_v ON `{db}`.acc (v)"
                    ))
                    .await
                    .unwrap();
                }
                if i % 5 == 0 {
                    conn.query_drop(format!(
                        "DELETE FROM `{db}`.log WHERE x = {} LIMIT 1",
                        i % 7
                    ))
                    .await
                    .unwrap();
                }
            }
            (i, ddl_done)
        })
    };

    let target = &pair.target;
    let mut child = spawn_run(home.path(), &job);
    wait_for("the sync phase", &mut child, async || {
        phase(target, &name).await.as_deref() == Some("sync")
    })
    .await;
    syncing.store(true, std::sync::atomic::Ordering::Relaxed);
    for delay_ms in [700u64, 150, 1100, 400] {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        child = spawn_run(home.path(), &job);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (transactions, ddl_done) = writer.await.unwrap();
    assert!(
        transactions > 150,
        "the load ran ({transactions} transactions)"
    );
    assert!(ddl_done, "the DDL ran during the sync");
    for table in ["acc", "u"] {
        wait_for(&format!("{table} to match"), &mut child, async || {
            same_rows(&pair, &db, table).await
        })
        .await;
    }
    let sorted =
        |d: String| format!("SELECT x, y, COUNT(*) FROM `{d}`.log GROUP BY x, y ORDER BY x, y");
    wait_for("log to match", &mut child, async || {
        let a: Vec<(i64, String, u64)> = pair.source.query(&sorted(db.clone())).await;
        let b: Vec<(i64, String, u64)> = pair.target.query(&sorted(format!("{db}_s"))).await;
        a == b
    })
    .await;
    // Cut over from another process: catches up, verifies, ends the run.
    let out = ferry(home.path(), &["complete", job.to_str().unwrap()]);
    let run = child.wait_with_output().unwrap();
    let all = format!(
        "complete: {}{}\nrun: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert_eq!(run.status.code(), Some(0), "{all}");
    assert!(
        all.contains("verified") || all.contains("equal") || all.contains("completed"),
        "{all}"
    );
}

/// `[[incremental.filters]]` leave out the named row changes and DDL.
#[tokio::test]
async fn filters_leave_out_events() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let db = support::unique("filt_");
    let table = "CREATE TABLE ft (id INT PRIMARY KEY, v INT)";
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`; {table}; CREATE TABLE other (id INT PRIMARY KEY);"
        ))
        .await;
    pair.target
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`; {table}; CREATE TABLE other (id INT PRIMARY KEY);"
        ))
        .await;
    let name = format!("filt-{}", db.replace('_', "-"));
    let job = write_job(
        home,
        "filt.toml",
        &format!(
            "name = \"{name}\"\nmode = \"incremental\"\n[source]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n[target]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n[objects]\ninclude = [\"{db}.*\"]\n[incremental]\nstart = \"now\"\n[[incremental.filters]]\ntables = [\"{db}.ft\"]\nevents = [\"delete\", \"truncate table\"]\n[[incremental.filters]]\nsql = [\"INDEX\\\\s+kv\"]\n",
            pair.source.port, pair.target.port
        ),
    );
    let mut child = spawn_run(home, &job);
    let target = &pair.target;
    wait_for("the sync phase", &mut child, async || {
        phase(target, &name).await.as_deref() == Some("sync")
    })
    .await;
    pair.source
        .sql(&format!(
            "USE `{db}`; INSERT INTO ft VALUES (1, 1), (2, 2); DELETE FROM ft WHERE id = 1;
             TRUNCATE ft; CREATE INDEX kv ON ft (v); INSERT INTO ft VALUES (3, 3);
             INSERT INTO other VALUES (1), (2); DELETE FROM other WHERE id = 1;"
        ))
        .await;
    let t = format!("`{db}`.ft");
    wait_rows(&mut child, &pair.target, &t, &[1, 2, 3]).await;
    // Other tables are not filtered.
    wait_rows(&mut child, &pair.target, &format!("`{db}`.other"), &[2]).await;
    let idx: Vec<u64> = pair
        .target
        .query(&format!(
            "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '{db}' AND INDEX_NAME = 'kv'"
        ))
        .await;
    assert_eq!(idx, vec![0]);
    let _ = child.kill();
    let _ = child.wait();
}

async fn chunks_done(target: &Server, job: &str) -> (u64, u64) {
    // (0, 0) until the job has created its meta schema.
    let rows: Vec<(Option<u64>, u64)> = target
        .try_query(&format!(
            "SELECT CAST(SUM(done) AS UNSIGNED), COUNT(*) FROM ferry_meta.chunks WHERE job = '{job}'"
        ))
        .await
        .unwrap_or_default();
    rows.first().map_or((0, 0), |&(d, n)| (d.unwrap_or(0), n))
}

/// Waits for `child` to exit within `secs`; its exit code and output.
fn exits_within(mut child: Child, secs: u64, what: &str) -> (Option<i32>, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "ferry kept running {secs} s after {what}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), all)
}

/// Pause (from another process and by Ctrl-C) and abort reach a job that is still
/// copying: it stops after the chunks in flight, not once the whole copy is done,
/// and a later run resumes the copy from its marks and ends equal.
#[tokio::test]
async fn pause_and_abort_reach_a_job_during_its_copy() {
    let pair = support::pair();
    let db = support::unique("copystop_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`;
             CREATE TABLE t (id INT PRIMARY KEY, body VARCHAR(200));
             INSERT INTO t SELECT seq, REPEAT('c', 200) FROM seq_1_to_150000; ANALYZE TABLE t;"
        ))
        .await;
    let home = tempfile::tempdir().unwrap();
    // Small chunks copied by one writer: the copy takes long enough to be stopped.
    let extra = "[options]\nchunk_bytes = 16384\nimport_threads = 1\nexport_threads = 1\n";
    let name = format!("{db}_job");
    let job = home.path().join("job.toml");
    all_job(&job, &pair, &name, &db, extra);
    let job_arg = job.to_str().unwrap();

    let started = async |child: &mut Child| {
        wait_for("the first chunks", child, async || {
            chunks_done(&pair.target, &name).await.0 >= 2
        })
        .await;
    };

    // `ferry pause` from another process.
    let mut child = spawn_run(home.path(), &job);
    started(&mut child).await;
    let out = ferry(home.path(), &["pause", job_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (code, all) = exits_within(child, 20, "ferry pause");
    assert_eq!(code, Some(0), "{all}");
    let (done, total) = chunks_done(&pair.target, &name).await;
    assert!(
        done < total,
        "the copy ran to its end ({done}/{total}): {all}"
    );
    assert_eq!(phase(&pair.target, &name).await.as_deref(), Some("copy"));
    assert!(text(&out).contains("paused"), "{}", text(&out));

    // Ctrl-C during the copy.
    let mut child = spawn_run(home.path(), &job);
    let before = done;
    wait_for("more chunks", &mut child, async || {
        chunks_done(&pair.target, &name).await.0 >= before + 2
    })
    .await;
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let (code, all) = exits_within(child, 20, "Ctrl-C");
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains("paused"), "{all}");
    let (done, total) = chunks_done(&pair.target, &name).await;
    assert!(
        before < done && done < total,
        "{before} → {done}/{total}: {all}"
    );
    assert_eq!(phase(&pair.target, &name).await.as_deref(), Some("copy"));

    // The next run resumes the copy and follows the binlog; rows are equal.
    let mut child = spawn_run(home.path(), &job);
    support::job::wait_sync(&mut child, &pair.target, &name).await;
    support::job::wait_equal(&mut child, &pair, &db).await;
    let out = ferry(home.path(), &["pause", job_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    exits_within(child, 30, "ferry pause in the sync");

    // `ferry abort` during the copy of a second job.
    let name2 = format!("{db}_two");
    let job2 = home.path().join("two.toml");
    all_job(&job2, &pair, &name2, &db, extra);
    std::fs::write(
        &job2,
        std::fs::read_to_string(&job2)
            .unwrap()
            .replace(&format!("to = \"{db}_s.*\""), &format!("to = \"{db}_t.*\"")),
    )
    .unwrap();
    let mut child = spawn_run(home.path(), &job2);
    wait_for("the second job's first chunks", &mut child, async || {
        chunks_done(&pair.target, &name2).await.0 >= 2
    })
    .await;
    let out = ferry(home.path(), &["abort", job2.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (_, all) = exits_within(child, 20, "ferry abort");
    let (done, total) = chunks_done(&pair.target, &name2).await;
    assert!(
        done < total,
        "the copy ran to its end ({done}/{total}): {all}"
    );
    assert_eq!(
        phase(&pair.target, &name2).await.as_deref(),
        Some("aborted")
    );
}

/// A source that denies FLUSH TABLES WITH READ LOCK (an account without RELOAD, as
/// on RDS, Aurora, Cloud SQL, Azure, Alibaba RDS): `auto` copies chunked — no lock,
/// no long transaction — while a load moves keys, swaps unique values between
/// rows and writes a keyless table; the copy is killed several times and so is the
/// catch-up. Source and target end equal, compared without Ferry (ordered rows and
/// CHECKSUM TABLE), and the unique key held back during the catch-up is there.
#[tokio::test]
async fn a_chunked_copy_without_reload_converges_under_load_and_kills() {
    use mysql_async::prelude::Queryable;
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("chunk_");
    let user = format!("{db}_rds");
    // CI copies one `acc` table of 60 000 rows; the acceptance run sets, e.g.,
    // FERRY_CHUNKED_TABLES=8 FERRY_CHUNKED_ROWS=125000 (1 M rows), with
    // FERRY_CHUNKED_CHUNK_BYTES=1048576.
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (accs, rows) = (
        env("FERRY_CHUNKED_TABLES", 1),
        env("FERRY_CHUNKED_ROWS", 60_000),
    );
    let acc = |k: u64| format!("acc{k}");
    let create: String = (1..=accs)
        .map(|k| {
            format!(
                "CREATE TABLE {0} (id INT PRIMARY KEY, v BIGINT NOT NULL, note VARCHAR(200));
                 INSERT INTO {0} SELECT seq, seq, REPEAT('r', 150) FROM seq_1_to_{rows};
                 ANALYZE TABLE {0};",
                acc(k)
            )
        })
        .collect();
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`; {create}
             CREATE TABLE u (id INT PRIMARY KEY, code INT NOT NULL, pad VARCHAR(200), UNIQUE KEY code (code));
             INSERT INTO u SELECT seq, seq, REPEAT('p', 180) FROM seq_1_to_20000;
             CREATE TABLE log (x INT, y VARCHAR(10));
             INSERT INTO log SELECT seq % 7, 'seed' FROM seq_1_to_300;
             ANALYZE TABLE u, log;
             CREATE USER '{user}'@'%';
             GRANT SELECT, LOCK TABLES, SHOW VIEW ON `{db}`.* TO '{user}'@'%';
             GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{user}'@'%';"
        ))
        .await;
    let (name, job) = chunked_job(home.path(), &pair, &db, &user);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut conn = pair.source.conn().await;
        let db = db.clone();
        tokio::spawn(async move {
            let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
            let mut next = move |n: u64| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 33) % n
            };
            // Above every seeded id, and moved keys above every fresh one.
            let mut fresh = 10_000_000;
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                fresh += 1;
                // Rows far apart, in chunks read at different moments.
                let b = next(20000) + 1;
                let c = (b + 5000 + next(10000)) % 20000 + 1;
                let acc = format!("acc{}", next(accs) + 1);
                let sql = format!(
                    "USE `{db}`; START TRANSACTION;
                     UPDATE {acc} SET v = v + 1, note = NULL WHERE id = {};
                     INSERT INTO {acc} (id, v, note) VALUES ({fresh}, {i}, 'new');
                     DELETE FROM {acc} WHERE id = {};
                     UPDATE {acc} SET id = {} WHERE id = {};
                     SELECT code INTO @cb FROM u WHERE id = {b};
                     SELECT code INTO @cc FROM u WHERE id = {c};
                     UPDATE u SET code = -1 WHERE id = {b};
                     UPDATE u SET code = @cb WHERE id = {c};
                     UPDATE u SET code = @cc WHERE id = {b};
                     INSERT INTO log VALUES ({}, 'x');
                     COMMIT;",
                    next(rows) + 1,
                    next(rows) + 1,
                    fresh + 50_000_000,
                    next(rows) + 1,
                    i % 7,
                );
                conn.query_drop(sql).await.unwrap();
                if i % 5 == 0 {
                    conn.query_drop(format!(
                        "DELETE FROM `{db}`.log WHERE x = {} LIMIT 1",
                        i % 7
                    ))
                    .await
                    .unwrap();
                }
            }
            i
        })
    };

    let target = &pair.target;
    let mut child = spawn_run(home.path(), &job);
    // Killed three times while it copies (a fifth more of it done each time, at
    // least a chunk: with few chunks a fifth more may not fit before the end)…
    let mut before = 0;
    for _ in 0..3 {
        wait_for("a chunk copied", &mut child, async || {
            let (done, all) = chunks_done(target, &name).await;
            // All done between two looks, after a kill already: on to the
            // catch-up.
            (done >= before + (all / 5).max(1) && done < all) || (before > 0 && done == all)
        })
        .await;
        child.kill().unwrap();
        child.wait().unwrap();
        let (done, all) = chunks_done(target, &name).await;
        before = done;
        if done + 1 >= all {
            // No chunk left to be killed in the middle of.
            break;
        }
        child = spawn_run(home.path(), &job);
    }
    if child.try_wait().unwrap().is_some() {
        child = spawn_run(home.path(), &job);
    }
    // …and twice in its catch-up.
    wait_for("the sync phase", &mut child, async || {
        phase(target, &name).await.as_deref() == Some("sync")
    })
    .await;
    for delay_ms in [300u64, 900] {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        child = spawn_run(home.path(), &job);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let transactions = writer.await.unwrap();
    assert!(
        transactions > 50,
        "the load ran ({transactions} transactions)"
    );
    let mut keyed: Vec<String> = (1..=accs).map(acc).collect();
    keyed.push("u".into());
    for table in &keyed {
        wait_for(&format!("{table} to match"), &mut child, async || {
            same_rows(&pair, &db, table).await
        })
        .await;
    }
    let sorted =
        |d: String| format!("SELECT x, y, COUNT(*) FROM `{d}`.log GROUP BY x, y ORDER BY x, y");
    wait_for("log to match", &mut child, async || {
        let a: Vec<(i64, String, u64)> = pair.source.query(&sorted(db.clone())).await;
        let b: Vec<(i64, String, u64)> = pair.target.query(&sorted(format!("{db}_s"))).await;
        a == b
    })
    .await;
    keyed.push("log".into());
    for table in &keyed {
        let a: Vec<(String, Option<u64>)> = pair
            .source
            .query(&format!("CHECKSUM TABLE `{db}`.`{table}`"))
            .await;
        let b: Vec<(String, Option<u64>)> = pair
            .target
            .query(&format!("CHECKSUM TABLE `{db}_s`.`{table}`"))
            .await;
        assert_eq!(a[0].1, b[0].1, "CHECKSUM TABLE {table}");
    }
    // The unique key held back until the catch-up is on the target now.
    let mut keys: Vec<String> = pair
        .target
        .query(&format!(
            "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '{db}_s' AND TABLE_NAME = 'u' AND NON_UNIQUE = 0 ORDER BY INDEX_NAME"
        ))
        .await;
    keys.sort();
    assert_eq!(keys, vec!["PRIMARY".to_string(), "code".to_string()]);
    let log = text(&ferry(home.path(), &["log", job.to_str().unwrap()]));
    assert!(log.contains("(chunked; writes blocked 0 ms)"), "{log}");
    let _ = child.kill();
    let _ = child.wait();
    pair.source.sql(&format!("DROP USER '{user}'@'%'")).await;
}

/// A job of `db` whose source account is `user` (no RELOAD): `auto` copies
/// chunked, in small chunks.
fn chunked_job(
    home: &std::path::Path,
    pair: &support::Pair,
    db: &str,
    user: &str,
) -> (String, std::path::PathBuf) {
    let name = format!("chunk-{}", db.replace('_', "-"));
    let job = home.join("job.toml");
    all_job(
        &job,
        pair,
        &name,
        db,
        &format!(
            "[options]\nchunk_bytes = {}\nexport_threads = 2\nimport_threads = 2\n",
            std::env::var("FERRY_CHUNKED_CHUNK_BYTES").unwrap_or_else(|_| "32768".into())
        ),
    );
    let body = std::fs::read_to_string(&job).unwrap().replacen(
        "user = \"root\"",
        &format!("user = \"{user}\""),
        1,
    );
    std::fs::write(&job, body).unwrap();
    (name, job)
}

/// A DDL that lands while a chunked copy reads the table (here: between a killed
/// run and the run that finishes the copy) is never followed silently: the sync
/// stops naming the table and the statement.
#[tokio::test]
async fn a_ddl_during_a_chunked_copy_stops_naming_the_table() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("chddl_");
    let user = format!("{db}_rds");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`;
             CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(200));
             INSERT INTO t SELECT seq, REPEAT('v', 150) FROM seq_1_to_40000;
             ANALYZE TABLE t;
             CREATE USER '{user}'@'%';
             GRANT SELECT, SHOW VIEW ON `{db}`.* TO '{user}'@'%';
             GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{user}'@'%';"
        ))
        .await;
    let (name, job) = chunked_job(home.path(), &pair, &db, &user);
    let mut child = spawn_run(home.path(), &job);
    wait_for("a chunk copied", &mut child, async || {
        let (done, all) = chunks_done(&pair.target, &name).await;
        done > 0 && done < all
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    // The table changed between the runs: the resumed copy stops naming it.
    pair.source
        .sql(&format!(
            "ALTER TABLE `{db}`.t ADD COLUMN w INT NOT NULL DEFAULT 3"
        ))
        .await;
    let (code, out) = exits_within(spawn_run(home.path(), &job), 90, "the resumed copy");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("snapshot.table_changed")
            && out.contains(&format!(
                "{db}.t changed on the source since its copy began: its columns are now id, v, w, the target's copy has id, v"
            )),
        "{out}"
    );
    // Changed back, the copy goes on; the sync then meets the change inside the
    // copy's reads and stops naming it.
    pair.source
        .sql(&format!("ALTER TABLE `{db}`.t DROP COLUMN w"))
        .await;
    let (code, out) = exits_within(spawn_run(home.path(), &job), 90, "the DDL during the copy");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("replicate.ddl_during_copy")
            && out.contains(&format!("{db}.t changed while the chunked copy read it"))
            && out.contains("ADD COLUMN w INT NOT NULL DEFAULT 3"),
        "{out}"
    );
    pair.source.sql(&format!("DROP USER '{user}'@'%'")).await;
}

/// `consistency = "lock"` on InnoDB tables locks them only while the readers'
/// snapshot opens: the application writes on during the copy (it waited for the
/// whole copy), and the sync brings those writes over.
#[tokio::test]
async fn a_lock_snapshot_of_innodb_tables_lets_writes_go_on_during_the_copy() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("lock_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`;
             CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(200));
             INSERT INTO t SELECT seq, REPEAT('v', 150) FROM seq_1_to_60000;
             ANALYZE TABLE t;"
        ))
        .await;
    let name = format!("lock-{}", db.replace('_', "-"));
    let job = home.path().join("job.toml");
    all_job(
        &job,
        &pair,
        &name,
        &db,
        "[options]\nconsistency = \"lock\"\nchunk_bytes = 16384\nexport_threads = 2\nimport_threads = 2\n",
    );
    let mut child = spawn_run(home.path(), &job);
    // The copy takes about a second here: looked for every 10 ms, then held (its
    // chunk marks locked on the target) so that it cannot end before the write
    // below has had its chance to wait for the source's lock.
    use mysql_async::prelude::Queryable;
    support::job::wait_for_every(
        Duration::from_millis(10),
        "a chunk copied",
        &mut child,
        async || chunks_done(&pair.target, &name).await.0 > 0,
    )
    .await;
    let mut hold = pair.target.conn().await;
    hold.query_drop("BEGIN").await.unwrap();
    let marks: Vec<u8> = hold
        .exec(
            "SELECT done FROM ferry_meta.chunks WHERE job = ? FOR UPDATE",
            (&name,),
        )
        .await
        .unwrap();
    let held_done = marks.iter().filter(|&&d| d != 0).count();
    assert!(
        held_done < marks.len(),
        "the copy ended before it could be held"
    );
    // A write that would wait for the copy's end gives up after a second.
    let mut conn = pair.source.conn().await;
    conn.query_drop("SET SESSION lock_wait_timeout = 1")
        .await
        .unwrap();
    let written = conn
        .query_drop(format!(
            "INSERT INTO `{db}`.t VALUES (0, 'during the copy')"
        ))
        .await;
    assert!(written.is_ok(), "a write during the copy: {written:?}");
    drop(conn);
    hold.query_drop("ROLLBACK").await.unwrap();
    drop(hold);
    wait_for("t to match", &mut child, async || {
        same_rows(&pair, &db, "t").await
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
}

/// A batch ends in one packet (its loads, the checkpoint, COMMIT): when a load in
/// it fails, nothing of the batch is committed — not the rows of the tables
/// loaded before it, not the checkpoint — and a run after the cause is fixed
/// applies the whole batch again.
#[tokio::test]
async fn a_batch_that_fails_part_way_commits_nothing() {
    use mysql_async::prelude::Queryable;
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("tpart_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`; CREATE TABLE a (id INT PRIMARY KEY, v INT); \
             CREATE TABLE b (id INT PRIMARY KEY, v INT); INSERT INTO a VALUES (1, 1); INSERT INTO b VALUES (1, 1)"
        ))
        .await;
    let name = format!("tpart-{}", db.replace('_', "-"));
    let job = home.path().join("job.toml");
    // One applier, as near the target: under load a loopback round trip can
    // measure as a distance, where parallel workers commit each table's rows
    // on their own (final states, written again by the resumed run).
    all_job(
        &job,
        &pair,
        &name,
        &db,
        "[incremental]\napply_workers = 1\n",
    );
    // Every row by load, so both tables' rows are in the batch's last packet.
    let env = [("FERRY_APPLY_LOAD_FROM", "1")];
    let mut child = support::job::spawn_run_with(home.path(), &job, &env);
    support::job::wait_sync(&mut child, &pair.target, &name).await;
    // The GTID sequence number the job's checkpoint has reached in `domain`.
    // (None yet when nothing reached the sync: run alone, the source is idle.)
    let checkpoint = async |domain: &str| -> u64 {
        let json: Vec<Option<String>> = pair
            .target
            .query(&format!(
                "SELECT sync_position FROM ferry_meta.jobs WHERE job = '{name}'"
            ))
            .await;
        let Some(json) = json[0].as_deref() else {
            return 0;
        };
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        v["gtid"]
            .as_str()
            .unwrap_or_default()
            .split(',')
            .filter_map(|g| g.trim().rsplit_once('-'))
            .filter(|(head, _)| head.split('-').next() == Some(domain))
            .map(|(_, seq)| seq.parse::<u64>().unwrap())
            .max()
            .unwrap_or(0)
    };
    // The load of `b` fails: its table is gone on the target.
    pair.target.sql(&format!("DROP TABLE `{db}_s`.b")).await;
    // One source transaction, and its GTID (other tests write to the same source,
    // so positions around it move on; the checkpoint must stay before it).
    let mut conn = pair.source.conn().await;
    conn.query_drop(format!(
        "USE `{db}`; START TRANSACTION; INSERT INTO a VALUES (2, 2); INSERT INTO b VALUES (2, 2); COMMIT"
    ))
    .await
    .unwrap();
    let gtid: String = conn
        .query_first("SELECT @@last_gtid")
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    let (ours, seq) = gtid.rsplit_once('-').unwrap();
    let (domain, seq) = (
        ours.split('-').next().unwrap().to_string(),
        seq.parse::<u64>().unwrap(),
    );
    let (code, out) = exits_within(child, 60, "the failed batch");
    assert_ne!(code, Some(0), "{out}");
    let a: Vec<u32> = pair
        .target
        .query(&format!("SELECT id FROM `{db}_s`.a ORDER BY id"))
        .await;
    assert_eq!(a, vec![1], "a row of the failed batch was committed: {out}");
    assert!(
        checkpoint(&domain).await < seq,
        "the checkpoint passed the failed batch ({gtid}): {out}"
    );
    // Fixed, the batch is applied again, whole.
    pair.target
        .sql(&format!(
            "CREATE TABLE `{db}_s`.b (id INT PRIMARY KEY, v INT); INSERT INTO `{db}_s`.b VALUES (1, 1)"
        ))
        .await;
    let mut child = support::job::spawn_run_with(home.path(), &job, &env);
    for t in ["a", "b"] {
        wait_for(&format!("{t} to match"), &mut child, async || {
            same_rows(&pair, &db, t).await
        })
        .await;
    }
    let _ = child.kill();
    let _ = child.wait();
}
