//! Helpers shared by the precheck test binaries.

use ferry::endpoint::{EndpointConfig, TlsMode};
use ferry::precheck::{self, Status};
use ferry::profile::{Mode, Options, Profile};
use ferry::rules::ObjectRules;

use super::{unique, Server};

pub fn endpoint(server: &Server, user: &str) -> EndpointConfig {
    let mut c = EndpointConfig::new("127.0.0.1", server.port, user);
    c.tls = TlsMode::Preferred;
    c
}

pub fn profile(source: &Server, target: &Server, mode: Mode, include: &[String]) -> Profile {
    Profile {
        name: "precheck-test".into(),
        mode,
        source: endpoint(source, "root"),
        shards: Vec::new(),
        target: endpoint(target, "root"),
        objects: ObjectRules {
            include: include.to_vec(),
            exclude: Vec::new(),
            route: Vec::new(),
            skip: Vec::new(),
        },
        options: Options::default(),
        incremental: Default::default(),
        ignore_checks: Vec::new(),
        reverse_of: None,
    }
}

pub fn status(report: &precheck::Report, id: &str) -> Status {
    report
        .get(id)
        .unwrap_or_else(|| panic!("check {id} missing: {:#?}", report.checks))
        .status
}

pub fn assert_status(report: &precheck::Report, id: &str, expected: Status) {
    let c = report
        .get(id)
        .unwrap_or_else(|| panic!("check {id} missing"));
    if c.status != expected {
        // The whole report: a selection-dependent check failing is often explained by another.
        let others: Vec<String> = report
            .checks
            .iter()
            .filter(|o| o.status != Status::Pass)
            .map(|o| format!("{} {:?}: {}", o.id, o.status, o.detail))
            .collect();
        panic!(
            "{id}: expected {expected:?}, got {:?}: {} / {}\nother checks:\n{}",
            c.status,
            c.detail,
            c.remedy,
            others.join("\n")
        );
    }
    if expected != Status::Pass {
        assert!(!c.remedy.is_empty(), "{id} gives a remedy");
    }
}

/// A schema on the source with one clean table; returns its include pattern.
pub async fn clean_schema(source: &Server, prefix: &str) -> (String, Vec<String>) {
    let db = unique(prefix);
    source
        .sql(&format!(
            "CREATE DATABASE `{db}`; CREATE TABLE `{db}`.t (id INT PRIMARY KEY, ts TIMESTAMP NULL, body TEXT) ENGINE=InnoDB;
             INSERT INTO `{db}`.t VALUES (1, NULL, REPEAT('x', 4000));"
        ))
        .await;
    let include = vec![format!("{db}.*")];
    (db, include)
}

/// Runs `sql` on `server`, then the precheck, then `restore`.
pub async fn with_global(
    server: &Server,
    sql: &str,
    restore: &str,
    p: &Profile,
) -> precheck::Report {
    server.sql(sql).await;
    let report = precheck::run(p).await;
    server.sql(restore).await;
    report
}
