//! Endpoints against real servers: facts, TLS modes, and the errors a DBA meets.

mod support;

use ferry::endpoint::{Endpoint, EndpointConfig, Flavor, GtidMode, TlsMode};
use ferry::{Coded, Side};

fn cfg(port: u16, user: &str, tls: TlsMode) -> EndpointConfig {
    let mut c = EndpointConfig::new("127.0.0.1", port, user);
    c.tls = tls;
    c.connect_timeout_secs = 5;
    c
}

#[tokio::test]
async fn facts_describe_source_and_target() {
    let pair = support::pair();
    let src = Endpoint::open(
        Side::Source,
        &cfg(pair.source.port, support::USER, TlsMode::Disabled),
        Some(support::PASSWORD),
        2,
    )
    .await
    .expect("source");
    let f = src.facts().await.expect("facts");
    assert_eq!(f.flavor, Flavor::MariaDB);
    assert!(f.version.contains("MariaDB"), "{}", f.version);
    assert!(f.version_number.0 >= 10);
    assert_eq!(f.server_id, 1);
    assert!(f.log_bin);
    assert_eq!(f.binlog_format.as_deref(), Some("ROW"));
    assert_eq!(f.binlog_row_image.as_deref(), Some("FULL"));
    assert_eq!(f.gtid_mode, GtidMode::Mariadb);
    assert_eq!(f.lower_case_table_names, 0);
    assert!(f.max_allowed_packet >= 1 << 20, "{}", f.max_allowed_packet);
    assert!(!f.character_set_server.is_empty() && !f.collation_server.is_empty());
    assert_eq!(f.time_zone, "SYSTEM");
    assert!(!f.read_only);
    assert_eq!(f.tls_version, None, "tls = disabled");
    src.close().await;

    let tgt = Endpoint::open(
        Side::Target,
        &cfg(pair.target.port, support::USER, TlsMode::Preferred),
        Some(support::PASSWORD),
        2,
    )
    .await
    .expect("target");
    let f = tgt.facts().await.expect("facts");
    assert_eq!(f.server_id, 2);
    assert!(!f.log_bin);
    assert!(
        tgt.tls_active(),
        "the target offers TLS, preferred takes it"
    );
    assert!(
        f.tls_version
            .as_deref()
            .is_some_and(|v| v.starts_with("TLS")),
        "{:?}",
        f.tls_version
    );
    tgt.close().await;
}

#[tokio::test]
async fn tls_modes_on_a_server_with_tls() {
    let pair = support::pair();
    let port = pair.target.port;
    for mode in [
        TlsMode::Required,
        TlsMode::VerifyCa,
        TlsMode::VerifyIdentity,
    ] {
        let mut c = cfg(port, support::USER, mode);
        c.ca = Some(pair.certs.ca.clone());
        let ep = Endpoint::open(Side::Target, &c, Some(support::PASSWORD), 1)
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert!(ep.tls_active());
        let f = ep.facts().await.expect("facts");
        assert!(f.tls_version.is_some(), "{mode:?} session is encrypted");
        ep.close().await;
    }

    // A CA that did not sign the server certificate must be refused.
    let other = support::Certs::generate();
    let mut c = cfg(port, support::USER, TlsMode::VerifyCa);
    c.ca = Some(other.ca.clone());
    let err = Endpoint::open(Side::Target, &c, Some(support::PASSWORD), 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "endpoint.tls_failed", "{err}");

    // The verify modes cannot work without a CA to verify against.
    let mut c = cfg(port, support::USER, TlsMode::VerifyCa);
    c.ca = None;
    let err = Endpoint::open(Side::Target, &c, Some(support::PASSWORD), 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "endpoint.tls_ca_missing");
}

#[tokio::test]
async fn tls_required_but_refused_by_the_server() {
    let pair = support::pair();
    let err = Endpoint::open(
        Side::Source,
        &cfg(pair.source.port, support::USER, TlsMode::Required),
        Some(support::PASSWORD),
        1,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "endpoint.tls_unavailable", "{err}");
    assert!(err.to_string().contains("does not offer TLS"), "{err}");
    assert!(err.remedy().contains("ssl_cert"));

    // preferred falls back to plain TCP on the same server.
    let ep = Endpoint::open(
        Side::Source,
        &cfg(pair.source.port, support::USER, TlsMode::Preferred),
        Some(support::PASSWORD),
        1,
    )
    .await
    .expect("preferred connects without TLS");
    assert!(!ep.tls_active());
    ep.close().await;
}

