//! The reverse sync: after a cutover, the target's changes are replicated back
//! to the source with the same engine, so the old server stays a current copy
//! and the job can be rolled back (Vitess's ReverseTraffic, for a plain
//! MySQL-compatible pair).
//!
//! It is a job of its own, derived from the job it reverses ([`profile`]): an
//! incremental sync from the target to the source, of the tables the job
//! migrated under the inverse names, starting at the target's binlog position
//! the cutover recorded once every forward write and trigger was in place
//! ([`record_start`]) — so nothing the application writes after the cutover is
//! missed, and nothing Ferry wrote is sent back. Its checkpoints live on the
//! source (its target), exactly once as for any sync. Its state lives beside
//! the forward job's, on the target (`reverse` in the meta schema).
//!
//! The source's triggers on those tables are dropped when the reverse sync
//! starts: the target's binlog already holds what they did there, and they
//! would fire again on the replayed rows. A roll back (the reverse job's
//! cutover) creates them again, as a forward cutover does.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::checkpoint::Meta;
use crate::endpoint::Flavor;
use crate::mysql::quote;
use crate::profile::{Mode, ObjectRules, Profile, ReverseFor, Route};
use crate::rules::Selection;

/// The reverse job's name: the job's, with this after it.
pub const SUFFIX: &str = "-back";

pub use crate::events::ReverseState;

pub const SYNCING: &str = "syncing";
pub const RELEASED: &str = "released";
pub const ROLLED_BACK: &str = "rolled_back";

/// The reverse job of `forward`, as recorded in `state`.
pub fn profile(forward: &Profile, state: &ReverseState) -> Profile {
    let mut include = Vec::new();
    let mut route = Vec::new();
    for (on_target, on_source) in &state.tables {
        include.push(on_target.clone());
        if on_target != on_source {
            route.push(Route {
                from: on_target.clone(),
                to: on_source.clone(),
            });
        }
    }
    let start = match (&state.start.file, state.start.pos) {
        (Some(file), Some(pos)) => format!("binlog:{file}:{pos}"),
        _ => format!("gtid:{}", state.start.gtid.clone().unwrap_or_default()),
    };
    let mut p = forward.clone();
    p.name = format!("{}{SUFFIX}", forward.name);
    p.mode = Mode::Incremental;
    std::mem::swap(&mut p.source, &mut p.target);
    p.objects = ObjectRules {
        include,
        route,
        ..ObjectRules::default()
    };
    p.options.start_at = None;
    p.incremental.start = start;
    p.incremental.server_id = None;
    p.incremental.cutover = crate::profile::Cutover::Auto;
    p.incremental.filters = Vec::new();
    p.incremental.reverse = "off".into();
    p.reverse_of = Some(forward.name.clone());
    p
}

fn table(meta: &Meta) -> String {
    meta.table("reverse")
}

/// The job's reverse sync, if it has one (`conn` on the target; none before
/// the job's meta schema exists).
pub async fn load(
    meta: &Meta,
    conn: &mut Conn,
) -> Result<Option<ReverseState>, mysql_async::Error> {
    const NO_SCHEMA: u16 = 1049;
    const NO_TABLE: u16 = 1146;
    let json: Option<String> = match conn
        .exec_first(
            format!("SELECT state FROM {} WHERE job = ?", table(meta)),
            (meta.job(),),
        )
        .await
    {
        Ok(json) => json,
        Err(mysql_async::Error::Server(e)) if matches!(e.code, NO_SCHEMA | NO_TABLE) => None,
        Err(e) => return Err(e),
    };
    Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
}

/// Stores the job's reverse sync state (its table is one of `Meta::ensure`'s:
/// the run that records the start has made it, and a later save follows a load).
pub async fn save(
    meta: &Meta,
    conn: &mut Conn,
    state: &ReverseState,
) -> Result<(), mysql_async::Error> {
    conn.exec_drop(
        format!("REPLACE INTO {} (job, state) VALUES (?, ?)", table(meta)),
        (meta.job(), serde_json::to_string(state).unwrap_or_default()),
    )
    .await
}

