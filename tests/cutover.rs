//! The cutover as production meets it: a source whose binlog ends with a rotation
//! (FLUSH BINARY LOGS, a restart) and nothing after it; an application that keeps
//! writing after the operator asked for the cutover. Each run is compared without
//! Ferry (ordered rows and CHECKSUM TABLE).

mod support;

use std::time::{Duration, Instant};

use support::job::*;
use support::Pair;

/// `ferry status --json`'s live sync part (null while none is stored).
fn live(home: &std::path::Path, job: &std::path::Path) -> serde_json::Value {
    let out = ferry(home, &["status", "--json", job.to_str().unwrap()]);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("status: {}", text(&out)));
    v["live"].clone()
}

/// Runs `ferry ARGS`, killing it after `limit`: its output, exit code (None when
/// killed) and how long it took. Waits without blocking the test's other tasks.
async fn ferry_within(
    home: &std::path::Path,
    args: &[&str],
    limit: Duration,
) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let mut child = ferry_cmd(home, args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while started.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            let took = started.elapsed();
            let (code, out) = finish(child);
            return (code, out, took);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let (_, out) = finish(child);
    (None, out, started.elapsed())
}

/// The source's current binlog file.
async fn source_file(pair: &Pair) -> String {
    let rows: Vec<mysql_async::Row> = pair.source.query("SHOW MASTER STATUS").await;
    rows[0].get::<String, _>(0).unwrap()
}

/// After a rotation with nothing written after it — `FLUSH BINARY LOGS` once,
/// twice, and a source killed and started again — `ferry complete` finishes
/// within 5 s (it waited for ever: the applied position stayed at the end of the
/// old file while the source reported one in the new file).
#[tokio::test]
async fn complete_finishes_when_the_binlog_ends_with_a_rotation() {
    // A pair of its own: the source is restarted.
    let mut pair = Pair::start();
    for shape in ["flush", "two_flushes", "restart"] {
        let home = tempfile::tempdir().unwrap();
        let db = format!("cut_{shape}");
        let name = db.replace('_', "-");
        pair.source
            .sql(&format!(
                "CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(40)); INSERT INTO {db}.t VALUES (1, 'copied')"
            ))
            .await;
        let job = home.path().join("job.toml");
        all_job(&job, &pair, &name, &db, "");
        let mut child = spawn_run(home.path(), &job);
        wait_sync(&mut child, &pair.target, &name).await;
        pair.source
            .sql(&format!("INSERT INTO {db}.t VALUES (2, 'synced')"))
            .await;
        wait_equal(&mut child, &pair, &db).await;
        match shape {
            "flush" => pair.source.sql("FLUSH BINARY LOGS").await,
            "two_flushes" => {
                pair.source
                    .sql("FLUSH BINARY LOGS; FLUSH BINARY LOGS")
                    .await
            }
            _ => {
                // While the source is down the status says so: retrying since
                // when and why, lag and backlog unknown (never 0), not synced.
                pair.source.stop(true);
                wait_for(
                    "the sync to report the lost source",
                    &mut child,
                    async || {
                        let l = live(home.path(), &job);
                        l["health"] == "retrying" && l["retry"].is_string()
                    },
                )
                .await;
                let l = live(home.path(), &job);
                assert!(l["lag_secs"].is_null(), "{l}");
                assert!(l["behind_bytes"].is_null(), "{l}");
                assert_eq!(l["synced"], false, "{l}");
                assert!(l["health_since"].as_f64().is_some(), "{l}");
                let out = ferry(home.path(), &["status", job.to_str().unwrap()]);
                assert!(text(&out).contains("lag unknown"), "{}", text(&out));
                pair.source.start_again();
            }
        }
        // The sync is connected to the source as it is now (after a restart it
        // reconnects by itself): its live status names the source's new file.
        let file = source_file(&pair).await;
        wait_for(
            "the sync to see the source's new file",
            &mut child,
            async || {
                let l = live(home.path(), &job);
                l["source"]["file"].as_str() == Some(file.as_str())
                    && l["retry"].is_null()
                    && l["health"] == "streaming"
            },
        )
        .await;
        let (code, out, took) = ferry_within(
            home.path(),
            &["complete", job.to_str().unwrap()],
            Duration::from_secs(30),
        )
        .await;
        if code != Some(0) {
            let _ = child.kill();
        }
        let run = finish(child);
        assert_eq!(code, Some(0), "{shape}: complete: {out}\nrun: {run:?}");
        assert!(
            took < Duration::from_secs(5),
            "{shape}: complete took {took:?}: {out}"
        );
        assert_eq!(run.0, Some(0), "{shape}: {run:?}");
        compare_db(&pair, &db).await.unwrap();
    }
}

