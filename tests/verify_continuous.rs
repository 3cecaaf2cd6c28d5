//! Continuous verification as production meets it: an application writing to
//! the source all along, and someone changing the target behind Ferry's back.
//! Each run is compared without Ferry (ordered rows and CHECKSUM TABLE).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::job::*;

/// `ferry status --json`'s live verification (null while none is shown).
fn verification(home: &std::path::Path, job: &std::path::Path) -> serde_json::Value {
    let out = ferry(home, &["status", "--json", job.to_str().unwrap()]);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("status: {}", text(&out)));
    v["live"]["verification"].clone()
}

/// The differing ranges' sample keys, as `table:key`.
fn differing_keys(v: &serde_json::Value) -> Vec<String> {
    v["differences"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|d| {
            let table = d["table"].as_str().unwrap_or("").to_string();
            d["mismatch"]["samples"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |k| format!("{table}:{}", k["key"].as_str().unwrap_or("")))
        })
        .collect()
}

/// Under a write load, a row changed and a row deleted on the target behind
/// Ferry's back are reported within 60 s with their table, range and key;
/// `ferry repair` makes the sides equal; once the load stops the job reports
/// every range verified and no difference; the cutover then compares only
/// what changed since.
#[tokio::test]
async fn a_row_changed_behind_the_syncs_back_is_found_and_repaired() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("cv");
    let name = db.replace('_', "-");
    pair.source
        .sql(&format!(
            "CREATE DATABASE {db}; USE {db}; \
             CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(40), n INT); \
             CREATE TABLE {db}.u (id BIGINT PRIMARY KEY, body TEXT); \
             CREATE TABLE {db}.k (code VARCHAR(20) PRIMARY KEY, n INT); \
             INSERT INTO {db}.t SELECT seq, CONCAT('row ', seq), seq FROM seq_1_to_6000; \
             INSERT INTO {db}.u SELECT seq, REPEAT('x', seq % 50) FROM seq_1_to_3000; \
             INSERT INTO {db}.k SELECT CONCAT('c', seq), seq FROM seq_1_to_500; \
             ANALYZE TABLE {db}.t, {db}.u, {db}.k"
        ))
        .await;
    let job = home.path().join("job.toml");
    // Small ranges, so the tables have several; the verifier may take all the
    // servers' time it wants.
    all_job(
        &job,
        &pair,
        &name,
        &db,
        "[options]\nchunk_bytes = 32768\n[incremental]\nverify_share = 100\n",
    );
    let mut child = spawn_run(home.path(), &job);
    wait_sync(&mut child, &pair.target, &name).await;

    // The application writes all along: inserts, updates and deletes in both
    // keyed tables, away from the rows tampered with below.
    let writing = Arc::new(AtomicBool::new(true));
    let load = {
        let writing = writing.clone();
        let source = pair.clone();
        let db = db.clone();
        tokio::spawn(async move {
            let mut conn = source.source.conn().await;
            let mut i = 0u64;
            while writing.load(Ordering::Relaxed) {
                i += 1;
                let id = 2000 + (i * 37) % 4000;
                let sql = format!(
                    "BEGIN; UPDATE {db}.t SET n = n + 1 WHERE id = {id}; \
                     INSERT INTO {db}.t VALUES ({}, 'new', 0); \
                     DELETE FROM {db}.u WHERE id = {}; \
                     INSERT INTO {db}.u VALUES ({}, 'added'); \
                     UPDATE {db}.k SET n = n + 1 WHERE code = 'c{}'; COMMIT",
                    10_000 + i,
                    1000 + i,
                    100_000 + i,
                    1 + i % 500
                );
                mysql_async::prelude::Queryable::query_drop(&mut conn, sql)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            i
        })
    };
    // Verified at least once before the tampering.
    wait_for("a first verification", &mut child, async || {
        verification(home.path(), &job)["compared"].as_u64() > Some(10)
    })
    .await;
    let t_db = format!("{db}_s");
    pair.target
        .sql(&format!(
            "UPDATE {t_db}.t SET v = 'tampered' WHERE id = 77; DELETE FROM {t_db}.u WHERE id = 5"
        ))
        .await;
    let tampered = Instant::now();
    wait_for("the tampered rows to be reported", &mut child, async || {
        let keys = differing_keys(&verification(home.path(), &job));
        keys.contains(&"t:77".to_string()) && keys.contains(&"u:5".to_string())
    })
    .await;
    let found = tampered.elapsed();
    eprintln!("found after {found:?}: {}", verification(home.path(), &job));
    assert!(found < Duration::from_secs(60), "found after {found:?}");
    // The human status names the table, the range and the key.
    let shown = text(&ferry(home.path(), &["status", job.to_str().unwrap()]));
    assert!(shown.contains(&format!("differs  {db}.t range")), "{shown}");
    assert!(shown.contains("77 (differs)"), "{shown}");
    assert!(shown.contains("5 (missing on the target)"), "{shown}");

    // Repair every differing range, while the load goes on.
    let out = ferry(home.path(), &["repair", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("asked to repair 2 ranges"),
        "{}",
        text(&out)
    );

    tokio::time::sleep(Duration::from_secs(3)).await;
    writing.store(false, Ordering::Relaxed);
    let written = load.await.unwrap();
    assert!(written > 50, "the load wrote {written} transactions");

    // Once the load stops: every range verified, no difference, bounded.
    let quiet = Instant::now();
    wait_for("every range verified", &mut child, async || {
        let v = verification(home.path(), &job);
        v["state"] == "verified"
            && v["differences"].as_array().is_some_and(|d| d.is_empty())
            && v["chunks"].as_u64() > Some(3)
    })
    .await;
    let settled = quiet.elapsed();
    eprintln!(
        "settled after {settled:?}: {}",
        verification(home.path(), &job)
    );
    assert!(
        settled < Duration::from_secs(60),
        "verified after {settled:?}"
    );
    wait_equal(&mut child, &pair, &db).await;

    // The cutover compares only what changed since: nothing.
    let out = ferry(home.path(), &["complete", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let (code, run) = finish(child);
    eprintln!("{run}");
    assert_eq!(code, Some(0), "{run}");
    compare_db(&pair, &db).await.unwrap();
    assert!(
        run.contains("verified during the sync and unchanged since, 0 compared now"),
        "{run}"
    );
}

/// The ledger outlives the run: after a pause the next run goes on with the
/// verdicts it stored (as of the position it resumes from), after a kill in
/// the middle of a load it compares again what it cannot vouch for — and
/// either way ends verified, with the sides equal.
#[tokio::test]
async fn the_ledger_survives_a_pause_and_a_kill() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("cvr");
    let name = db.replace('_', "-");
    pair.source
        .sql(&format!(
            "CREATE DATABASE {db}; USE {db}; \
             CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40)); \
             INSERT INTO t SELECT seq, CONCAT('row ', seq) FROM seq_1_to_4000; ANALYZE TABLE t"
        ))
        .await;
    let job = home.path().join("job.toml");
    all_job(
        &job,
        &pair,
        &name,
        &db,
        "[options]\nchunk_bytes = 16384\n[incremental]\nverify_share = 100\n",
    );
    // Every range verified, by a run that has compared more than `since` ranges
    // over the job (a run just started shows its predecessor's last status).
    let all_verified = async |child: &mut std::process::Child, since: u64| {
        let mut seen = serde_json::Value::Null;
        wait_for("every range verified", child, async || {
            let v = verification(home.path(), &job);
            let done = v["state"] == "verified"
                && v["chunks"].as_u64() > Some(2)
                && v["compared"].as_u64() > Some(since);
            seen = v;
            done
        })
        .await;
        seen
    };
    let mut child = spawn_run(home.path(), &job);
    wait_sync(&mut child, &pair.target, &name).await;
    let before = all_verified(&mut child, 0).await;

    // A pause stores every verdict as of the position the next run starts at.
    let out = ferry(home.path(), &["pause", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let (code, run) = finish(child);
    assert_eq!(code, Some(0), "{run}");
    let stored: Vec<(String, u64)> = pair
        .target
        .query(&format!(
            "SELECT verdict, COUNT(*) FROM ferry_meta.verified WHERE job = '{name}' GROUP BY verdict"
        ))
        .await;
    assert_eq!(
        stored,
        vec![("equal".to_string(), before["chunks"].as_u64().unwrap())],
        "{before}"
    );
    let mut child = spawn_run(home.path(), &job);
    let compared = before["compared"].as_u64().unwrap_or(0);
    let after = all_verified(&mut child, compared).await;
    assert_eq!(after["chunks"], before["chunks"]);
    assert!(
        after["compared"].as_u64() >= before["compared"].as_u64(),
        "the counts go on: {before} then {after}"
    );

    // Killed while the source is written: the next run vouches only for what
    // it compares again.
    let mut conn = pair.source.conn().await;
    for i in 0..200 {
        mysql_async::prelude::Queryable::query_drop(
            &mut conn,
            format!(
                "UPDATE {db}.t SET v = 'changed {i}' WHERE id = {}",
                1 + i * 19
            ),
        )
        .await
        .unwrap();
        if i == 100 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    let compared = verification(home.path(), &job)["compared"]
        .as_u64()
        .unwrap_or(0);
    let mut child = spawn_run(home.path(), &job);
    wait_sync(&mut child, &pair.target, &name).await;
    let resumed = all_verified(&mut child, compared).await;
    assert!(
        resumed["differences"]
            .as_array()
            .is_some_and(|d| d.is_empty()),
        "{resumed}"
    );
    wait_equal(&mut child, &pair, &db).await;
    let out = ferry(home.path(), &["complete", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let (code, run) = finish(child);
    assert_eq!(code, Some(0), "{run}");
    compare_db(&pair, &db).await.unwrap();
}