#[tokio::test]
async fn wrong_password_and_unreachable_host() {
    let pair = support::pair();
    let wrong = "Not-The-Password-42";
    let err = Endpoint::open(
        Side::Source,
        &cfg(pair.source.port, support::USER, TlsMode::Disabled),
        Some(wrong),
        1,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "endpoint.auth_failed");
    assert!(!err.is_transient());
    // The remedy is phrased for each reader: the CLI's names the environment
    // variable, the app's the page with the password field.
    let cli = ferry::error::phrase(&err.remedy(), ferry::error::Audience::Cli);
    let app = ferry::error::phrase(&err.remedy(), ferry::error::Audience::App);
    let text = format!("{err} {cli}");
    assert!(
        text.contains("Access denied") && text.contains("FERRY_SOURCE_PASSWORD"),
        "{text}"
    );
    assert!(
        app.contains("Connect page") && !app.contains("FERRY_") && !app.contains("ferry "),
        "{app}"
    );
    assert!(!text.contains(wrong));

    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Endpoint::open(Side::Target, &cfg(port, "root", TlsMode::Disabled), None, 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "endpoint.unreachable", "{err}");
    assert!(err.is_transient());
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

/// A writer's `LOAD DATA LOCAL` statements read only what was put under their
/// file name, each once; several travel in one multi-statement packet; a name
/// nothing was put under fails (the driver then drops the connection, which the
/// sync takes as transient) and reads nothing.
#[tokio::test]
async fn a_writer_serves_its_loads_by_name_and_nothing_else() {
    use mysql_async::prelude::Queryable;
    let pair = support::pair();
    let db = support::unique("tinfile_");
    pair.target
        .sql(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(10))"
        ))
        .await;
    let ep = Endpoint::open(
        Side::Target,
        &cfg(pair.target.port, support::USER, TlsMode::Disabled),
        Some(support::PASSWORD),
        2,
    )
    .await
    .expect("target");
    let files = ferry::target::Infiles::default();
    let load = |name: &str| ferry::target::load_data_sql(name, true, &format!("`{db}`.t"), "id, v");
    let mut conn = ep.writer_conn(8, files.handler()).await.expect("writer");
    files.put("one", vec![bytes::Bytes::from_static(b"1\ta\n")]);
    files.put("two", vec![bytes::Bytes::from_static(b"2\tb\n3\tc\n")]);
    conn.query_drop(format!("{}; {}", load("one"), load("two")))
        .await
        .expect("two loads in one packet");
    // Each name is served once: asked again, it is unknown.
    assert!(
        conn.query_drop(load("one")).await.is_err(),
        "a file was served twice"
    );
    let mut conn = ep.writer_conn(8, files.handler()).await.expect("writer");
    assert!(
        conn.query_drop(load("/etc/hostname")).await.is_err(),
        "a name nothing was put under was served"
    );
    let ids: Vec<u32> = ep
        .conn()
        .await
        .expect("a connection")
        .query(format!("SELECT id FROM `{db}`.t ORDER BY id"))
        .await
        .expect("ids");
    assert_eq!(ids, vec![1, 2, 3]);
    drop(conn);
    ep.close().await;
}

/// An empty host is refused before anything connects (the driver would take it
/// for this machine and reach whatever server listens here).
#[tokio::test]
async fn an_empty_host_is_refused() {
    let pair = support::pair();
    let mut c = cfg(pair.target.port, support::USER, TlsMode::Disabled);
    c.host = String::new();
    let err = Endpoint::open(Side::Target, &c, Some(support::PASSWORD), 1)
        .await
        .expect_err("an empty host was accepted");
    assert_eq!(err.code(), "endpoint.no_host");
    assert!(!err.is_transient());
}