/// An application that keeps writing after the cutover was asked: `ferry complete`
/// refuses with the rows' count and table and the job goes on syncing; with
/// `--accept-late-writes` it completes and says what it accepted.
#[tokio::test]
async fn writes_after_the_drain_position_refuse_the_cutover() {
    let pair = support::pair();
    let mut s = synced(
        &pair,
        "late",
        |db| {
            format!(
                "CREATE DATABASE {db}; CREATE TABLE {db}.audit_log (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40)); CREATE TABLE {db}.quiet (id INT PRIMARY KEY); INSERT INTO {db}.quiet VALUES (1)"
            )
        },
        "",
    )
    .await;
    // The application: a row every 50 ms into audit_log.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let opts = pair.source.root_opts();
        let db = s.db.clone();
        tokio::spawn(async move {
            use mysql_async::prelude::Queryable;
            let mut conn = mysql_async::Conn::new(opts).await.unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                conn.query_drop(format!(
                    "INSERT INTO `{db}`.audit_log (v) VALUES ('still writing')"
                ))
                .await
                .unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let jp = s.job.to_str().unwrap().to_string();
    let (code, out, _) =
        ferry_within(s.home.path(), &["complete", &jp], Duration::from_secs(60)).await;
    // The application is stopped (its writes since the cutover was asked stay late
    // writes of that cutover).
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("cutover.late_writes"), "{out}");
    assert!(out.contains(&format!("{}.audit_log", s.db)), "{out}");
    assert!(
        !out.contains(".quiet"),
        "only written tables are named: {out}"
    );
    // Still syncing: the rows keep arriving.
    assert_eq!(phase(&pair.target, &s.name).await.as_deref(), Some("sync"));
    assert!(s.child.try_wait().unwrap().is_none(), "the run goes on");
    // Accepted: completes, and says what it accepted.
    let (code, out, _) = ferry_within(
        s.home.path(),
        &["complete", "--accept-late-writes", &jp],
        Duration::from_secs(60),
    )
    .await;
    let (run_code, run) = finish(s.child);
    assert_eq!(code, Some(0), "{out}\nrun: {run}");
    assert_eq!(run_code, Some(0), "{run}");
    assert!(
        run.contains("accepted:") && run.contains("audit_log"),
        "{run}"
    );
    assert_eq!(
        phase(&pair.target, &s.name).await.as_deref(),
        Some("completed")
    );
    compare_db(&pair, &s.db).await.unwrap();
}

/// Waits up to `secs` for `child` to exit: its code and output; kills it and
/// fails when it does not.
async fn exits_within(
    mut child: std::process::Child,
    secs: u64,
    what: &str,
) -> (Option<i32>, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return finish(child);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    panic!("{what}: still running after {secs} s: {:?}", finish(child));
}

/// A DDL whose object the target already has: defined the same (an index the DBA
/// built ahead) the sync goes on; defined otherwise (an index on other columns, a
/// column of another type) the sync stops with both definitions, the target left
/// as it was. Errors 1060/1061 used to pass as "already applied" whatever the
/// target held.
#[tokio::test]
async fn a_ddl_over_an_object_defined_otherwise_stops_with_both_definitions() {
    let pair = support::pair();
    let mut s = synced(
        &pair,
        "dup",
        |db| {
            format!(
                "CREATE DATABASE {db}; CREATE TABLE {db}.orders (id INT PRIMARY KEY, status VARCHAR(10), placed DATETIME); INSERT INTO {db}.orders VALUES (1, 'new', '2026-01-01')"
            )
        },
        "",
    )
    .await;
    let (db, t) = (s.db.clone(), format!("`{}_s`.orders", s.db));
    let jp = s.job.to_str().unwrap().to_string();
    // Built ahead on the target, the same index: the statement counts as applied.
    pair.target
        .sql(&format!("ALTER TABLE {t} ADD INDEX idx_placed (placed)"))
        .await;
    pair.source
        .sql(&format!(
            "ALTER TABLE {db}.orders ADD INDEX idx_placed (placed); INSERT INTO {db}.orders VALUES (2, 'paid', '2026-01-02')"
        ))
        .await;
    wait_equal(&mut s.child, &pair, &db).await;
    // An index of that name on other columns: the sync stops with both.
    pair.target
        .sql(&format!("ALTER TABLE {t} ADD INDEX idx_status (status)"))
        .await;
    pair.source
        .sql(&format!(
            "ALTER TABLE {db}.orders ADD INDEX idx_status (status, placed)"
        ))
        .await;
    let (code, out) = exits_within(s.child, 60, "the sync over idx_status").await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("replicate.ddl_failed")
            && out.contains("on the target: KEY `idx_status` (`status`)")
            && out.contains("the statement makes: KEY `idx_status` (`status`,`placed`)")
            && out.contains("ferry ddl skip"),
        "{out}"
    );
    let keys: Vec<String> = pair
        .target
        .query(&format!(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '{db}_s' AND INDEX_NAME = 'idx_status' ORDER BY SEQ_IN_INDEX"
        ))
        .await;
    assert_eq!(
        keys,
        vec!["status".to_string()],
        "the target left as it was"
    );
    // Skipped by decision; then a column of another type: stops the same way.
    let skip = ferry(s.home.path(), &["ddl", "skip", &jp]);
    assert_eq!(skip.status.code(), Some(0), "{}", text(&skip));
    pair.target
        .sql(&format!(
            "ALTER TABLE {t} ADD COLUMN loyalty VARCHAR(5) NULL"
        ))
        .await;
    pair.source
        .sql(&format!(
            "ALTER TABLE {db}.orders ADD COLUMN loyalty INT NOT NULL DEFAULT 7"
        ))
        .await;
    let child = spawn_run(s.home.path(), &s.job);
    let (code, out) = exits_within(child, 60, "the sync over loyalty").await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("on the target: `loyalty` varchar(5) DEFAULT NULL")
            && out.contains("the statement makes: `loyalty` int(11) NOT NULL DEFAULT 7"),
        "{out}"
    );
    // Skipped too: the rows may agree, the definitions do not, and the cutover's
    // verification says so, naming the last DDL of the table.
    let skip = ferry(s.home.path(), &["ddl", "skip", &jp]);
    assert_eq!(skip.status.code(), Some(0), "{}", text(&skip));
    let out = ferry(s.home.path(), &["complete", &jp]);
    let out = text(&out);
    assert!(
        out.contains("definition: key `idx_status`: (status, placed) on the source, (status) on the target")
            && out.contains("definition: column `loyalty`: int(11) NOT NULL DEFAULT 7 on the source, varchar(5) NULL on the target")
            && out.contains("last DDL on it: ALTER TABLE")
            && out.contains("(skipped by decision at"),
        "{out}"
    );
    assert_eq!(phase(&pair.target, &s.name).await.as_deref(), Some("sync"));
}

