//! One test per crash window (cargo feature `failpoints`, see src/failpoint.rs):
//! `ferry` exits exactly there, as a crash would, then runs again and the target
//! ends equal to the source — deterministic, where the random-kill test in
//! tests/sync.rs is probabilistic. Run with
//! `cargo test -p ferry --features failpoints --test failpoints`.

#![cfg(feature = "failpoints")]

mod support;

use support::job::*;

/// Exit code of a process stopped by a failpoint.
const CRASHED: i32 = 99;

/// Crashes a run of `job` at `point`, then runs it again until the source and the
/// target are equal (compared without Ferry), and stops that run.
async fn crash_then_converge(
    home: &std::path::Path,
    job: &std::path::Path,
    point: &str,
    pair: &support::Pair,
    db: &str,
) {
    run_crashing(home, &["run", job.to_str().unwrap()], point);
    let mut child = spawn_run(home, job);
    wait_equal(&mut child, pair, db).await;
    let _ = child.kill();
    let _ = child.wait();
}

fn run_crashing(home: &std::path::Path, args: &[&str], point: &str) -> String {
    let out = ferry_cmd(home, args)
        .env("FERRY_FAILPOINT", point)
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(
        out.status.code(),
        Some(CRASHED),
        "{point} was not reached: {all}"
    );
    all
}

/// As `all_job`, a copy only (`mode = "full"`).
fn full_job(job: &std::path::Path, pair: &support::Pair, name: &str, db: &str, extra: &str) {
    all_job(job, pair, name, db, extra);
    let text = std::fs::read_to_string(job).unwrap();
    std::fs::write(job, text.replace("mode = \"all\"", "mode = \"full\"")).unwrap();
}

/// Rows of a chunk written, its mark not committed: the chunk is copied again.
#[tokio::test]
async fn crash_after_chunk_rows_before_their_mark() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("fpc_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`; CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO t SELECT seq, 'row' FROM seq_1_to_5000; CREATE TABLE k (v INT)"
        ))
        .await;
    pair.source
        .sql(&format!("INSERT INTO `{db}`.k VALUES (1), (1), (2)"))
        .await;
    let job = home.path().join("job.toml");
    full_job(&job, &pair, "fp-copy", &db, "");
    let jp = job.to_str().unwrap();
    run_crashing(home.path(), &["run", jp], "copy.rows_written");
    let out = ferry(home.path(), &["run", jp]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    compare_db(&pair, &db).await.unwrap();
}

/// The copy's writes into MySQL (multi-row INSERTs, sent in power-of-two pieces
/// at a chunk's end), which the MariaDB tests otherwise never take: every kind of
/// value, NULLs among them, and a row far larger than the others arrive equal.
#[tokio::test]
async fn the_copy_writes_a_mysql_target_with_multi_row_inserts() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("fpm_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`; CREATE TABLE t (id INT PRIMARY KEY, \
             i BIGINT UNSIGNED, s SMALLINT, d DECIMAL(20,6), f FLOAT, g DOUBLE, \
             dt DATETIME(6), da DATE, tm TIME(3), y YEAR, e ENUM('a','b'), b LONGBLOB, \
             v VARCHAR(40) CHARACTER SET utf8mb4, x BIT(5)); \
             INSERT INTO t SELECT seq, IF(seq % 7 = 0, NULL, 18446744073709551615 - seq), \
             -CAST(seq AS SIGNED) % 32768, seq / 3, seq / 7, seq / 11, \
             IF(seq % 5 = 0, NULL, '2024-02-29 23:59:59.123456' - INTERVAL seq MINUTE), \
             '1999-12-31' + INTERVAL seq DAY, SEC_TO_TIME(CAST(seq AS SIGNED) - 900) + INTERVAL 0.5 SECOND, \
             1901 + seq % 255, IF(seq % 3 = 0, 'b', 'a'), \
             IF(seq = 1000, REPEAT('z', 3000000), UNHEX(MD5(seq))), \
             CONCAT('é', seq), seq % 32 FROM seq_1_to_1537"
        ))
        .await;
    let job = home.path().join("job.toml");
    let inserts = "[options]\nwrite_method = \"insert\"\n";
    full_job(&job, &pair, "fp-rows", &db, inserts);
    let out = ferry_cmd(home.path(), &["run", job.to_str().unwrap()])
        .env("FERRY_FAILPOINT", "copy.multi_row_inserts")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    compare_db(&pair, &db).await.unwrap();
}

