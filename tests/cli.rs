//! The `ferry` command line end to end: profiles with the keyring, `connect`,
//! `objects --json`, and one clear line for every bad input.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Env {
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            home: tempfile::tempdir().expect("temp home"),
        }
    }

    fn config(&self) -> PathBuf {
        self.home.path().join("config")
    }

    fn data(&self) -> PathBuf {
        self.home.path().join("data")
    }

    /// `ferry` with its config and data dirs inside this test's temp home, the
    /// kernel keyring, and no password variables unless a test adds them.
    fn ferry(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferry"));
        c.args(args)
            .current_dir(self.home.path())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.config())
            .env("XDG_DATA_HOME", self.data())
            .env("FERRY_KEYRING", "keyutils")
            .env_remove("FERRY_SOURCE_PASSWORD")
            .env_remove("FERRY_TARGET_PASSWORD");
        c
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.home.path().join(name);
        std::fs::write(&p, text).expect("write job");
        p
    }
}

fn run(mut c: Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("run ferry");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn job(name: &str, source_port: u16, target_port: u16, objects: &str) -> String {
    format!(
        r#"name = "{name}"
mode = "full"
[source]
host = "127.0.0.1"
port = {source_port}
user = "{user}"
tls = "preferred"
[target]
host = "127.0.0.1"
port = {target_port}
user = "{user}"
tls = "required"
{objects}
"#,
        user = support::USER
    )
}

/// Every file below `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A failed command: exit 1, exactly one line on stderr with the code, no panic.
fn assert_one_line_error(code: i32, stdout: &str, stderr: &str, expected_code: &str) {
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(
        lines[0].starts_with(&format!("error {expected_code}: ")),
        "{stderr}"
    );
    assert!(lines[0].contains("Fix: "), "a remedy is given: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn profile_round_trip_keeps_passwords_in_the_keyring_only() {
    let pair = support::pair();
    let env = Env::new();
    let db = support::unique("cli_");
    pair.source
        .sql(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.orders (id INT PRIMARY KEY, note VARCHAR(20));
             CREATE TABLE `{db}`.tmp_x (id INT); INSERT INTO `{db}`.orders VALUES (1,'a'),(2,'b');"
        ))
        .await;
    let name = support::unique("roundtrip-");
    let objects = format!(
        "[objects]\ninclude = [\"{db}.*\"]\nexclude = [\"{db}.tmp_*\"]\n[[objects.route]]\nfrom = \"{db}.*\"\nto = \"{db}_v2.*\"\n"
    );
    let file = env.write(
        "job.toml",
        &job(&name, pair.source.port, pair.target.port, &objects),
    );

    let mut save = env.ferry(&["profile", "save", file.to_str().unwrap()]);
    save.env("FERRY_SOURCE_PASSWORD", support::PASSWORD)
        .env("FERRY_TARGET_PASSWORD", support::PASSWORD);
    let (code, out, err) = run(save);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("stored the source password") && out.contains("stored the target password"),
        "{out}"
    );
    assert!(!out.contains(support::PASSWORD) && !err.contains(support::PASSWORD));

    let (code, out, _) = run(env.ferry(&["profile", "list"]));
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l.starts_with(&name)), "{out}");

    let (code, out, _) = run(env.ferry(&["profile", "show", &name]));
    assert_eq!(code, 0);
    assert!(out.contains(&format!("name = \"{name}\"")), "{out}");
    assert!(
        out.contains("# source password: stored in the OS keyring"),
        "{out}"
    );
    assert!(!out.contains(support::PASSWORD));

    // Connect by profile name with no password variables: the keyring supplies them.
    let (code, out, err) = run(env.ferry(&["connect", &name]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("source") && out.contains("MariaDB") && out.contains("server_id 1"),
        "{out}"
    );
    assert!(out.contains("target") && out.contains("TLS on"), "{out}");

    let (code, out, err) = run(env.ferry(&["connect", &name, "--json"]));
    assert_eq!(code, 0, "{err}");
    let checks: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(checks[0]["facts"]["log_bin"], true);
    assert_eq!(checks[1]["tls"], true);

    let (code, out, err) = run(env.ferry(&["objects", &name, "--json"]));
    assert_eq!(code, 0, "{err}");
    let sel: serde_json::Value = serde_json::from_str(&out).expect("json");
    let tables = sel["tables"].as_array().expect("tables");
    assert_eq!(tables.len(), 1, "tmp_x is excluded: {out}");
    assert_eq!(tables[0]["schema"], db.as_str());
    assert_eq!(tables[0]["name"], "orders");
    assert_eq!(tables[0]["target_schema"], format!("{db}_v2"));
    assert_eq!(tables[0]["target_name"], "orders");
    assert_eq!(tables[0]["row_key"], serde_json::json!(["id"]));

    let (code, out, _) = run(env.ferry(&["objects", &name]));
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("{db}.orders -> {db}_v2.orders")),
        "{out}"
    );

    // No file Ferry wrote holds the password.
    let written: Vec<PathBuf> = files_under(&env.config())
        .into_iter()
        .chain(files_under(&env.data()))
        .collect();
    assert!(
        !written.is_empty(),
        "the profile was written under the config dir"
    );
    for f in &written {
        let bytes = std::fs::read(f).expect("read");
        assert!(
            !String::from_utf8_lossy(&bytes).contains(support::PASSWORD),
            "{} holds the password",
            f.display()
        );
    }

    // Removing the profile removes its passwords too.
    let (code, _, _) = run(env.ferry(&["profile", "rm", &name]));
    assert_eq!(code, 0);
    let (code, _, err) = run(env.ferry(&["profile", "show", &name]));
    assert_one_line_error(code, "", &err, "profile.not_found");
    let (code, _, _) =
        run(env.ferry(&["profile", "save", file.to_str().unwrap(), "--no-password"]));
    assert_eq!(code, 0);
    let (_, out, _) = run(env.ferry(&["profile", "show", &name]));
    assert!(out.contains("# source password: not stored"), "{out}");
    let (code, out, err) = run(env.ferry(&["connect", &name]));
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("endpoint.auth_failed"), "{err}");
    run(env.ferry(&["profile", "rm", &name]));
}

