//! Connection settings for one server, opening pools on it, and the server facts
//! every later phase decides on (flavor, binlog settings, case rules, packet size).
//!
//! TLS modes follow the MySQL client's `--ssl-mode` meanings so a DBA's habits carry
//! over: `preferred` uses TLS when the server offers it and falls back to plain TCP
//! when it does not; `required` refuses plain TCP but does not check certificates;
//! `verify-ca` checks the chain against the given CA; `verify-identity` also checks
//! that the certificate names the host. The decision is taken once, on a probe
//! connection, and the pool is opened with it, so every connection of one job has
//! the same protection.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{ClientIdentity, Conn, DriverError, Opts, OptsBuilder, Pool, SslOpts};
use serde::{Deserialize, Serialize};

use crate::error::Coded;

pub use crate::profile::{EndpointConfig, Side, TlsMode, DEFAULT_PORT};

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// An empty host would silently mean this machine to the driver.
    #[error("the {side} host is empty")]
    NoHost { side: Side },
    #[error("cannot reach the {side} server at {address}: {cause}")]
    Unreachable {
        side: Side,
        address: String,
        cause: String,
    },
    #[error("no answer from the {side} server at {address} within {seconds} s")]
    Timeout {
        side: Side,
        address: String,
        seconds: u64,
    },
    #[error("the {side} server at {address} refused the login of '{user}': {cause}")]
    AuthFailed {
        side: Side,
        address: String,
        user: String,
        cause: String,
    },
    #[error(
        "the {side} server at {address} does not offer TLS, but the profile says tls = \"{mode}\""
    )]
    TlsUnavailable {
        side: Side,
        address: String,
        mode: &'static str,
    },
    #[error("TLS with the {side} server at {address} failed: {cause}")]
    TlsFailed {
        side: Side,
        address: String,
        cause: String,
    },
    #[error("the {side} TLS file {path} cannot be used: {cause}")]
    TlsFile {
        side: Side,
        path: String,
        cause: String,
    },
    #[error("tls = \"{mode}\" for the {side} needs a CA certificate, but `ca` is not set")]
    TlsCaMissing { side: Side, mode: &'static str },
    #[error("the {side} profile sets only one of `cert` and `key`")]
    TlsIdentityIncomplete { side: Side },
    #[error("the {side} server at {address} failed a query: {cause}")]
    Query {
        side: Side,
        address: String,
        cause: String,
    },
}

impl Coded for EndpointError {
    fn code(&self) -> &'static str {
        match self {
            EndpointError::NoHost { .. } => "endpoint.no_host",
            EndpointError::Unreachable { .. } => "endpoint.unreachable",
            EndpointError::Timeout { .. } => "endpoint.timeout",
            EndpointError::AuthFailed { .. } => "endpoint.auth_failed",
            EndpointError::TlsUnavailable { .. } => "endpoint.tls_unavailable",
            EndpointError::TlsFailed { .. } => "endpoint.tls_failed",
            EndpointError::TlsFile { .. } => "endpoint.tls_file",
            EndpointError::TlsCaMissing { .. } => "endpoint.tls_ca_missing",
            EndpointError::TlsIdentityIncomplete { .. } => "endpoint.tls_identity_incomplete",
            EndpointError::Query { .. } => "endpoint.query_failed",
        }
    }

    fn remedy(&self) -> String {
        match self {
            EndpointError::NoHost { side } => format!(
                "enter the {side} server's host name or address⟦cli: in the job (host = \"…\")|app: on the Connect page⟧; for a server on this machine, 127.0.0.1"
            ),
            EndpointError::Unreachable { side, .. } | EndpointError::Timeout { side, .. } => format!(
                "check the {side} host and port⟦cli: in the job|app: on the Connect page⟧, that the server is running and that no firewall blocks the port"
            ),
            EndpointError::AuthFailed { side, .. } => format!(
                "check the {side} user and password⟦cli:: store the password with `ferry profile save` (it goes to the OS keyring) or set {}|app: on the Connect page (the password is kept in the OS keyring when the job is saved)⟧; make sure the account may connect from this host",
                side.password_env()
            ),
            EndpointError::TlsUnavailable { side, .. } => format!(
                "enable TLS on the {side} server (ssl_cert / ssl_key), or ⟦cli:set tls = \"preferred\" or \"disabled\" for the {side}|app:choose TLS preferred or disabled for the {side} on the Connect page⟧ if plain TCP is acceptable on this network"
            ),
            EndpointError::TlsFailed { side, .. } => format!(
                "check the {side} `ca`, `cert` and `key` files and that the server certificate is signed by that CA (and names the host for verify-identity)"
            ),
            EndpointError::TlsFile { side, .. } => {
                format!("point the {side} `ca` / `cert` / `key` at readable PEM files")
            }
            EndpointError::TlsCaMissing { side, .. } => format!(
                "set `ca` for the {side} to the PEM file of the CA that signed the server certificate⟦cli:, or use tls = \"required\"|app: (CA file on the Connect page), or choose TLS required⟧"
            ),
            EndpointError::TlsIdentityIncomplete { side } => {
                format!("set both `cert` and `key` for the {side}, or neither")
            }
            EndpointError::Query { side, .. } => {
                format!("check the {side} server's error log and the account's privileges")
            }
        }
    }

    fn is_transient(&self) -> bool {
        matches!(
            self,
            EndpointError::Unreachable { .. } | EndpointError::Timeout { .. }
        )
    }
}