/// The cutover of a job with `reverse` on records where its reverse sync
/// starts: the target's position now, after every forward write and the
/// triggers, before the application is told to switch.
pub async fn record_start(
    profile: &Profile,
    flavor: Flavor,
    selection: &Selection,
    meta: &Meta,
    conn: &mut Conn,
) -> Result<Option<ReverseState>, mysql_async::Error> {
    let until = match profile.incremental.reverse_for() {
        ReverseFor::Off => return Ok(None),
        ReverseFor::Hours(h) => Some(crate::events::unix_now() + f64::from(h) * 3600.0),
        ReverseFor::UntilReleased => None,
    };
    if let Some(existing) = load(meta, conn).await? {
        // A cutover finished again after a crash keeps the first start.
        return Ok(Some(existing));
    }
    // Read on the meta connection: it is the target's.
    let start = crate::position::current(conn, flavor).await?;
    let state = ReverseState {
        state: SYNCING.into(),
        start,
        until,
        tables: selection
            .tables
            .iter()
            .map(|t| {
                (
                    format!("{}.{}", t.target_schema, t.target_name),
                    format!("{}.{}", t.schema, t.name),
                )
            })
            .collect(),
        ended_at: None,
    };
    save(meta, conn, &state).await?;
    Ok(Some(state))
}

/// Drops the source's triggers on the tables the reverse sync writes (see
/// the module comment); `conn` on the source. The names dropped.
pub async fn drop_source_triggers(
    conn: &mut Conn,
    state: &ReverseState,
) -> Result<Vec<String>, mysql_async::Error> {
    let mut dropped = Vec::new();
    for (_, on_source) in &state.tables {
        let Some((schema, name)) = on_source.split_once('.') else {
            continue;
        };
        let triggers: Vec<String> = conn
            .exec(
                "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS \
                 WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?",
                (schema, name),
            )
            .await?;
        for t in triggers {
            conn.query_drop(format!(
                "DROP TRIGGER IF EXISTS {}.{}",
                quote(schema),
                quote(&t)
            ))
            .await?;
            dropped.push(format!("{schema}.{t}"));
        }
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::Position;

    #[test]
    fn the_reverse_job_swaps_the_servers_and_inverts_the_routes() {
        let forward = Profile::from_toml(
            "name = \"shop\"\nmode = \"all\"\n[source]\nhost = \"old\"\nport = 3306\nuser = \"u\"\n[target]\nhost = \"new\"\nport = 3307\nuser = \"v\"\n[incremental]\nreverse = \"24h\"\n",
            "test",
        )
        .unwrap();
        let state = ReverseState {
            state: SYNCING.into(),
            start: Position {
                file: Some("binlog.000007".into()),
                pos: Some(42),
                gtid: None,
            },
            until: None,
            ended_at: None,
            tables: vec![
                ("shop_s.orders".into(), "shop.orders".into()),
                ("shop.items".into(), "shop.items".into()),
            ],
        };
        let back = profile(&forward, &state);
        assert_eq!(back.name, "shop-back");
        assert_eq!(back.mode, Mode::Incremental);
        assert_eq!(back.source.host, "new");
        assert_eq!(back.target.host, "old");
        assert_eq!(back.incremental.start, "binlog:binlog.000007:42");
        assert_eq!(back.objects.include, vec!["shop_s.orders", "shop.items"]);
        assert_eq!(
            back.objects.route,
            vec![Route {
                from: "shop_s.orders".into(),
                to: "shop.orders".into()
            }]
        );
        assert_eq!(back.reverse_of.as_deref(), Some("shop"));
        use crate::endpoint::Side;
        assert_eq!(back.password_key(Side::Source), ("shop", Side::Target));
        assert_eq!(back.password_key(Side::Target), ("shop", Side::Source));
    }
}