#[tokio::test]
async fn bad_inputs_give_one_clear_line() {
    let pair = support::pair();
    let env = Env::new();
    let wrong = "Wr0ng-Pa55-zz";

    // Wrong password.
    let file = env.write(
        "wrongpw.toml",
        &job("wrongpw", pair.source.port, pair.target.port, ""),
    );
    let mut c = env.ferry(&["objects", file.to_str().unwrap()]);
    c.env("FERRY_SOURCE_PASSWORD", wrong);
    let (code, out, err) = run(c);
    assert_one_line_error(code, &out, &err, "endpoint.auth_failed");
    assert!(err.contains("FERRY_SOURCE_PASSWORD"), "{err}");
    assert!(!err.contains(wrong) && !out.contains(wrong));

    // Unreachable host: a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = env.write("closed.toml", &job("closed", closed, pair.target.port, ""));
    let (code, out, err) = run(env.ferry(&["objects", file.to_str().unwrap()]));
    assert_one_line_error(code, &out, &err, "endpoint.unreachable");
    assert!(err.contains(&format!("127.0.0.1:{closed}")), "{err}");

    // TLS required, but the source offers none.
    let text = job("tlsreq", pair.source.port, pair.target.port, "").replacen(
        "tls = \"preferred\"",
        "tls = \"required\"",
        1,
    );
    let file = env.write("tlsreq.toml", &text);
    let mut c = env.ferry(&["objects", file.to_str().unwrap()]);
    c.env("FERRY_SOURCE_PASSWORD", support::PASSWORD);
    let (code, out, err) = run(c);
    assert_one_line_error(code, &out, &err, "endpoint.tls_unavailable");

    // A rule naming a schema that does not exist.
    let file = env.write(
        "unknown.toml",
        &job(
            "unknown",
            pair.source.port,
            pair.target.port,
            "[objects]\ninclude = [\"no_such_schema.*\"]\n",
        ),
    );
    let mut c = env.ferry(&["objects", file.to_str().unwrap()]);
    c.env("FERRY_SOURCE_PASSWORD", support::PASSWORD);
    let (code, out, err) = run(c);
    assert_one_line_error(code, &out, &err, "rules.unknown_schema");
    assert!(err.contains("no_such_schema"), "{err}");

    // Malformed TOML: the line is named.
    let file = env.write(
        "broken.toml",
        "name = \"broken\"\nmode = \"all\"\n[source\nhost = 1\n",
    );
    let (code, out, err) = run(env.ferry(&["connect", file.to_str().unwrap()]));
    assert_one_line_error(code, &out, &err, "profile.malformed");
    assert!(err.contains("line 3"), "{err}");

    // An unknown mode is a malformed file too, naming the allowed values.
    let text = job("badmode", pair.source.port, pair.target.port, "")
        .replace("mode = \"full\"", "mode = \"fast\"");
    let file = env.write("badmode.toml", &text);
    let (code, out, err) = run(env.ferry(&["connect", file.to_str().unwrap()]));
    assert_one_line_error(code, &out, &err, "profile.malformed");
    assert!(err.contains("fast") && err.contains("incremental"), "{err}");

    // A password in the file is refused without being echoed.
    let text = job("pwfile", pair.source.port, pair.target.port, "").replacen(
        &format!("user = \"{}\"", support::USER),
        &format!("user = \"{}\"\npassword = \"{wrong}\"", support::USER),
        1,
    );
    let file = env.write("pwfile.toml", &text);
    let (code, out, err) = run(env.ferry(&["profile", "save", file.to_str().unwrap()]));
    assert_one_line_error(code, &out, &err, "profile.password_in_file");
    assert!(!err.contains(wrong));
    assert!(files_under(&env.config()).is_empty(), "nothing was saved");

    // A bad job name (seed 004's rule).
    let file = env.write(
        "badname.toml",
        &job("9lives", pair.source.port, pair.target.port, ""),
    );
    let (code, out, err) = run(env.ferry(&["profile", "save", file.to_str().unwrap()]));
    assert_one_line_error(code, &out, &err, "profile.invalid_name");

    // A missing job file / profile.
    let (code, out, err) = run(env.ferry(&["connect", "no-such-profile"]));
    assert_one_line_error(code, &out, &err, "profile.not_found");
    let (code, out, err) = run(env.ferry(&["connect", "./missing.toml"]));
    assert_one_line_error(code, &out, &err, "profile.read");
}

#[test]
fn control_commands_name_a_missing_job_in_one_line() {
    let env = Env::new();
    for cmd in ["complete", "pause", "abort", "status"] {
        let (code, _, err) = run(env.ferry(&[cmd, "no-such-job"]));
        assert_eq!(code, 1, "{cmd}");
        assert_eq!(err.trim().lines().count(), 1, "{cmd}: {err}");
        assert!(
            err.starts_with("error profile.") && err.contains("no-such-job"),
            "{cmd}: {err}"
        );
    }
}
