//! "Try with local demo databases": two throwaway MariaDB servers on loopback (a
//! source with a binlog and sample data, and an empty target) plus a saved `demo`
//! job pointing at them, so a newcomer can click through the whole flow. A small
//! write load on the source shows the sync moving. Everything stops with the app.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferry::endpoint::{Endpoint, EndpointConfig, TlsMode};
use ferry::profile::{Mode, Profile, ProfileStore};
use ferry::{Report, Side};
use mysql_async::prelude::Queryable;

pub struct Demo {
    servers: Vec<Child>,
    load: Option<tokio::task::JoinHandle<()>>,
    source_port: u16,
}

impl Demo {
    /// The demo's application stops writing, as a real one does before the
    /// cutover: asked when the demo job is completed, so the cutover's
    /// late-writes guard has nothing to catch and the target stays the copy.
    pub fn stop_writes_for(&mut self, profile: &Profile) {
        if profile.source.port == self.source_port {
            if let Some(load) = self.load.take() {
                load.abort();
            }
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(load) = self.load.take() {
            load.abort();
        }
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

fn fail(message: impl Into<String>, remedy: &str) -> Report {
    Report {
        code: "demo.failed".into(),
        message: message.into(),
        remedy: remedy.into(),
    }
}

fn binary(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

fn free_port() -> Result<u16, Report> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| {
            fail(
                format!("no free port: {e}"),
                "close other programs and try again",
            )
        })
}

fn start_server(dir: &Path, server_id: u32, port: u16, binlog: bool) -> Result<Child, Report> {
    let missing = "install MariaDB (sudo apt-get install mariadb-server) to try the demo";
    let (Some(install), Some(mariadbd)) = (binary("mariadb-install-db"), binary("mariadbd")) else {
        return Err(fail("mariadbd is not installed", missing));
    };
    let data = dir.join("data");
    let root = nix_is_root();
    if !data.exists() {
        let mut c = Command::new(install);
        c.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if root {
            c.arg("--user=root");
        }
        let out = c
            .output()
            .map_err(|e| fail(format!("mariadb-install-db: {e}"), missing))?;
        if !out.status.success() {
            return Err(fail(
                format!(
                    "mariadb-install-db failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ),
                "check the demo directory is writable",
            ));
        }
    }
    let init = dir.join("init.sql");
    std::fs::write(
        &init,
        "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';\nGRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n",
    )
    .map_err(|e| fail(format!("writing {}: {e}", init.display()), "check the disk"))?;
    let mut c = Command::new(mariadbd);
    c.arg("--no-defaults");
    if root {
        c.arg("--user=root");
    }
    c.arg(format!("--datadir={}", data.display()))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--socket={}", dir.join("sock").display()))
        .arg(format!("--pid-file={}", dir.join("pid").display()))
        // Its own tmpdir: a starting mariadbd deletes the `#sql*` files of its
        // tmpdir, which in a shared /tmp are other servers' live temporary tables.
        .arg(format!("--tmpdir={}", dir.display()))
        .arg(format!("--log-error={}", dir.join("error.log").display()))
        .arg(format!("--init-file={}", init.display()))
        .arg(format!("--server-id={server_id}"))
        .args([
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M",
            "--innodb-flush-log-at-trx-commit=2",
            // The demo raises no warning of its own: the target reports its free
            // space (information_schema.DISKS) and the binlog carries column names.
            "--plugin-load-add=disks",
        ]);
    if binlog {
        c.arg(format!("--log-bin={}", data.join("binlog").display()))
            .args([
                "--binlog-format=ROW",
                "--binlog-row-image=FULL",
                "--loose-binlog-row-metadata=FULL",
            ]);
    }
    c.stdout(Stdio::null()).stderr(Stdio::null());
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            c.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
    }
    c.spawn()
        .map_err(|e| fail(format!("starting mariadbd: {e}"), missing))
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

async fn connect(port: u16) -> Result<Endpoint, Report> {
    let mut config = EndpointConfig::new("127.0.0.1", port, "root");
    config.tls = TlsMode::Disabled;
    let mut last = None;
    for _ in 0..100 {
        match Endpoint::open(Side::Source, &config, None, 2).await {
            Ok(e) => return Ok(e),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(fail(
        format!(
            "the demo server on port {port} did not start: {}",
            last.map(|e| e.to_string()).unwrap_or_default()
        ),
        "see error.log in the demo directory",
    ))
}

const SAMPLE: &str = "CREATE DATABASE IF NOT EXISTS demo_shop; USE demo_shop;
CREATE TABLE IF NOT EXISTS customers (id INT PRIMARY KEY, name VARCHAR(60), email VARCHAR(80), created DATETIME);
CREATE TABLE IF NOT EXISTS orders (id INT PRIMARY KEY, customer_id INT, total DECIMAL(10,2), status ENUM('new','paid','shipped'), placed TIMESTAMP NULL, KEY (customer_id));
CREATE TABLE IF NOT EXISTS audit_log (id BIGINT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6), msg VARCHAR(100));
INSERT IGNORE INTO customers SELECT seq, CONCAT('Customer ', seq), CONCAT('c', seq, '@example.com'), '2024-01-01' + INTERVAL seq MINUTE FROM seq_1_to_2000;
INSERT IGNORE INTO orders SELECT seq, 1 + seq % 2000, ROUND(seq * 3.7 % 500, 2), ELT(1 + seq % 3, 'new', 'paid', 'shipped'), '2024-06-01' + INTERVAL seq MINUTE FROM seq_1_to_20000;";

/// Starts the demo servers (reusing their data from an earlier demo) and saves the
/// `demo` job for them.
pub async fn start(dir: &Path) -> Result<(Demo, Profile), Report> {
    // Each demo starts from scratch.
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)
        .map_err(|e| fail(format!("creating {}: {e}", dir.display()), "check the disk"))?;
    let (sp, tp) = (free_port()?, free_port()?);
    let mut demo = Demo {
        servers: Vec::new(),
        load: None,
        source_port: sp,
    };
    demo.servers
        .push(start_server(&dir.join("source"), 1, sp, true)?);
    demo.servers
        .push(start_server(&dir.join("target"), 2, tp, false)?);
    let source = connect(sp).await?;
    let target = connect(tp).await?;
    target.close().await;
    let mut conn = source
        .conn()
        .await
        .map_err(|e| fail(e.to_string(), "try again"))?;
    conn.query_drop(SAMPLE)
        .await
        .map_err(|e| fail(format!("loading the sample data: {e}"), "try again"))?;
    drop(conn);
    // A trickle of writes, so the sync has something to follow.
    demo.load = Some(tokio::spawn(async move {
        let mut n = 0u64;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            n += 1;
            if let Ok(mut c) = source.conn().await {
                let _ = c
                    .exec_drop(
                        "UPDATE demo_shop.orders SET status = 'shipped', total = total + 1 WHERE id = ?",
                        (1 + n % 20_000,),
                    )
                    .await;
                let _ = c
                    .exec_drop(
                        "INSERT INTO demo_shop.audit_log (at, msg) VALUES (NOW(6), CONCAT('tick ', ?))",
                        (n,),
                    )
                    .await;
            }
        }
    }));
    let mut profile = Profile {
        name: "demo".into(),
        mode: Mode::All,
        source: EndpointConfig::new("127.0.0.1", sp, "root"),
        shards: Vec::new(),
        target: EndpointConfig::new("127.0.0.1", tp, "root"),
        objects: Default::default(),
        options: Default::default(),
        incremental: Default::default(),
        ignore_checks: Vec::new(),
        reverse_of: None,
    };
    profile.objects.include = vec!["demo_shop.*".into()];
    let store = ProfileStore::user().map_err(|e| fail(e.to_string(), "set HOME"))?;
    store
        .save(&profile)
        .map_err(|e| fail(e.to_string(), "check the config directory"))?;
    Ok((demo, profile))
}
