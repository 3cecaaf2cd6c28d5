//! Prechecks: everything a DBA needs to know before a migration starts, each check
//! ending Pass, Warn or Fail with the cause and the fix (seed 001's 通过/警告/失败,
//! seed 004's "Check again").
//!
//! The facts every check needs are gathered once ([`Context`]), each gathering step
//! under a time bound, so one slow server cannot hang the whole precheck; the checks
//! themselves are plain functions of those facts, one file per family.

mod binlog;
mod connectivity;
mod context;
mod objects;
mod privileges;
mod reverse;
mod server;
mod shards;
mod target;

use serde::Serialize;

pub use context::Context;

use crate::endpoint::Side;
use crate::inspect;
use crate::profile::Profile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, rename = "CheckStatus"))]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Check {
    pub id: String,
    pub title: String,
    pub status: Status,
    pub detail: String,
    pub remedy: String,
    pub objects: Vec<String>,
    /// Tables `(schema, table)` the remedy adds to the selection; the app offers
    /// to add them.
    pub add_tables: Vec<(String, String)>,
}

impl Check {
    pub fn pass(id: &str, title: &str, detail: impl Into<String>) -> Check {
        Check {
            id: id.into(),
            title: title.into(),
            status: Status::Pass,
            detail: detail.into(),
            remedy: String::new(),
            objects: Vec::new(),
            add_tables: Vec::new(),
        }
    }

    pub fn warn(
        id: &str,
        title: &str,
        detail: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Check {
        Check {
            status: Status::Warn,
            remedy: remedy.into(),
            ..Check::pass(id, title, detail)
        }
    }

    pub fn fail(
        id: &str,
        title: &str,
        detail: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Check {
        Check {
            status: Status::Fail,
            remedy: remedy.into(),
            ..Check::pass(id, title, detail)
        }
    }

    pub fn with_objects(mut self, objects: Vec<String>) -> Check {
        self.objects = objects;
        self
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, rename = "PrecheckReport")
)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// Ids of failed checks that the job does not ignore.
    pub fn blocking(&self, ignore: &[String]) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| {
                // `binlog.format` in ignore_checks also ignores `binlog.format@shard`.
                let base = c.id.split('@').next().unwrap_or(&c.id);
                c.status == Status::Fail
                    && !ignore.contains(&c.id)
                    && !ignore.iter().any(|i| i == base)
            })
            .map(|c| c.id.clone())
            .collect()
    }

    /// The checks' remedies phrased for `audience` (see [`crate::error::phrase`]).
    pub fn for_audience(mut self, audience: crate::error::Audience) -> Report {
        for c in &mut self.checks {
            c.remedy = crate::error::phrase(&c.remedy, audience);
        }
        self
    }

    pub fn get(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }
}

/// Runs every check that applies to the job's mode. A job with several sources
/// is checked source by source (a check that reads the same on every source is
/// listed once; the others are labelled with their source, their id suffixed
/// `@source`), then its merged tables across the sources.
pub async fn run(profile: &Profile) -> Report {
    let (report, opened) = checked(profile, false).await;
    if let Some(opened) = opened {
        opened.close().await;
    }
    report
}

/// As [`run`], keeping a one-source job's servers open and its selection for the
/// run that follows (see `inspect::Opened`).
pub async fn run_keeping(profile: &Profile) -> (Report, Option<inspect::Opened>) {
    checked(profile, true).await
}

/// The checks; `keep`: a run follows and takes a one-source job's servers over.
async fn checked(profile: &Profile, keep: bool) -> (Report, Option<inspect::Opened>) {
    let members = profile.members();
    if members.len() == 1 {
        let (checks, ctx) = run_one(profile, keep).await;
        let mut checks = checks;
        let mut opened = None;
        if let Some(ctx) = ctx {
            checks.extend(shards::all(&[(profile.source_label(), &ctx)]).await);
            opened = ctx.into_opened().await;
        }
        return (Report { checks }, opened);
    }
    let runs = futures_util::future::join_all(members.iter().map(|m| run_one(m, false))).await;
    let mut checks: Vec<Check> = Vec::new();
    let mut ctxs = Vec::new();
    for (member, (list, ctx)) in members.iter().zip(runs) {
        let label = member.source_label();
        for mut c in list {
            if checks
                .iter()
                .any(|k| k.id == c.id && k.status == c.status && k.detail == c.detail)
            {
                continue;
            }
            if checks.iter().any(|k| k.id == c.id) {
                c.id = format!("{}@{label}", c.id);
            }
            c.title = format!("{} ({label})", c.title);
            checks.push(c);
        }
        if let Some(ctx) = ctx {
            ctxs.push((label, ctx));
        }
    }
    if ctxs.len() == members.len() {
        let refs: Vec<(&str, &Context)> = ctxs.iter().map(|(l, c)| (*l, c)).collect();
        checks.extend(shards::all(&refs).await);
    }
    for (_, ctx) in ctxs {
        ctx.close().await;
    }
    (Report { checks }, None)
}

/// The checks of one source's job, and what they were computed from.
/// `warm`: a run follows, which takes these endpoints over (see
/// [`Endpoint::warm`]).
async fn run_one(profile: &Profile, warm: bool) -> (Vec<Check>, Option<Context>) {
    // Opened with the run's pool sizes: a run that follows takes them over.
    let ((source, source_ep), (target, target_ep)) = tokio::join!(
        inspect::open_checked(
            profile,
            Side::Source,
            inspect::run_connections(profile, Side::Source)
        ),
        inspect::open_checked(
            profile,
            Side::Target,
            inspect::run_connections(profile, Side::Target)
        )
    );
    let mut checks = vec![
        connectivity::connect(&source),
        connectivity::connect(&target),
    ];
    checks.extend(
        [connectivity::tls(&source), connectivity::tls(&target)]
            .into_iter()
            .flatten(),
    );
    let (source_ep, target_ep) = match (source_ep, target_ep) {
        (Some(s), Some(t)) => {
            if warm {
                // Leave room for the precheck's own two connections a side.
                s.warm(inspect::run_connections(profile, Side::Source).saturating_sub(4));
                t.warm(inspect::run_connections(profile, Side::Target).saturating_sub(4));
                // An incremental job's sync starts as soon as the run does.
                if profile.mode == crate::profile::Mode::Incremental {
                    s.warm_replica();
                }
            }
            (s, t)
        }
        (s, t) => {
            for ep in [s, t].into_iter().flatten() {
                ep.close().await;
            }
            // Not a failure of its own: an unreachable server is one failing
            // check, not three.
            checks.push(Check::warn(
                "precheck.skipped",
                "Other checks not run",
                "the remaining checks need both servers",
                "fix the connection failure above and check again",
            ));
            return (checks, None);
        }
    };
    let ctx = match Context::gather(profile, (source_ep, &source), (target_ep, &target)).await {
        Ok(ctx) => ctx,
        Err(e) => {
            checks.push(Check::fail(
                "precheck.gather",
                "Reading server metadata",
                e.message.clone(),
                e.remedy.clone(),
            ));
            return (checks, None);
        }
    };
    checks.push(server::version(&ctx));
    checks.extend(privileges::all(&ctx));
    if ctx.needs_binlog() {
        checks.extend(binlog::all(&ctx));
    }
    checks.extend(reverse::all(&ctx));
    checks.extend(target::all(&ctx));
    checks.extend(objects::all(&ctx));
    checks.extend(server::all(&ctx));
    (checks, Some(ctx))
}