/// A batch applied (by two parallel workers, which commit on their own) but its
/// checkpoint not committed: the batch is applied again from the previous
/// checkpoint, and keyless changes, which commit with the checkpoint, once. Then
/// the same with keyed changes only, whose checkpoint is committed in the
/// background.
#[tokio::test]
async fn crash_after_a_batch_before_its_checkpoint() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("fpa_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`; CREATE TABLE t (id INT PRIMARY KEY, v INT); INSERT INTO t SELECT seq, seq FROM seq_1_to_100; CREATE TABLE k (v INT)"
        ))
        .await;
    let job = home.path().join("job.toml");
    all_job(
        &job,
        &pair,
        "fp-apply",
        &db,
        "[incremental]\napply_workers = 2\n",
    );
    let mut child = spawn_run(home.path(), &job);
    wait_sync(&mut child, &pair.target, "fp-apply").await;
    let _ = child.kill();
    let _ = child.wait();
    let changes = [
        // Keyed and keyless changes: the keyless ones commit with the checkpoint.
        "UPDATE t SET v = v * 2; DELETE FROM t WHERE id <= 10; INSERT INTO t VALUES (1000, 1); INSERT INTO k VALUES (1), (1), (2); DELETE FROM k WHERE v = 2",
        // Keyed changes only: the workers commit the rows and the checkpoint
        // would follow in the background (while the next batch goes to the
        // workers); the crash comes between them.
        "UPDATE t SET v = v + 1 WHERE id > 50; DELETE FROM t WHERE id = 1000; INSERT INTO t VALUES (2000, 2)",
    ];
    for sql in changes {
        pair.source.sql(&format!("USE `{db}`; {sql}")).await;
        crash_then_converge(
            home.path(),
            &job,
            "apply.rows_before_checkpoint",
            &pair,
            &db,
        )
        .await;
    }
}

/// A DDL from the binlog ran on the target, its checkpoint not stored: it comes
/// again after the restart and is taken as already applied; the rows after it
/// fit the new table.
#[tokio::test]
async fn crash_after_a_ddl_before_its_checkpoint() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("fpd_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`; CREATE TABLE t (id INT PRIMARY KEY, v INT); INSERT INTO t VALUES (1, 1)"
        ))
        .await;
    let job = home.path().join("job.toml");
    all_job(&job, &pair, "fp-ddl", &db, "");
    let mut child = spawn_run(home.path(), &job);
    wait_sync(&mut child, &pair.target, "fp-ddl").await;
    let _ = child.kill();
    let _ = child.wait();
    pair.source
        .sql(&format!(
            "USE `{db}`; ALTER TABLE t ADD COLUMN extra VARCHAR(10) DEFAULT 'x'; INSERT INTO t VALUES (2, 2, 'after'); CREATE TABLE n (id INT PRIMARY KEY); INSERT INTO n VALUES (1)"
        ))
        .await;
    crash_then_converge(home.path(), &job, "ddl.applied", &pair, &db).await;
}

