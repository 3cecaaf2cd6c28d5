//! `ferry serve` (DM's OpenAPI) driven by a real HTTP client against a real
//! MariaDB pair: sources with the password in the keyring only, schema listing,
//! a task refused by the precheck and a valid one, start → Load → Sync (synced),
//! writes arriving, stop, delete; and hostile requests on every route.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::job::{ferry, ferry_cmd, text};

struct Serve {
    child: Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(home: &std::path::Path) -> Serve {
    serve_on(home, "127.0.0.1", &[]).0
}

/// `ferry serve` on a free port of `host` with `extra` arguments; the server and
/// the port, once it says it listens.
fn serve_on(home: &std::path::Path, host: &str, extra: &[&str]) -> (Serve, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("{host}:{port}");
    let mut child = ferry_cmd(home, &[&["serve", "--listen", &listen][..], extra].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let scheme = if extra.contains(&"--tls-cert") {
        "https"
    } else {
        "http"
    };
    assert!(
        line.contains(&format!("DM OpenAPI on {scheme}://")),
        "ferry serve said: {line}"
    );
    let base = format!("{scheme}://127.0.0.1:{port}/api/v1");
    (Serve { child, base }, port)
}

async fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{method} {url}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    (status, value)
}

/// Asserts DM's error body.
fn dm_error(what: &str, status: u16, body: &Value) {
    assert!(
        body["error_msg"].as_str().is_some_and(|m| !m.is_empty()) && body["error_code"].is_i64(),
        "{what}: no DM error body ({status}): {body}"
    );
}

fn source_body(name: &str, server: &support::Server, password: &str) -> Value {
    // As DM's own client sends it: `case_sensitive` in every source body.
    json!({"source": {
        "source_name": name, "host": "127.0.0.1", "port": server.port,
        "user": support::USER, "password": password, "enable_gtid": false, "enable": true,
        "case_sensitive": false
    }})
}

fn task_body(name: &str, source: &str, db: &str, target: &support::Server) -> Value {
    json!({"task": {
        "name": name,
        "task_mode": "all",
        "meta_schema": format!("{db}_meta"),
        "on_duplicate": "error",
        "enhance_online_schema_change": false,
        "target_config": {"host": "127.0.0.1", "port": target.port, "user": support::USER, "password": support::PASSWORD},
        // "table": "" keeps the source's table names, as DM's own clients write it.
        "table_migrate_rule": [{"source": {"source_name": source, "schema": db, "table": "*"}, "target": {"schema": format!("{db}_t"), "table": ""}}],
        "source_config": {"source_conf": [{"source_name": source}], "incr_migrate_conf": {"repl_threads": 2}},
        // As DM's own checks send it: DM's item names, and an empty one.
        "ignore_checking_items": ["version", ""]
    }})
}

async fn wait_status(base: &str, task: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (code, body) = call("GET", &format!("{base}/tasks/{task}/status"), None).await;
        assert_eq!(code, 200, "{body}");
        let sub = body["data"][0].clone();
        if done(&sub) {
            return sub;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the task status never got there: {sub}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Every row of both sides, in key order.
async fn rows(server: &support::Server, table: &str) -> Vec<(u64, String)> {
    server
        .query(&format!("SELECT id, note FROM {table} ORDER BY id"))
        .await
}

#[tokio::test]
async fn dm_openapi_sources_and_a_task_from_precheck_to_sync_and_delete() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("api_");
    let (src, task) = (support::unique("src-"), support::unique("task-"));
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, note VARCHAR(20));
             INSERT INTO `{db}`.t VALUES (1, 'one'), (2, 'two');"
        ))
        .await;
    let s = serve(home.path());
    let base = &s.base;

    // Sources: a wrong password is refused with the server's answer; the right
    // one is stored in the keyring, never in a file, and never answered.
    let (code, body) = call(
        "POST",
        &format!("{base}/sources"),
        Some(source_body(&src, &pair.source, "wrong")),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    dm_error("wrong password", code, &body);
    let (code, body) = call(
        "POST",
        &format!("{base}/sources"),
        Some(source_body(&src, &pair.source, support::PASSWORD)),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["password"], "******");
    let (code, _) = call(
        "POST",
        &format!("{base}/sources"),
        Some(source_body(&src, &pair.source, support::PASSWORD)),
    )
    .await;
    assert_eq!(code, 400, "a second source of the same name");
    let (_, list) = call("GET", &format!("{base}/sources"), None).await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["source_name"] == src.as_str() && s["password"] == "******"),
        "{list}"
    );
    for entry in walk(home.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(support::PASSWORD),
            "{} holds the password",
            entry.display()
        );
    }
    let (code, schemas) = call("GET", &format!("{base}/sources/{src}/schemas"), None).await;
    assert_eq!(code, 200, "{schemas}");
    assert!(
        schemas.as_array().unwrap().iter().any(|s| s == db.as_str()),
        "{schemas}"
    );
    let (code, tables) = call("GET", &format!("{base}/sources/{src}/schemas/{db}"), None).await;
    assert_eq!((code, tables.clone()), (200, json!(["t"])));
    let (code, body) = call(
        "GET",
        &format!("{base}/sources/{src}/schemas/no_such_db"),
        None,
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let (code, status) = call("GET", &format!("{base}/sources/{src}/status"), None).await;
    assert_eq!(code, 200);
    assert!(status["data"][0].get("error_msg").is_none(), "{status}");
    // DM's `with_status`: one status per source (this node's), on the list and
    // on the source.
    let (code, list) = call("GET", &format!("{base}/sources?with_status=true"), None).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(
        list["data"][0]["status_list"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
    let (code, one) = call(
        "GET",
        &format!("{base}/sources/{src}?with_status=true"),
        None,
    )
    .await;
    assert_eq!(code, 200, "{one}");
    assert_eq!(one["status_list"][0]["source_name"], src.as_str(), "{one}");
    let (_, plain) = call("GET", &format!("{base}/sources/{src}"), None).await;
    assert!(plain.get("status_list").is_none(), "{plain}");

    // A task the precheck refuses: its target table already holds a row.
    pair.target
        .sql(&format!(
            "CREATE DATABASE `{db}_t`; CREATE TABLE `{db}_t`.t (id INT PRIMARY KEY, note VARCHAR(20)); INSERT INTO `{db}_t`.t VALUES (9, 'nine');"
        ))
        .await;
    let (code, body) = call(
        "POST",
        &format!("{base}/tasks"),
        Some(task_body(&task, &src, &db, &pair.target)),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    dm_error("precheck failure", code, &body);
    assert_eq!(body["error_code"], 10005, "{body}");
    assert!(
        body["error_msg"].as_str().unwrap().contains("target."),
        "{body}"
    );
    let (code, _) = call("GET", &format!("{base}/tasks/{task}"), None).await;
    assert_eq!(code, 400, "a refused task is not kept");

    // Valid now: created, and an ordinary job the CLI sees.
    pair.target.sql(&format!("DROP DATABASE `{db}_t`")).await;
    let (code, body) = call(
        "POST",
        &format!("{base}/tasks"),
        Some(task_body(&task, &src, &db, &pair.target)),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    // DM's answer: the task and its precheck's words.
    assert_eq!(body["task"]["name"], task.as_str());
    assert!(
        body["check_result"]
            .as_str()
            .is_some_and(|c| c.starts_with("pre-check is passed")),
        "{body}"
    );
    assert!(
        body["task"]["target_config"].get("password").is_none(),
        "{body}"
    );
    assert_eq!(
        body["task"]["ignore_checking_items"],
        json!(["version", ""]),
        "the task is answered as it was sent"
    );

    // The structure the task reads a table with: the source's; setting one by
    // hand is refused as not supported, malformed requests as DM refuses them.
    let one = format!("{base}/tasks/{task}/sources/{src}/schemas/{db}/t");
    let (code, got) = call("GET", &one, None).await;
    assert_eq!(code, 200, "{got}");
    assert_eq!(
        (got["schema_name"].as_str(), got["table_name"].as_str()),
        (Some(db.as_str()), Some("t"))
    );
    assert!(
        got["schema_create_sql"]
            .as_str()
            .unwrap()
            .contains("`note`"),
        "{got}"
    );
    let (code, body) = call(
        "GET",
        &format!("{base}/tasks/{task}/sources/{src}/schemas/{db}/nope"),
        None,
    )
    .await;
    assert_eq!(code, 400, "{body}");
    for bad in [
        json!({}),
        json!({"schema_source": "sql", "sql_content": ""}),
        json!({"schema_source": "upstream", "sql_content": ""}),
        json!({"schema_source": "downstream", "sql_content": "CREATE TABLE t(i INT)"}),
        json!({"schema_source": "invalid"}),
    ] {
        let (code, body) = call("PUT", &one, Some(bad.clone())).await;
        assert_eq!(code, 400, "{bad}: {body}");
        dm_error("a malformed structure", code, &body);
    }
    let (code, body) = call("PUT", &one, Some(json!({"schema_source": "upstream"}))).await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = call(
        "PUT",
        &one,
        Some(json!({"sql_content": "CREATE TABLE t (i INT)"})),
    )
    .await;
    assert_eq!(
        (code, body["error_code"].as_i64()),
        (400, Some(10001)),
        "{body}"
    );
    let out = ferry(home.path(), &["profile", "list", "--json"]);
    assert!(text(&out).contains(&task), "{}", text(&out));
    let (_, got) = call("GET", &format!("{base}/tasks/{task}"), None).await;
    assert_eq!(
        got["table_migrate_rule"][0]["target"]["schema"],
        format!("{db}_t"),
        "{got}"
    );
    assert_eq!(
        got["source_config"]["incr_migrate_conf"]["repl_threads"], 2,
        "{got}"
    );

    // Start: Load, then Sync with synced; rows written now arrive.
    let (code, body) = call("POST", &format!("{base}/tasks/{task}/start"), None).await;
    assert_eq!(code, 200, "{body}");
    let (code, _) = call("POST", &format!("{base}/tasks/{task}/start"), None).await;
    assert_eq!(code, 400, "started twice");
    let sub = wait_status(base, &task, "sync", |s| {
        s["unit"] == "Sync" && s["sync_status"]["synced"] == true
    })
    .await;
    assert_eq!(sub["stage"], "Running", "{sub}");
    assert_eq!(sub["source_name"], src.as_str());
    assert!(
        sub["load_status"]["meta_binlog"]
            .as_str()
            .unwrap()
            .starts_with('('),
        "{sub}"
    );
    pair.source
        .sql(&format!("INSERT INTO `{db}`.t VALUES (3, 'three'); UPDATE `{db}`.t SET note = 'uno' WHERE id = 1"))
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while rows(&pair.target, &format!("`{db}_t`.t")).await
        != rows(&pair.source, &format!("`{db}`.t")).await
    {
        assert!(Instant::now() < deadline, "the writes never arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sub = wait_status(base, &task, "events counted", |s| {
        s["sync_status"]["total_events"].as_u64() >= Some(2)
    })
    .await;
    // dm.yaml's required byte counts: the binlog read, and what the copy read.
    assert!(
        sub["sync_status"]["io_total_bytes"].as_u64() > Some(0)
            && sub["sync_status"]["dump_io_total_bytes"].as_u64() > Some(0),
        "{sub}"
    );
    assert!(
        sub["sync_status"]["syncer_binlog"]
            .as_str()
            .unwrap()
            .starts_with('('),
        "{sub}"
    );
    let (code, _) = call("DELETE", &format!("{base}/tasks/{task}"), None).await;
    assert_eq!(code, 400, "a running task is not deleted");
    let (code, body) = call(
        "PUT",
        &format!("{base}/sources/{src}"),
        Some(source_body(&src, &pair.source, support::PASSWORD)),
    )
    .await;
    assert_eq!(
        code, 400,
        "a source a running task uses is not changed: {body}"
    );
    // DM's list filters: every source at this stage; exactly these sources.
    let names = |list: &Value| -> Vec<String> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    for (query, listed) in [
        ("stage=Running", true),
        ("stage=Paused", false),
        (&format!("source_name_list={src}") as &str, true),
        ("source_name_list=other", false),
        (
            &format!("source_name_list={src}&source_name_list=other"),
            false,
        ),
    ] {
        let (code, list) = call("GET", &format!("{base}/tasks?{query}"), None).await;
        assert_eq!(code, 200, "{query}: {list}");
        assert_eq!(names(&list).contains(&task), listed, "{query}: {list}");
    }
    let (code, body) = call("GET", &format!("{base}/tasks?stage=Sideways"), None).await;
    assert_eq!(code, 400, "{body}");
    let (code, _) = call("DELETE", &format!("{base}/sources/{src}"), None).await;
    assert_eq!(code, 400, "a source in use is not deleted");

    // Stop: the job pauses with a checkpoint.
    let (code, body) = call("POST", &format!("{base}/tasks/{task}/stop"), None).await;
    assert_eq!(code, 200, "{body}");
    wait_status(base, &task, "stopped", |s| s["stage"] == "Paused").await;
    let out = ferry(home.path(), &["status", &task, "--json"]);
    let st: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(st["phase"], "sync", "{}", text(&out));
    assert_eq!(st["running"], false, "{}", text(&out));

    // Start again (it resumes), then Ctrl-C the server: it pauses the task with
    // its checkpoint before it exits, and a new server finds it stopped.
    let (code, _) = call("POST", &format!("{base}/tasks/{task}/start"), None).await;
    assert_eq!(code, 200);
    wait_status(base, &task, "resumed", |x| {
        x["sync_status"]["synced"] == true && x["stage"] == "Running"
    })
    .await;
    let mut s = s;
    let killed = std::process::Command::new("kill")
        .args(["-INT", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        if let Some(code) = s.child.try_wait().unwrap() {
            break code;
        }
        assert!(
            Instant::now() < deadline,
            "ferry serve did not stop on Ctrl-C"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "{exit:?}");
    let out = ferry(home.path(), &["status", &task, "--json"]);
    let st: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        (st["phase"].as_str(), st["running"].as_bool()),
        (Some("sync"), Some(false)),
        "{}",
        text(&out)
    );
    let s = serve(home.path());
    let base = &s.base;
    wait_status(base, &task, "stopped after the restart", |x| {
        x["stage"] == "Paused"
    })
    .await;

    // Delete: gone from the API and the job list.
    let (code, _) = call("DELETE", &format!("{base}/tasks/{task}"), None).await;
    assert_eq!(code, 204);
    let (code, body) = call("GET", &format!("{base}/tasks/{task}"), None).await;
    assert_eq!(code, 400);
    dm_error("deleted task", code, &body);
    let (code, _) = call("DELETE", &format!("{base}/sources/{src}"), None).await;
    assert_eq!(code, 204);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A full-mode job that has finished reads as DM shows a finished dump-and-load
/// task: unit Load, its progress whole (it said Sync and 0.01 %).
#[tokio::test]
async fn a_finished_full_task_is_a_finished_load() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let name = support::unique("full-");
    let db = support::unique("full_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, note VARCHAR(20));
             INSERT INTO `{db}`.t SELECT seq, 'x' FROM `{db}`.seq_1_to_1000;"
        ))
        .await;
    let job = home.path().join("job.toml");
    support::job::all_job(&job, &pair, &name, &db, "");
    let body = std::fs::read_to_string(&job)
        .unwrap()
        .replace("mode = \"all\"", "mode = \"full\"");
    std::fs::write(&job, body).unwrap();
    let out = ferry(home.path(), &["run", job.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = ferry(
        home.path(),
        &["profile", "save", "--no-password", job.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = serve(home.path());
    let (code, status) = call("GET", &format!("{}/tasks/{name}/status", s.base), None).await;
    assert_eq!(code, 200, "{status}");
    let sub = &status["data"][0];
    assert_eq!(sub["stage"], "Finished", "{sub}");
    assert_eq!(sub["unit"], "Load", "{sub}");
    assert_eq!(sub["load_status"]["progress"], "100.00 %", "{sub}");
}

#[tokio::test]
async fn a_job_made_outside_the_api_reads_as_a_task() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let name = support::unique("wiz-");
    let db = support::unique("wiz_");
    let job = home.path().join("job.toml");
    support::job::all_job(&job, &pair, &name, &db, "");
    let out = ferry(
        home.path(),
        &["profile", "save", "--no-password", job.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = serve(home.path());
    let (code, task) = call("GET", &format!("{}/tasks/{name}", s.base), None).await;
    assert_eq!(code, 200, "{task}");
    assert_eq!(task["task_mode"], "all");
    assert_eq!(task["target_config"]["port"], pair.target.port);
    assert_eq!(
        task["table_migrate_rule"][0]["target"]["schema"],
        format!("{db}_s"),
        "{task}"
    );
    let (code, list) = call("GET", &format!("{}/tasks?with_status=true", s.base), None).await;
    assert_eq!(code, 200);
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(
        list["data"][0]["status_list"][0]["stage"], "Paused",
        "{list}"
    );
}

#[tokio::test]
async fn hostile_requests_get_dm_error_bodies() {
    let home = tempfile::tempdir().unwrap();
    let s = serve(home.path());
    let base = &s.base;
    let big = "x".repeat(2 << 20);
    let cases: Vec<(&str, String, Option<String>)> = vec![
        ("POST", "/sources".into(), Some("{not json".into())),
        ("POST", "/sources".into(), Some("[]".into())),
        ("POST", "/sources".into(), Some(r#"{"source": {"source_name": "a", "host": "h", "port": "x", "user": "u"}}"#.into())),
        ("POST", "/sources".into(), Some(r#"{"source": {"source_name": "a", "host": "h", "port": 1, "user": "u", "colour": 1}}"#.into())),
        ("POST", "/sources".into(), Some(r#"{"source": {"source_name": "../../etc", "host": "h", "port": 1, "user": "u"}}"#.into())),
        ("POST", "/sources".into(), Some(r#"{"source": {"source_name": "a", "host": "", "port": 1, "user": "u"}}"#.into())),
        ("POST", "/sources".into(), Some(r#"{"source": {"source_name": "a", "host": "h", "port": 70000, "user": "u"}}"#.into())),
        ("POST", "/sources".into(), Some(format!(r#"{{"source": {{"source_name": "{big}"}}}}"#))),
        ("POST", "/sources".into(), Some(r#"{"source_name": "a", "host": "h", "port": 1, "user": "u", "relay_config": {"enable_relay": true}}"#.into())),
        ("GET", "/sources/nope".into(), None),
        ("PUT", "/sources/nope".into(), Some("{}".into())),
        ("DELETE", "/sources/nope".into(), None),
        ("GET", "/sources/nope/status".into(), None),
        ("POST", "/sources/nope/enable".into(), None),
        ("POST", "/sources/nope/relay/enable".into(), Some("{}".into())),
        ("POST", "/sources/nope/transfer".into(), Some("{}".into())),
        ("GET", "/sources/nope/schemas".into(), None),
        ("GET", "/sources/%FF%FE/schemas".into(), None),
        ("GET", "/sources/a%2Fb".into(), None),
        ("POST", "/tasks".into(), None),
        ("POST", "/tasks".into(), Some("null".into())),
        ("POST", "/tasks".into(), Some(r#"{"task": {}}"#.into())),
        ("POST", "/tasks".into(), Some(r#"{"task": {"name": "t1", "task_mode": "sideways", "target_config": {"host": "h", "port": 1, "user": "u"}, "source_config": {"source_conf": [{"source_name": "s"}]}}}"#.into())),
        ("POST", "/tasks".into(), Some(r#"{"task": {"name": "t1", "task_mode": "all", "target_config": {"host": "h", "port": 1, "user": "u"}, "source_config": {"source_conf": [{"source_name": "nope"}]}}}"#.into())),
        ("POST", "/tasks".into(), Some(r#"{"task": {"name": "t1", "task_mode": "all", "target_config": {"host": "h", "port": 1, "user": "u"}, "source_config": {"source_conf": []}}}"#.into())),
        ("POST", "/tasks".into(), Some(r#"{"task": {"name": "t1", "task_mode": "all", "target_config": {"host": "h", "port": 1, "user": "u"}, "source_config": {"source_conf": [{"source_name": "a"}, {"source_name": "b"}]}}}"#.into())),
        ("POST", "/tasks".into(), Some(r#"{"task": {"name": "1bad", "task_mode": "all", "target_config": {"host": "h", "port": 1, "user": "u"}, "source_config": {"source_conf": [{"source_name": "a"}]}}}"#.into())),
        ("POST", "/tasks".into(), Some(r#"{"task": {"name": "t1", "task_mode": "all", "extra": true, "target_config": {"host": "h", "port": 1, "user": "u"}, "source_config": {"source_conf": [{"source_name": "a"}]}}}"#.into())),
        ("POST", "/tasks".into(), Some(big.clone())),
        ("GET", "/tasks/nope".into(), None),
        ("PUT", "/tasks/nope".into(), Some(r#"{"task": 1}"#.into())),
        ("DELETE", "/tasks/nope".into(), None),
        ("POST", "/tasks/nope/start".into(), None),
        ("POST", "/tasks/nope/start".into(), Some(r#"{"remove_meta": "yes"}"#.into())),
        ("POST", "/tasks/nope/stop".into(), None),
        ("POST", "/tasks/nope/rollback".into(), None),
        ("POST", "/tasks/nope/release".into(), None),
        ("GET", "/tasks/nope/status".into(), None),
        ("GET", "/tasks/nope/sources/a/migrate_targets".into(), None),
        ("GET", "/tasks/nope/sources/a/schemas".into(), None),
        ("GET", "/tasks/nope/sources/a/schemas/db".into(), None),
        ("DELETE", "/cluster/info".into(), None),
        ("PATCH", "/tasks".into(), None),
        ("GET", "/no/such/path".into(), None),
        ("GET", "/api/v1/sources/../../etc/passwd".into(), None),
    ];
    for (method, path, body) in cases {
        let url = format!("{base}{path}");
        let client = reqwest::Client::new();
        let mut req = client.request(method.parse().unwrap(), &url);
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let code = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{method} {path} ({code}): not JSON: {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert!((400..500).contains(&code), "{method} {path}: {code} {body}");
        dm_error(&format!("{method} {path}"), code, &body);
    }
    // Its own OpenAPI document, generated from the code: every route it serves.
    let (code, doc) = call("GET", &format!("{base}/dm.json"), None).await;
    assert_eq!(code, 200);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    for (path, method) in [
        ("/api/v1/sources", "post"),
        ("/api/v1/sources/{source}/schemas/{schema}", "get"),
        ("/api/v1/tasks", "post"),
        ("/api/v1/tasks/{task}/status", "get"),
        ("/api/v1/cluster/workers", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "dm.json lacks {method} {path}"
        );
    }
    let task = &doc["components"]["schemas"]["Task"]["properties"];
    for field in [
        "task_mode",
        "table_migrate_rule",
        "source_config",
        "target_config",
    ] {
        assert!(
            task[field].is_object(),
            "dm.json's Task lacks {field}: {task}"
        );
    }
    // The server is still there and answers.
    let (code, masters) = call("GET", &format!("{base}/cluster/masters"), None).await;
    assert_eq!(code, 200);
    assert_eq!(masters["data"][0]["leader"], true);
}

#[tokio::test]
async fn converters_and_templates() {
    let home = tempfile::tempdir().unwrap();
    let s = serve(home.path());
    let base = &s.base;
    let task = json!({
        "name": "tpl-one",
        "task_mode": "full",
        "meta_schema": "dm_meta",
        "enhance_online_schema_change": true,
        "on_duplicate": "error",
        "target_config": {"host": "10.0.0.2", "port": 4000, "user": "root", "password": "secret"},
        "table_migrate_rule": [{"source": {"source_name": "mysql-01", "schema": "shop_*", "table": "*"}, "target": {"schema": "shop"}}],
        "source_config": {"source_conf": [{"source_name": "mysql-01"}]}
    });
    // Task → DM's task file → task.
    let (code, out) = call(
        "POST",
        &format!("{base}/tasks/converters"),
        Some(json!({"task": task})),
    )
    .await;
    assert_eq!(code, 201, "{out}");
    let file = out["task_config_file"].as_str().unwrap().to_string();
    assert!(
        file.contains("task-mode: full") && file.contains("target-schema: shop"),
        "{file}"
    );
    assert!(
        !file.contains("secret"),
        "the file holds the password: {file}"
    );
    let (code, back) = call(
        "POST",
        &format!("{base}/tasks/converters"),
        Some(json!({"task_config_file": file})),
    )
    .await;
    assert_eq!(code, 201, "{back}");
    assert_eq!(
        back["task"]["table_migrate_rule"],
        task["table_migrate_rule"]
    );
    for bad in [
        json!({}),
        json!({"task_config_file": "name: [unclosed"}),
        json!({"task": task, "task_config_file": "x"}),
    ] {
        let (code, body) = call(
            "POST",
            &format!("{base}/tasks/converters"),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(code, 400, "{bad}: {body}");
        dm_error("converter", code, &body);
    }
    // Templates: kept without a job or a password.
    let (code, made) = call(
        "POST",
        &format!("{base}/tasks/templates"),
        Some(task.clone()),
    )
    .await;
    assert_eq!(code, 201, "{made}");
    assert!(made["target_config"].get("password").is_none(), "{made}");
    let (code, _) = call(
        "POST",
        &format!("{base}/tasks/templates"),
        Some(task.clone()),
    )
    .await;
    assert_eq!(code, 400);
    let (_, list) = call("GET", &format!("{base}/tasks/templates"), None).await;
    assert_eq!(list["total"], 1, "{list}");
    let (code, _) = call("GET", &format!("{base}/tasks"), None).await;
    assert_eq!(code, 200);
    let mut renamed = task.clone();
    renamed["name"] = "other".into();
    let (code, body) = call(
        "PUT",
        &format!("{base}/tasks/templates/tpl-one"),
        Some(renamed),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = call("POST", &format!("{base}/tasks/templates/import"), None).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(
        body["success_task_list"],
        json!([]),
        "no jobs, nothing imported"
    );
    let (code, _) = call("DELETE", &format!("{base}/tasks/templates/tpl-one"), None).await;
    assert_eq!(code, 204);
    let (code, body) = call("GET", &format!("{base}/tasks/templates/tpl-one"), None).await;
    assert_eq!(code, 400);
    dm_error("deleted template", code, &body);
}

#[tokio::test]
async fn dm_export_and_push_hand_a_job_to_a_cluster() {
    let pair = support::pair();
    let cluster = tempfile::tempdir().unwrap();
    let desk = tempfile::tempdir().unwrap();
    let name = support::unique("push-");
    let db = support::unique("push_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, note VARCHAR(20)); INSERT INTO `{db}`.t VALUES (1, 'one');"
        ))
        .await;
    let job = desk.path().join("job.toml");
    support::job::all_job(&job, &pair, &name, &db, "");
    let out = ferry(
        desk.path(),
        &["profile", "save", "--no-password", job.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Export: DM's files, parsed back, say what the job says; no password.
    let files = desk.path().join("dm");
    let out = ferry(
        desk.path(),
        &["dm", "export", &name, "--dir", files.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let task_text = std::fs::read_to_string(files.join(format!("task-{name}.yaml"))).unwrap();
    let exported = ferry::dm::yaml::parse_task_yaml(&task_text).unwrap();
    assert_eq!(exported.name, name);
    let rule = &exported.table_migrate_rule[0];
    assert_eq!(
        (rule.source.schema.as_str(), rule.source.table.as_str()),
        (db.as_str(), "*")
    );
    assert_eq!(
        rule.target.as_ref().and_then(|t| t.schema.clone()),
        Some(format!("{db}_s"))
    );
    assert_eq!(exported.target_config.port, pair.target.port);
    let source_text =
        std::fs::read_to_string(files.join(format!("source-{name}-source.yaml"))).unwrap();
    assert!(
        source_text.contains(&format!("port: {}", pair.source.port)),
        "{source_text}"
    );

    // Push to a `ferry serve` (it speaks DM's API and refuses any field DM does
    // not have): source and task created there, the task running to sync.
    let s = serve(cluster.path());
    let master = s.base.trim_end_matches("/api/v1").to_string();
    let out = ferry(
        desk.path(),
        &["dm", "push", &name, "--master", &master, "--detach"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (code, src) = call("GET", &format!("{}/sources/{name}-source", s.base), None).await;
    assert_eq!(code, 200, "{src}");
    wait_status(&s.base, &name, "the pushed task syncing", |x| {
        x["sync_status"]["synced"] == true
    })
    .await;
    pair.source
        .sql(&format!("INSERT INTO `{db}`.t VALUES (2, 'two')"))
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while rows(&pair.target, &format!("`{db}_s`.t")).await
        != rows(&pair.source, &format!("`{db}`.t")).await
    {
        assert!(
            Instant::now() < deadline,
            "the pushed task never applied the write"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // No way back was asked for: Ferry's rollback says so in DM's error body.
    let (code, body) = call("POST", &format!("{}/tasks/{name}/rollback", s.base), None).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error_msg"]
            .as_str()
            .is_some_and(|m| m.contains("has no reverse sync running")),
        "{body}"
    );
    let (code, _) = call("POST", &format!("{}/tasks/{name}/stop", s.base), None).await;
    assert_eq!(code, 200);
    wait_status(&s.base, &name, "stopped", |x| x["stage"] == "Paused").await;

    // Push again and follow: the cluster's status arrives as Ferry's events, and
    // the push ends when the task stops there.
    let mut follow = ferry_cmd(
        desk.path(),
        &["dm", "push", &name, "--master", &master, "--json"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Events go to stderr as JSON lines (stdout has the outcome).
    let events = follow.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(events).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !seen
        .iter()
        .any(|l: &String| l.contains("\"type\":\"sync\"") && l.contains("\"synced\":true"))
    {
        if Instant::now() > deadline || follow.try_wait().unwrap().is_some() {
            let _ = follow.kill();
            let out = follow.wait_with_output().unwrap();
            panic!(
                "no synced sync event from the cluster: {seen:?}; stdout: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            seen.push(line);
        }
    }
    let (code, _) = call("POST", &format!("{}/tasks/{name}/stop", s.base), None).await;
    assert_eq!(code, 200);
    let done = follow.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&done.stdout).into_owned();
    assert_eq!(done.status.code(), Some(0), "{said}");
    assert!(said.contains("stopped on the cluster"), "{said}");
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.push(line);
    }
    assert!(
        seen.iter().any(|l| l.contains("\"phase\":\"sync\"")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|l| l.contains("\"phase\":\"paused\"")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn off_loopback_it_needs_the_token_and_may_speak_tls() {
    let home = tempfile::tempdir().unwrap();
    let certs = support::Certs::generate();
    let (_guard, port) = serve_on(
        home.path(),
        "0.0.0.0",
        &[
            "--tls-cert",
            certs.server_cert.to_str().unwrap(),
            "--tls-key",
            certs.server_key.to_str().unwrap(),
        ],
    );
    let out = ferry(home.path(), &["serve", "--show-token"]);
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(token.len(), 48, "{}", text(&out));
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&certs.ca).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}/api/v1/cluster/masters");
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error_code"], 10008, "{body}");
    let resp = client
        .get(&url)
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401, "a wrong token");
    let resp = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Plain HTTP on the TLS port gets no answer from the API.
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/cluster/masters")).await;
    assert!(plain.map_or(true, |r| !r.status().is_success()));
}

/// DM's checks use `password: ""` for an account without a password: the task is
/// made (nothing goes to the keyring — the kernel keyring refuses empty secrets)
/// and runs, where it was a 500. Deleted with `?force=true` while it runs, it is
/// stopped and deleted, as DM does.
#[tokio::test]
async fn a_target_account_without_a_password() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("nopw_");
    let user = support::unique("nopw");
    let (src, task) = (support::unique("src-"), support::unique("task-"));
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, note VARCHAR(20)); INSERT INTO `{db}`.t VALUES (1, 'one')"
        ))
        .await;
    pair.target
        .sql(&format!(
            "CREATE USER '{user}'@'127.0.0.1'; GRANT ALL ON *.* TO '{user}'@'127.0.0.1'"
        ))
        .await;
    let s = serve(home.path());
    let base = &s.base;
    let (code, body) = call(
        "POST",
        &format!("{base}/sources"),
        Some(source_body(&src, &pair.source, support::PASSWORD)),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let mut made = task_body(&task, &src, &db, &pair.target);
    made["task"]["target_config"]["user"] = user.as_str().into();
    made["task"]["target_config"]["password"] = "".into();
    // DM's dump-only mode is read and refused as not supported.
    let mut dump = made.clone();
    dump["task"]["task_mode"] = "dump".into();
    let (code, body) = call("POST", &format!("{base}/tasks"), Some(dump)).await;
    assert_eq!(
        (code, body["error_code"].clone()),
        (400, json!(10001)),
        "{body}"
    );
    let (code, body) = call("POST", &format!("{base}/tasks"), Some(made.clone())).await;
    assert_eq!(code, 201, "{body}");
    // DM's start fields: a start time is not supported (the job starts from its
    // position), safe mode is what Ferry always does.
    let (code, body) = call(
        "POST",
        &format!("{base}/tasks/{task}/start"),
        Some(json!({"start_time": "2026-12-01 00:00:00"})),
    )
    .await;
    assert_eq!(
        (code, body["error_code"].clone()),
        (400, json!(10001)),
        "{body}"
    );
    let (code, body) = call(
        "POST",
        &format!("{base}/tasks/{task}/start"),
        Some(json!({"safe_mode_time_duration": "10s"})),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    wait_status(base, &task, "the sync", |s| {
        s["unit"] == "Sync" && s["sync_status"]["synced"] == true
    })
    .await;
    let (code, body) = call(
        "POST",
        &format!("{base}/tasks/{task}/stop"),
        Some(json!({"timeout_duration": "10s"})),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    wait_status(base, &task, "stopped", |s| s["stage"] == "Paused").await;
    let (code, body) = call("POST", &format!("{base}/tasks/{task}/start"), None).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        rows(&pair.target, &format!("`{db}_t`.t")).await,
        vec![(1, "one".to_string())]
    );
    // A running task deleted with ?force=true is stopped, then deleted (DM's way).
    let (code, body) = call("DELETE", &format!("{base}/tasks/{task}?force=true"), None).await;
    assert_eq!(code, 204, "{body}");
    let (code, body) = call("GET", &format!("{base}/tasks/{task}"), None).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["error_code"], 10002, "{body}");
    // Made again and running, it goes with its source's forced delete.
    pair.target.sql(&format!("DROP DATABASE `{db}_t`")).await;
    let (code, body) = call("POST", &format!("{base}/tasks"), Some(made.clone())).await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = call("POST", &format!("{base}/tasks/{task}/start"), None).await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = call("DELETE", &format!("{base}/sources/{src}?force=true"), None).await;
    assert_eq!(code, 204, "{body}");
    let (code, body) = call("GET", &format!("{base}/tasks/{task}"), None).await;
    assert_eq!(
        (code, body["error_code"].clone()),
        (400, json!(10002)),
        "a task outlived its source: {body}"
    );
}

/// DM's incremental task made while its target tables do not exist yet: it is
/// created (the precheck names them) and started from its position; a table
/// the source creates now arrives with its rows, schema and all; a change to a
/// table the target still lacks stops the task with that table's name instead
/// of being dropped.
#[tokio::test]
async fn an_incremental_task_made_before_its_target_tables() {
    let pair = support::pair();
    let home = tempfile::tempdir().unwrap();
    let db = support::unique("inc_");
    let (src, task) = (support::unique("isrc-"), support::unique("itask-"));
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t1 (i TINYINT, j INT UNIQUE KEY)"
        ))
        .await;
    let status: Vec<mysql_async::Row> = pair.source.query("SHOW MASTER STATUS").await;
    let (file, pos): (String, u64) = (status[0].get(0).unwrap(), status[0].get(1).unwrap());
    let s = serve(home.path());
    let base = &s.base;
    let (code, body) = call(
        "POST",
        &format!("{base}/sources"),
        Some(source_body(&src, &pair.source, support::PASSWORD)),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    // Without a start position it is made, and refused at its start, as DM
    // refuses it.
    let unplaced = support::unique("nopos-");
    let mut made = task_body(&unplaced, &src, &db, &pair.target);
    made["task"]["task_mode"] = "incremental".into();
    let (code, body) = call("POST", &format!("{base}/tasks"), Some(made)).await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = call("POST", &format!("{base}/tasks/{unplaced}/start"), None).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error_msg"]
            .as_str()
            .unwrap()
            .contains("must set meta for task-mode incremental"),
        "{body}"
    );
    let (code, _) = call("DELETE", &format!("{base}/tasks/{unplaced}"), None).await;
    assert_eq!(code, 204);
    let mut made = task_body(&task, &src, &db, &pair.target);
    made["task"]["task_mode"] = "incremental".into();
    made["task"]["source_config"]["source_conf"][0]["binlog_name"] = file.into();
    made["task"]["source_config"]["source_conf"][0]["binlog_pos"] = pos.into();
    let (code, body) = call("POST", &format!("{base}/tasks"), Some(made)).await;
    assert_eq!(code, 201, "{body}");
    assert!(
        body["check_result"]
            .as_str()
            .is_some_and(|c| c.contains("target.tables_exist") && c.contains("t1")),
        "the missing table is named: {body}"
    );
    let (code, body) = call("POST", &format!("{base}/tasks/{task}/start"), None).await;
    assert_eq!(code, 200, "{body}");
    wait_status(base, &task, "running", |s| {
        s["stage"] == "Running" && s["unit"] == "Sync"
    })
    .await;
    pair.source
        .sql(&format!(
            "CREATE TABLE `{db}`.t3 (id INT PRIMARY KEY, note VARCHAR(20)); INSERT INTO `{db}`.t3 VALUES (1, 'new'), (2, 'table')"
        ))
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let there: Vec<u64> = pair
            .target
            .query(&format!(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}_t' AND TABLE_NAME = 't3'"
            ))
            .await;
        if there == [1]
            && rows(&pair.target, &format!("`{db}_t`.t3")).await
                == rows(&pair.source, &format!("`{db}`.t3")).await
        {
            break;
        }
        assert!(Instant::now() < deadline, "the new table never arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A change to the table the target lacks: the task stops, naming it.
    pair.source
        .sql(&format!("INSERT INTO `{db}`.t1 VALUES (1, 2)"))
        .await;
    let sub = wait_status(base, &task, "stopped by the missing table", |s| {
        s["stage"] == "Paused" && s["error_msg"].as_str().is_some()
    })
    .await;
    let msg = sub["error_msg"].as_str().unwrap();
    assert!(
        msg.contains("replicate.no_target_table") && msg.contains(&format!("{db}_t.t1")),
        "{sub}"
    );
    let (code, _) = call("DELETE", &format!("{base}/tasks/{task}"), None).await;
    assert_eq!(code, 204);
}