/// A sync whose process is killed reads "interrupted", and while nothing runs it,
/// the status reads the source's position so the backlog shows.
#[tokio::test]
async fn a_killed_sync_reads_interrupted_with_its_backlog() {
    let pair = support::pair();
    let mut s = synced(
        &pair,
        "intr",
        |db| format!("CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY)"),
        "",
    )
    .await;
    let jp = s.job.to_str().unwrap().to_string();
    // A status stored by the running sync first.
    wait_for("a live status", &mut s.child, async || {
        live(s.home.path(), &s.job)["health"] == "streaming"
    })
    .await;
    let _ = s.child.kill();
    let _ = s.child.wait();
    pair.source
        .sql(&format!("INSERT INTO {}.t VALUES (1), (2), (3)", s.db))
        .await;
    let out = ferry(s.home.path(), &["status", "--json", &jp]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["running"], false, "{v}");
    assert_eq!(v["interrupted"], true, "{v}");
    assert!(v["behind_bytes"].as_u64().is_some_and(|b| b > 0), "{v}");
    let out = ferry(s.home.path(), &["status", &jp]);
    assert!(text(&out).contains("interrupted"), "{}", text(&out));
    // Resumed, it applies the backlog; paused cleanly, it is no longer interrupted.
    let mut child = spawn_run(s.home.path(), &s.job);
    wait_equal(&mut child, &pair, &s.db).await;
    let paused = ferry(s.home.path(), &["pause", &jp]);
    assert_eq!(paused.status.code(), Some(0), "{}", text(&paused));
    let (code, run) = finish(child);
    assert_eq!(code, Some(0), "{run}");
    let out = ferry(s.home.path(), &["status", "--json", &jp]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["interrupted"], false, "{v}");
    assert_eq!(v["live"]["health"], "stopped", "{v}");
    // The job's log outlived the killed process: both runs are in it, in order.
    let out = ferry(s.home.path(), &["log", &jp]);
    let log = text(&out);
    let at = |what: &str| log.find(what).unwrap_or_else(|| panic!("{what} in {log}"));
    assert!(at("run started") < at("phase: sync"), "{log}");
    assert!(at("phase: sync") < at("run resumed (phase sync)"), "{log}");
    assert!(
        at("run resumed (phase sync)") < at("run ended: paused"),
        "{log}"
    );
}

