//! Checks of merged tables (several shards routed to one target table), across
//! every source of the job: the shards must have one definition, and their keys
//! must not collide — two rows with one key would leave one of them on the target.

use std::collections::{BTreeMap, BTreeSet};

use mysql_async::prelude::Queryable;

use super::{Check, Context};
use crate::catalog::Table;
use crate::checkpoint::quote;
use crate::shard::ShardId;

type Name = (String, String);

/// The merged tables of the job (see `shard::merged_targets`) and their shards,
/// each with the index of its source's context, in the sources' order.
fn merged(ctxs: &[(&str, &Context)]) -> BTreeMap<Name, Vec<(ShardId, usize)>> {
    let selections: Vec<(&str, &crate::rules::Selection)> =
        ctxs.iter().map(|(l, c)| (*l, &c.selection)).collect();
    crate::shard::merged_targets(&selections)
        .into_iter()
        .map(|(target, shards)| {
            let mut shards: Vec<(ShardId, usize)> = shards
                .into_iter()
                .filter_map(|s| {
                    let i = ctxs.iter().position(|(l, _)| *l == s.source)?;
                    Some((s, i))
                })
                .collect();
            shards.sort_by_key(|(_, i)| *i);
            (target, shards)
        })
        .collect()
}

fn table<'a>(ctxs: &'a [(&str, &Context)], shard: &(ShardId, usize)) -> Option<&'a Table> {
    ctxs.get(shard.1)
        .and_then(|(_, c)| c.catalog.table(&shard.0.schema, &shard.0.table))
}

/// What makes a column the same on every shard.
fn shape(t: &Table) -> Vec<String> {
    t.columns
        .iter()
        .map(|c| {
            format!(
                "{} {}{}{}",
                c.name.to_lowercase(),
                c.column_type.to_lowercase(),
                if c.nullable { "" } else { " not null" },
                c.collation
                    .as_deref()
                    .map(|x| format!(" collate {x}"))
                    .unwrap_or_default()
            )
        })
        .collect()
}

pub async fn all(ctxs: &[(&str, &Context)]) -> Vec<Check> {
    let merged = merged(ctxs);
    if merged.is_empty() {
        return Vec::new();
    }
    vec![schemas(ctxs, &merged), keys(ctxs, &merged).await]
}

