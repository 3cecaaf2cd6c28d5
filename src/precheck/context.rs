//! The facts the checks are computed from, gathered once per precheck. Each query
//! group runs under a time bound; a group that fails leaves its facts empty and the
//! checks that need them say so instead of guessing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::catalog::Catalog;
use crate::checkpoint::quote;
use crate::endpoint::{Endpoint, ServerFacts};
use crate::error::Report;
use crate::inspect::FerryError;
use crate::inspect::{self, ConnectionCheck};
use crate::profile::{Mode, Profile};
use crate::rules::{Matcher, Selection};

/// How long one group of metadata queries may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Privileges of the connected account: global ones, and per schema pattern (as
/// granted: `shop`, `shop\_%`).
#[derive(Debug, Default, Clone)]
pub struct Privileges {
    /// The account as GRANT names it: `'user'@'host'`.
    pub grantee: String,
    pub global: HashSet<String>,
    pub schema: Vec<(String, HashSet<String>)>,
}

/// MySQL's LIKE matching for schema grants (`_` one char, `%` any run, `\` escapes).
fn like(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('%', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('_', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some(('\\', rest)) if !rest.is_empty() => {
                !n.is_empty() && n[0] == rest[0] && go(&rest[1..], &n[1..])
            }
            Some((c, rest)) => !n.is_empty() && n[0] == *c && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

impl Privileges {
    /// Whether `privilege` is held globally or on `schema`.
    pub fn has(&self, privilege: &str, schema: Option<&str>) -> bool {
        self.global.contains(privilege)
            || schema.is_some_and(|s| {
                self.schema
                    .iter()
                    .any(|(p, set)| set.contains(privilege) && like(p, s))
            })
    }

    /// Whether the account holds `privilege` on every one of `schemas`.
    pub fn has_on_all<'a>(
        &self,
        privilege: &str,
        mut schemas: impl Iterator<Item = &'a str>,
    ) -> bool {
        self.global.contains(privilege) || schemas.all(|s| self.has(privilege, Some(s)))
    }
}

pub struct Context {
    pub profile: Profile,
    pub source: Endpoint,
    pub target: Endpoint,
    pub source_facts: ServerFacts,
    pub target_facts: ServerFacts,
    pub source_vars: HashMap<String, String>,
    pub target_vars: HashMap<String, String>,
    pub source_status: HashMap<String, String>,
    pub target_status: HashMap<String, String>,
    pub catalog: Catalog,
    pub matcher: Option<Matcher>,
    pub selection: Selection,
    /// Why the selection is empty, when the rules could not be applied.
    pub rules_error: Option<Report>,
    pub source_privileges: Option<Privileges>,
    pub target_privileges: Option<Privileges>,
    /// Selected target tables that exist: `true` when they hold rows.
    pub target_tables: BTreeMap<(String, String), bool>,
    pub target_collations: Option<HashSet<String>>,
    /// `SHOW BINARY LOGS` of the source (name, size), when the account may read it.
    pub source_binlogs: Option<Vec<(String, u64)>>,
    /// MariaDB: the GTID position at the start of the oldest binlog still kept.
    pub oldest_gtid: Option<String>,
    /// `user@host` accounts on the target, when the account may read them.
    pub target_accounts: Option<HashSet<String>>,
    /// `Binlog_Do_DB` and `Binlog_Ignore_DB` of the source.
    pub binlog_filters: (Vec<String>, Vec<String>),
    /// Largest row (bytes) of tables with long columns, where measured.
    pub largest_rows: Vec<(String, u64)>,
    pub source_is_replica: bool,
    /// Source accounts that may change `binlog_format` for their session (SUPER or
    /// BINLOG ADMIN), when the job's account may see the grants of others.
    pub binlog_admins: Option<Vec<String>>,
    /// XA transactions prepared and not yet ended on the source (`XA RECOVER`),
    /// when the account may list them.
    pub prepared_xa: Option<Vec<String>>,
    pub target_free_bytes: Option<u64>,
    /// The job was interrupted mid-copy or is syncing: its tables hold its rows.
    pub resuming: bool,
    /// A DDL the target refused, that the job stopped on: (position, statement,
    /// error).
    pub pending_ddl: Option<(String, String, String)>,
}

fn report(e: FerryError) -> Report {
    e.report()
}

/// Name → value rows (`SHOW … VARIABLES` / `STATUS`), names lower-cased.
fn name_values(rows: Option<Vec<mysql_async::Row>>) -> HashMap<String, String> {
    rows.unwrap_or_default()
        .into_iter()
        .filter_map(|r| {
            let name: String = r.get_opt(0)?.ok()?;
            let value: Option<String> = r.get_opt(1)?.ok()?;
            Some((name.to_ascii_lowercase(), value.unwrap_or_default()))
        })
        .collect()
}

/// The session account as `information_schema` names a grantee (`'user'@'host'`),
/// worked out by the server from `CURRENT_USER()`, so the grant reads need no
/// value from an earlier answer and go in the same packet. The host is what
/// follows the last `@`, as in [`privileges`].
const GRANTEE: &str = "CONCAT('''', LEFT(CURRENT_USER(), CHAR_LENGTH(CURRENT_USER()) - \
     CHAR_LENGTH(SUBSTRING_INDEX(CURRENT_USER(), '@', -1)) - 1), '''@''', \
     SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')";

/// The account's privileges from the answers to `SELECT CURRENT_USER()` and the
/// two grant reads of [`common`].
fn privileges(
    current: Option<Vec<mysql_async::Row>>,
    global: Option<Vec<mysql_async::Row>>,
    schema: Option<Vec<mysql_async::Row>>,
) -> Option<Privileges> {
    let current: String = current?.into_iter().next()?.get_opt(0)?.ok()?;
    let (user, host) = current.rsplit_once('@')?;
    let grantee = format!("'{user}'@'{host}'");
    let global: HashSet<String> = global?
        .into_iter()
        .filter_map(|r| r.get_opt(0)?.ok())
        .collect();
    let mut by_schema: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for r in schema? {
        if let (Some(Ok(s)), Some(Ok(p))) = (r.get_opt::<String, _>(0), r.get_opt::<String, _>(1)) {
            by_schema.entry(s).or_default().insert(p);
        }
    }
    Some(Privileges {
        grantee,
        global,
        schema: by_schema.into_iter().collect(),
    })
}

async fn bounded<T>(fut: impl std::future::Future<Output = T>, default: T) -> T {
    tokio::time::timeout(STEP_TIMEOUT, fut)
        .await
        .unwrap_or(default)
}

impl Context {
    /// Reads what the checks need from both sides, opened by the connection
    /// checks; the context owns them from here (see [`Context::close`] and
    /// [`Context::into_opened`]).
    pub async fn gather(
        profile: &Profile,
        (source, source_check): (Endpoint, &ConnectionCheck),
        (target, target_check): (Endpoint, &ConnectionCheck),
    ) -> Result<Context, Report> {
        // Both sides side by side, and on each side the catalog beside the rest:
        // at a distance every step is round trips, not work.
        let (Some(source_facts), Some(target_facts)) =
            (source_check.facts.clone(), target_check.facts.clone())
        else {
            source.close().await;
            target.close().await;
            return Err(Report {
                code: "precheck.facts".into(),
                message: "server facts are missing".into(),
                remedy: "check again".into(),
            });
        };
        // The connections that proved the login, still open: no new one to wait for.
        let (mut sc, mut tc) = match tokio::try_join!(source.first_conn(), target.first_conn()) {
            Ok(conns) => conns,
            Err(e) => {
                source.close().await;
                target.close().await;
                return Err(report(e.into()));
            }
        };
        let catalog_side = async {
            let (matcher, catalog, selection, rules_error) = match bounded(
                selection(&source, profile),
                Err(timeout_report("reading the source catalog")),
            )
            .await
            {
                Ok((m, c, s)) => (Some(m), c, s, None),
                Err(r) => (None, Catalog::default(), Selection::default(), Some(r)),
            };

            (matcher, catalog, selection, rules_error)
        };
        let (
            (matcher, catalog, selection, rules_error),
            (
                Common {
                    vars: source_vars,
                    status: source_status,
                    privileges: source_privileges,
                },
                SourceSide {
                    binlog_filters,
                    binlogs: source_binlogs,
                    oldest_gtid,
                    is_replica: source_is_replica,
                    binlog_admins,
                    prepared_xa,
                },
            ),
            (
                Common {
                    vars: target_vars,
                    status: target_status,
                    privileges: target_privileges,
                },
                TargetSide {
                    collations: target_collations,
                    accounts: target_accounts,
                    free_bytes: target_free_bytes,
                    resuming,
                    pending_ddl,
                },
            ),
            target_listed,
        ) = tokio::join!(
            catalog_side,
            beside_common(&source, &mut sc, async |c| source_side(
                c,
                source_facts.flavor
            )
            .await),
            beside_common(&target, &mut tc, async |c| target_side(c, profile).await),
            // Beside the source's catalog, before the selection says which
            // schemas: at a distance, round trips the selection would wait for.
            bounded(
                async {
                    let mut conn = target.conn().await.ok()?;
                    crate::catalog::list_all_tables(&mut conn).await.ok()
                },
                None
            ),
        );
        // What needs the selection: each side again, side by side.
        let (largest_rows, target_tables) = tokio::join!(
            bounded(largest_rows(&mut sc, &catalog, &selection), Vec::new()),
            existing_target_tables(&mut tc, &selection, target_listed),
        );
        drop(sc);
        drop(tc);
        Ok(Context {
            profile: profile.clone(),
            source,
            target,
            source_facts,
            target_facts,
            source_vars,
            target_vars,
            source_status,
            target_status,
            catalog,
            matcher,
            selection,
            rules_error,
            source_privileges,
            target_privileges,
            target_tables,
            target_collations,
            target_accounts,
            binlog_filters,
            largest_rows,
            source_binlogs,
            oldest_gtid,
            source_is_replica,
            binlog_admins,
            prepared_xa,
            target_free_bytes,
            resuming,
            pending_ddl,
        })
    }

    pub fn needs_binlog(&self) -> bool {
        self.profile.mode != Mode::Full
    }

    pub fn mode(&self) -> Mode {
        self.profile.mode
    }

    pub async fn close(self) {
        self.source.close().await;
        self.target.close().await;
    }

    /// The open sides and the selection, for the run this precheck came before;
    /// None (and both sides closed) when the rules could not be applied.
    pub async fn into_opened(self) -> Option<inspect::Opened> {
        match self.matcher {
            Some(matcher) => Some(inspect::Opened {
                source: self.source,
                target: self.target,
                catalog: self.catalog,
                selection: self.selection,
                matcher,
            }),
            None => {
                self.source.close().await;
                self.target.close().await;
                None
            }
        }
    }

    /// Source schemas with at least one selected table.
    pub fn selected_schemas(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .selection
            .tables
            .iter()
            .map(|t| t.schema.as_str())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Target schemas the job writes into.
    pub fn target_schemas(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .selection
            .tables
            .iter()
            .map(|t| t.target_schema.as_str())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

fn timeout_report(what: &str) -> Report {
    Report {
        code: "precheck.timeout".into(),
        message: format!("{what} took longer than {} s", STEP_TIMEOUT.as_secs()),
        remedy: "check the server's load and try again".into(),
    }
}

/// The source's binlog, replication and XA facts the checks need (beside its
/// [`Common`] part), each query under its time bound.
struct SourceSide {
    binlog_filters: (Vec<String>, Vec<String>),
    binlogs: Option<Vec<(String, u64)>>,
    oldest_gtid: Option<String>,
    is_replica: bool,
    binlog_admins: Option<Vec<String>>,
    prepared_xa: Option<Vec<String>>,
}

/// A side's variables, status and the account's privileges.
struct Common {
    vars: HashMap<String, String>,
    status: HashMap<String, String>,
    privileges: Option<Privileges>,
}

/// One packet: at a distance each statement would be a round trip.
async fn common(conn: &mut Conn) -> Common {
    let global = format!(
        "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = {GRANTEE}"
    );
    let schema = format!(
        "SELECT TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES \
         WHERE GRANTEE = {GRANTEE}"
    );
    let statements = [
        "SHOW GLOBAL VARIABLES",
        "SHOW GLOBAL STATUS",
        "SELECT CURRENT_USER()",
        &global,
        &schema,
    ];
    let mut answers = bounded(query_each(conn, &statements), Vec::new())
        .await
        .into_iter();
    let mut next = || answers.next().flatten();
    let (vars, status) = (name_values(next()), name_values(next()));
    let (current, global, schema) = (next(), next(), next());
    Common {
        vars,
        status,
        privileges: privileges(current, global, schema),
    }
}

/// Runs [`common`] on `conn` and `rest` beside it, on a connection of its own
/// (after it on `conn` when a second one cannot be had): at a distance each half
/// is round trips, not work.
async fn beside_common<R>(
    ep: &Endpoint,
    conn: &mut Conn,
    rest: impl AsyncFnOnce(&mut Conn) -> R,
) -> (Common, R) {
    let (common, rest) = tokio::join!(common(conn), async {
        match ep.conn().await {
            Ok(mut second) => Ok(rest(&mut second).await),
            Err(_) => Err(rest),
        }
    });
    let rest = match rest {
        Ok(r) => r,
        Err(rest) => rest(conn).await,
    };
    (common, rest)
}

/// Each statement's rows, or `None` where it failed: one packet for all of them
/// (at a distance each is a round trip), the ones after a failure (a multi-
/// statement stops at its first error) asked again one by one.
async fn query_each(conn: &mut Conn, statements: &[&str]) -> Vec<Option<Vec<mysql_async::Row>>> {
    let mut out: Vec<Option<Vec<mysql_async::Row>>> = Vec::with_capacity(statements.len());
    if let Ok(mut results) = conn.query_iter(statements.join("; ")).await {
        while out.len() < statements.len() {
            match results.collect::<mysql_async::Row>().await {
                Ok(rows) => out.push(Some(rows)),
                Err(_) => break,
            }
        }
        // Whatever is left unread is dropped with the result set.
        let _ = results.drop_result().await;
    }
    if out.len() < statements.len() {
        // The statement that failed (or the packet that could not be sent).
        out.push(None);
        for sql in &statements[out.len()..] {
            out.push(conn.query(*sql).await.ok());
        }
    }
    out
}

async fn source_side(sc: &mut Conn, flavor: crate::endpoint::Flavor) -> SourceSide {
    use crate::endpoint::Flavor;
    // MariaDB has one status statement, so it goes in the packet; MySQL's
    // depends on its version (see `position::binlog_status`).
    let maria = flavor == Flavor::MariaDB;
    let mut first: Vec<&str> = Vec::new();
    if maria {
        first.push("SHOW MASTER STATUS");
    }
    first.extend([
        "SHOW BINARY LOGS",
        "SHOW ALL SLAVES STATUS",
        "SELECT DISTINCT GRANTEE FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE IN ('SUPER', 'BINLOG ADMIN') ORDER BY 1",
        "XA RECOVER",
    ]);
    let mut answers = bounded(query_each(sc, &first), Vec::new())
        .await
        .into_iter();
    let mut next = || answers.next().flatten();
    let status_row = if maria {
        next().and_then(|rows| rows.into_iter().next())
    } else {
        bounded(
            async { crate::position::binlog_status(sc).await.unwrap_or(None) },
            None,
        )
        .await
    };
    let (logs, replicas, admins, xa) = (next(), next(), next(), next());
    let split = |s: Option<String>| -> Vec<String> {
        s.unwrap_or_default()
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    };
    let binlog_filters = match status_row {
        Some(mut r) => (
            split(r.take_opt::<String, _>(2).and_then(Result::ok)),
            split(r.take_opt::<String, _>(3).and_then(Result::ok)),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let source_binlogs: Option<Vec<(String, u64)>> = logs.map(|rows| {
        rows.into_iter()
            .filter_map(|mut r| {
                Some((
                    r.take_opt::<String, _>(0)?.ok()?,
                    r.take_opt::<u64, _>(1)?.ok()?,
                ))
            })
            .collect()
    });
    let oldest_gtid: Option<String> = match (&source_binlogs, flavor) {
        (Some(logs), Flavor::MariaDB) => match logs.first() {
            Some((file, _)) => {
                bounded(
                    async {
                        sc.exec_first::<Option<String>, _, _>(
                            "SELECT BINLOG_GTID_POS(?, 4)",
                            (file,),
                        )
                        .await
                        .ok()
                        .flatten()
                        .flatten()
                    },
                    None,
                )
                .await
            }
            None => None,
        },
        _ => None,
    };
    // MySQL before 8.0.22 (and MariaDB before 10.2) know only SHOW SLAVE STATUS.
    let source_is_replica = match replicas {
        Some(rows) => !rows.is_empty(),
        None => {
            bounded(
                async {
                    let rows: Vec<mysql_async::Row> =
                        sc.query("SHOW SLAVE STATUS").await.unwrap_or_default();
                    !rows.is_empty()
                },
                false,
            )
            .await
        }
    };
    let binlog_admins = admins.map(|rows| {
        rows.into_iter()
            .filter_map(|mut r| r.take_opt::<String, _>(0)?.ok())
            .collect()
    });
    let prepared_xa = xa.map(|rows| {
        rows.into_iter()
            .map(|mut r| {
                let data: Option<Vec<u8>> = r.take(3);
                String::from_utf8_lossy(&data.unwrap_or_default()).into_owned()
            })
            .collect()
    });
    SourceSide {
        binlog_filters,
        binlogs: source_binlogs,
        oldest_gtid,
        is_replica: source_is_replica,
        binlog_admins,
        prepared_xa,
    }
}

/// The target's collations, accounts, free space and the job's state there
/// (beside its [`Common`] part), each query under its time bound.
struct TargetSide {
    collations: Option<HashSet<String>>,
    accounts: Option<HashSet<String>>,
    free_bytes: Option<u64>,
    resuming: bool,
    pending_ddl: Option<(String, String, String)>,
}

async fn target_side(tc: &mut Conn, profile: &Profile) -> TargetSide {
    // One packet (see `query_each`); the ones a server may refuse last (mysql.user
    // needs a grant; DISKS is a MariaDB plugin, often not installed).
    let mut answers = bounded(
        query_each(
            tc,
            &[
                "SELECT COLLATION_NAME FROM information_schema.COLLATIONS",
                "SELECT User, Host FROM mysql.user",
                // The filesystem holding the data directory: the mounted path that
                // is the longest prefix of @@datadir.
                "SELECT CAST(Available AS UNSIGNED) * 1024 FROM information_schema.DISKS \
                 WHERE @@datadir LIKE CONCAT(Path, '%') ORDER BY LENGTH(Path) DESC LIMIT 1",
            ],
        ),
        Vec::new(),
    )
    .await
    .into_iter();
    let mut next = || answers.next().flatten();
    let target_collations: Option<HashSet<String>> = next().map(|rows| {
        rows.into_iter()
            .filter_map(|r| r.get_opt::<String, _>(0)?.ok())
            .collect()
    });
    let target_accounts: Option<HashSet<String>> = next().map(|rows| {
        rows.into_iter()
            .filter_map(|r| {
                let user: String = r.get_opt(0)?.ok()?;
                let host: String = r.get_opt(1)?.ok()?;
                Some(format!("{user}@{host}"))
            })
            .collect()
    });
    let target_free_bytes: Option<u64> = next()
        .and_then(|rows| rows.into_iter().next())
        .and_then(|r| r.get_opt::<Option<u64>, _>(0)?.ok())
        .flatten();
    let meta = crate::checkpoint::Meta::new(&profile.options.meta_schema, &profile.name);
    let resuming = bounded(async { meta.load_job(tc).await.ok().flatten() }, None)
        .await
        .is_some_and(|j| {
            use crate::checkpoint::JobPhase;
            matches!(
                j.phase,
                JobPhase::Copy | JobPhase::Sync | JobPhase::Completing
            )
        });
    let pending_ddl = if resuming {
        bounded(async { meta.pending_ddl(tc).await.ok().flatten() }, None).await
    } else {
        None
    };
    TargetSide {
        collations: target_collations,
        accounts: target_accounts,
        free_bytes: target_free_bytes,
        resuming,
        pending_ddl,
    }
}

/// The selection's target tables that exist, and whether each holds rows: every
/// table of their schemas in one query (`listed`: the server's tables, listed
/// already), then the ones that exist checked exactly.
async fn existing_target_tables(
    tc: &mut Conn,
    selection: &Selection,
    listed: Option<Vec<(String, String)>>,
) -> BTreeMap<(String, String), bool> {
    let mut target_tables = BTreeMap::new();
    let schemas = selection.target_schemas();
    let listed = match listed {
        // As the server compares schema names there: in any case.
        Some(all) => {
            let folded: HashSet<String> = schemas.iter().map(|s| s.to_lowercase()).collect();
            all.into_iter()
                .filter(|(s, _)| folded.contains(&s.to_lowercase()))
                .collect()
        }
        None => crate::catalog::list_tables(tc, &schemas)
            .await
            .unwrap_or_default(),
    };
    let exact: HashSet<(String, String)> = listed.iter().cloned().collect();
    let folded: HashSet<(String, String)> = listed
        .into_iter()
        .map(|(s, t)| (s.to_lowercase(), t.to_lowercase()))
        .collect();
    // Listed exactly: there. Listed only in another case: asked on its own (the
    // server may fold names). Not listed: absent.
    let mut there = Vec::new();
    for t in &selection.tables {
        let key = (t.target_schema.clone(), t.target_name.clone());
        if exact.contains(&key) {
            there.push(key);
        } else if folded.contains(&(t.target_schema.to_lowercase(), t.target_name.to_lowercase())) {
            let exists: Option<u8> = tc
                .exec_first(
                    "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                    (&t.target_schema, &t.target_name),
                )
                .await
                .unwrap_or(None);
            if exists.is_some() {
                there.push(key);
            }
        }
    }
    // Whether each holds rows: one query for up to 100 tables.
    for batch in there.chunks(100) {
        let sql = batch
            .iter()
            .map(|(s, t)| {
                format!(
                    "SELECT EXISTS(SELECT 1 FROM {}.{} LIMIT 1)",
                    quote(s),
                    quote(t)
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        match tc.query::<u8, _>(sql).await {
            Ok(any) if any.len() == batch.len() => {
                for (key, v) in batch.iter().zip(any) {
                    target_tables.insert(key.clone(), v != 0);
                }
            }
            // One table unreadable fails them all: ask each on its own.
            _ => {
                for (schema, table) in batch {
                    let any = crate::catalog::holds_rows(tc, schema, table)
                        .await
                        .unwrap_or(false);
                    target_tables.insert((schema.clone(), table.clone()), any);
                }
            }
        }
    }
    target_tables
}

async fn selection(
    source: &Endpoint,
    profile: &Profile,
) -> Result<(Matcher, Catalog, Selection), Report> {
    inspect::read_selection(source, profile)
        .await
        .map_err(report)
}

/// Measures the largest row of selected tables that have long columns (BLOB/TEXT,
/// JSON, long VARCHAR), the ones that can outgrow the target's packet limit.
async fn largest_rows(
    conn: &mut Conn,
    catalog: &Catalog,
    selection: &Selection,
) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for t in &selection.tables {
        let Some(table) = catalog.table(&t.schema, &t.name) else {
            continue;
        };
        let long = table.columns.iter().any(|c| {
            matches!(
                c.data_type.to_ascii_lowercase().as_str(),
                "blob" | "mediumblob" | "longblob" | "text" | "mediumtext" | "longtext" | "json"
            )
        });
        if !long {
            continue;
        }
        let sum = table
            .columns
            .iter()
            .map(|c| format!("COALESCE(LENGTH({}), 0)", quote(&c.name)))
            .collect::<Vec<_>>()
            .join(" + ");
        let max: Option<Option<u64>> = conn
            .query_first(format!(
                "SELECT CAST(MAX({sum}) AS UNSIGNED) FROM {}.{}",
                quote(&t.schema),
                quote(&t.name)
            ))
            .await
            .unwrap_or(None);
        if let Some(Some(m)) = max {
            out.push((format!("{}.{}", t.schema, t.name), m));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_grants_match_like_mysql() {
        assert!(like("shop", "shop"));
        assert!(like("shop\\_%", "shop_v2"));
        assert!(!like("shop\\_%", "shopv2"));
        assert!(like("sh_p", "shop"));
        assert!(like("%", "anything"));
        let p = Privileges {
            grantee: "'m'@'%'".into(),
            global: ["RELOAD".to_string()].into(),
            schema: vec![("shop%".into(), ["SELECT".to_string()].into())],
        };
        assert!(p.has("SELECT", Some("shop_v2")));
        assert!(!p.has("SELECT", Some("crm")));
        assert!(p.has("RELOAD", None));
    }
}
