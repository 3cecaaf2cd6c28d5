//! `ferry run` of full jobs against a real MariaDB pair: data fidelity for every
//! type, routing, objects, a keyless table, verification, and exactly-once resume
//! after the process is killed at random points.

mod support;

use support::torture::{TORTURE, TORTURE_TABLES};

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::Server;

fn ferry(home: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferry"));
    c.args(args)
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("FERRY_KEYRING", "keyutils")
        .env("FERRY_SOURCE_PASSWORD", support::PASSWORD)
        .env("FERRY_TARGET_PASSWORD", support::PASSWORD);
    c
}

fn write_job(home: &std::path::Path, name: &str, pair: &support::Pair, body: &str) -> PathBuf {
    let text = format!(
        r#"name = "{name}"
mode = "full"
[source]
host = "127.0.0.1"
port = {}
user = "{user}"
tls = "disabled"
[target]
host = "127.0.0.1"
port = {}
user = "{user}"
tls = "disabled"
{body}
"#,
        pair.source.port,
        pair.target.port,
        user = support::USER
    );
    let p = home.join(format!("{name}.toml"));
    std::fs::write(&p, text).expect("job file");
    p
}

/// `CHECKSUM TABLE` on each side: an independent opinion on equality.
async fn checksum(server: &Server, fqn: &str) -> Option<u64> {
    let rows: Vec<(String, Option<u64>)> = server.query(&format!("CHECKSUM TABLE {fqn}")).await;
    rows.into_iter().next().and_then(|r| r.1)
}

async fn count(server: &Server, fqn: &str) -> u64 {
    let rows: Vec<u64> = server.query(&format!("SELECT COUNT(*) FROM {fqn}")).await;
    rows[0]
}

#[tokio::test]
async fn every_type_round_trips_with_load_data() {
    every_type_round_trips("load-data").await;
}

#[tokio::test]
async fn every_type_round_trips_with_inserts() {
    every_type_round_trips("insert").await;
}