/// After the cutover the source is watched: writes to migrated tables show in
/// `ferry watch` and `ferry status`; `ferry apply-late` brings them over — with
/// the cutover's triggers out of the way while it does (else the replayed row
/// would fire them on the target: 'late!' would become 'late!!') — and the sides
/// are equal again.
#[tokio::test]
async fn writes_after_the_cutover_are_watched_and_can_be_applied() {
    let pair = support::pair();
    let s = synced(
        &pair,
        "after",
        |db| {
            format!(
                "CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(20)); \
                 CREATE TABLE {db}.audit (id INT AUTO_INCREMENT PRIMARY KEY, tid INT); \
                 CREATE TRIGGER {db}.t_ai AFTER INSERT ON {db}.t FOR EACH ROW INSERT INTO {db}.audit (tid) VALUES (NEW.id); \
                 CREATE TRIGGER {db}.t_bi BEFORE INSERT ON {db}.t FOR EACH ROW SET NEW.v = CONCAT(NEW.v, '!'); \
                 INSERT INTO {db}.t VALUES (1, 'copied')"
            )
        },
        "",
    )
    .await;
    let jp = s.job.to_str().unwrap().to_string();
    let out = ferry(s.home.path(), &["complete", &jp]);
    let (code, run) = finish(s.child);
    assert_eq!(out.status.code(), Some(0), "{}\n{run}", text(&out));
    assert_eq!(code, Some(0), "{run}");
    compare_db(&pair, &s.db).await.unwrap();
    let watching = ferry_cmd(s.home.path(), &["watch", "--for", "8", &jp])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The application was not switched: it writes to the source.
    pair.source
        .sql(&format!(
            "INSERT INTO {}.t VALUES (2, 'late'), (3, 'late')",
            s.db
        ))
        .await;
    let mut watching = watching;
    wait_for(
        "the watch to report the writes",
        &mut watching,
        async || {
            let l = live(s.home.path(), &s.job);
            l["after_cutover"]["late"]["rows"].as_u64() == Some(4)
        },
    )
    .await;
    let l = live(s.home.path(), &s.job);
    let tables = l["after_cutover"]["late"]["tables"].to_string();
    assert!(
        tables.contains("\"t\"") && tables.contains("\"audit\""),
        "{l}"
    );
    let out = ferry(s.home.path(), &["status", &jp]);
    assert!(
        text(&out).contains("written to the source after the cutover: 4 row changes"),
        "{}",
        text(&out)
    );
    let (code, out) = exits_within(watching, 30, "ferry watch").await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("ferry apply-late"), "{out}");
    assert!(
        compare_db(&pair, &s.db).await.is_err(),
        "the target lacks them"
    );
    // Applied: equal again, the trigger back in place, the job completed.
    let out = ferry(s.home.path(), &["apply-late", &jp]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    compare_db(&pair, &s.db).await.unwrap();
    let triggers: Vec<String> = pair
        .target
        .query(&format!(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{}_s' ORDER BY 1",
            s.db
        ))
        .await;
    assert_eq!(
        triggers,
        vec!["t_ai".to_string(), "t_bi".to_string()],
        "{}",
        text(&out)
    );
    assert_eq!(
        phase(&pair.target, &s.name).await.as_deref(),
        Some("completed")
    );
}