fn schemas(ctxs: &[(&str, &Context)], merged: &BTreeMap<Name, Vec<(ShardId, usize)>>) -> Check {
    let (id, title) = ("shards.schemas", "Merged tables have one definition");
    let mut differ = Vec::new();
    for ((ts, tn), shards) in merged {
        let Some(first) = shards.first() else {
            continue;
        };
        let Some(base) = table(ctxs, first) else {
            continue;
        };
        let want = shape(base);
        for s in &shards[1..] {
            let Some(t) = table(ctxs, s) else { continue };
            let got = shape(t);
            if got != want {
                let diff = want
                    .iter()
                    .zip(got.iter())
                    .find(|(a, b)| a != b)
                    .map(|(a, b)| format!("{b} where {} has {a}", first.0))
                    .unwrap_or_else(|| {
                        format!("{} columns where {} has {}", got.len(), first.0, want.len())
                    });
                differ.push(format!("{} → {ts}.{tn}: {diff}", s.0));
            }
        }
    }
    let count = merged.len();
    if differ.is_empty() {
        Check::pass(
            id,
            title,
            format!(
                "{} shards with the same columns: {}",
                crate::wording::count(count, "target table merges", "target tables merge"),
                merged
                    .iter()
                    .map(|((s, t), shards)| format!("{s}.{t} ← {}", shards.len()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else {
        Check::fail(
            id,
            title,
            "shards routed to one target table have different columns: their rows cannot go into one table",
            "make the shards' definitions the same on their sources (ALTER TABLE on the ones that differ), or route them to separate target tables",
        )
        .with_objects(differ)
    }
}

/// The key's range on one shard, for a one-column integer key.
async fn range(ctx: &Context, shard: &ShardId, column: &str) -> Option<(i128, i128)> {
    let mut conn = ctx.source.conn().await.ok()?;
    let sql = format!(
        "SELECT CAST(MIN({c}) AS CHAR), CAST(MAX({c}) AS CHAR) FROM {}.{}",
        quote(&shard.schema),
        quote(&shard.table),
        c = quote(column)
    );
    let row: Option<(Option<String>, Option<String>)> =
        tokio::time::timeout(std::time::Duration::from_secs(10), conn.query_first(sql))
            .await
            .ok()?
            .ok()?;
    match row? {
        (Some(lo), Some(hi)) => Some((lo.parse().ok()?, hi.parse().ok()?)),
        // An empty shard collides with nothing.
        _ => Some((i128::MAX, i128::MIN)),
    }
}

/// The next AUTO_INCREMENT value of a shard's table (`None`: no such column).
async fn next_auto(ctx: &Context, shard: &ShardId) -> Option<i128> {
    let mut conn = ctx.source.conn().await.ok()?;
    let v: Option<Option<u64>> = conn
        .exec_first(
            "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&shard.schema, &shard.table),
        )
        .await
        .ok()?;
    v.flatten().map(i128::from)
}

/// Whether the sources hand out AUTO_INCREMENT values interleaved (one step
/// above 1 on all, a different offset on each): then they never meet.
fn interleaved(ctxs: &[(&str, &Context)], shards: &[(ShardId, usize)]) -> bool {
    let var = |i: usize, name: &str| -> Option<u64> {
        ctxs.get(i)?.1.source_vars.get(name)?.parse().ok()
    };
    let steps: BTreeSet<Option<u64>> = shards
        .iter()
        .map(|s| var(s.1, "auto_increment_increment"))
        .collect();
    let offsets: BTreeSet<Option<u64>> = shards
        .iter()
        .map(|s| var(s.1, "auto_increment_offset"))
        .collect();
    let sources: BTreeSet<usize> = shards.iter().map(|s| s.1).collect();
    steps.len() == 1
        && steps
            .iter()
            .next()
            .copied()
            .flatten()
            .is_some_and(|n| n > 1)
        && sources.len() == shards.len()
        && offsets.len() == sources.len()
}

async fn keys(ctxs: &[(&str, &Context)], merged: &BTreeMap<Name, Vec<(ShardId, usize)>>) -> Check {
    let (id, title) = ("shards.keys", "Merged tables' keys cannot collide");
    let mut collide = Vec::new();
    let mut collide_now = Vec::new();
    let mut growing = Vec::new();
    let mut unproven = Vec::new();
    let mut keyless = Vec::new();
    for ((ts, tn), shards) in merged {
        let target = format!("{ts}.{tn}");
        let Some(base) = shards.first().and_then(|s| table(ctxs, s)) else {
            continue;
        };
        let Some(key) = base.row_key() else {
            keyless.push(target);
            continue;
        };
        let integer = key.columns.len() == 1
            && base
                .columns
                .iter()
                .find(|c| c.name == key.columns[0])
                .is_some_and(|c| {
                    matches!(
                        c.data_type.to_lowercase().as_str(),
                        "tinyint" | "smallint" | "mediumint" | "int" | "bigint"
                    )
                });
        if !integer {
            unproven.push(format!("{target} (key {})", key.columns.join(", ")));
            continue;
        }
        let column = &key.columns[0];
        let mut ranges = Vec::new();
        for s in shards {
            let Some((_, ctx)) = ctxs.get(s.1) else {
                continue;
            };
            match range(ctx, &s.0, column).await {
                Some(r) => ranges.push((s.0.clone(), r)),
                None => unproven.push(format!(
                    "{target} ({}: its key range could not be read)",
                    s.0
                )),
            }
        }
        // A shard whose AUTO_INCREMENT climbs toward a higher shard's range
        // collides once it gets there (already, when its next value is inside).
        if !interleaved(ctxs, shards) {
            for (a, (_, ahi)) in &ranges {
                let Some(i) = shards.iter().find(|s| &s.0 == a).map(|s| s.1) else {
                    continue;
                };
                let Some((_, ctx)) = ctxs.get(i) else {
                    continue;
                };
                let Some(next) = next_auto(ctx, a).await else {
                    continue;
                };
                for (b, (blo, bhi)) in &ranges {
                    if a == b || blo > bhi || blo <= ahi {
                        continue;
                    }
                    if next >= *blo && next <= *bhi {
                        collide_now.push(format!(
                            "{target}: {a}'s next AUTO_INCREMENT value {next} is inside {b}'s range {blo}–{bhi}"
                        ));
                    } else if next < *blo {
                        growing.push(format!(
                            "{target}: {a}'s AUTO_INCREMENT ({next}) reaches {b}'s range at {blo}, {} new rows from now",
                            blo - next
                        ));
                    }
                }
            }
        }
        let mut overlaps = BTreeSet::new();
        for (i, (a, (alo, ahi))) in ranges.iter().enumerate() {
            for (b, (blo, bhi)) in &ranges[i + 1..] {
                if alo <= bhi && blo <= ahi {
                    overlaps.insert(format!(
                        "{target}: {a} holds {column} {alo}–{ahi}, {b} holds {blo}–{bhi}"
                    ));
                }
            }
        }
        collide.extend(overlaps);
    }
    collide.extend(collide_now);
    if !collide.is_empty() {
        return Check::fail(
            id,
            title,
            "shards of a merged table hold overlapping key ranges, or one's next AUTO_INCREMENT value is inside another's range: rows with the same key would overwrite each other on the target",
            "give each shard's keys their own range or step (auto_increment_offset / auto_increment_increment on each source) and move the rows that collide, or route the shards to separate tables, or make the target key include a column that tells the shards apart; if the keys are known to differ within the ranges, ignore this check",
        )
        .with_objects(collide);
    }
    let mut objects = growing;
    objects.extend(unproven);
    objects.extend(
        keyless
            .iter()
            .map(|t| format!("{t} (no primary or unique key)")),
    );
    if !objects.is_empty() {
        return Check::warn(
            id,
            title,
            "for some merged tables the shards' keys may meet: a shard's AUTO_INCREMENT grows toward another's range, or Ferry cannot prove the keys differ; rows with the same key would overwrite each other (keyless tables: duplicates are kept twice)",
            "make sure each shard's new keys stay unique across shards — interleave them (the same auto_increment_increment on every source, a different auto_increment_offset on each), move a shard's AUTO_INCREMENT far from the others' ranges, or put a shard id in the key — or route the shards to separate tables",
        )
        .with_objects(objects);
    }
    Check::pass(
        id,
        title,
        "the shards' key ranges do not overlap; new rows must stay in their shard's range (auto_increment_offset / auto_increment_increment)",
    )
}