/// The server kind; decides which SQL dialect details and positions apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Flavor {
    MySQL,
    MariaDB,
    TiDB,
}

impl Flavor {
    pub fn from_version(version: &str, version_comment: &str) -> Flavor {
        let both = format!("{version} {version_comment}").to_ascii_lowercase();
        if both.contains("tidb") {
            Flavor::TiDB
        } else if both.contains("mariadb") {
            Flavor::MariaDB
        } else {
            Flavor::MySQL
        }
    }
}

/// How the server identifies transactions in its binlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum GtidMode {
    /// MySQL `gtid_mode=ON` (`uuid:1-23` sets).
    On,
    /// MySQL with GTIDs off or in a transition state.
    Off,
    /// MariaDB: GTIDs (`domain-server-seq`) are always written.
    Mariadb,
}

/// What a server says about itself; read once per connection test and per job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ServerFacts {
    pub version: String,
    /// `(major, minor, patch)` parsed from `version`.
    pub version_number: (u32, u32, u32),
    pub flavor: Flavor,
    pub server_id: u64,
    pub log_bin: bool,
    pub binlog_format: Option<String>,
    pub binlog_row_image: Option<String>,
    pub gtid_mode: GtidMode,
    pub lower_case_table_names: u8,
    pub max_allowed_packet: u64,
    pub time_zone: String,
    pub system_time_zone: String,
    pub character_set_server: String,
    pub collation_server: String,
    pub read_only: bool,
    /// `local_infile`: the server accepts `LOAD DATA LOCAL`.
    pub local_infile: bool,
    /// TLS protocol of this session, when TLS is in use.
    pub tls_version: Option<String>,
}

