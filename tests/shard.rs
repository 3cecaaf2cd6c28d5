//! Jobs with several sources merging shards into one target table (DM's
//! multi-source task with shard merge): two MariaDB sources, one target, writes on
//! both during the sync and one DDL on both shards, checked against the sources
//! without Ferry (every row of the target equals the union of the shards' rows).

mod support;

use std::sync::Arc;

use support::job::{ferry, phase, spawn_run, text, wait_for};
use support::Server;

/// A second source beside the shared pair's, for the tests of this binary.
fn second_source() -> Arc<Server> {
    use std::sync::{Mutex, Weak};
    static SHARED: Mutex<Weak<Server>> = Mutex::new(Weak::new());
    let mut guard = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = guard.upgrade() {
        return s;
    }
    let s = Arc::new(Server::start("shard-b", 3, true, None));
    *guard = Arc::downgrade(&s);
    s
}

/// A job merging `{p}_*.orders` of both sources into `{p}_m.orders`.
fn merge_job(
    home: &std::path::Path,
    name: &str,
    a: &Server,
    b: &Server,
    t: &Server,
    p: &str,
) -> std::path::PathBuf {
    let path = home.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\nmode = \"all\"\n\
             [source]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n\
             [[shards]]\nname = \"b\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n\
             [target]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n\
             [objects]\ninclude = [\"{p}_*.*\"]\n\
             [[objects.route]]\nfrom = \"{p}_*.orders\"\nto = \"{p}_m.orders\"\n",
            a.port, b.port, t.port
        ),
    )
    .unwrap();
    path
}

type Rows = Vec<Vec<mysql_async::Value>>;

async fn rows(server: &Server, table: &str) -> Rows {
    let r: Vec<mysql_async::Row> = server
        .query(&format!("SELECT * FROM {table} ORDER BY id"))
        .await;
    r.into_iter().map(|r| r.unwrap()).collect()
}

/// The union of both shards, ordered by key, as the target should hold it.
async fn union(a: &Server, ta: &str, b: &Server, tb: &str) -> Rows {
    let mut all = rows(a, ta).await;
    all.extend(rows(b, tb).await);
    all.sort_by_key(|r| match &r[0] {
        mysql_async::Value::Int(i) => *i,
        mysql_async::Value::Bytes(b) => String::from_utf8_lossy(b).parse::<i64>().unwrap(),
        other => panic!("unexpected key {other:?}"),
    });
    all
}

async fn columns(server: &Server, schema: &str, table: &str) -> Vec<String> {
    server
        .query(&format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{schema}' AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION"
        ))
        .await
}

