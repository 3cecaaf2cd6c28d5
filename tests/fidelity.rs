//! The target ends equal to the source on what real sources write: binlog
//! rotations and a restarted source, savepoints and XA, values a permissive
//! session stored, padded binary and negative fractional times, MariaDB's DDL
//! dialect, renames and online schema changes. Each test runs `ferry` as a user
//! would and compares both sides itself (ordered rows and CHECKSUM TABLE), not
//! through Ferry's own verification.

mod support;

use support::job::*;
use support::Server;

fn name_of(db: &str) -> String {
    db.replace('_', "-")
}

/// Rotations (FLUSH BINARY LOGS, twice) and a source killed and restarted in the
/// middle of a sync under writes; then Ferry itself is killed and restarted. The
/// job resumes, completes and the target equals the source.
#[tokio::test]
async fn rotations_and_a_source_restart_lose_nothing() {
    // A pair of its own: the source is restarted.
    let mut pair = support::Pair::start();
    let home = tempfile::tempdir().unwrap();
    let db = "rot";
    pair.source
        .sql(&format!(
            "CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(40)); INSERT INTO {db}.t VALUES (1, 'copied')"
        ))
        .await;
    let job = home.path().join("job.toml");
    all_job(&job, &pair, "rot", db, "");
    let mut child = spawn_run(home.path(), &job);
    wait_sync(&mut child, &pair.target, "rot").await;
    for round in 0..3 {
        pair.source
            .sql(&format!(
                "INSERT INTO {db}.t VALUES ({}, 'before flush'); FLUSH BINARY LOGS; INSERT INTO {db}.t VALUES ({}, 'after flush'); UPDATE {db}.t SET v = 'updated' WHERE id = 1",
                10 + round * 2,
                11 + round * 2
            ))
            .await;
    }
    wait_equal(&mut child, &pair, db).await;
    // The applied position names a real file.
    let out = ferry(home.path(), &["status", "--json", job.to_str().unwrap()]);
    let status = text(&out);
    assert!(status.contains("binlog.000004"), "{status}");
    // The source dies (SIGKILL) and comes back; Ferry reconnects by itself.
    pair.source.restart(true);
    pair.source
        .sql(&format!(
            "INSERT INTO {db}.t VALUES (100, 'after the source restart')"
        ))
        .await;
    wait_equal(&mut child, &pair, db).await;
    // Ferry dies too, during more writes, and resumes from its checkpoint.
    pair.source
        .sql(&format!("INSERT INTO {db}.t VALUES (101, 'x'); FLUSH BINARY LOGS; DELETE FROM {db}.t WHERE id = 10"))
        .await;
    let _ = child.kill();
    let _ = child.wait();
    pair.source.restart(false);
    pair.source
        .sql(&format!(
            "INSERT INTO {db}.t VALUES (102, 'after both restarts')"
        ))
        .await;
    let mut child = spawn_run(home.path(), &job);
    wait_equal(&mut child, &pair, db).await;

    // Under a write load: the source is killed (SIGKILL) and started again, and so
    // is Ferry, while transactions keep coming; the writer reconnects by itself.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let opts = pair.source.root_opts();
        tokio::spawn(async move {
            use mysql_async::prelude::Queryable;
            let mut done = 0u32;
            let mut i = 1000u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(mut conn) = mysql_async::Conn::new(opts.clone()).await else {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                };
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let sql = format!(
                        "START TRANSACTION; INSERT INTO rot.t VALUES ({i}, 'load'); UPDATE rot.t SET v = CONCAT('u', {i}) WHERE id = {}; DELETE FROM rot.t WHERE id = {}; COMMIT",
                        i - 3,
                        i - 7
                    );
                    if conn.query_drop(sql).await.is_err() {
                        break;
                    }
                    done += 1;
                }
            }
            done
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    pair.source.restart(true);
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let _ = child.kill();
    let _ = child.wait();
    let mut child = spawn_run(home.path(), &job);
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    pair.source.restart(true);
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let transactions = writer.await.unwrap();
    assert!(
        transactions > 50,
        "the load ran ({transactions} transactions)"
    );
    wait_equal(&mut child, &pair, db).await;
    let out = ferry(home.path(), &["complete", job.to_str().unwrap()]);
    let run = finish(child);
    assert_eq!(out.status.code(), Some(0), "{}\n{run:?}", text(&out));
    compare_db(&pair, db).await.unwrap();
}

