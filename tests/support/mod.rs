//! Throwaway MariaDB servers for the integration tests: real `mariadbd` processes
//! from Debian's `mariadb-server`, each in its own temp datadir on a free loopback
//! port, stopped (and their files removed) on drop.
//!
//! A test binary shares one source/target pair among its concurrently running tests
//! ([`pair`]); tests isolate themselves by using schemas and users of their own.
//! The source writes a ROW binlog with FULL images (server_id 1); the target offers
//! TLS with a throwaway CA so the TLS modes can be tested for real, while the source
//! offers none (for "TLS required but refused").

#![allow(dead_code)]

pub mod job;
pub mod precheck;
pub mod torture;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

/// Login used by tests that need a password.
pub const USER: &str = "ferry";
pub const PASSWORD: &str = "s3cret-Pw!ferry";

pub struct Certs {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

pub struct Server {
    pub name: &'static str,
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
    /// How it was started, to start it again on the same datadir and port.
    program: std::ffi::OsString,
    args: Vec<std::ffi::OsString>,
}

fn free_port() -> u16 {
    // Bound then released: mariadbd binds it a moment later. A rare clash is caught
    // by the readiness wait and retried with another port.
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn find_binary(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} not found: install Debian's mariadb-server (`apt-get install mariadb-server`)");
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certs {
    /// A CA and a server certificate for 127.0.0.1 / localhost, made with openssl.
    pub fn generate() -> Certs {
        let dir = tempfile::Builder::new()
            .prefix("ferry-certs-")
            .tempdir()
            .expect("cert dir");
        let p = |f: &str| dir.path().join(f);
        let ext = p("san.ext");
        std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n").expect("san");
        run(
            Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=Ferry Test CA",
                    "-keyout",
                ])
                .arg(p("ca.key"))
                .arg("-out")
                .arg(p("ca.pem")),
            "openssl CA",
        );
        run(
            Command::new("openssl")
                .args([
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-keyout",
                ])
                .arg(p("server.key"))
                .arg("-out")
                .arg(p("server.csr")),
            "openssl CSR",
        );
        run(
            Command::new("openssl")
                .args(["x509", "-req", "-days", "2", "-in"])
                .arg(p("server.csr"))
                .arg("-CA")
                .arg(p("ca.pem"))
                .arg("-CAkey")
                .arg(p("ca.key"))
                .arg("-CAcreateserial")
                .arg("-extfile")
                .arg(&ext)
                .arg("-out")
                .arg(p("server.pem")),
            "openssl sign",
        );
        Certs {
            ca: p("ca.pem"),
            server_cert: p("server.pem"),
            server_key: p("server.key"),
            dir,
        }
    }
}

impl Server {
    /// Starts a server; `binlog` makes it a replication source.
    pub fn start(name: &'static str, server_id: u32, binlog: bool, tls: Option<&Certs>) -> Server {
        Server::start_with(name, server_id, binlog, tls, &[])
    }

    /// As [`Server::start`], with extra `mariadbd` options.
    pub fn start_with(
        name: &'static str,
        server_id: u32,
        binlog: bool,
        tls: Option<&Certs>,
        extra: &[&str],
    ) -> Server {
        Server::start_opts(name, server_id, binlog, tls, extra, None)
    }

    /// As [`Server::start_with`], with the data directory on a tmpfs of `disk_mib` MiB
    /// of its own (a private mount namespace, so nothing is mounted on the host), for
    /// tests of a target running out of disk. See [`Server::fill_disk`].
    pub fn start_on_small_disk(
        name: &'static str,
        server_id: u32,
        extra: &[&str],
        disk_mib: u32,
    ) -> Server {
        Server::start_opts(name, server_id, false, None, extra, Some(disk_mib))
    }

    fn start_opts(
        name: &'static str,
        server_id: u32,
        binlog: bool,
        tls: Option<&Certs>,
        extra: &[&str],
        disk_mib: Option<u32>,
    ) -> Server {
        let mut last_err = String::new();
        for _ in 0..3 {
            match Server::try_start(name, server_id, binlog, tls, extra, disk_mib) {
                Ok(s) => return s,
                Err(e) => last_err = e,
            }
        }
        panic!("cannot start the {name} MariaDB: {last_err}");
    }