/// The job's saved sync status (the first source's row), as JSON.
async fn status(target: &Server, job: &str) -> serde_json::Value {
    let s: Vec<Option<String>> = target
        .query(&format!(
            "SELECT status FROM ferry_meta.control WHERE job = '{job}'"
        ))
        .await;
    s.into_iter()
        .next()
        .flatten()
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn two_sources_merge_into_one_table_and_one_ddl_waits_for_both() {
    let pair = support::pair();
    let b = second_source();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let p = support::unique("sm");
    let table = "CREATE TABLE orders (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL, amount DECIMAL(10,2) NULL)";
    // Disjoint key ranges: 1.. on the first source, 1001.. on the second.
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{p}_a`; USE `{p}_a`; {table}; CREATE TABLE own (id INT PRIMARY KEY);
             INSERT INTO orders SELECT seq, CONCAT('a', seq), seq / 10 FROM seq_1_to_300;
             INSERT INTO own VALUES (1), (2);"
        ))
        .await;
    b.sql(&format!(
        "CREATE DATABASE `{p}_b`; USE `{p}_b`; {table};
         INSERT INTO orders SELECT 1000 + seq, CONCAT('b', seq), NULL FROM seq_1_to_200;"
    ))
    .await;
    let (ta, tb, tm) = (
        format!("`{p}_a`.orders"),
        format!("`{p}_b`.orders"),
        format!("`{p}_m`.orders"),
    );
    let job = merge_job(home, "merge", &pair.source, &b, &pair.target, &p);
    // Every statement the target runs, to count the merged table's ALTERs.
    pair.target
        .sql("SET GLOBAL log_output = 'TABLE'; SET GLOBAL general_log = 1;")
        .await;

    let out = ferry(home, &["precheck", job.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("precheck output: {e}: {}", text(&out)));
    let check = |id: &str| {
        report["checks"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["id"] == id))
            .map(|c| c["status"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(check("shards.schemas").as_deref(), Some("pass"), "{report}");
    assert_eq!(check("shards.keys").as_deref(), Some("pass"), "{report}");
    assert_eq!(
        check("objects.routing").as_deref(),
        Some("pass"),
        "{report}"
    );

    let mut child = spawn_run(home, &job);
    wait_for("both sources syncing", &mut child, async || {
        phase(&pair.target, "merge").await.as_deref() == Some("sync")
            && phase(&pair.target, "merge.b").await.as_deref() == Some("sync")
    })
    .await;
    assert_eq!(
        rows(&pair.target, &tm).await,
        union(&pair.source, &ta, &b, &tb).await
    );
    // The first source's own table went to its own place.
    let own: Vec<u64> = pair
        .target
        .query(&format!("SELECT COUNT(*) FROM `{p}_a`.own"))
        .await;
    assert_eq!(own, [2]);

    // Writes on both shards during the sync.
    pair.source
        .sql(&format!(
            "INSERT INTO {ta} VALUES (301, 'a301', 1.5); UPDATE {ta} SET v = 'a-upd' WHERE id = 7; DELETE FROM {ta} WHERE id = 9;"
        ))
        .await;
    b.sql(&format!(
        "INSERT INTO {tb} VALUES (1201, 'b201', 2.5); UPDATE {tb} SET amount = 9 WHERE id = 1002; DELETE FROM {tb} WHERE id = 1003;"
    ))
    .await;
    wait_for("the writes of both shards", &mut child, async || {
        rows(&pair.target, &tm).await == union(&pair.source, &ta, &b, &tb).await
    })
    .await;

    // The DDL on the first shard waits for the second: the merged table keeps its
    // columns, the first shard's later rows wait, the second's still arrive.
    pair.source
        .sql(&format!(
            "ALTER TABLE {ta} ADD COLUMN note VARCHAR(10) NULL; INSERT INTO {ta} VALUES (302, 'a302', 3, 'after');"
        ))
        .await;
    wait_for("the lock to show", &mut child, async || {
        let s = status(&pair.target, "merge").await;
        s["state"] == "waiting"
            && s["shard_locks"][0]["waiting_for"][0]
                .as_str()
                .is_some_and(|w| w.starts_with("b:"))
    })
    .await;
    let out = ferry(home, &["status", job.to_str().unwrap()]);
    let said = text(&out);
    assert!(
        said.contains("── source b")
            && said.contains("lock     DDL of merged table")
            && said.contains("waits for b:"),
        "{said}"
    );
    b.sql(&format!("INSERT INTO {tb} VALUES (1202, 'b202', 4)"))
        .await;
    wait_for(
        "the second shard's row before its DDL",
        &mut child,
        async || {
            let ids: Vec<i64> = pair
                .target
                .query(&format!("SELECT id FROM {tm} WHERE id = 1202"))
                .await;
            ids == [1202]
        },
    )
    .await;
    assert_eq!(
        columns(&pair.target, &format!("{p}_m"), "orders").await,
        ["id", "v", "amount"],
        "the DDL ran before every shard reached it"
    );
    let early: Vec<i64> = pair
        .target
        .query(&format!("SELECT id FROM {tm} WHERE id = 302"))
        .await;
    assert!(early.is_empty(), "a row after the waiting DDL was applied");

    // The second shard's DDL resolves the lock: applied once, rows flow again.
    b.sql(&format!(
        "ALTER TABLE {tb} ADD COLUMN note VARCHAR(10) NULL; INSERT INTO {tb} VALUES (1203, 'b203', 5, 'after-b');"
    ))
    .await;
    pair.source
        .sql(&format!("UPDATE {ta} SET note = 'late' WHERE id = 1"))
        .await;
    wait_for("both shards after the DDL", &mut child, async || {
        columns(&pair.target, &format!("{p}_m"), "orders")
            .await
            .len()
            == 4
            && rows(&pair.target, &tm).await == union(&pair.source, &ta, &b, &tb).await
    })
    .await;

    // A cutover whose merged table differs from the union (a row lost on the
    // target) completes no source: both stay syncing, the run says so.
    let lost: Vec<(i64, String)> = b
        .query(&format!("SELECT id, v FROM {tb} WHERE id = 1001"))
        .await;
    assert_eq!(lost, [(1001, "b1".to_string())]);
    pair.target
        .sql(&format!("DELETE FROM {tm} WHERE id = 1001"))
        .await;
    let _ = ferry(home, &["complete", job.to_str().unwrap()]);
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{all}");
    for member in ["merge", "merge.b"] {
        assert_eq!(
            phase(&pair.target, member).await.as_deref(),
            Some("sync"),
            "{all}"
        );
    }
    // Put right, the cutover completes both.
    pair.target
        .sql(&format!("INSERT INTO {tm} (id, v) VALUES (1001, 'b1')"))
        .await;
    let out = ferry(home, &["complete", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        phase(&pair.target, "merge").await.as_deref(),
        Some("completed")
    );
    assert_eq!(
        phase(&pair.target, "merge.b").await.as_deref(),
        Some("completed")
    );
    assert_eq!(
        rows(&pair.target, &tm).await,
        union(&pair.source, &ta, &b, &tb).await
    );
    // One resolved lock, nothing left pending.
    let pending: Vec<u64> = pair
        .target
        .query("SELECT COUNT(*) FROM ferry_meta.shard_ddl WHERE job = 'merge'")
        .await;
    assert_eq!(pending, [0]);
    let alters: Vec<u64> = pair
        .target
        .query(&format!(
            "SELECT COUNT(*) FROM mysql.general_log WHERE command_type = 'Query' AND argument LIKE 'ALTER TABLE%{p}\\_m%'"
        ))
        .await;
    assert_eq!(alters, [1], "the merged table's DDL must run once");

    // `ferry verify` compares the merged table with the union of its shards, and
    // says so when the target lost a row.
    let verify = |home: &std::path::Path| {
        let out = ferry(home, &["verify", job.to_str().unwrap(), "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("verify output: {e}: {}", text(&out)))
    };
    let v = verify(home);
    assert_eq!(v["equal"], true, "{v}");
    let merged = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["schema"] == "(merged)")
        .cloned()
        .unwrap_or_else(|| panic!("no merged table in {v}"));
    let want = union(&pair.source, &ta, &b, &tb).await.len();
    assert_eq!(merged["target_rows"], want, "{merged}");
    pair.target
        .sql(&format!("DELETE FROM {tm} WHERE id = 1001"))
        .await;
    let v = verify(home);
    assert_eq!(v["equal"], false, "{v}");
}

#[tokio::test]
async fn shards_that_differ_fail_the_precheck_and_a_differing_ddl_stops_the_job() {
    let pair = support::pair();
    let b = second_source();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let p = support::unique("sx");
    let table = "CREATE TABLE orders (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)";
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{p}_a`; USE `{p}_a`; {table}; INSERT INTO orders VALUES (1, 'a1'), (2, 'a2');"
        ))
        .await;
    // Overlapping keys (1-2 on both) and another column type.
    b.sql(&format!(
        "CREATE DATABASE `{p}_b`; USE `{p}_b`; CREATE TABLE orders (id INT PRIMARY KEY, v VARCHAR(40) NOT NULL); INSERT INTO orders VALUES (2, 'b2');"
    ))
    .await;
    let job = merge_job(home, "clash", &pair.source, &b, &pair.target, &p);
    // Rules naming what only the first source has: the error says which source,
    // and that source's own rules select and route its table.
    let mut own =
        ferry::profile::Profile::from_toml(&std::fs::read_to_string(&job).unwrap(), "clash")
            .unwrap();
    own.objects.include = vec![format!("{p}_a.*")];
    let e = ferry::inspect::selected_by_source(&own)
        .await
        .unwrap_err()
        .report();
    assert_eq!(e.code, "rules.unknown_schema", "{e:?}");
    assert!(e.message.starts_with("source “b”: "), "{e:?}");
    assert!(e.remedy.contains("[shards.objects]"), "{e:?}");
    own.shards[0].objects = Some(ferry::profile::ObjectRules {
        include: vec![format!("{p}_b.*")],
        route: vec![ferry::profile::Route {
            from: format!("{p}_b.orders"),
            to: format!("{p}_m.orders"),
        }],
        ..Default::default()
    });
    let by_source = ferry::inspect::selected_by_source(&own).await.unwrap();
    let b_tables: Vec<String> = by_source[1]
        .1
        .tables
        .iter()
        .map(|t| format!("{}.{}", t.target_schema, t.target_name))
        .collect();
    assert_eq!(b_tables, [format!("{p}_m.orders")]);
    let out = ferry(home, &["precheck", job.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("precheck output: {e}: {}", text(&out)));
    let find = |id: &str| {
        report["checks"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("no check {id}: {report}"))
    };
    let schemas = find("shards.schemas");
    assert_eq!(schemas["status"], "fail", "{schemas}");
    assert!(
        schemas["objects"][0]
            .as_str()
            .unwrap()
            .contains("varchar(40)"),
        "{schemas}"
    );
    let keys = find("shards.keys");
    assert_eq!(keys["status"], "fail", "{keys}");
    assert!(
        keys["objects"][0].as_str().unwrap().contains("1–2"),
        "{keys}"
    );
    let run = ferry(home, &["run", job.to_str().unwrap()]);
    assert!(!run.status.success());
    assert!(text(&run).contains("shards.keys"), "{}", text(&run));

    // Made compatible: the job runs; then the shards run different DDL.
    b.sql(&format!(
        "USE `{p}_b`; ALTER TABLE orders MODIFY v VARCHAR(20) NOT NULL; UPDATE orders SET id = 1002 WHERE id = 2;"
    ))
    .await;
    let mut child = spawn_run(home, &job);
    wait_for("both sources syncing", &mut child, async || {
        phase(&pair.target, "clash").await.as_deref() == Some("sync")
            && phase(&pair.target, "clash.b").await.as_deref() == Some("sync")
    })
    .await;
    pair.source
        .sql(&format!("ALTER TABLE `{p}_a`.orders ADD COLUMN x INT NULL"))
        .await;
    b.sql(&format!(
        "ALTER TABLE `{p}_b`.orders ADD COLUMN x BIGINT NULL"
    ))
    .await;
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{all}");
    assert!(all.contains("replicate.shard_ddl_conflict"), "{all}");
    assert!(all.contains("BIGINT") && all.contains("INT NULL"), "{all}");
    assert_eq!(
        columns(&pair.target, &format!("{p}_m"), "orders").await,
        ["id", "v"],
        "neither statement may run"
    );

    // The decision for the second shard: its statement as the first one's; the
    // resumed job then applies it once.
    let out = ferry(
        home,
        &[
            "ddl",
            "replace",
            job.to_str().unwrap(),
            &format!("ALTER TABLE {p}_m.orders ADD COLUMN x INT NULL"),
            "--shard",
            "b",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    // The shards' definitions differ on their sources now (x INT / BIGINT): the
    // DBA takes that on by ignoring the check.
    let body = std::fs::read_to_string(&job).unwrap().replace(
        "mode = \"all\"\n",
        "mode = \"all\"\nignore_checks = [\"shards.schemas\"]\n",
    );
    std::fs::write(&job, body).unwrap();
    let mut child = spawn_run(home, &job);
    wait_for("the agreed DDL", &mut child, async || {
        columns(&pair.target, &format!("{p}_m"), "orders").await == ["id", "v", "x"]
    })
    .await;
    b.sql(&format!(
        "INSERT INTO `{p}_b`.orders VALUES (1003, 'b3', 3)"
    ))
    .await;
    wait_for("a row after it", &mut child, async || {
        let x: Vec<Option<i64>> = pair
            .target
            .query(&format!("SELECT x FROM `{p}_m`.orders WHERE id = 1003"))
            .await;
        x == [Some(3)]
    })
    .await;
    // Both sources are past the statement: nothing waits for a decision.
    let job_path = job.clone();
    wait_for("no decision pending", &mut child, async || {
        let out = ferry(home, &["status", job_path.to_str().unwrap(), "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["sources"]
            .as_array()
            .is_some_and(|a| a.len() == 2 && a.iter().all(|s| s["pending_ddl"].is_null()))
    })
    .await;
    let out = ferry(home, &["pause", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `ferry serve` on a free port; killed when dropped.
struct Serve(std::process::Child, String);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(home: &std::path::Path) -> Serve {
    use std::io::BufRead;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child =
        support::job::ferry_cmd(home, &["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("DM OpenAPI on"), "ferry serve said: {line}");
    Serve(child, format!("http://127.0.0.1:{port}/api/v1"))
}

async fn call(
    method: &str,
    url: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new().request(method.parse().unwrap(), url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let code = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (
        code,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// Waits up to 120 s for the task's status (every source's) to satisfy `done`.
async fn wait_task(base: &str, task: &str, what: &str, done: impl Fn(&serde_json::Value) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (code, body) = call("GET", &format!("{base}/tasks/{task}/status"), None).await;
        assert_eq!(code, 200, "{body}");
        if done(&body["data"]) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn a_dm_task_over_two_sources_merges_through_the_api() {
    use serde_json::json;
    let pair = support::pair();
    let b = second_source();
    let home = tempfile::tempdir().unwrap();
    let p = support::unique("sd");
    let table = "CREATE TABLE orders (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)";
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{p}_1`; USE `{p}_1`; {table}; INSERT INTO orders SELECT seq, CONCAT('a', seq) FROM seq_1_to_50;"
        ))
        .await;
    b.sql(&format!(
        "CREATE DATABASE `{p}_2`; USE `{p}_2`; {table}; INSERT INTO orders SELECT 100 + seq, CONCAT('b', seq) FROM seq_1_to_50;"
    ))
    .await;
    let s = serve(home.path());
    let base = &s.1;
    for (name, server) in [("shard-a", &pair.source), ("shard-b", &*b)] {
        let (code, body) = call(
            "POST",
            &format!("{base}/sources"),
            Some(json!({"source": {
                "source_name": name, "host": "127.0.0.1", "port": server.port,
                "user": support::USER, "password": support::PASSWORD, "enable_gtid": false, "enable": true
            }})),
        )
        .await;
        assert_eq!(code, 201, "{body}");
    }
    let task = format!("merge-{}", p.replace('_', "-"));
    let target = json!({"schema": format!("{p}_m"), "table": "orders"});
    let (code, body) = call(
        "POST",
        &format!("{base}/tasks"),
        Some(json!({"task": {
            "name": task, "task_mode": "all", "shard_mode": "pessimistic",
            "meta_schema": "ferry_meta", "on_duplicate": "error", "enhance_online_schema_change": false,
            "target_config": {"host": "127.0.0.1", "port": pair.target.port, "user": support::USER, "password": support::PASSWORD},
            "table_migrate_rule": [
                {"source": {"source_name": "shard-a", "schema": format!("{p}_1"), "table": "orders"}, "target": target},
                {"source": {"source_name": "shard-b", "schema": format!("{p}_2"), "table": "orders"}, "target": target}
            ],
            "source_config": {"source_conf": [{"source_name": "shard-a"}, {"source_name": "shard-b"}]}
        }})),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = call("POST", &format!("{base}/tasks/{task}/start"), None).await;
    assert_eq!(code, 200, "{body}");
    wait_task(base, &task, "both sources synced", |subs| {
        subs.as_array().is_some_and(|a| {
            a.len() == 2
                && a.iter()
                    .map(|s| s["source_name"].clone())
                    .collect::<Vec<_>>()
                    == ["shard-a", "shard-b"]
                && a.iter()
                    .all(|s| s["unit"] == "Sync" && s["sync_status"]["synced"] == true)
        })
    })
    .await;
    let (t1, t2, tm) = (
        format!("`{p}_1`.orders"),
        format!("`{p}_2`.orders"),
        format!("`{p}_m`.orders"),
    );
    assert_eq!(
        rows(&pair.target, &tm).await,
        union(&pair.source, &t1, &b, &t2).await
    );

    // A DDL on one shard shows as DM's unresolved lock until the other has it.
    pair.source
        .sql(&format!(
            "ALTER TABLE {t1} ADD COLUMN n INT NULL; INSERT INTO {t1} VALUES (51, 'a51', 1);"
        ))
        .await;
    wait_task(base, &task, "the lock in the status", |subs| {
        subs[0]["unresolved_ddl_lock_id"] == format!("{task}-{p}_m.orders").as_str()
            && subs[0]["sync_status"]["unresolved_groups"][0]["unsynced"][0]
                .as_str()
                .is_some_and(|u| u.starts_with("b:") || u.starts_with("shard-b:"))
    })
    .await;
    b.sql(&format!(
        "ALTER TABLE {t2} ADD COLUMN n INT NULL; INSERT INTO {t2} VALUES (151, 'b51', 2);"
    ))
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while rows(&pair.target, &tm).await != union(&pair.source, &t1, &b, &t2).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the merged rows never matched"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    wait_task(base, &task, "the lock resolved", |subs| {
        subs[0]["unresolved_ddl_lock_id"].is_null()
    })
    .await;
    let (code, _) = call("POST", &format!("{base}/tasks/{task}/stop"), None).await;
    assert_eq!(code, 200);
    wait_task(base, &task, "stopped", |subs| {
        subs.as_array()
            .is_some_and(|a| a.iter().all(|s| s["stage"] == "Paused"))
    })
    .await;
    let (code, body) = call("DELETE", &format!("{base}/tasks/{task}"), None).await;
    assert_eq!(code, 204, "{body}");
}

/// Sums that add up over shards: the merged table's must be the shards' total.
async fn sums(server: &Server, table: &str) -> (u64, u64) {
    let r: Vec<(u64, u64)> = server
        .query(&format!(
            "SELECT COUNT(*), CAST(SUM(CRC32(CONCAT_WS('#', id, k, pad))) AS UNSIGNED) FROM {table}"
        ))
        .await;
    r[0]
}

/// Big merged tables are created without their plain secondary indexes (as a
/// one-source copy creates a big table), and the index is built once, after
/// every source's rows are in — not while both load, which costs every row an
/// index update.
#[tokio::test]
async fn a_big_merged_table_gets_its_index_after_every_source_copied() {
    let pair = support::pair();
    let b = second_source();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let p = support::unique("sx");
    // About 12 MiB per shard: past the size from which a copy defers indexes.
    let table = "CREATE TABLE orders (id INT PRIMARY KEY, k INT NOT NULL, pad CHAR(200) NOT NULL, KEY k_1 (k))";
    let fill = |db: &str, first: u32| {
        format!(
            "CREATE DATABASE `{db}`; USE `{db}`; {table};
             INSERT INTO orders SELECT {first} + seq, seq % 997, REPEAT(CHAR(65 + seq % 26), 200) FROM seq_1_to_50000;
             ANALYZE TABLE orders;"
        )
    };
    pair.source.sql(&fill(&format!("{p}_a"), 0)).await;
    b.sql(&fill(&format!("{p}_b"), 1_000_000)).await;
    let job = merge_job(home, "mergeix", &pair.source, &b, &pair.target, &p);
    let text_of = std::fs::read_to_string(&job).unwrap();
    std::fs::write(&job, text_of.replace("mode = \"all\"", "mode = \"full\"")).unwrap();
    pair.target
        .sql("SET GLOBAL log_output = 'TABLE'; SET GLOBAL general_log = 1;")
        .await;

    let out = ferry(home, &["run", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    let tm = format!("`{p}_m`.orders");
    let (a, bb) = (
        sums(&pair.source, &format!("`{p}_a`.orders")).await,
        sums(&b, &format!("`{p}_b`.orders")).await,
    );
    assert_eq!(sums(&pair.target, &tm).await, (a.0 + bb.0, a.1 + bb.1));
    let index: Vec<String> = pair
        .target
        .query(&format!(
            "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '{p}_m' AND TABLE_NAME = 'orders' ORDER BY BINARY INDEX_NAME"
        ))
        .await;
    assert_eq!(index, ["PRIMARY", "k_1"]);
    // One build of the index, after the last row of either source arrived.
    let escaped = format!("{p}_m").replace('_', "\\_");
    let times = |what: &str| {
        format!(
            "SELECT COUNT(*), CAST(MIN(event_time) AS CHAR(26)), CAST(MAX(event_time) AS CHAR(26)) FROM mysql.general_log \
             WHERE command_type IN ('Query', 'Execute') AND argument LIKE '%{escaped}%' AND ({what})"
        )
    };
    let alters: Vec<(u64, Option<String>, Option<String>)> = pair
        .target
        .query(&times("argument LIKE 'ALTER TABLE%ADD KEY%'"))
        .await;
    let loads: Vec<(u64, Option<String>, Option<String>)> = pair
        .target
        .query(&times(
            "argument LIKE 'LOAD DATA%' OR argument LIKE 'INSERT%'",
        ))
        .await;
    pair.target.sql("SET GLOBAL general_log = 0").await;
    assert_eq!(alters[0].0, 1, "{alters:?}");
    assert!(loads[0].0 >= 2, "{loads:?}");
    assert!(
        alters[0].1 > loads[0].2,
        "the index was built before the last rows arrived: {alters:?} {loads:?}"
    );
}

/// One source, two shard tables routed to one target table: the rows merge, and
/// a DDL on one of them stops the job with the lock (its reader cannot wait at
/// one shard's DDL and reach the other's) instead of changing the merged table
/// under the other shard's rows.
#[tokio::test]
async fn two_tables_of_one_source_merge_and_their_ddl_stops_with_the_lock() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let p = support::unique("s1");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{p}`; USE `{p}`;
             CREATE TABLE t_1 (id INT AUTO_INCREMENT PRIMARY KEY, v INT); CREATE TABLE t_2 (id INT AUTO_INCREMENT PRIMARY KEY, v INT);
             INSERT INTO t_1 SELECT seq, seq FROM seq_1_to_100; INSERT INTO t_2 SELECT 1000 + seq, seq FROM seq_1_to_100;"
        ))
        .await;
    let job = home.join("one.toml");
    std::fs::write(
        &job,
        format!(
            "name = \"one-merge\"\nmode = \"all\"\n\
             [source]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n\
             [target]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n\
             [objects]\ninclude = [\"{p}.t_*\"]\n\
             [[objects.route]]\nfrom = \"{p}.t_*\"\nto = \"{p}_m.t\"\n",
            pair.source.port, pair.target.port
        ),
    )
    .unwrap();
    // t_1's AUTO_INCREMENT climbs toward t_2's range: a warning, not a stop.
    let out = ferry(home, &["precheck", job.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("precheck output: {e}: {}", text(&out)));
    let keys = report["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["id"] == "shards.keys"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        keys["status"],
        "warn",
        "{keys} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        keys["objects"][0].as_str().is_some_and(
            |o| o.contains("AUTO_INCREMENT (101) reaches") && o.contains("900 new rows")
        ),
        "{keys}"
    );
    let mut child = spawn_run(home, &job);
    let (t1, t2, tm) = (
        format!("`{p}`.t_1"),
        format!("`{p}`.t_2"),
        format!("`{p}_m`.t"),
    );
    wait_for("the sync", &mut child, async || {
        phase(&pair.target, "one-merge").await.as_deref() == Some("sync")
    })
    .await;
    pair.source
        .sql(&format!(
            "INSERT INTO {t1} VALUES (101, 1); DELETE FROM {t2} WHERE id = 1001;"
        ))
        .await;
    wait_for("the merged rows", &mut child, async || {
        rows(&pair.target, &tm).await == union(&pair.source, &t1, &pair.source, &t2).await
    })
    .await;
    pair.source
        .sql(&format!("ALTER TABLE {t1} ADD COLUMN n INT NULL"))
        .await;
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{all}");
    assert!(
        all.contains("replicate.shard_ddl_conflict") && all.contains("shards of one source"),
        "{all}"
    );
    assert_eq!(
        columns(&pair.target, &format!("{p}_m"), "t").await,
        ["id", "v"]
    );
}

/// A job with `[[shards]]` handed to a DM cluster (here a `ferry serve`, which
/// speaks DM's API): one DM source per source, one task over both that merges.
#[tokio::test]
async fn a_job_with_shards_is_exported_and_pushed_with_every_source() {
    let pair = support::pair();
    let b = second_source();
    let desk = tempfile::tempdir().unwrap();
    let cluster = tempfile::tempdir().unwrap();
    let p = support::unique("sp");
    let table = "CREATE TABLE orders (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)";
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{p}_a`; USE `{p}_a`; {table}; INSERT INTO orders VALUES (1, 'a1');"
        ))
        .await;
    b.sql(&format!(
        "CREATE DATABASE `{p}_b`; USE `{p}_b`; {table}; INSERT INTO orders VALUES (1001, 'b1');"
    ))
    .await;
    let name = format!("push-{}", p.replace('_', "-"));
    let job = merge_job(desk.path(), &name, &pair.source, &b, &pair.target, &p);
    let out = ferry(
        desk.path(),
        &["profile", "save", "--no-password", job.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));

    let files = desk.path().join("dm");
    let out = ferry(
        desk.path(),
        &["dm", "export", &name, "--dir", files.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    let first = std::fs::read_to_string(files.join(format!("source-{name}-source.yaml"))).unwrap();
    assert!(
        first.contains(&format!("port: {}", pair.source.port)),
        "{first}"
    );
    let second = std::fs::read_to_string(files.join("source-b.yaml")).unwrap();
    assert!(second.contains(&format!("port: {}", b.port)), "{second}");
    let task_text = std::fs::read_to_string(files.join(format!("task-{name}.yaml"))).unwrap();
    let task = ferry::dm::yaml::parse_task_yaml(&task_text).unwrap();
    let sources: Vec<&str> = task
        .source_config
        .source_conf
        .iter()
        .map(|c| c.source_name.as_str())
        .collect();
    assert_eq!(
        sources,
        [format!("{name}-source").as_str(), "b"],
        "{task_text}"
    );
    assert_eq!(
        task.shard_mode,
        Some(ferry::dm::model::ShardMode::Pessimistic)
    );
    // Each source routes its shard into the merged table.
    for source in &sources {
        assert!(
            task.table_migrate_rule
                .iter()
                .any(|r| r.source.source_name == *source
                    && r.target.as_ref().and_then(|t| t.table.as_deref()) == Some("orders")),
            "{source}: {task_text}"
        );
    }

    let s = serve(cluster.path());
    let master = s.1.trim_end_matches("/api/v1").to_string();
    let out = ferry(
        desk.path(),
        &["dm", "push", &name, "--master", &master, "--detach"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("source {name}-source, b")),
        "{}",
        text(&out)
    );
    wait_task(&s.1, &name, "both pushed sources synced", |subs| {
        subs.as_array()
            .is_some_and(|a| a.len() == 2 && a.iter().all(|x| x["sync_status"]["synced"] == true))
    })
    .await;
    b.sql(&format!("INSERT INTO `{p}_b`.orders VALUES (1002, 'b2')"))
        .await;
    let (ta, tb, tm) = (
        format!("`{p}_a`.orders"),
        format!("`{p}_b`.orders"),
        format!("`{p}_m`.orders"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while rows(&pair.target, &tm).await != union(&pair.source, &ta, &b, &tb).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the pushed task never merged the write"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (code, _) = call("POST", &format!("{}/tasks/{name}/stop", s.1), None).await;
    assert_eq!(code, 200);
    wait_task(&s.1, &name, "stopped", |subs| {
        subs.as_array()
            .is_some_and(|a| a.iter().all(|x| x["stage"] == "Paused"))
    })
    .await;
}

/// As DM's own checks do it: a shard task made while the sources' schemas are
/// still empty (the precheck says the rules select nothing yet), started, then
/// each source creates its shard and writes: the merged table is made on the
/// target once, with every row of both (compared without Ferry).
#[tokio::test]
async fn a_dm_shard_task_made_before_its_tables_merges_them_as_they_come() {
    use serde_json::json;
    let pair = support::pair();
    let b = second_source();
    let home = tempfile::tempdir().unwrap();
    let p = support::unique("se");
    for server in [&pair.source, &*b] {
        server.sql(&format!("CREATE DATABASE `{p}`")).await;
    }
    let s = serve(home.path());
    let base = &s.1;
    let (a_name, b_name) = (
        format!("{p}-a").replace('_', "-"),
        format!("{p}-b").replace('_', "-"),
    );
    for (name, server) in [(&a_name, &pair.source), (&b_name, &*b)] {
        let (code, body) = call(
            "POST",
            &format!("{base}/sources"),
            Some(json!({"source": {
                "source_name": name, "host": "127.0.0.1", "port": server.port,
                "user": support::USER, "password": support::PASSWORD, "enable_gtid": false, "enable": true
            }})),
        )
        .await;
        assert_eq!(code, 201, "{body}");
    }
    let task = format!("early-{}", p.replace('_', "-"));
    let target = json!({"schema": format!("{p}_m"), "table": "t"});
    let (code, body) = call(
        "POST",
        &format!("{base}/tasks"),
        Some(json!({"task": {
            "name": task, "task_mode": "all", "shard_mode": "pessimistic",
            "meta_schema": "ferry_meta", "on_duplicate": "error", "enhance_online_schema_change": true,
            "target_config": {"host": "127.0.0.1", "port": pair.target.port, "user": support::USER, "password": support::PASSWORD},
            "table_migrate_rule": [
                {"source": {"source_name": a_name, "schema": p, "table": "t*"}, "target": target},
                {"source": {"source_name": b_name, "schema": p, "table": "t*"}, "target": target}
            ],
            "source_config": {"source_conf": [{"source_name": a_name}, {"source_name": b_name}]}
        }})),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert!(
        body["check_result"]
            .as_str()
            .is_some_and(|c| c.contains("objects.rules")),
        "the precheck says the rules select nothing yet: {body}"
    );
    let (code, body) = call("POST", &format!("{base}/tasks/{task}/start"), None).await;
    assert_eq!(code, 200, "{body}");
    wait_task(base, &task, "both sources syncing", |subs| {
        subs.as_array().is_some_and(|a| {
            a.len() == 2
                && a.iter()
                    .all(|s| s["unit"] == "Sync" && s["stage"] == "Running")
        })
    })
    .await;
    // DM's shard data: the same table on both sources, rows on each.
    let table = "CREATE TABLE t (i TINYINT, j INT UNIQUE KEY)";
    pair.source
        .sql(&format!("USE `{p}`; {table}; INSERT INTO t VALUES (1, 2);"))
        .await;
    b.sql(&format!("USE `{p}`; {table}; INSERT INTO t VALUES (3, 4);"))
        .await;
    let (ta, tm) = (format!("`{p}`.t"), format!("`{p}_m`.t"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let exists: Vec<u64> = pair
            .target
            .query(&format!(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{p}_m' AND TABLE_NAME = 't'"
            ))
            .await;
        if exists == [1] {
            let got = ij_rows(&pair.target, &tm).await;
            let mut want = ij_rows(&pair.source, &ta).await;
            want.extend(ij_rows(&b, &ta).await);
            want.sort_by_key(|r| r.1);
            if got == want {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the merged table never held both sources' rows: {:?}",
            call("GET", &format!("{base}/tasks/{task}/status"), None).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let (code, _) = call("DELETE", &format!("{base}/tasks/{task}?force=true"), None).await;
    assert_eq!(code, 204);
}

async fn ij_rows(server: &Server, table: &str) -> Vec<(Option<i64>, Option<i64>)> {
    server
        .query(&format!("SELECT i, j FROM {table} ORDER BY j"))
        .await
}
