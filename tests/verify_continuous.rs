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
             INSERT INTO {db}.k SELECT CONCAT('c', seq), seq FROM seq_1_to_500"
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