/// The report is the whole job's: a run killed mid-sync and the run that resumed
/// it, each with its phases and their time; every row copied and every change;
/// the DDL with what became of it; the latest verification with the keys that
/// differ; the checklist with the event to enable and the accounts' grants under
/// the target's names. Read as `ferry report --format json` and as one HTML page.
#[tokio::test]
async fn the_report_covers_every_run_of_the_job() {
    let pair = support::pair();
    let mut s = synced(
        &pair,
        "rep",
        |db| {
            let rows: Vec<String> = (1..=100).map(|i| format!("({i}, 'v{i}')")).collect();
            format!(
                "CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(20)); \
                 INSERT INTO {db}.t VALUES {}; \
                 CREATE EVENT {db}.tidy ON SCHEDULE EVERY 1 DAY DO DELETE FROM {db}.t WHERE id < 0; \
                 CREATE USER '{db}_app'@'%' IDENTIFIED BY 'secret-{db}'; \
                 GRANT SELECT, INSERT ON {db}.* TO '{db}_app'@'%'",
                rows.join(", ")
            )
        },
        "",
    )
    .await;
    let (db, jp) = (s.db.clone(), s.job.to_str().unwrap().to_string());
    wait_for("a live status", &mut s.child, async || {
        live(s.home.path(), &s.job)["health"] == "streaming"
    })
    .await;
    // The first run's process dies; the second picks the sync up and completes.
    let _ = s.child.kill();
    let _ = s.child.wait();
    pair.source
        .sql(&format!(
            "INSERT INTO {db}.t VALUES (101, 'a'), (102, 'b'); ALTER TABLE {db}.t ADD COLUMN note INT NULL"
        ))
        .await;
    let mut child = spawn_run(s.home.path(), &s.job);
    wait_equal(&mut child, &pair, &db).await;
    let done = ferry(s.home.path(), &["complete", &jp]);
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    let (code, run) = finish(child);
    assert_eq!(code, Some(0), "{run}");
    // Complete again: nothing to do — it did start the job over.
    let again = ferry(s.home.path(), &["complete", &jp]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains("has completed already"),
        "{}",
        text(&again)
    );
    // Then the target is changed behind Ferry's back: verify names the keys.
    pair.target
        .sql(&format!(
            "UPDATE `{db}_s`.t SET v = 'changed' WHERE id = 7; DELETE FROM `{db}_s`.t WHERE id = 9"
        ))
        .await;
    let verify = ferry(s.home.path(), &["verify", &jp]);
    assert_eq!(verify.status.code(), Some(1), "{}", text(&verify));

    let out = ferry(s.home.path(), &["report", "--format", "json", &jp]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{r:#}");
    assert_eq!(runs[0]["end"], "interrupted", "{r:#}");
    assert_eq!(runs[1]["end"], "completed", "{r:#}");
    assert_eq!(runs[1]["resumed"], "sync", "{r:#}");
    let phase = |name: &str| {
        r["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["phase"] == name)
            .and_then(|p| p["seconds"].as_f64())
    };
    assert!(
        phase("copy").is_some() && phase("sync").is_some_and(|s| s > 0.0),
        "{r:#}"
    );
    assert_eq!(r["rows_copied"], 100, "{r:#}");
    assert!(r["row_changes"].as_u64().is_some_and(|n| n >= 2), "{r:#}");
    let ddl = r["ddl"].as_array().unwrap();
    assert!(
        ddl.iter().any(|d| d["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("applied"))
            && d["statement"]
                .as_str()
                .is_some_and(|s| s.contains("ADD COLUMN note"))),
        "{r:#}"
    );
    assert_eq!(r["ddl_ran"], 1, "{r:#}");
    let samples = &r["verification"]["tables"][0]["mismatches"][0]["samples"];
    assert_eq!(samples[0]["key"], "7", "{r:#}");
    assert_eq!(samples[0]["difference"], "differs", "{r:#}");
    assert_eq!(samples[1]["key"], "9", "{r:#}");
    assert_eq!(samples[1]["difference"], "missing on the target", "{r:#}");
    let item = |id: &str| {
        r["checklist"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("checklist item {id} in {r:#}"))
    };
    assert_eq!(
        item("events")["sql"],
        format!("ALTER EVENT `{db}_s`.`tidy` ENABLE;"),
        "{r:#}"
    );
    let grants = item("accounts")["sql"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        grants.contains(&format!(
            "GRANT INSERT, SELECT ON `{db}_s`.* TO '{db}_app'@'%';"
        )) && !grants.contains("secret"),
        "{grants}"
    );
    // One page for the change board, without anything fetched or run.
    let page = s.home.path().join("report.html");
    let out = ferry(
        s.home.path(),
        &[
            "report",
            "--format",
            "html",
            "--output",
            page.to_str().unwrap(),
            &jp,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>")
            && html.contains("ADD COLUMN note")
            && html.contains("7 (differs)")
            && !html.contains("<script")
            && !html.contains("src=\"http"),
        "{html}"
    );
    pair.source.sql(&format!("DROP USER '{db}_app'@'%'")).await;
}