/// Parses the leading `x.y.z` of a version string such as `10.11.19-MariaDB-0+deb12u1`
/// or `5.7.25-TiDB-v7.5.0` (TiDB reports MySQL compatibility first; its own version
/// follows and is kept in `version`).
pub fn parse_version(version: &str) -> (u32, u32, u32) {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

impl ServerFacts {
    fn from_variables(vars: &HashMap<String, String>, tls_version: Option<String>) -> Self {
        let get = |name: &str| vars.get(name).cloned();
        let on = |name: &str| {
            get(name)
                .map(|v| matches!(v.to_ascii_uppercase().as_str(), "ON" | "1" | "TRUE"))
                .unwrap_or(false)
        };
        let version = get("version").unwrap_or_default();
        let flavor = Flavor::from_version(&version, &get("version_comment").unwrap_or_default());
        let gtid_mode = match flavor {
            Flavor::MariaDB => GtidMode::Mariadb,
            _ if get("gtid_mode").is_some_and(|v| v.eq_ignore_ascii_case("ON")) => GtidMode::On,
            _ => GtidMode::Off,
        };
        let log_bin = on("log_bin");
        ServerFacts {
            version_number: parse_version(&version),
            version,
            flavor,
            server_id: get("server_id").and_then(|v| v.parse().ok()).unwrap_or(0),
            log_bin,
            binlog_format: get("binlog_format"),
            binlog_row_image: get("binlog_row_image"),
            gtid_mode,
            lower_case_table_names: get("lower_case_table_names")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            max_allowed_packet: get("max_allowed_packet")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            time_zone: get("time_zone").unwrap_or_default(),
            system_time_zone: get("system_time_zone").unwrap_or_default(),
            character_set_server: get("character_set_server").unwrap_or_default(),
            collation_server: get("collation_server").unwrap_or_default(),
            read_only: on("read_only"),
            local_infile: on("local_infile"),
            tls_version: tls_version.filter(|v| !v.is_empty()),
        }
    }
}

/// An open endpoint: its settings, the connection options chosen by the TLS probe,
/// and a pool. Cloning shares the pool.
#[derive(Clone)]
pub struct Endpoint {
    side: Side,
    config: EndpointConfig,
    pool: Pool,
    /// The options the pool was opened with, for connections outside it (a binlog
    /// stream owns its connection for good).
    opts: Opts,
    tls_active: bool,
    /// What the server said about itself, read on the probe connection when the
    /// endpoint opens (an endpoint lives for one run or one screen's check).
    facts: Arc<ServerFacts>,
    /// The distance to the server, which the copy sizes its chunks by (nanoseconds):
    /// the facts' query when the endpoint opened, lowered by pings in the
    /// background when that looked far (see [`round_trip`]).
    round_trip: Arc<std::sync::atomic::AtomicU64>,
    /// The probe connection, kept open for the first step that needs one (see
    /// [`Endpoint::first_conn`]); when it was opened.
    probe: Arc<std::sync::Mutex<Option<(Conn, std::time::Instant)>>>,
    /// A binlog stream's connection opening ahead of it (see
    /// [`Endpoint::warm_replica`]).
    spare_replica: Arc<std::sync::Mutex<Option<SpareConn>>>,
}

/// A connection opening in the background, and when it was asked for.
type SpareConn = tokio::task::JoinHandle<Result<(Conn, std::time::Instant), EndpointError>>;

impl std::fmt::Debug for Endpoint {
    // Opts would print the password; show only what identifies the server.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("side", &self.side)
            .field("address", &self.config.address())
            .field("user", &self.config.user)
            .field("tls_active", &self.tls_active)
            .finish()
    }
}