    fn try_start(
        name: &'static str,
        server_id: u32,
        binlog: bool,
        tls: Option<&Certs>,
        extra: &[&str],
        disk_mib: Option<u32>,
    ) -> Result<Server, String> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("ferry-{name}-"))
            .tempdir()
            .map_err(|e| e.to_string())?;
        let mut data = dir.path().join("data");
        let mut install = Command::new(find_binary("mariadb-install-db"));
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if is_root() {
            install.arg("--user=root");
        }
        let out = install
            .output()
            .map_err(|e| format!("mariadb-install-db: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mariadb-install-db: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let init = dir.path().join("init.sql");
        std::fs::write(
            &init,
            format!(
                "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';\n\
                 GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n\
                 CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';\n\
                 GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%' WITH GRANT OPTION;\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).map_err(|e| e.to_string())?;
        let port = free_port();
        let mut cmd = match disk_mib {
            None => Command::new(find_binary("mariadbd")),
            Some(mib) => {
                // unshare runs the shell in a new mount namespace: the tmpfs exists
                // only for mariadbd and vanishes with it. Without root, a user
                // namespace maps the caller to root inside.
                let disk = dir.path().join("disk");
                std::fs::create_dir(&disk).map_err(|e| e.to_string())?;
                let mut c = Command::new("unshare");
                c.arg(if is_root() { "-m" } else { "-rm" })
                    .arg("sh")
                    .arg("-c")
                    .arg(format!(
                        "mount -t tmpfs -o size={mib}m ferry-small \"$1\" && cp -a \"$2\"/. \"$1\"/ && shift 2 && exec \"$@\""
                    ))
                    .arg("sh")
                    .arg(&disk)
                    .arg(&data)
                    .arg(find_binary("mariadbd"));
                data = disk;
                c
            }
        };
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!(
                "--log-error={}",
                dir.path().join("error.log").display()
            ))
            .arg(format!("--init-file={}", init.display()))
            // Temporary files of its own: a starting mariadbd deletes every `#sql*`
            // file in its tmpdir, and in a shared /tmp those were the internal
            // temporary tables of servers already running, which then crashed
            // (signal 11 in ha_maria::drop_table).
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--server-id={server_id}"))
            .args([
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=16M",
                "--innodb-flush-log-at-trx-commit=2",
                "--max-connections=200",
            ]);
        if binlog {
            cmd.arg(format!("--log-bin={}", data.join("binlog").display()))
                .args(["--binlog-format=ROW", "--binlog-row-image=FULL"]);
        }
        if let Some(c) = tls {
            cmd.arg(format!("--ssl-ca={}", c.ca.display()))
                .arg(format!("--ssl-cert={}", c.server_cert.display()))
                .arg(format!("--ssl-key={}", c.server_key.display()));
        }
        if is_root() || disk_mib.is_some() {
            cmd.arg("--user=root");
        }
        cmd.args(extra);
        let program = cmd.get_program().to_os_string();
        let args: Vec<std::ffi::OsString> = cmd.get_args().map(|a| a.to_os_string()).collect();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("mariadbd: {e}"))?;
        let mut server = Server {
            name,
            port,
            dir,
            child,
            program,
            args,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// Stops the server (SIGKILL when `kill`, else a clean shutdown) and starts it
    /// again on the same datadir and port, as a crash or a restart would.
    pub fn restart(&mut self, kill: bool) {
        self.stop(kill);
        self.start_again();
    }

    /// Stops the server (SIGKILL when `kill`, else a clean shutdown).
    pub fn stop(&mut self, kill: bool) {
        let signal = if kill { "-KILL" } else { "-TERM" };
        let _ = Command::new("kill")
            .arg(signal)
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// Starts a stopped server again on its datadir and port.
    pub fn start_again(&mut self) {
        self.child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd restart");
        self.wait_ready().expect("mariadbd ready after restart");
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("mariadbd exited ({status}): {}", self.error_log()));
            }
            let ok = Command::new("mariadb")
                .args(["--no-defaults", "-h127.0.0.1", "-uroot", "-e", "SELECT 1"])
                .arg(format!("-P{}", self.port))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("mariadbd not ready in 60 s: {}", self.error_log()))
    }

    /// Fills the filesystem of the data directory (see [`Server::start_on_small_disk`])
    /// until `leave` bytes are free, as `information_schema.DISKS` reports them. The
    /// file is written through `/proc/PID/root`, the server's view of the mounts.
    pub async fn fill_disk(&self, leave: u64) {
        let datadir: Vec<String> = self.query("SELECT @@datadir").await;
        let free = || async {
            let v: Vec<u64> = self
                .query(
                    "SELECT CAST(Available AS UNSIGNED) * 1024 FROM information_schema.DISKS \
                     WHERE @@datadir LIKE CONCAT(Path, '%') ORDER BY LENGTH(Path) DESC LIMIT 1",
                )
                .await;
            v.first()
                .copied()
                .expect("DISKS reports the datadir's filesystem (plugin disks)")
        };
        let avail = free().await;
        assert!(avail > leave, "only {avail} bytes free already");
        let path = format!(
            "/proc/{}/root{}/filler",
            self.child.id(),
            datadir[0].trim_end_matches('/')
        );
        let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        use std::io::Write;
        let mut w = std::io::BufWriter::new(file);
        let chunk = vec![0x5au8; 1 << 20];
        let mut left = avail - leave;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            w.write_all(&chunk[..n])
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            left -= n as u64;
        }
        w.flush().unwrap();
        let now = free().await;
        assert!(now <= leave + (1 << 20), "{now} bytes still free");
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Options for a root connection (no password, no TLS).
    pub fn root_opts(&self) -> mysql_async::Opts {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some("root"))
            .prefer_socket(false)
            .into()
    }

    pub async fn conn(&self) -> mysql_async::Conn {
        mysql_async::Conn::new(self.root_opts())
            .await
            .unwrap_or_else(|e| {
                // Why the server is gone, if it is: the end of its error log.
                let log = self.error_log();
                let tail: Vec<&str> = log.lines().rev().take(80).collect();
                panic!(
                    "connect to {} (port {}) as root: {e}\nerror log, last lines:\n{}",
                    self.name,
                    self.port,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
    }

    /// Runs statements as root (`;`-separated are sent as one multi-statement batch).
    pub async fn sql(&self, statements: &str) {
        let mut c = self.conn().await;
        c.query_drop(statements)
            .await
            .unwrap_or_else(|e| panic!("{} on {}: {e}", statements, self.name));
        let _ = c.disconnect().await;
    }

    /// As [`Server::query`], returning the error instead of failing the test.
    pub async fn try_query<T: mysql_async::prelude::FromRow + Send + 'static>(
        &self,
        q: &str,
    ) -> Result<Vec<T>, String> {
        let mut c = self.conn().await;
        let rows = c
            .query(q)
            .await
            .map_err(|e| format!("{q} on {}: {e}", self.name));
        let _ = c.disconnect().await;
        rows
    }

    pub async fn query<T: mysql_async::prelude::FromRow + Send + 'static>(
        &self,
        q: &str,
    ) -> Vec<T> {
        let mut c = self.conn().await;
        let rows = c
            .query(q)
            .await
            .unwrap_or_else(|e| panic!("{q} on {}: {e}", self.name));
        let _ = c.disconnect().await;
        rows
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM lets mariadbd shut down cleanly; the datadir goes with the TempDir.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A source (binlog ROW/FULL, server_id 1, no TLS) and a target (server_id 2, TLS).
pub struct Pair {
    pub source: Server,
    pub target: Server,
    pub certs: Certs,
}

impl Pair {
    pub fn start() -> Pair {
        Pair::start_with(false)
    }

    /// As [`Pair::start`]; `target_binlog`: the target writes a binlog too (a
    /// reverse sync reads it).
    pub fn start_with(target_binlog: bool) -> Pair {
        let certs = Certs::generate();
        let source = Server::start("source", 1, true, None);
        let target = Server::start("target", 2, target_binlog, Some(&certs));
        Pair {
            source,
            target,
            certs,
        }
    }
}

/// The pair shared by the tests of this binary that run at the same time; it is
/// stopped when the last of them drops its handle.
pub fn pair() -> Arc<Pair> {
    static SHARED: Mutex<Weak<Pair>> = Mutex::new(Weak::new());
    let mut guard = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = guard.upgrade() {
        return p;
    }
    let p = Arc::new(Pair::start());
    *guard = Arc::downgrade(&p);
    p
}

/// A name unique within this test process, for schemas, users and profiles.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}_{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}