/// Values the source accepted under a permissive session `sql_mode` (invalid and
/// zero dates, ENUM's error value, an id of 0) arrive as stored, by the copy and
/// by the sync.
#[tokio::test]
async fn values_stored_under_a_permissive_sql_mode_arrive_as_they_are() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("perm_");
    let table = "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, d DATE, dt DATETIME, e ENUM('a','b'), note VARCHAR(20))";
    let rows = |base: u32| {
        format!(
            "SET SESSION sql_mode = 'ALLOW_INVALID_DATES'; INSERT INTO t VALUES ({}, '2024-02-30', '2023-04-31 10:00:00', 'a', 'invalid');
             SET SESSION sql_mode = ''; INSERT INTO t VALUES ({}, '0000-00-00', '0000-00-00 00:00:00', '', 'zero'), ({}, '2024-00-10', '2024-05-00 01:02:03', 'x', 'zero part');
             SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'; INSERT INTO t VALUES ({}, NULL, NULL, NULL, 'id zero')",
            base + 1,
            base + 2,
            base + 3,
            if base == 0 { "0".to_string() } else { (base + 4).to_string() }
        )
    };
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`; {table}; {}",
            rows(0)
        ))
        .await;
    let name = name_of(&db);
    let job = home.path().join("job.toml");
    all_job(&job, &pair, &name, &db, "");
    let mut child = spawn_run(home.path(), &job);
    wait_sync(&mut child, &pair.target, &name).await;
    pair.source
        .sql(&format!(
            "USE `{db}`; {}; SET SESSION sql_mode = ''; UPDATE t SET d = '2025-02-31' WHERE id = 1; CREATE TABLE t2 LIKE t; SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'; INSERT INTO t2 VALUES (0, '0000-00-00', NULL, '', 'in sync')",
            rows(100)
        ))
        .await;
    wait_equal(&mut child, &pair, &db).await;
    let zero: Vec<u32> = pair
        .target
        .query(&format!("SELECT id FROM `{db}_s`.t2"))
        .await;
    assert_eq!(zero, vec![0]);
    let _ = child.kill();
    let _ = child.wait();
}

/// Transactions with savepoints (and a rollback to one), and XA transactions
/// (two-phase committed, one-phase, and rolled back after PREPARE): only what the
/// source committed arrives, and no row of a transaction is dropped.
#[tokio::test]
async fn savepoints_and_xa_transactions_keep_their_rows() {
    let pair = support::pair();
    let Synced { db, mut child, .. } = synced(
        &pair,
        "xa_",
        |db| {
            format!(
            "CREATE DATABASE `{db}`; USE `{db}`; CREATE TABLE t (id INT PRIMARY KEY, v INT); CREATE TABLE m (id INT PRIMARY KEY) ENGINE=MyISAM; INSERT INTO t VALUES (0, 0)"
            )
        },
        "",
    )
    .await;
    let x = |n: &str| format!("{db}{n}");
    pair.source
        .sql(&format!(
            "USE `{db}`;
             BEGIN; INSERT INTO t VALUES (1, 1); SAVEPOINT s1; INSERT INTO t VALUES (2, 2); ROLLBACK TO SAVEPOINT s1; INSERT INTO t VALUES (3, 3); COMMIT;
             BEGIN; INSERT INTO t VALUES (4, 4); SAVEPOINT s1; INSERT INTO m VALUES (1); INSERT INTO t VALUES (5, 5); ROLLBACK TO SAVEPOINT s1; UPDATE t SET v = 40 WHERE id = 4; COMMIT;
             BEGIN; INSERT INTO t VALUES (6, 6); SAVEPOINT a; UPDATE t SET v = 60 WHERE id = 6; SAVEPOINT b; DELETE FROM t WHERE id = 0; RELEASE SAVEPOINT b; COMMIT;
             XA START '{}'; INSERT INTO t VALUES (10, 10); UPDATE t SET v = 11 WHERE id = 1; XA END '{}'; XA PREPARE '{}'; XA COMMIT '{}';
             XA START '{}'; INSERT INTO t VALUES (20, 20); XA END '{}'; XA COMMIT '{}' ONE PHASE;
             XA START '{}'; INSERT INTO t VALUES (30, 30); DELETE FROM t WHERE id = 3; XA END '{}'; XA PREPARE '{}'; XA ROLLBACK '{}';
             INSERT INTO t VALUES (99, 99);",
            x("a"), x("a"), x("a"), x("a"), x("b"), x("b"), x("b"), x("c"), x("c"), x("c"), x("c")
        ))
        .await;
    wait_equal(&mut child, &pair, &db).await;
    let ids: Vec<u32> = pair
        .target
        .query(&format!("SELECT id FROM `{db}_s`.t ORDER BY id"))
        .await;
    assert_eq!(ids, vec![1, 3, 4, 6, 10, 20, 99]);
    let _ = child.kill();
    let _ = child.wait();
}

/// Types whose row images need care: BINARY(n), INET4, INET6 and UUID ending in
/// 0x00 (the server strips the padding; an INET4 `0.0.0.0` would arrive empty and
/// be written as NULL), BIT and BINARY in keyless tables, negative TIME with one
/// or two fractional digits. A table created during the sync is verified at the
/// cutover like the others.
#[tokio::test]
async fn padded_binary_bits_inet_uuid_and_negative_times_arrive_equal() {
    let pair = support::pair();
    let Synced {
        home,
        job,
        db,
        mut child,
        ..
    } = synced(
        &pair,
        "edge_",
        |db| {
            format!(
                "CREATE DATABASE `{db}`; USE `{db}`;
             CREATE TABLE bin (k BINARY(4) PRIMARY KEY, v INT);
             CREATE TABLE loose (b BIT(10), k BINARY(3), n INT);
             CREATE TABLE net (id INT PRIMARY KEY, a INET6, u UUID, v4 INET4);
             INSERT INTO bin VALUES (x'61000000', 1), (x'00', 2), (x'62620000', 3);
             INSERT INTO loose VALUES (b'1010', x'0100', 1), (b'0', x'', 2)"
            )
        },
        "",
    )
    .await;
    pair.source
        .sql(&format!(
            "USE `{db}`;
             INSERT INTO bin VALUES (x'63000000', 4), (x'7a7a7a00', 5);
             DELETE FROM bin WHERE k = x'61000000';
             UPDATE bin SET k = x'64000000' WHERE k = x'62620000';
             UPDATE bin SET v = 50 WHERE k = x'7a7a7a00';
             INSERT INTO loose VALUES (b'1111111111', x'000000', 3), (b'1', x'ff00', 4);
             UPDATE loose SET n = 10 WHERE n = 1;
             DELETE FROM loose WHERE n = 2;
             INSERT INTO net VALUES (1, '::', '00000000-0000-0000-0000-000000000000', '0.0.0.0'),
                                    (2, '::1', NULL, '10.0.0.0'), (3, 'fe80::1:0', '11111111-2222-3333-4444-555555550000', '1.2.0.0'),
                                    (4, '::', '00000000-0000-0000-0000-000000000000', '0.0.0.1');
             UPDATE net SET a = '2001:db8::' WHERE id = 1;
             UPDATE net SET v4 = '0.0.0.0' WHERE id = 4;
             CREATE TABLE times (id INT PRIMARY KEY, t1 TIME(1), t2 TIME(2), t4 TIME(4), t6 TIME(6));
             INSERT INTO times VALUES (1, '-00:00:00.1', '-00:00:00.01', '-00:00:00.0001', '-00:00:00.000001'),
                                      (2, '-12:34:56.5', '-838:59:58.99', '-100:00:00.5', '-1:00:00.5'),
                                      (3, '00:00:00.1', '838:59:59.99', '-0:0:1.0', NULL);"
        ))
        .await;
    wait_equal(&mut child, &pair, &db).await;
    let out = ferry(home.path(), &["complete", job.to_str().unwrap()]);
    let run = finish(child);
    assert_eq!(out.status.code(), Some(0), "{}\n{run:?}", text(&out));
    // Four tables at the cutover, the one created during the sync among them.
    assert!(run.1.contains("verified: 4 tables equal"), "{run:?}");
    compare_db(&pair, &db).await.unwrap();
}

/// MariaDB's own DDL during the sync, renames (a table renamed with ALTER, two
/// tables swapped through a temporary name), an online schema change done the
/// way pt-online-schema-change does it (shadow table, helper triggers, chunked
/// copy, atomic swap) and `CREATE TABLE … SELECT` (the table and its rows in one
/// transaction): the target follows, with every row.
#[tokio::test]
async fn mariadb_ddl_renames_and_online_schema_changes_follow() {
    let pair = support::pair();
    let Synced { home, job, db, mut child, .. } = synced(
        &pair,
        "ddl_",
        |db| {
            format!(
            "CREATE DATABASE `{db}`; USE `{db}`;
             CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10));
             CREATE TABLE b (id INT PRIMARY KEY, w INT);
             CREATE TABLE r (id INT PRIMARY KEY);
             CREATE TABLE big (id INT PRIMARY KEY, v INT);
             INSERT INTO a VALUES (1, 'a1'); INSERT INTO b VALUES (1, 100); INSERT INTO r VALUES (1);
             INSERT INTO big SELECT seq, seq FROM seq_1_to_500"
            )
        },
        "",
    )
    .await;
    pair.source
        .sql(&format!(
            "USE `{db}`;
             ALTER TABLE a ADD COLUMN IF NOT EXISTS extra INT DEFAULT 7;
             ALTER TABLE a ADD COLUMN IF NOT EXISTS extra INT DEFAULT 7;
             ALTER TABLE a COMMENT 'commented';
             ALTER TABLE a ADD COLUMN secret INT INVISIBLE DEFAULT 5, ALGORITHM=INSTANT;
             OPTIMIZE TABLE a; ANALYZE TABLE b; REPAIR TABLE r;
             INSERT INTO a (id, v, extra, secret) VALUES (2, 'a2', 8, 9);
             ALTER TABLE r RENAME TO r2;
             INSERT INTO r2 VALUES (2);
             RENAME TABLE a TO tmp, b TO a, tmp TO b;
             INSERT INTO a VALUES (2, 200);
             INSERT INTO b (id, v) VALUES (3, 'b3');
             CREATE TABLE `_big_new` LIKE big;
             ALTER TABLE `_big_new` ADD COLUMN added INT NOT NULL DEFAULT 1;
             CREATE TRIGGER `pt_osc_{db}_big_del` AFTER DELETE ON big FOR EACH ROW DELETE IGNORE FROM `_big_new` WHERE `_big_new`.id <=> OLD.id;
             CREATE TRIGGER `pt_osc_{db}_big_upd` AFTER UPDATE ON big FOR EACH ROW REPLACE INTO `_big_new` (id, v) VALUES (NEW.id, NEW.v);
             CREATE TRIGGER `pt_osc_{db}_big_ins` AFTER INSERT ON big FOR EACH ROW REPLACE INTO `_big_new` (id, v) VALUES (NEW.id, NEW.v);
             INSERT LOW_PRIORITY IGNORE INTO `_big_new` (id, v) SELECT id, v FROM big WHERE id <= 250 LOCK IN SHARE MODE;
             UPDATE big SET v = -1 WHERE id = 10; DELETE FROM big WHERE id = 20; INSERT INTO big VALUES (1000, 1000);
             INSERT LOW_PRIORITY IGNORE INTO `_big_new` (id, v) SELECT id, v FROM big WHERE id > 250 LOCK IN SHARE MODE;
             RENAME TABLE big TO `_big_old`, `_big_new` TO big;
             DROP TABLE IF EXISTS `_big_old`;
             DROP TRIGGER IF EXISTS `pt_osc_{db}_big_del`; DROP TRIGGER IF EXISTS `pt_osc_{db}_big_upd`; DROP TRIGGER IF EXISTS `pt_osc_{db}_big_ins`;
             INSERT INTO big VALUES (2000, 2000, 2);
             CREATE TABLE made (PRIMARY KEY (id)) SELECT id, w FROM a;
             INSERT INTO made VALUES (99, 9);
             CREATE TABLE made_too (PRIMARY KEY (id)) AS SELECT id, v FROM big WHERE id <= 100;
             UPDATE made_too SET v = 0 WHERE id = 1;"
        ))
        .await;
    wait_equal(&mut child, &pair, &db).await;
    let tables = tables_of(&pair.target, &format!("{db}_s")).await;
    assert_eq!(tables, vec!["a", "b", "big", "made", "made_too", "r2"]);
    let triggers: Vec<u64> = pair
        .target
        .query(&format!(
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{db}_s'"
        ))
        .await;
    assert_eq!(
        triggers,
        vec![0],
        "helper triggers must not fire on the target"
    );
    let out = ferry(home.path(), &["complete", job.to_str().unwrap()]);
    let run = finish(child);
    assert_eq!(out.status.code(), Some(0), "{}\n{run:?}", text(&out));
    compare_db(&pair, &db).await.unwrap();
}

/// Rows the binlog does not carry in full stop the sync with the table, the
/// position and the cause instead of being applied wrong or dropped: a session
/// with binlog_row_image = MINIMAL, and one with binlog_format = STATEMENT.
#[tokio::test]
async fn partial_row_images_and_statement_rows_stop_with_their_cause() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    for (tag, session, code) in [
        (
            "min",
            "SET SESSION binlog_row_image = 'MINIMAL'",
            "replicate.partial_row_image",
        ),
        (
            "stm",
            "SET SESSION binlog_format = 'STATEMENT'",
            "replicate.statement_logged",
        ),
    ] {
        let db = support::unique(&format!("{tag}_"));
        pair.source
            .sql(&format!(
                "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a INT, b INT); INSERT INTO `{db}`.t VALUES (1, 1, 1)"
            ))
            .await;
        let name = name_of(&db);
        let job = home.path().join(format!("{tag}.toml"));
        all_job(&job, &pair, &name, &db, "");
        let mut child = spawn_run(home.path(), &job);
        wait_sync(&mut child, &pair.target, &name).await;
        pair.source
            .sql(&format!(
                "{session}; UPDATE `{db}`.t SET a = 2 WHERE id = 1"
            ))
            .await;
        let (code_out, out) = finish(child);
        assert_eq!(code_out, Some(1), "{out}");
        assert!(out.contains(code), "{out}");
        assert!(out.contains(&format!("{db}.t")), "{out}");
    }
}

/// Foreign-key actions: InnoDB does not binlog the child rows that ON DELETE
/// CASCADE, ON UPDATE CASCADE and SET NULL change. The target makes the same
/// changes (three levels deep), a REPLACE and a delete-then-reinsert of a parent
/// cascade as on the source, and a parent deleted with foreign_key_checks = 0
/// keeps its children, as on the source.
#[tokio::test]
async fn foreign_key_cascades_reach_the_target() {
    let pair = support::pair();
    let Synced {
        home,
        db,
        job,
        mut child,
        ..
    } = synced(
        &pair,
        "fk_",
        |db| {
            format!(
            "CREATE DATABASE `{db}`; USE `{db}`;
             CREATE TABLE p (id INT PRIMARY KEY, code INT UNIQUE, name VARCHAR(10));
             CREATE TABLE c (id INT PRIMARY KEY, pid INT, pcode INT,
               FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE,
               FOREIGN KEY (pcode) REFERENCES p (code) ON UPDATE CASCADE ON DELETE SET NULL);
             CREATE TABLE g (id INT PRIMARY KEY, cid INT, FOREIGN KEY (cid) REFERENCES c (id) ON DELETE CASCADE);
             CREATE TABLE n (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES p (id) ON DELETE SET NULL);
             INSERT INTO p SELECT seq, seq * 10, CONCAT('p', seq) FROM seq_1_to_9;
             INSERT INTO c SELECT seq, seq, seq * 10 FROM seq_1_to_9;
             INSERT INTO c SELECT 100 + seq, 9, seq * 10 FROM seq_1_to_8;
             INSERT INTO g SELECT seq, seq FROM seq_1_to_9;
             INSERT INTO n SELECT seq, seq FROM seq_1_to_9;"
            )
        },
        "[incremental]\napply_workers = 2\n",
    )
    .await;
    pair.source
        .sql(&format!(
            "USE `{db}`;
             DELETE FROM p WHERE id = 1;
             UPDATE p SET code = 200 WHERE id = 2;
             DELETE FROM p WHERE id = 3;
             REPLACE INTO p VALUES (4, 40, 'replaced');
             INSERT INTO p VALUES (10, 100, 'new'); INSERT INTO c VALUES (10, 10, 100); INSERT INTO g VALUES (10, 10);
             DELETE FROM p WHERE id = 10;
             BEGIN; DELETE FROM p WHERE id = 7; INSERT INTO p VALUES (7, 70, 'again'); COMMIT;
             UPDATE c SET pid = 8 WHERE id = 101;
             SET SESSION foreign_key_checks = 0; DELETE FROM p WHERE id = 5; SET SESSION foreign_key_checks = 1;
             INSERT INTO n VALUES (20, 6);"
        ))
        .await;
    wait_equal(&mut child, &pair, &db).await;
    let out = ferry(home.path(), &["complete", job.to_str().unwrap()]);
    let run = finish(child);
    assert_eq!(out.status.code(), Some(0), "{}\n{run:?}", text(&out));
    compare_db(&pair, &db).await.unwrap();
}

/// Keeps `Server` in use for tests that start their own.
#[allow(dead_code)]
fn _server(_: &Server) {}

/// A row that grows past 16 MiB by small updates (each statement small, each row
/// event holding the whole row twice): the reader takes events larger than the
/// source's max_allowed_packet, and the row arrives whole.
#[tokio::test]
async fn rows_larger_than_16_mib_arrive_whole() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("big_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, b LONGBLOB); INSERT INTO `{db}`.t VALUES (1, 'start')"
        ))
        .await;
    // The target takes the row; the reader connects while the source's limit is
    // its default 16 MiB.
    pair.target
        .sql("SET GLOBAL max_allowed_packet = 67108864")
        .await;
    let name = name_of(&db);
    let job = home.path().join("job.toml");
    all_job(&job, &pair, &name, &db, "");
    let mut child = spawn_run(home.path(), &job);
    wait_sync(&mut child, &pair.target, &name).await;
    pair.source
        .sql("SET GLOBAL max_allowed_packet = 67108864")
        .await;
    let mut writer = pair.source.conn().await;
    pair.source
        .sql("SET GLOBAL max_allowed_packet = 16777216")
        .await;
    use mysql_async::prelude::Queryable;
    for _ in 0..5 {
        writer
            .query_drop(format!(
                "UPDATE `{db}`.t SET b = CONCAT(b, REPEAT('x', 4194304)) WHERE id = 1"
            ))
            .await
            .unwrap();
    }
    drop(writer);
    wait_for("the 20 MiB row", &mut child, async || {
        let len: Vec<u64> = pair
            .target
            .query(&format!("SELECT LENGTH(b) FROM `{db}_s`.t WHERE id = 1"))
            .await;
        len == vec![5 + 5 * 4194304]
    })
    .await;
    // Compared by digest: the row is larger than a test connection takes.
    let digest = |d: String| format!("SELECT id, MD5(b), LENGTH(b) FROM `{d}`.t ORDER BY id");
    let a: Vec<(u32, String, u64)> = pair.source.query(&digest(db.clone())).await;
    let b: Vec<(u32, String, u64)> = pair.target.query(&digest(format!("{db}_s"))).await;
    assert_eq!(a, b);
    let _ = child.kill();
    let _ = child.wait();
}

/// Server toggles mid-sync: binlog checksums off (which rotates the binlog),
/// full row metadata, then MariaDB's compression on (zlib-compressed query and
/// row events, which TiDB DM cannot read): the target follows all of it.
#[tokio::test]
async fn checksum_metadata_and_compression_toggles_follow() {
    let pair = support::Pair::start();
    let home = tempfile::tempdir().unwrap();
    let db = "tog";
    pair.source
        .sql(&format!(
            "CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY, u INT UNSIGNED, m MEDIUMINT, note TEXT); INSERT INTO {db}.t VALUES (1, 4294967295, -8388608, 'copied')"
        ))
        .await;
    let job = home.path().join("job.toml");
    all_job(&job, &pair, "tog", db, "");
    let mut child = spawn_run(home.path(), &job);
    wait_sync(&mut child, &pair.target, "tog").await;
    pair.source
        .sql(&format!(
            "SET GLOBAL binlog_checksum = NONE; INSERT INTO {db}.t VALUES (2, 4000000000, -1, 'no checksum');
             SET GLOBAL binlog_row_metadata = FULL; INSERT INTO {db}.t VALUES (3, 4294967294, 8388607, 'full metadata');
             UPDATE {db}.t SET u = 1 WHERE id = 1;
             SET GLOBAL binlog_checksum = CRC32; FLUSH BINARY LOGS; INSERT INTO {db}.t VALUES (4, 5, 5, 'checksum again')"
        ))
        .await;
    wait_equal(&mut child, &pair, db).await;
    // Compressed from here (a new session takes the global): rows in every kind
    // of event, long enough to be compressed, and a DDL longer than
    // log_bin_compress_min_len, so it is a compressed query event too.
    pair.source
        .sql("SET GLOBAL log_bin_compress = ON, GLOBAL log_bin_compress_min_len = 10")
        .await;
    let comment = "a comment long enough to be compressed ".repeat(10);
    pair.source
        .sql(&format!(
            "INSERT INTO {db}.t VALUES (5, 5, 5, REPEAT('compressible ', 100)), (6, 6, 6, REPEAT('x', 60000));
             UPDATE {db}.t SET note = CONCAT(note, REPEAT(' more', 50)) WHERE id IN (1, 5);
             DELETE FROM {db}.t WHERE id = 2;
             ALTER TABLE {db}.t ADD COLUMN extra VARCHAR(20) DEFAULT 'added' COMMENT '{comment}';
             INSERT INTO {db}.t (id, u, m, note, extra) VALUES (7, 7, 7, REPEAT('after the DDL ', 40), 'seven');
             FLUSH BINARY LOGS; INSERT INTO {db}.t VALUES (8, 8, 8, REPEAT('rotated ', 40), 'eight')"
        ))
        .await;
    // The source did write compressed events (else this test proves nothing).
    assert!(
        compressed_events(&pair.source).await > 0,
        "the source wrote no compressed events"
    );
    wait_equal(&mut child, &pair, db).await;
    let out = ferry(home.path(), &["complete", job.to_str().unwrap()]);
    let (code, run) = finish(child);
    assert_eq!(out.status.code(), Some(0), "{}\n{run}", text(&out));
    assert_eq!(code, Some(0), "{run}");
    compare_db(&pair, db).await.unwrap();
}

/// How many compressed events the source's current binlog holds.
async fn compressed_events(source: &Server) -> usize {
    let files: Vec<(String, u64)> = source.query("SHOW BINARY LOGS").await;
    let mut n = 0;
    for (file, _) in files {
        let events: Vec<(String, u64, String, u64, u64, String)> = source
            .query(&format!("SHOW BINLOG EVENTS IN '{file}'"))
            .await;
        n += events
            .iter()
            .filter(|e| e.2.to_ascii_lowercase().contains("compressed"))
            .count();
    }
    n
}

/// Runs a SQL file through the `mariadb` client (it knows DELIMITER), as a DBA
/// would, against `db` on `server`.
fn mariadb_file(server: &Server, db: &str, file: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let input = std::fs::File::open(&path).unwrap();
    let out = std::process::Command::new("mariadb")
        .args(["--no-defaults", "-h127.0.0.1", "-uroot", "--batch"])
        .arg(format!("-P{}", server.port))
        .arg(db)
        .stdin(input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The edge-case corpus (tests/corpus): every type at its limits and with NULLs,
/// charsets, padded binary, generated and invisible columns, a 300-column table,
/// keyless tables, MyISAM and Aria, partitions, cascades, key updates and swaps,
/// collation-equal keys, upserts, multi-table statements, triggers, routines,
/// savepoints, XA, one transaction of 45 000 changes, rotations, MariaDB DDL and
/// renames — copied, then changed during the sync, through `mode = "all"`, with
/// two apply workers. Source and target compared table by table.
#[tokio::test]
async fn the_edge_case_corpus_arrives_equal() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("corpus_");
    pair.source.sql(&format!("CREATE DATABASE `{db}`")).await;
    mariadb_file(&pair.source, &db, "tests/corpus/schema.sql");
    let name = name_of(&db);
    let job = home.path().join("job.toml");
    all_job(
        &job,
        &pair,
        &name,
        &db,
        "[incremental]\napply_workers = 2\n",
    );
    let mut child = spawn_run(home.path(), &job);
    wait_sync(&mut child, &pair.target, &name).await;
    compare_db(&pair, &db).await.unwrap();
    mariadb_file(&pair.source, &db, "tests/corpus/changes.sql");
    wait_equal(&mut child, &pair, &db).await;
    let out = ferry(home.path(), &["complete", job.to_str().unwrap()]);
    let run = finish(child);
    assert_eq!(out.status.code(), Some(0), "{}\n{run:?}", text(&out));
    compare_db(&pair, &db).await.unwrap();
    // The trigger is on the target now, the view too.
    let objects: Vec<(String, String)> = pair
        .target
        .query(&format!(
            "SELECT 'trigger', TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{db}_s' UNION ALL SELECT 'view', TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '{db}_s' ORDER BY 1, 2"
        ))
        .await;
    assert_eq!(
        objects,
        vec![
            ("trigger".to_string(), "ints_audit".to_string()),
            ("view".to_string(), "uk_view".to_string())
        ]
    );
}

/// Keys that the column's collation treats as equal ('key1' and 'KEY1 ' under a
/// `_ci`, PAD SPACE collation) are one row to the target: with parallel apply
/// workers they must land on the same worker, or a delete of one spelling and a
/// write of the other race. Each round renames every key to another spelling.
#[tokio::test]
async fn collation_equal_keys_do_not_race_between_workers() {
    let pair = support::pair();
    let Synced { db, mut child, .. } = synced(
        &pair,
        "coll_",
        |db| {
            format!(
                "CREATE DATABASE `{db}`; USE `{db}`; CREATE TABLE ci (k VARCHAR(20) COLLATE utf8mb4_general_ci PRIMARY KEY, v INT);
                 INSERT INTO ci SELECT CONCAT('key', seq), seq FROM seq_1_to_400"
            )
        },
        "[incremental]\napply_workers = 4\n",
    )
    .await;
    for round in 0..4 {
        let spelling = match round % 4 {
            0 => "UPPER(k)",
            1 => "CONCAT(LOWER(k), ' ')",
            2 => "CONCAT(UPPER(LEFT(k, 1)), LOWER(SUBSTRING(k, 2)))",
            _ => "LOWER(TRIM(k))",
        };
        pair.source
            .sql(&format!("UPDATE `{db}`.ci SET k = {spelling}, v = v + 1"))
            .await;
    }
    wait_equal(&mut child, &pair, &db).await;
    let _ = child.kill();
    let _ = child.wait();
}

/// The real pt-online-schema-change (Debian's percona-toolkit) alters a synced
/// table while writes go on, with a selection that names the table rather than a
/// wildcard: its shadow table, helper triggers, chunked copy and final swap are
/// followed, the ALTER reaches the target table and no row is lost.
#[tokio::test]
async fn pt_online_schema_change_is_followed() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("osc_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; USE `{db}`; CREATE TABLE big (id INT PRIMARY KEY, v INT, note VARCHAR(20)); INSERT INTO big SELECT seq, seq, 'copied' FROM seq_1_to_3000; CREATE TABLE other (id INT PRIMARY KEY)"
        ))
        .await;
    let name = name_of(&db);
    let job = home.path().join("job.toml");
    std::fs::write(
        &job,
        format!(
            "name = \"{name}\"\nmode = \"all\"\n[source]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n[target]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n[objects]\ninclude = [\"{db}.big\"]\n[[objects.route]]\nfrom = \"{db}.*\"\nto = \"{db}_s.*\"\n",
            pair.source.port, pair.target.port
        ),
    )
    .unwrap();
    let mut child = spawn_run(home.path(), &job);
    wait_sync(&mut child, &pair.target, &name).await;
    // Writes during the whole change.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let opts = pair.source.root_opts();
        let db = db.clone();
        tokio::spawn(async move {
            use mysql_async::prelude::Queryable;
            let mut conn = mysql_async::Conn::new(opts).await.unwrap();
            let mut i = 10_000;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                conn.query_drop(format!(
                    "INSERT INTO `{db}`.big (id, v, note) VALUES ({i}, {i}, 'during'); UPDATE `{db}`.big SET v = v + 1 WHERE id = {}; DELETE FROM `{db}`.big WHERE id = {}",
                    i % 3000 + 1,
                    (i * 7) % 3000 + 1
                ))
                .await
                .unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    };
    let out = std::process::Command::new("pt-online-schema-change")
        .args([
            "--alter",
            "ADD COLUMN added INT NOT NULL DEFAULT 7, ADD INDEX k_v (v)",
            "--execute",
            "--chunk-size=500",
            "--no-check-replication-filters",
            "--recursion-method=none",
            "--alter-foreign-keys-method=auto",
        ])
        .arg(format!(
            "h=127.0.0.1,P={},u=root,D={db},t=big",
            pair.source.port
        ))
        .output()
        .expect("pt-online-schema-change (apt-get install percona-toolkit)");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    assert!(
        out.status.success(),
        "pt-online-schema-change: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dst = format!("{db}_s");
    let mut last = String::new();
    for _ in 0..300 {
        // Equal rows, and the swap's aftermath (DROP TABLE _big_old) applied too.
        match compare_table(&pair.source, &db, &pair.target, &dst, "big").await {
            Ok(()) if tables_of(&pair.target, &dst).await == vec!["big"] => {
                last.clear();
                break;
            }
            Ok(()) => last = format!("tables: {:?}", tables_of(&pair.target, &dst).await),
            Err(e) => last = e,
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(last.is_empty(), "{last}");
    let cols: Vec<String> = pair
        .target
        .query(&format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{dst}' AND TABLE_NAME = 'big' ORDER BY ORDINAL_POSITION"
        ))
        .await;
    assert_eq!(cols, vec!["id", "v", "note", "added"]);
    // Only the table remains on the target: no shadow, no helper trigger.
    assert_eq!(tables_of(&pair.target, &dst).await, vec!["big"]);
    let triggers: Vec<u64> = pair
        .target
        .query(&format!(
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{dst}'"
        ))
        .await;
    assert_eq!(triggers, vec![0]);
    let _ = child.kill();
    let _ = child.wait();
}

/// The app's Complete pressed while the source is down (the sync waits to retry)
/// is kept, and the cutover happens once the source is back.
#[tokio::test]
async fn a_cutover_asked_while_the_source_is_down_happens_when_it_is_back() {
    use ferry::control::Control;
    use ferry::events::EventSink;
    use ferry::job::{RunOptions, SyncEnd};
    use ferry::profile::Mode;
    // A pair of its own: the source is stopped.
    let mut pair = support::Pair::start();
    let db = "down";
    pair.source
        .sql(&format!(
            "CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO {db}.t VALUES (1, 'copied')"
        ))
        .await;
    let mut p =
        support::precheck::profile(&pair.source, &pair.target, Mode::All, &[format!("{db}.*")]);
    p.name = "down".into();
    let control = Control::default();
    let (sink, mut rx) = EventSink::channel();
    let ctl = control.clone();
    let run = tokio::spawn(async move {
        let opts = RunOptions {
            verify: true,
            control: ctl,
            queue: None,
            shard: None,
        };
        ferry::job::run(&p, opts, sink).await
    });
    wait_sync_event(&mut rx, "a synced sync", |s| s.synced).await;
    pair.source.stop(false);
    wait_sync_event(&mut rx, "a retry", |s| s.state == "retrying").await;
    control.complete(false, false);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    pair.source.start_again();
    let summary = tokio::time::timeout(std::time::Duration::from_secs(90), run)
        .await
        .expect("the cutover never happened: the request was lost")
        .unwrap()
        .expect("the job");
    assert_eq!(summary.sync_end, Some(SyncEnd::Completed));
    let rows: Vec<(u64, String)> = pair
        .target
        .query(&format!("SELECT id, v FROM {db}.t"))
        .await;
    assert_eq!(rows, vec![(1, "copied".to_string())]);
}

async fn wait_sync_event(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<ferry::events::JobEvent>,
    what: &str,
    want: fn(&ferry::events::SyncStatus) -> bool,
) {
    let found = tokio::time::timeout(std::time::Duration::from_secs(90), async {
        loop {
            match rx.recv().await {
                Some(ferry::events::JobEvent::Sync(s)) if want(&s) => return true,
                Some(_) => {}
                None => return false,
            }
        }
    })
    .await;
    assert_eq!(
        found,
        Ok(true),
        "waiting for {what}: the job ended or 90 s passed"
    );
}
