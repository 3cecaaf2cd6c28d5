//! The reverse sync and the rollback, as production meets them: an
//! application writing to the new server after the cutover (rows, a trigger's
//! rows, a DDL), a ferry process killed in the middle, and a roll back that
//! must return every one of those writes to the old server. Compared without
//! Ferry (ordered rows and CHECKSUM TABLE).

mod support;

use std::time::Duration;

use support::job::*;

async fn reverse_state(pair: &support::Pair, job: &str) -> Option<String> {
    let rows: Vec<String> = pair
        .target
        .query(&format!(
            "SELECT JSON_UNQUOTE(JSON_EXTRACT(state, '$.state')) FROM ferry_meta.reverse WHERE job = '{job}'"
        ))
        .await;
    rows.into_iter().next()
}

async fn triggers(server: &support::Server, db: &str) -> u64 {
    let n: Vec<u64> = server
        .query(&format!(
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{db}'"
        ))
        .await;
    n[0]
}

#[tokio::test]
async fn a_rollback_returns_every_write_made_on_the_target_to_the_source() {
    // A pair of its own: the target writes a binlog, which the reverse sync reads.
    let pair = support::Pair::start_with(true);
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("rv");
    let name = db.replace('_', "-");
    pair.source
        .sql(&format!(
            "CREATE DATABASE {db}; USE {db}; \
             CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40), n INT); \
             CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, t_id INT); \
             CREATE TRIGGER t_audit AFTER INSERT ON t FOR EACH ROW INSERT INTO audit (t_id) VALUES (NEW.id); \
             INSERT INTO t SELECT seq, CONCAT('row ', seq), seq FROM seq_1_to_1000"
        ))
        .await;
    let job = home.path().join("job.toml");
    all_job(
        &job,
        &pair,
        &name,
        &db,
        "[incremental]\nreverse = \"until-released\"\n",
    );
    let mut child = spawn_run(home.path(), &job);
    wait_sync(&mut child, &pair.target, &name).await;
    pair.source
        .sql(&format!("INSERT INTO {db}.t VALUES (1001, 'synced', 0)"))
        .await;
    wait_equal(&mut child, &pair, &db).await;
    let out = ferry(home.path(), &["complete", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    // The run goes on with the reverse sync; the source's trigger is dropped
    // (the target's binlog has what it does there).
    wait_for("the reverse sync", &mut child, async || {
        reverse_state(&pair, &name).await.as_deref() == Some("syncing")
            && triggers(&pair.source, &db).await == 0
    })
    .await;
    assert_eq!(triggers(&pair.target, &format!("{db}_s")).await, 1);

    // The application on the new server: rows (the trigger adds its own), a DDL.
    let tdb = format!("{db}_s");
    pair.target
        .sql(&format!(
            "USE {tdb}; INSERT INTO t VALUES (2001, 'on the target', 1); \
             UPDATE t SET v = 'changed on the target' WHERE id <= 10; DELETE FROM t WHERE id BETWEEN 20 AND 29; \
             ALTER TABLE t ADD COLUMN extra INT NULL; INSERT INTO t VALUES (2002, 'after the DDL', 2, 7)"
        ))
        .await;
    wait_equal(&mut child, &pair, &db).await;

    // Killed in the middle; the next run goes on with the reverse sync.
    let _ = child.kill();
    let _ = child.wait();
    pair.target
        .sql(&format!(
            "USE {tdb}; INSERT INTO t VALUES (2003, 'while no ferry ran', 3, 8); UPDATE t SET n = n + 1 WHERE id > 900"
        ))
        .await;
    let mut child = spawn_run(home.path(), &job);
    wait_equal(&mut child, &pair, &db).await;
    assert_eq!(
        reverse_state(&pair, &name).await.as_deref(),
        Some("syncing")
    );

    // Roll back: drained, verified, the source's trigger back.
    pair.target
        .sql(&format!("INSERT INTO {tdb}.t VALUES (2004, 'last', 4, 9)"))
        .await;
    let out = ferry(home.path(), &["rollback", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("rolled back"), "{}", text(&out));
    let (code, run) = finish(child);
    assert_eq!(code, Some(0), "{run}");
    compare_db(&pair, &db).await.unwrap();
    assert_eq!(
        reverse_state(&pair, &name).await.as_deref(),
        Some("rolled_back")
    );
    assert_eq!(triggers(&pair.source, &db).await, 1);
    let audit: Vec<u64> = pair
        .source
        .query(&format!(
            "SELECT COUNT(*) FROM {db}.audit WHERE t_id > 2000"
        ))
        .await;
    assert_eq!(audit[0], 4, "each target insert audited once");
    // The job's report says how its way back ended.
    let out = ferry(home.path(), &["report", job.to_str().unwrap()]);
    assert!(
        text(&out).contains("way back: rolled back at "),
        "{}",
        text(&out)
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// A job asking for a way back is refused at its precheck, not at its
/// cutover, when the target writes no binlog the reverse sync could follow.
#[tokio::test]
async fn the_precheck_refuses_a_way_back_the_target_cannot_give() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("rvp");
    pair.source
        .sql(&format!(
            "CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY)"
        ))
        .await;
    let job = home.path().join("job.toml");
    all_job(
        &job,
        &pair,
        &db.replace('_', "-"),
        &db,
        "[incremental]\nreverse = \"24h\"\n",
    );
    let out = ferry(home.path(), &["precheck", job.to_str().unwrap()]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("FAIL  reverse.target_binlog"), "{said}");
    assert!(said.contains("log_bin is OFF"), "{said}");
    assert!(said.contains("pass  reverse.source_writes"), "{said}");
}