/// Schema `db` on the source: table `t` with one row, and a trigger that audits
/// each insert into `audit`.
async fn audited_table(pair: &support::Pair, db: &str) {
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`; CREATE TABLE t (id INT PRIMARY KEY, v INT); CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, tid INT);
             CREATE TRIGGER t_audit AFTER INSERT ON t FOR EACH ROW INSERT INTO audit (tid) VALUES (NEW.id);
             INSERT INTO t VALUES (1, 1)"
        ))
        .await;
}

/// The cutover verified and created the triggers, the job not yet marked
/// completed: `complete` again finishes it without following the binlog again, so
/// the triggers never fire on replayed rows.
#[tokio::test]
async fn crash_during_the_cutover() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("fpk_");
    audited_table(&pair, &db).await;
    let job = home.path().join("job.toml");
    all_job(&job, &pair, "fp-cut", &db, "");
    let jp = job.to_str().unwrap();
    let mut child = spawn_run(home.path(), &job);
    wait_sync(&mut child, &pair.target, "fp-cut").await;
    pair.source
        .sql(&format!("INSERT INTO `{db}`.t VALUES (2, 2), (3, 3)"))
        .await;
    wait_equal(&mut child, &pair, &db).await;
    let _ = child.kill();
    let _ = child.wait();
    // More rows before the cutover: they are applied by the crashing run.
    pair.source
        .sql(&format!("INSERT INTO `{db}`.t VALUES (4, 4)"))
        .await;
    run_crashing(home.path(), &["complete", jp], "cutover.verified");
    assert_eq!(
        phase(&pair.target, "fp-cut").await.as_deref(),
        Some("completing")
    );
    let out = ferry(home.path(), &["complete", jp]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        phase(&pair.target, "fp-cut").await.as_deref(),
        Some("completed")
    );
    compare_db(&pair, &db).await.unwrap();
    let triggers: Vec<u64> = pair
        .target
        .query(&format!(
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{db}_s'"
        ))
        .await;
    assert_eq!(triggers, vec![1]);
}

/// The rollback (the reverse sync's cutover) verified and gave the source its
/// triggers back, then the process died: the next run finishes the rollback
/// without following the target's binlog again, and the source has every
/// write the application made on the target, each audited once.
#[tokio::test]
async fn crash_during_the_rollback() {
    // A pair of its own: the target writes a binlog, which the reverse sync reads.
    let pair = support::Pair::start_with(true);
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("fpr_");
    audited_table(&pair, &db).await;
    let job = home.path().join("job.toml");
    all_job(
        &job,
        &pair,
        "fp-back",
        &db,
        "[incremental]\nreverse = \"until-released\"\n",
    );
    let jp = job.to_str().unwrap();
    let mut child = spawn_run(home.path(), &job);
    wait_sync(&mut child, &pair.target, "fp-back").await;
    let out = ferry(home.path(), &["complete", jp]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Written on the target while the reverse sync runs, and while none runs.
    pair.target
        .sql(&format!("INSERT INTO `{db}_s`.t VALUES (2, 2), (3, 3)"))
        .await;
    wait_equal(&mut child, &pair, &db).await;
    let _ = child.kill();
    let _ = child.wait();
    pair.target
        .sql(&format!("INSERT INTO `{db}_s`.t VALUES (4, 4)"))
        .await;
    run_crashing(home.path(), &["rollback", jp], "cutover.verified");
    let out = ferry(home.path(), &["run", jp]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    compare_db(&pair, &db).await.unwrap();
    let audited: Vec<u64> = pair
        .source
        .query(&format!("SELECT COUNT(*) FROM `{db}`.audit WHERE tid > 1"))
        .await;
    assert_eq!(audited, vec![3], "each row the target took audited once");
    let triggers: Vec<u64> = pair
        .source
        .query(&format!(
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{db}'"
        ))
        .await;
    assert_eq!(triggers, vec![1]);
    let out = ferry(home.path(), &["status", jp]);
    assert!(
        text(&out).contains("reverse sync rolled back"),
        "{}",
        text(&out)
    );
}

/// A merged table's DDL ran once every shard reached it, then the process died
/// before any shard's checkpoint passed it: the resumed job finds the lock
/// resolved (in the meta schema), every shard goes on without waiting for the
/// others, and none runs the statement twice into an error.
#[tokio::test]
async fn crash_after_a_merged_tables_ddl_before_the_shards_pass_it() {
    let pair = support::pair();
    let b = support::Server::start("fp-shard-b", 7, true, None);
    let home = tempfile::tempdir().unwrap();
    let p = support::unique("fps");
    let table = "CREATE TABLE orders (id INT PRIMARY KEY, v INT)";
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{p}_a`; USE `{p}_a`; {table}; INSERT INTO orders VALUES (1, 1);"
        ))
        .await;
    b.sql(&format!(
        "CREATE DATABASE `{p}_b`; USE `{p}_b`; {table}; INSERT INTO orders VALUES (101, 1);"
    ))
    .await;
    let job = home.path().join("merge.toml");
    std::fs::write(
        &job,
        format!(
            "name = \"fp-merge\"\nmode = \"all\"\n\
             [source]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n\
             [[shards]]\nname = \"b\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n\
             [target]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n\
             [objects]\ninclude = [\"{p}_*.*\"]\n\
             [[objects.route]]\nfrom = \"{p}_*.orders\"\nto = \"{p}_m.orders\"\n",
            pair.source.port, b.port, pair.target.port
        ),
    )
    .unwrap();
    let jp = job.to_str().unwrap();
    let mut child = ferry_cmd(home.path(), &["run", jp])
        .env("FERRY_FAILPOINT", "ddl.applied")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("both sources syncing", &mut child, async || {
        phase(&pair.target, "fp-merge").await.as_deref() == Some("sync")
            && phase(&pair.target, "fp-merge.b").await.as_deref() == Some("sync")
    })
    .await;
    pair.source
        .sql(&format!("ALTER TABLE `{p}_a`.orders ADD COLUMN n INT NULL"))
        .await;
    b.sql(&format!("ALTER TABLE `{p}_b`.orders ADD COLUMN n INT NULL"))
        .await;
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(99), "the failpoint was not reached");
    let pending: Vec<String> = pair
        .target
        .query("SELECT pending FROM ferry_meta.shard_ddl WHERE job = 'fp-merge'")
        .await;
    assert_eq!(pending.len(), 1, "the resolved lock is recorded");
    assert!(
        pending[0].contains("\"source\"") && pending[0].contains("\"b\""),
        "{pending:?}"
    );

    let mut child = spawn_run(home.path(), &job);
    pair.source
        .sql(&format!("INSERT INTO `{p}_a`.orders VALUES (2, 2, 20)"))
        .await;
    b.sql(&format!("INSERT INTO `{p}_b`.orders VALUES (102, 2, 21)"))
        .await;
    wait_for("both shards' rows after the DDL", &mut child, async || {
        let n: Vec<Option<i64>> = pair
            .target
            .query(&format!(
                "SELECT n FROM `{p}_m`.orders WHERE id IN (2, 102) ORDER BY id"
            ))
            .await;
        n == [Some(20), Some(21)]
    })
    .await;
    let left: Vec<u64> = pair
        .target
        .query("SELECT COUNT(*) FROM ferry_meta.shard_ddl WHERE job = 'fp-merge'")
        .await;
    assert_eq!(left, [0], "both shards passed the lock");
    let out = ferry(home.path(), &["complete", jp]);
    assert!(out.status.success(), "{}", text(&out));
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<(i64, i64, Option<i64>)> = pair
        .target
        .query(&format!("SELECT id, v, n FROM `{p}_m`.orders ORDER BY id"))
        .await;
    assert_eq!(
        rows,
        [
            (1, 1, None),
            (2, 2, Some(20)),
            (101, 1, None),
            (102, 2, Some(21))
        ]
    );
}