/// The type-torture schema copied with routing and objects, by one write method.
async fn every_type_round_trips(method: &str) {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("tort_");
    let dst = format!("{db}_copy");
    pair.source
        .sql(&format!("CREATE DATABASE `{db}`; USE `{db}`; {TORTURE}"))
        .await;
    let job = write_job(
        home.path(),
        &format!("torture-{method}"),
        &pair,
        &format!(
            "[objects]\ninclude = [\"{db}\"]\n[[objects.route]]\nfrom = \"{db}.*\"\nto = \"{dst}.*\"\n[options]\nchunk_bytes = 4096\nwrite_method = \"{method}\"\n"
        ),
    );
    let out = ferry(home.path(), &["run", job.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.contains("verified: 11 tables equal"), "{stdout}");

    for t in TORTURE_TABLES {
        let a = checksum(&pair.source, &format!("`{db}`.`{t}`")).await;
        let b = checksum(&pair.target, &format!("`{dst}`.`{t}`")).await;
        assert!(a.is_some(), "{t}");
        assert_eq!(a, b, "CHECKSUM TABLE differs for {t}");
        assert_eq!(
            count(&pair.source, &format!("`{db}`.`{t}`")).await,
            count(&pair.target, &format!("`{dst}`.`{t}`")).await,
            "{t}"
        );
    }
    // Invisible column values copied, generated ones recomputed.
    let hidden: Vec<(i32, Option<i32>, Option<i32>)> = pair
        .target
        .query(&format!(
            "SELECT id, hidden, s FROM `{dst}`.gen ORDER BY id"
        ))
        .await;
    assert_eq!(
        hidden,
        vec![
            (1, Some(7), Some(3)),
            (2, None, None),
            (3, Some(42), Some(30))
        ]
    );
    // Zero dates and negative times survive.
    let t: Vec<(String, String)> = pair
        .target
        .query(&format!("SELECT CAST(d AS CHAR), CAST(t AS CHAR) FROM `{dst}`.times WHERE id IN (1, 4) ORDER BY id"))
        .await;
    assert_eq!(t[0].1, "-838:59:59.000000");
    assert_eq!(t[1].0, "0000-00-00");

    // Objects exist under the routed schema; the view over a view was ordered right.
    let objects: Vec<(String, String)> = pair
        .target
        .query(&format!(
            "SELECT 'view', TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '{dst}'
             UNION ALL SELECT 'trigger', TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{dst}'
             UNION ALL SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{dst}'
             UNION ALL SELECT CONCAT('event ', STATUS), EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '{dst}'
             ORDER BY 1, 2"
        ))
        .await;
    let expected: Vec<(String, String)> = [
        ("event DISABLED", "ev_noop"),
        ("function", "f_twice"),
        ("procedure", "p_count"),
        ("trigger", "trg_gen"),
        ("view", "v_ints"),
        ("view", "v_over"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(objects, expected);
    let via_view: Vec<u64> = pair
        .target
        .query(&format!("SELECT COUNT(*) FROM `{dst}`.v_over"))
        .await;
    assert_eq!(via_view, vec![2], "the view reads the routed table");

    // `ferry verify` agrees on its own and notices a change on the target.
    let out = ferry(home.path(), &["verify", job.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["equal"], true);
    // The same rows stored another way (columns reordered): the whole-table checksums
    // differ, the range comparison by column name finds every row equal.
    let before: Vec<(String, String)> = pair
        .target
        .query(&format!("CHECKSUM TABLE `{dst}`.latin"))
        .await;
    pair.target
        .sql(&format!(
            "ALTER TABLE `{dst}`.latin MODIFY s VARCHAR(50) FIRST"
        ))
        .await;
    let after: Vec<(String, String)> = pair
        .target
        .query(&format!("CHECKSUM TABLE `{dst}`.latin"))
        .await;
    assert_ne!(before, after, "reordering changes CHECKSUM TABLE");
    let out = ferry(home.path(), &["verify", job.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["equal"], true, "{report}");
    assert_eq!(out.status.code(), Some(0));
    pair.target
        .sql(&format!("UPDATE `{dst}`.strs SET vc = 'changed' WHERE id = 'nuls'; DELETE FROM `{dst}`.nokey WHERE n = 2"))
        .await;
    let out = ferry(home.path(), &["verify", job.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("DIFF   ") && stdout.contains(".strs ->") && stdout.contains(".nokey ->"),
        "{stdout}"
    );
    assert!(
        stdout.contains("verification FAILED: 2 of 11 tables differ"),
        "{stdout}"
    );

    // Running again into a non-empty target is refused by the precheck, naming the
    // tables; ignoring the check, the copy itself refuses them too.
    let out = ferry(home.path(), &["run", job.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("precheck.failed") && stderr.contains("target.conflicts"),
        "{stderr}"
    );
    assert!(stdout.contains(&format!("- {dst}.ints")), "{stdout}");
    let text = std::fs::read_to_string(&job).unwrap();
    std::fs::write(
        &job,
        format!("ignore_checks = [\"target.conflicts\"]\n{text}"),
    )
    .unwrap();
    let out = ferry(home.path(), &["run", job.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("snapshot.target_not_empty") && stderr.contains(&format!("{dst}.ints")),
        "{stderr}"
    );
}

/// Waits until the job has committed at least `n` chunks (or the process ended).
async fn wait_for_chunks(target: &Server, job: &str, n: u64, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        let rows: Vec<u64> = target
            .query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'ferry_meta' AND TABLE_NAME = 'chunks'")
            .await;
        if rows[0] == 1 {
            let done: Vec<u64> = target
                .query(&format!(
                    "SELECT COUNT(*) FROM ferry_meta.chunks WHERE job = '{job}' AND done = 1"
                ))
                .await;
            if done[0] >= n {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the job did not reach {n} chunks in time");
}

#[tokio::test]
async fn killed_runs_resume_without_loss_or_duplicates() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("res_");
    // 60k rows in many small chunks; a case- and accent-insensitive VARCHAR key whose
    // ranges only work if the server compares bounds under the column's collation;
    // a keyless table (one chunk).
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`;
             CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(100), n BIGINT);
             CREATE TABLE other (k VARCHAR(20) PRIMARY KEY, v INT);
             CREATE TABLE loose (v INT, w TEXT);
             INSERT INTO big SELECT seq, REPEAT(CHAR(65 + seq % 26), 50 + seq % 50), seq * 7 FROM seq_1_to_60000;
             INSERT INTO other SELECT CONCAT(IF(seq % 3 = 0, 'K', 'k'), IF(seq % 5 = 0, 'é', 'e'), seq), seq FROM seq_1_to_20000;
             INSERT INTO loose SELECT seq % 10, REPEAT('w', seq % 30) FROM seq_1_to_3000;
             ANALYZE TABLE big, other, loose;"
        ))
        .await;
    let name = format!("resume-{}", db.replace('_', "-"));
    let job = write_job(
        home.path(),
        &name,
        &pair,
        &format!("[objects]\ninclude = [\"{db}.*\"]\n[[objects.route]]\nfrom = \"{db}.*\"\nto = \"{db}_r.*\"\n[options]\nchunk_bytes = 65536\nexport_threads = 2\nimport_threads = 2\n"),
    );
    // Kill at several points: right at start, after a few chunks, after many.
    for target_chunks in [0u64, 3, 25] {
        let mut child = ferry(home.path(), &["run", job.to_str().unwrap(), "--no-verify"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if target_chunks == 0 {
            tokio::time::sleep(Duration::from_millis(150)).await;
        } else {
            wait_for_chunks(&pair.target, &name, target_chunks, &mut child).await;
        }
        let _ = child.kill(); // SIGKILL: no cleanup, no final checkpoint
        let _ = child.wait();
    }
    let out = ferry(home.path(), &["run", job.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("verified: 3 tables equal"), "{stdout}");
    assert!(
        stdout.starts_with("resumed and copied"),
        "the last run continued the plan: {stdout}"
    );
    for t in ["big", "other", "loose"] {
        let src = format!("`{db}`.`{t}`");
        let dst = format!("`{db}_r`.`{t}`");
        assert_eq!(
            count(&pair.source, &src).await,
            count(&pair.target, &dst).await,
            "{t}"
        );
        assert_eq!(
            checksum(&pair.source, &src).await,
            checksum(&pair.target, &dst).await,
            "{t}"
        );
    }
    let dups: Vec<u64> = pair
        .target
        .query(&format!(
            "SELECT COUNT(*) - COUNT(DISTINCT id) FROM `{db}_r`.big"
        ))
        .await;
    assert_eq!(dups, vec![0]);
    let chunks: Vec<(u64, u64)> = pair
        .target
        .query(&format!(
            "SELECT COUNT(*), SUM(done) FROM ferry_meta.chunks WHERE job = '{name}'"
        ))
        .await;
    assert!(chunks[0].0 > 20, "the plan has many chunks: {:?}", chunks);
    assert_eq!(chunks[0].0, chunks[0].1, "every chunk is done");
}

#[tokio::test]
async fn a_million_rows_stay_under_the_memory_bound() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("mem_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`;
             CREATE TABLE wide (id INT PRIMARY KEY, a VARCHAR(40), b BIGINT, c DATETIME, KEY k_b (b), KEY k_ca (c, a));
             INSERT INTO wide SELECT seq, MD5(seq), seq * 31, '2024-01-01' + INTERVAL seq SECOND FROM seq_1_to_1000000;
             ANALYZE TABLE wide;"
        ))
        .await;
    let job = write_job(
        home.path(),
        "million",
        &pair,
        &format!("[objects]\ninclude = [\"{db}.*\"]\n[[objects.route]]\nfrom = \"{db}.*\"\nto = \"{db}_m.*\"\n"),
    );
    let out = ferry(home.path(), &["run", job.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["rows"], 1_000_000);
    assert_eq!(summary["verify"]["equal"], true);
    let rss = summary["peak_rss_bytes"]
        .as_u64()
        .expect("peak RSS is reported on Linux");
    assert!(
        rss < 300 << 20,
        "peak RSS {} MiB is over the 300 MiB bound",
        rss >> 20
    );
    assert_eq!(
        count(&pair.target, &format!("`{db}_m`.wide")).await,
        1_000_000
    );
}

#[tokio::test]
async fn every_consistency_mode_copies_and_records_a_position() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("mode_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`;
             CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(30));
             INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_2000;"
        ))
        .await;
    for mode in ["flush", "snapshot", "lock", "none", "auto"] {
        let job = write_job(
            home.path(),
            &format!("mode-{mode}"),
            &pair,
            &format!(
                "[objects]\ninclude = [\"{db}.*\"]\n[[objects.route]]\nfrom = \"{db}.*\"\nto = \"{db}_{mode}.*\"\n[options]\nconsistency = \"{mode}\"\nchunk_bytes = 8192\n"
            ),
        );
        let out = ferry(home.path(), &["run", job.to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["verify"]["equal"], true, "{mode}");
        assert_eq!(summary["rows"], 2000, "{mode}");
        let file = summary["position"]["file"].as_str().unwrap_or_default();
        assert!(
            file.starts_with("binlog."),
            "{mode} records the binlog file: {summary}"
        );
        assert!(
            summary["position"]["pos"].as_u64().unwrap_or(0) > 0,
            "{mode}: {summary}"
        );
    }
}

#[tokio::test]
async fn auto_consistency_falls_back_when_the_lock_is_not_allowed() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("nolock_");
    let user = support::unique("nr");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`; CREATE TABLE t (id INT PRIMARY KEY, v INT);
             INSERT INTO t SELECT seq, seq FROM seq_1_to_500;
             CREATE USER '{user}'@'%' IDENTIFIED BY '{pw}';
             GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, REPLICATION CLIENT ON *.* TO '{user}'@'%';",
            pw = support::PASSWORD
        ))
        .await;
    let job = write_job(
        home.path(),
        "nolock",
        &pair,
        &format!("[objects]\ninclude = [\"{db}.*\"]\n[[objects.route]]\nfrom = \"{db}.*\"\nto = \"{db}_c.*\"\n"),
    );
    let text = std::fs::read_to_string(&job).unwrap().replacen(
        &format!("user = \"{}\"", support::USER),
        &format!("user = \"{user}\""),
        1,
    );
    std::fs::write(&job, text).unwrap();
    let out = ferry(home.path(), &["run", job.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(r#""method":"snapshot""#),
        "FTWRL needs RELOAD, so the lock-free snapshot was used: {stderr}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["verify"]["equal"], true);
    assert!(summary["position"]["file"].as_str().is_some(), "{summary}");
}

/// `[options] start_at` in the future: the run reports the wait, then copies.
#[tokio::test]
async fn a_scheduled_job_waits_for_its_start_time() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("sched_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY); INSERT INTO `{db}`.t VALUES (1), (2);"
        ))
        .await;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3;
    // The same UTC time the engine expects, written by the database itself.
    let at: Vec<String> = pair
        .source
        .query(&format!(
            "SELECT DATE_FORMAT(CONVERT_TZ(FROM_UNIXTIME({secs}), @@session.time_zone, '+00:00'), '%Y-%m-%dT%H:%i:%sZ')"
        ))
        .await;
    let job = write_job(
        home.path(),
        "sched",
        &pair,
        &format!(
            "[objects]\ninclude = [\"{db}.*\"]\n[options]\nstart_at = \"{}\"\n",
            at[0]
        ),
    );
    let out = ferry(home.path(), &["run", job.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let events = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{events}");
    let scheduled = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["type"] == "scheduled")
        .unwrap_or_else(|| panic!("no scheduled event: {events}"));
    assert_eq!(scheduled["start_at"], at[0].as_str());
    assert!(
        scheduled["in_secs"]
            .as_u64()
            .is_some_and(|s| (1..=3).contains(&s)),
        "{scheduled}"
    );
    assert_eq!(count(&pair.target, &format!("`{db}`.t")).await, 2);
}

/// Scheduled jobs of one process copy one after another: the second waits, says for
/// whom, and starts copying only once the first one's copy has ended; a queued job
/// can be aborted before it starts.
#[tokio::test]
async fn scheduled_jobs_start_one_after_another() {
    use ferry::control::Control;
    use ferry::events::{EventSink, JobEvent, Phase};
    use ferry::job::RunOptions;
    use ferry::profile::Mode;
    let pair = support::pair();
    let db = support::unique("queue_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.big (id INT PRIMARY KEY, body TEXT);
             INSERT INTO `{db}`.big SELECT seq, REPEAT('q', 500) FROM `{db}`.seq_1_to_100000;
             CREATE TABLE `{db}`.small (id INT PRIMARY KEY); INSERT INTO `{db}`.small VALUES (1), (2);"
        ))
        .await;
    let job = |name: &str, table: &str| {
        let mut p = support::precheck::profile(
            &pair.source,
            &pair.target,
            Mode::Full,
            &[format!("{db}.{table}")],
        );
        p.name = name.into();
        // Due already: the run does not wait for the clock, only for its turn.
        p.options.start_at = Some("2026-01-01T00:00:00Z".into());
        p
    };
    let queue = ferry::queue::Queue::default();
    let start = |p: ferry::profile::Profile, control: Control| {
        let (sink, mut rx) = EventSink::channel();
        let queue = queue.clone();
        let run = tokio::spawn(async move {
            let opts = RunOptions {
                verify: false,
                control,
                queue: Some(queue),
                shard: None,
            };
            ferry::job::run(&p, opts, sink).await
        });
        // Each event with the moment it arrived.
        let events = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(e) = rx.recv().await {
                seen.push((Instant::now(), e));
            }
            seen
        });
        (run, events)
    };
    let (run_a, events_a) = start(job("queue-a", "big"), Control::default());
    // A holds the slot before B asks for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while queue.holder().is_none() {
        assert!(Instant::now() < deadline, "job a never took the slot");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (run_b, events_b) = start(job("queue-b", "small"), Control::default());
    let aborted = Control::default();
    let (run_c, _events_c) = start(job("queue-c", "small"), aborted.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    aborted.abort();
    let c = run_c.await.unwrap();
    assert!(matches!(c, Err(ferry::job::JobError::Cancelled)), "{c:?}");

    run_a.await.unwrap().expect("job a");
    run_b.await.unwrap().expect("job b");
    let (a, b) = (events_a.await.unwrap(), events_b.await.unwrap());
    let a_copied = a
        .iter()
        .find(|(_, e)| matches!(e, JobEvent::CopyDone { .. }))
        .map(|(t, _)| *t)
        .expect("a copied");
    let queued = b.iter().find_map(|(_, e)| match e {
        JobEvent::Queued { behind } => Some(behind.clone()),
        _ => None,
    });
    assert_eq!(queued.as_deref(), Some("queue-a"));
    let b_started = b
        .iter()
        .find(|(_, e)| {
            matches!(
                e,
                JobEvent::Phase {
                    phase: Phase::Schema
                }
            )
        })
        .map(|(t, _)| *t)
        .expect("b started");
    assert!(b_started >= a_copied, "b started before a's copy ended");
    assert_eq!(count(&pair.target, &format!("`{db}`.big")).await, 100_000);
    assert_eq!(count(&pair.target, &format!("`{db}`.small")).await, 2);
    assert_eq!(queue.holder(), None);
}

#[tokio::test]
async fn a_table_copied_in_one_chunk_shows_its_rows_before_it_commits() {
    use ferry::control::Control;
    use ferry::events::{EventSink, JobEvent};
    use ferry::job::RunOptions;
    use ferry::profile::Mode;
    use mysql_async::prelude::Queryable;
    let pair = support::pair();
    let db = support::unique("prog_");
    let create = format!(
        "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.heap (a INT, b VARCHAR(100)) ENGINE=InnoDB;"
    );
    pair.source.sql(&create).await;
    pair.source
        .sql(&format!(
            "USE `{db}`; INSERT INTO heap SELECT seq, REPEAT('x', 100) FROM seq_1_to_20000"
        ))
        .await;
    pair.target.sql(&create).await;
    // A locking read of the empty target table holds the gap to its end: the
    // copy's insert waits on it, so the one chunk cannot commit until this ends.
    let mut lock = pair.target.conn().await;
    lock.query_drop("START TRANSACTION").await.unwrap();
    lock.query_drop(format!("SELECT * FROM `{db}`.heap FOR UPDATE"))
        .await
        .unwrap();

    let mut p = support::precheck::profile(
        &pair.source,
        &pair.target,
        Mode::Full,
        &[format!("{db}.heap")],
    );
    p.name = "one-chunk-progress".into();
    let (sink, mut rx) = EventSink::channel();
    let run = tokio::spawn(async move {
        let opts = RunOptions {
            verify: false,
            control: Control::default(),
            queue: None,
            shard: None,
        };
        ferry::job::run(&p, opts, sink).await
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = None;
    while seen.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = tokio::time::timeout(left, rx.recv())
            .await
            .expect("no per-table progress within 30 s")
            .expect("the job ended without per-table progress");
        match event {
            JobEvent::Chunk { .. } => panic!("the chunk committed while the target was locked"),
            JobEvent::Throughput { tables, .. } => {
                seen = tables.iter().find(|t| t.table == "heap").map(|t| t.count);
            }
            _ => {}
        }
    }
    assert!(seen.is_some_and(|n| n > 0), "{seen:?}");
    lock.query_drop("ROLLBACK").await.unwrap();
    run.await.unwrap().expect("the job");
    assert_eq!(count(&pair.target, &format!("`{db}`.heap")).await, 20_000);
}

/// The live view's table sizes are the ones the copy was planned with, on every
/// run of the job: a resumed sync does not show the source's statistics of now,
/// which grow with the writes it follows.
#[tokio::test]
async fn a_resumed_job_shows_the_sizes_its_copy_planned() {
    use ferry::control::Control;
    use ferry::events::{EventSink, JobEvent, TableTotals};
    use ferry::job::RunOptions;
    use ferry::profile::Mode;
    let pair = support::pair();
    let db = support::unique("sizes_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, body TEXT);
             INSERT INTO `{db}`.t SELECT seq, REPEAT('s', 200) FROM `{db}`.seq_1_to_2000;
             ANALYZE TABLE `{db}`.t;"
        ))
        .await;
    let mut p =
        support::precheck::profile(&pair.source, &pair.target, Mode::All, &[format!("{db}.t")]);
    p.name = db.clone();
    // One run until its sync has begun, then paused: the sizes it showed.
    let run = |p: ferry::profile::Profile| async move {
        let (sink, mut rx) = EventSink::channel();
        let control = Control::default();
        let opts = RunOptions {
            verify: false,
            control: control.clone(),
            queue: None,
            shard: None,
        };
        let job = tokio::spawn(async move { ferry::job::run(&p, opts, sink).await });
        let mut plan: Option<Vec<TableTotals>> = None;
        while let Some(e) = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("the job went quiet")
        {
            match e {
                JobEvent::Plan { tables } => plan = Some(tables),
                JobEvent::Sync(_) => break,
                _ => {}
            }
        }
        control.pause();
        job.await.unwrap().expect("the run");
        let plan = plan.expect("no plan shown");
        (plan[0].rows_estimate, plan[0].bytes_estimate)
    };
    let first = run(p.clone()).await;
    assert!(first.0 > 1000, "{first:?}");
    // The table grows tenfold while the job is paused, and the source says so.
    pair.source
        .sql(&format!(
            "INSERT INTO `{db}`.t SELECT 2000 + seq, REPEAT('s', 200) FROM `{db}`.seq_1_to_20000;
             ANALYZE TABLE `{db}`.t;"
        ))
        .await;
    let again = run(p).await;
    assert_eq!(
        again, first,
        "the resumed run shows other sizes than its copy planned"
    );
}

#[tokio::test]
async fn a_value_the_target_would_alter_fails_the_copy_by_either_method() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("alter_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, b VARCHAR(20));
             INSERT INTO `{db}`.t VALUES (1, 'short'), (2, 'longer than five'), (3, 'x')"
        ))
        .await;
    // The target already holds the table, narrower: a non-strict session would
    // truncate the value with a warning.
    pair.target
        .sql(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, b VARCHAR(5))"
        ))
        .await;
    for method in ["insert", "load-data"] {
        let job = write_job(
            home.path(),
            &format!("alter-{method}"),
            &pair,
            &format!(
                "[objects]\ninclude = [\"{db}\"]\n[options]\non_existing = \"append\"\nwrite_method = \"{method}\"\n"
            ),
        );
        let out = ferry(home.path(), &["run", job.to_str().unwrap()])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_ne!(out.status.code(), Some(0), "{method}: {text}");
        assert!(
            text.contains("Data truncated for column 'b'"),
            "{method}: {text}"
        );
        assert_eq!(
            count(&pair.target, &format!("`{db}`.t")).await,
            0,
            "{method}"
        );
    }
}