impl Endpoint {
    /// Connects once to decide TLS and prove the credentials, then opens a pool of at
    /// most `max_connections` connections with the same options.
    pub async fn open(
        side: Side,
        config: &EndpointConfig,
        password: Option<&str>,
        max_connections: usize,
    ) -> Result<Endpoint, EndpointError> {
        if config.host.trim().is_empty() {
            return Err(EndpointError::NoHost { side });
        }
        install_crypto_provider();
        let ssl = ssl_opts(side, config)?;
        let (opts, conn, tls_active) = match (config.tls, ssl) {
            (TlsMode::Preferred, Some(ssl)) => {
                let opts = build_opts(config, password, Some(ssl), max_connections);
                match connect(side, config, opts.clone()).await {
                    Ok(conn) => (opts, conn, true),
                    // The server offers no TLS: `preferred` means plain TCP is acceptable.
                    Err(EndpointError::TlsUnavailable { .. }) => {
                        let opts = build_opts(config, password, None, max_connections);
                        let conn = connect(side, config, opts.clone()).await?;
                        (opts, conn, false)
                    }
                    Err(e) => return Err(e),
                }
            }
            (_, ssl) => {
                let tls = ssl.is_some();
                let opts = build_opts(config, password, ssl, max_connections);
                let conn = connect(side, config, opts.clone()).await?;
                (opts, conn, tls)
            }
        };
        // The probe connection proved the login; it also reads the server's facts
        // and the session settings the driver would otherwise ask for on every
        // later connection (a round trip each, at a distance).
        let mut conn = conn;
        // The facts' query is the first sample of the distance (one round trip and
        // a little work); pings only confirm a far-looking one.
        let asked = std::time::Instant::now();
        let read = read_facts(&mut conn).await;
        let first = asked.elapsed();
        tracing::debug!(?side, ?first, "endpoint opened");
        let (facts, settings) = match read {
            Ok(read) => read,
            Err(e) => {
                let _ = conn.disconnect().await;
                return Err(classify(side, config, e));
            }
        };
        let opts: Opts = match settings {
            Some((packet, wait)) => OptsBuilder::from_opts(opts)
                .max_allowed_packet(Some(packet as usize))
                .wait_timeout(Some(wait as usize))
                .into(),
            None => opts,
        };
        let pool = Pool::new(opts.clone());
        let round_trip = Arc::new(std::sync::atomic::AtomicU64::new(nanos(first)));
        if first >= NEAR {
            // Confirmed beside the steps that follow, not before them: at a
            // distance a ping is a round trip every one of them would wait for.
            let (pool, measured) = (pool.clone(), round_trip.clone());
            tokio::spawn(async move {
                let Ok(mut conn) = pool.get_conn().await else {
                    return;
                };
                if let Ok(least) = self::round_trip(&mut conn, first).await {
                    tracing::debug!(?side, ?least, "round trip confirmed");
                    measured.fetch_min(nanos(least), std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
        Ok(Endpoint {
            side,
            config: config.clone(),
            pool,
            opts,
            tls_active,
            facts: Arc::new(facts),
            round_trip,
            probe: Arc::new(std::sync::Mutex::new(Some((
                conn,
                std::time::Instant::now(),
            )))),
            spare_replica: Arc::default(),
        })
    }

    pub fn side(&self) -> Side {
        self.side
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    pub fn tls_active(&self) -> bool {
        self.tls_active
    }

    /// The round trip to the server: measured when the endpoint opened, and
    /// confirmed by pings soon after when it looked far (until then, the first
    /// sample: a round trip and a little work, never less than the distance).
    pub fn round_trip(&self) -> Duration {
        Duration::from_nanos(self.round_trip.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A connection from the pool, with errors said in terms of this endpoint.
    pub async fn conn(&self) -> Result<Conn, EndpointError> {
        let seconds = self.config.connect_timeout_secs.max(1);
        match tokio::time::timeout(Duration::from_secs(seconds), self.pool.get_conn()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(classify(self.side, &self.config, e)),
            Err(_) => Err(EndpointError::Timeout {
                side: self.side,
                address: self.config.address(),
                seconds,
            }),
        }
    }

    /// The probe connection while it is fresh, else one from the pool: the step
    /// right after opening (a precheck's first reads) need not wait for a new
    /// connection's round trips. Not returned to the pool: it closes when dropped.
    pub async fn first_conn(&self) -> Result<Conn, EndpointError> {
        let probe = self.probe.lock().ok().and_then(|mut p| p.take());
        match probe {
            Some((conn, at)) if at.elapsed() < PROBE_FRESH => Ok(conn),
            Some((conn, _)) => {
                // Idle for a while: the server may have dropped it.
                let _ = conn.disconnect().await;
                self.conn().await
            }
            None => self.conn().await,
        }
    }

    /// Opens up to `n` pooled connections in the background and leaves them idle
    /// in the pool: a run that follows (a precheck's endpoints are handed to it)
    /// finds them open instead of paying a connection's round trips at each of
    /// its steps, which at a distance add up. Failures are the run's to see.
    pub fn warm(&self, n: usize) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let conns = futures_util::future::join_all((0..n).map(|_| pool.get_conn())).await;
            drop(conns);
        });
    }

    /// A new connection outside the pool, with the pool's options.
    pub async fn standalone_conn(&self) -> Result<Conn, EndpointError> {
        connect(self.side, &self.config, self.opts.clone()).await
    }

    /// A connection of its own for a binlog stream: it accepts packets up to 1 GiB
    /// (the protocol's limit), since one row event holds a row's before and after
    /// images and can be far larger than the server's `max_allowed_packet`. The
    /// one [`Endpoint::warm_replica`] opened if it is still fresh, else a new one.
    pub async fn replica_conn(&self) -> Result<Conn, EndpointError> {
        if let Some((conn, at)) = self.take_spare_replica().await {
            if at.elapsed() < PROBE_FRESH {
                return Ok(conn);
            }
            let _ = conn.disconnect().await;
        }
        connect(self.side, &self.config, replica_opts(&self.opts)).await
    }

    /// The connection [`Endpoint::warm_replica`] opened, once open (None if it
    /// was not asked for or failed).
    async fn take_spare_replica(&self) -> Option<(Conn, std::time::Instant)> {
        let task = self.spare_replica.lock().ok()?.take()?;
        task.await.ok()?.ok()
    }

    /// Opens a binlog stream's connection in the background, for a sync that
    /// starts right after this step (a precheck before an incremental run): at a
    /// distance a new connection is round trips the stream would wait for. A
    /// failure is the stream's to see (it connects again).
    pub fn warm_replica(&self) {
        let (side, config, opts) = (self.side, self.config.clone(), self.opts.clone());
        let task = tokio::spawn(async move {
            let conn = connect(side, &config, replica_opts(&opts)).await?;
            Ok((conn, std::time::Instant::now()))
        });
        if let Ok(mut spare) = self.spare_replica.lock() {
            if let Some(old) = spare.replace(task) {
                old.abort();
            }
        }
    }

    /// A connection of its own that keeps up to `statements` prepared statements
    /// (an applier cycles through many multi-row statement shapes) and serves its
    /// `LOAD DATA LOCAL` statements with `infiles`.
    pub async fn writer_conn(
        &self,
        statements: usize,
        infiles: impl mysql_async::prelude::GlobalHandler,
    ) -> Result<Conn, EndpointError> {
        let opts = mysql_async::OptsBuilder::from_opts(self.opts.clone())
            .stmt_cache_size(statements)
            .local_infile_handler(Some(infiles));
        connect(self.side, &self.config, opts.into()).await
    }

    /// Wraps a failed query on this endpoint.
    pub fn query_error(&self, e: mysql_async::Error) -> EndpointError {
        classify(self.side, &self.config, e)
    }

    /// Version, flavor and the variables later phases depend on, as read when the
    /// endpoint opened (nothing here changes without a restart, which ends the
    /// run's connections anyway).
    pub async fn facts(&self) -> Result<ServerFacts, EndpointError> {
        Ok((*self.facts).clone())
    }

    /// Closes all pooled connections.
    pub async fn close(self) {
        let probe = self.probe.lock().ok().and_then(|mut p| p.take());
        if let Some((conn, _)) = probe {
            let _ = conn.disconnect().await;
        }
        if let Some((conn, _)) = self.take_spare_replica().await {
            let _ = conn.disconnect().await;
        }
        let _ = self.pool.disconnect().await;
    }
}

/// A round trip under this is near (loopback, a LAN): nothing adapts to distance.
pub const NEAR: Duration = Duration::from_millis(2);

/// The distance to the server, from a first sample (`first`, a query's time)
/// and pings: a ping is one round trip with no work on either side. A sample can
/// be slowed by this process's own work (a TLS handshake beside it) or a busy
/// machine, so a far one is taken once more, keeping the lesser: taking a
/// loopback server for a distant one would size chunks and apply workers for a
/// WAN. A near first sample needs no ping (samples only ever run long). A few
/// milliseconds is where a loaded loopback and a real LAN meet, so there up to
/// five samples are taken; a WAN (tens of ms) pays one ping.
async fn round_trip(conn: &mut Conn, first: Duration) -> Result<Duration, mysql_async::Error> {
    let mut least = first;
    if least < NEAR {
        return Ok(least);
    }
    for _ in 0..4 {
        let asked = std::time::Instant::now();
        conn.ping().await?;
        least = least.min(asked.elapsed());
        // Two far samples agree; a clearly near one settles it. Between, sample
        // again: a loopback ping answered while the machine starts the job's
        // connections took 1–2 ms here, a hair under NEAR.
        if least < NEAR / 4 || least >= UNSURE {
            break;
        }
    }
    Ok(least)
}

/// A binlog stream's options: packets up to 1 GiB (see [`Endpoint::replica_conn`]).
fn replica_opts(opts: &Opts) -> Opts {
    OptsBuilder::from_opts(opts.clone())
        .max_allowed_packet(Some(1 << 30))
        .into()
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Below this, a far-looking round trip may be a busy machine's loopback.
const UNSURE: Duration = Duration::from_millis(10);

/// The server's facts and its session `max_allowed_packet` / `wait_timeout`, in
/// one packet of three statements.
async fn read_facts(
    conn: &mut Conn,
) -> Result<(ServerFacts, Option<(u64, u64)>), mysql_async::Error> {
    // SHOW GLOBAL VARIABLES works on every flavor and version; a missing variable
    // (gtid_mode on MariaDB) is simply absent instead of failing the query.
    let mut results = conn
        .query_iter(
            "SHOW GLOBAL VARIABLES; SHOW SESSION STATUS LIKE 'Ssl_version'; \
             SELECT @@max_allowed_packet, @@wait_timeout",
        )
        .await?;
    let rows: Vec<(String, String)> = results.collect().await?;
    let tls: Vec<(String, String)> = results.collect().await?;
    let settings: Vec<(u64, u64)> = results.collect().await?;
    let vars: HashMap<String, String> = rows
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let facts = ServerFacts::from_variables(&vars, tls.into_iter().next().map(|(_, v)| v));
    Ok((facts, settings.into_iter().next()))
}

/// rustls needs one process-wide crypto provider; mysql_async is built with ring.
fn install_crypto_provider() {
    // Err means another part of the process installed one first, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn ssl_opts(side: Side, config: &EndpointConfig) -> Result<Option<SslOpts>, EndpointError> {
    if config.tls == TlsMode::Disabled {
        return Ok(None);
    }
    let check_file = |path: &PathBuf| -> Result<(), EndpointError> {
        std::fs::metadata(path)
            .map(|_| ())
            .map_err(|e| EndpointError::TlsFile {
                side,
                path: path.display().to_string(),
                cause: e.to_string(),
            })
    };
    let mut ssl = SslOpts::default();
    match (&config.cert, &config.key) {
        (Some(cert), Some(key)) => {
            check_file(cert)?;
            check_file(key)?;
            ssl = ssl.with_client_identity(Some(ClientIdentity::new(
                cert.clone().into(),
                key.clone().into(),
            )));
        }
        (None, None) => {}
        _ => return Err(EndpointError::TlsIdentityIncomplete { side }),
    }
    match config.tls {
        TlsMode::Preferred | TlsMode::Required => {
            // Encryption without authentication of the server, like `--ssl-mode=REQUIRED`.
            ssl = ssl
                .with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true);
        }
        TlsMode::VerifyCa | TlsMode::VerifyIdentity => {
            let ca = config.ca.as_ref().ok_or(EndpointError::TlsCaMissing {
                side,
                mode: config.tls.as_str(),
            })?;
            check_file(ca)?;
            ssl = ssl
                .with_root_certs(vec![ca.clone().into()])
                .with_disable_built_in_roots(true)
                .with_danger_skip_domain_validation(config.tls == TlsMode::VerifyCa);
        }
        TlsMode::Disabled => return Ok(None),
    }
    Ok(Some(ssl))
}

/// How long the probe connection waits for [`Endpoint::first_conn`].
const PROBE_FRESH: Duration = Duration::from_secs(10);

/// The probe's packet limit before the server's is known: under every server's
/// minimum default, and far above the probe's own small queries.
const PROBE_MAX_PACKET: usize = 4 << 20;
/// MySQL's and MariaDB's default `wait_timeout` (seconds), for the probe.
const PROBE_WAIT_TIMEOUT: usize = 28_800;

fn build_opts(
    config: &EndpointConfig,
    password: Option<&str>,
    ssl: Option<SslOpts>,
    max_connections: usize,
) -> Opts {
    let max = max_connections.max(1);
    let constraints = mysql_async::PoolConstraints::new(0, max).unwrap_or_default();
    OptsBuilder::default()
        .ip_or_hostname(config.host.clone())
        .tcp_port(config.port)
        .user(Some(config.user.clone()))
        .pass(password.map(str::to_string))
        // A loopback address must not be swapped for a unix socket with other grants.
        .prefer_socket(false)
        .tcp_nodelay(true)
        .ssl_opts(ssl)
        // Given, the driver does not ask for them on connecting (a round trip):
        // the probe reads the server's own (`read_facts`) and the pool takes those.
        .max_allowed_packet(Some(PROBE_MAX_PACKET))
        .wait_timeout(Some(PROBE_WAIT_TIMEOUT))
        // A TTL makes the pool keep returned connections (up to `max`, reset on
        // return) instead of closing each one: without it every `conn()` paid a
        // new connection's round trips (TLS included), which at a distance
        // were most of a run's start.
        .pool_opts(
            mysql_async::PoolOpts::default()
                .with_constraints(constraints)
                .with_inactive_connection_ttl(Duration::from_secs(30)),
        )
        .into()
}

async fn connect(side: Side, config: &EndpointConfig, opts: Opts) -> Result<Conn, EndpointError> {
    let seconds = config.connect_timeout_secs.max(1);
    match tokio::time::timeout(Duration::from_secs(seconds), Conn::new(opts)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(classify(side, config, e)),
        Err(_) => Err(EndpointError::Timeout {
            side,
            address: config.address(),
            seconds,
        }),
    }
}

/// Server error codes that mean the login itself was refused.
const ER_DBACCESS_DENIED: u16 = 1044;
const ER_ACCESS_DENIED: u16 = 1045;
const ER_HOST_NOT_PRIVILEGED: u16 = 1130;
const ER_ACCESS_DENIED_NO_PASSWORD: u16 = 1698;

fn classify(side: Side, config: &EndpointConfig, e: mysql_async::Error) -> EndpointError {
    let address = config.address();
    match e {
        mysql_async::Error::Server(ref s)
            if matches!(
                s.code,
                ER_DBACCESS_DENIED
                    | ER_ACCESS_DENIED
                    | ER_HOST_NOT_PRIVILEGED
                    | ER_ACCESS_DENIED_NO_PASSWORD
            ) =>
        {
            EndpointError::AuthFailed {
                side,
                address,
                user: config.user.clone(),
                cause: s.message.clone(),
            }
        }
        mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer) => {
            EndpointError::TlsUnavailable {
                side,
                address,
                mode: config.tls.as_str(),
            }
        }
        mysql_async::Error::Io(mysql_async::IoError::Tls(t)) => EndpointError::TlsFailed {
            side,
            address,
            cause: t.to_string(),
        },
        // rustls reports handshake failures (bad certificate, wrong name) as io errors.
        mysql_async::Error::Io(mysql_async::IoError::Io(io))
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) =>
        {
            EndpointError::TlsFailed {
                side,
                address,
                cause: io.to_string(),
            }
        }
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => EndpointError::Unreachable {
            side,
            address,
            cause: io.to_string(),
        },
        other => EndpointError::Query {
            side,
            address,
            cause: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers() {
        assert_eq!(parse_version("10.11.19-MariaDB-0+deb12u1"), (10, 11, 19));
        assert_eq!(parse_version("8.0.36"), (8, 0, 36));
        assert_eq!(parse_version("5.7.25-TiDB-v7.5.0"), (5, 7, 25));
        assert_eq!(parse_version(""), (0, 0, 0));
    }

    #[test]
    fn flavors() {
        assert_eq!(
            Flavor::from_version("10.11.19-MariaDB", ""),
            Flavor::MariaDB
        );
        assert_eq!(Flavor::from_version("5.7.25-TiDB-v7.5.0", ""), Flavor::TiDB);
        assert_eq!(
            Flavor::from_version("8.0.36", "MySQL Community Server - GPL"),
            Flavor::MySQL
        );
    }

    #[test]
    fn tls_modes_parse_like_ssl_mode() {
        #[derive(Deserialize)]
        struct W {
            tls: TlsMode,
        }
        for (text, mode) in [
            ("disabled", TlsMode::Disabled),
            ("preferred", TlsMode::Preferred),
            ("required", TlsMode::Required),
            ("verify-ca", TlsMode::VerifyCa),
            ("verify-identity", TlsMode::VerifyIdentity),
        ] {
            let w: W = toml::from_str(&format!("tls = \"{text}\"")).unwrap();
            assert_eq!(w.tls, mode);
            assert_eq!(mode.as_str(), text);
        }
    }

    #[test]
    fn verify_modes_need_a_ca() {
        let mut cfg = EndpointConfig::new("db", 3306, "u");
        cfg.tls = TlsMode::VerifyCa;
        let err = ssl_opts(Side::Source, &cfg).unwrap_err();
        assert_eq!(err.code(), "endpoint.tls_ca_missing");
    }
}
