//! `mode = "all"`: snapshot copy, then binlog sync, on a real MariaDB pair with
//! writes during sync, a SIGKILL in the middle, and a resume.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::Server;

fn spawn_run(home: &std::path::Path, job: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["run", job.to_str().unwrap()])
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("FERRY_KEYRING", "keyutils")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

async fn phase(target: &Server, job: &str) -> Option<String> {
    let exists: Vec<u64> = target
        .query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'ferry_meta' AND TABLE_NAME = 'jobs'")
        .await;
    if exists[0] == 0 {
        return None;
    }
    let rows: Vec<String> = target
        .query(&format!(
            "SELECT phase FROM ferry_meta.jobs WHERE job = '{job}'"
        ))
        .await;
    rows.into_iter().next()
}

async fn wait_for(what: &str, child: &mut Child, mut ok: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if ok().await {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("ferry exited ({status}) while waiting for {what}: {err}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        use std::io::Read;
        let _ = o.read_to_string(&mut out);
    }
    panic!("timed out waiting for {what}: {out} {err}");
}

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
             INSERT INTO loose VALUES (1, 'a'), (1, 'a'), (2, NULL);"
        ))
        .await;
    let name = format!("sync-{}", db.replace('_', "-"));
    let job = home.path().join("job.toml");
    std::fs::write(
        &job,
        format!(
            "name = \"{name}\"\nmode = \"all\"\n[source]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n[target]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n[objects]\ninclude = [\"{db}.*\"]\n[[objects.route]]\nfrom = \"{db}.*\"\nto = \"{db}_s.*\"\n",
            pair.source.port, pair.target.port
        ),
    )
    .unwrap();

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
}
