//! Driving `ferry` as a user would, for the sync and fidelity tests: job files, the
//! binary with its config and keyring confined to a temp home, waits with the run's
//! output on failure, and comparisons of source and target made without Ferry.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Pair, Server};

/// `ferry` with its config and keyring confined to `home`.
pub fn ferry_cmd(home: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferry"));
    c.args(args)
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("FERRY_KEYRING", "keyutils");
    c
}

pub fn spawn_run(home: &std::path::Path, job: &std::path::Path) -> Child {
    spawn_run_with(home, job, &[])
}

/// [`spawn_run`] with extra environment (a test setting of the engine's).
pub fn spawn_run_with(
    home: &std::path::Path,
    job: &std::path::Path,
    env: &[(&str, &str)],
) -> Child {
    ferry_cmd(home, &["run", job.to_str().unwrap()])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn ferry(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    ferry_cmd(home, args).output().unwrap()
}

pub fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Writes a `mode = "all"` job for `db.*`, routed to `db_s.*`, plus `extra` lines.
pub fn all_job(path: &std::path::Path, pair: &Pair, name: &str, db: &str, extra: &str) {
    all_job_on(path, &pair.source, &pair.target, name, db, extra)
}

/// As [`all_job`], for any two servers.
pub fn all_job_on(
    path: &std::path::Path,
    source: &Server,
    target: &Server,
    name: &str,
    db: &str,
    extra: &str,
) {
    std::fs::write(
        path,
        format!(
            "name = \"{name}\"\nmode = \"all\"\n[source]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n[target]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n[objects]\ninclude = [\"{db}.*\"]\n[[objects.route]]\nfrom = \"{db}.*\"\nto = \"{db}_s.*\"\n{extra}",
            source.port, target.port
        ),
    )
    .unwrap();
}

pub async fn phase(target: &Server, job: &str) -> Option<String> {
    let exists: Vec<u64> = target
        .query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'ferry_meta' AND TABLE_NAME = 'jobs'")
        .await;
    if exists[0] == 0 {
        return None;
    }
    let rows: Vec<String> = target
        .query(&format!(
            "SELECT phase FROM ferry_meta.jobs WHERE job = '{job}'"
        ))
        .await;
    rows.into_iter().next()
}

fn drain(child: &mut Child) -> String {
    use std::io::Read;
    let mut all = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut all);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut all);
    }
    all
}

/// Waits up to 90 s for `ok`; fails with the run's output if `child` exits first.
pub async fn wait_for(what: &str, child: &mut Child, ok: impl AsyncFnMut() -> bool) {
    wait_for_every(Duration::from_millis(100), what, child, ok).await
}

/// [`wait_for`], looking every `period`: for a state that lasts only a moment.
pub async fn wait_for_every(
    period: Duration,
    what: &str,
    child: &mut Child,
    mut ok: impl AsyncFnMut() -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if ok().await {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "ferry exited ({status}) while waiting for {what}: {}",
                drain(child)
            );
        }
        tokio::time::sleep(period).await;
    }
    let _ = child.kill();
    panic!("timed out waiting for {what}: {}", drain(child));
}

/// Waits for the job to be in its sync phase.
pub async fn wait_sync(child: &mut Child, target: &Server, job: &str) {
    wait_for("the sync phase", child, async || {
        phase(target, job).await.as_deref() == Some("sync")
    })
    .await;
}

/// The tables of `db` on a server, sorted.
pub async fn tables_of(server: &Server, db: &str) -> Vec<String> {
    server
        .query(&format!(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_TYPE <> 'VIEW' ORDER BY 1"
        ))
        .await
}

/// Every row of `src.t` on `a` against `dst.t` on `b`, ordered by every column,
/// plus CHECKSUM TABLE where the table has no virtual column (MariaDB sums stale
/// virtual column buffers). Ok, or what differs.
pub async fn compare_table(
    a: &Server,
    src: &str,
    b: &Server,
    dst: &str,
    t: &str,
) -> Result<(), String> {
    let count: Vec<u64> = b
        .query(&format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{dst}' AND TABLE_NAME = '{t}'"
        ))
        .await;
    if count[0] == 0 {
        return Err(format!("{dst}.{t} is missing on the target"));
    }
    let cols: Vec<(String, String)> = a
        .query(&format!(
            "SELECT COLUMN_NAME, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{src}' AND TABLE_NAME = '{t}' ORDER BY ORDINAL_POSITION"
        ))
        .await;
    let names: Vec<String> = cols
        .iter()
        .map(|(c, _)| format!("`{}`", c.replace('`', "``")))
        .collect();
    let order = names.join(", ");
    let select = |db: &str| format!("SELECT {order} FROM `{db}`.`{t}` ORDER BY {order}");
    // The target may not have the source's latest columns yet: not equal, no panic.
    let ra: Vec<mysql_async::Row> = a.try_query(&select(src)).await?;
    let rb: Vec<mysql_async::Row> = b.try_query(&select(dst)).await?;
    let va: Vec<Vec<mysql_async::Value>> = ra.into_iter().map(|r| r.unwrap()).collect();
    let vb: Vec<Vec<mysql_async::Value>> = rb.into_iter().map(|r| r.unwrap()).collect();
    if va != vb {
        let only_a: Vec<_> = va.iter().filter(|r| !vb.contains(r)).take(5).collect();
        let only_b: Vec<_> = vb.iter().filter(|r| !va.contains(r)).take(5).collect();
        return Err(format!(
            "{t}: {} rows on the source, {} on the target; only on the source: {only_a:?}; only on the target: {only_b:?}",
            va.len(),
            vb.len()
        ));
    }
    let virtual_cols = cols.iter().any(|(_, e)| e.contains("VIRTUAL"));
    if !virtual_cols {
        let sa: Vec<(String, Option<u64>)> = a
            .try_query(&format!("CHECKSUM TABLE `{src}`.`{t}`"))
            .await?;
        let sb: Vec<(String, Option<u64>)> = b
            .try_query(&format!("CHECKSUM TABLE `{dst}`.`{t}`"))
            .await?;
        if sa[0].1 != sb[0].1 {
            return Err(format!(
                "{t}: CHECKSUM TABLE {:?} vs {:?}",
                sa[0].1, sb[0].1
            ));
        }
    }
    Ok(())
}

/// Every table of `db` on the source against `db_s` on the target (same table
/// list, each equal).
pub async fn compare_db(pair: &Pair, db: &str) -> Result<(), String> {
    let dst = format!("{db}_s");
    let ta = tables_of(&pair.source, db).await;
    let tb = tables_of(&pair.target, &dst).await;
    if ta != tb {
        return Err(format!("tables differ: source {ta:?}, target {tb:?}"));
    }
    for t in &ta {
        compare_table(&pair.source, db, &pair.target, &dst, t).await?;
    }
    Ok(())
}

/// Waits until [`compare_db`] holds, failing with the last difference.
pub async fn wait_equal(child: &mut Child, pair: &Pair, db: &str) {
    let mut last = String::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        match compare_db(pair, db).await {
            Ok(()) => return,
            Err(e) => last = e,
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "ferry exited ({status}) before {db} matched ({last}): {}",
                drain(child)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = child.kill();
    panic!("{db} never matched: {last}\n{}", drain(child));
}

/// Waits for the run to exit and returns its code and output.
pub fn finish(mut child: Child) -> (Option<i32>, String) {
    let status = child.wait().unwrap();
    (status.code(), drain(&mut child))
}

/// A `mode = "all"` job of its own, running and in its sync phase (see [`synced`]).
pub struct Synced {
    pub home: tempfile::TempDir,
    pub db: String,
    pub name: String,
    pub job: std::path::PathBuf,
    pub child: Child,
}

/// Creates a schema of its own (`setup` gives the SQL for its name), writes the job
/// for it (routed to `<db>_s`, plus `extra` lines), starts `ferry run` and waits for
/// the sync phase.
pub async fn synced(
    pair: &Pair,
    prefix: &str,
    setup: impl FnOnce(&str) -> String,
    extra: &str,
) -> Synced {
    let home = tempfile::tempdir().unwrap();
    let db = super::unique(prefix);
    pair.source.sql(&setup(&db)).await;
    let name = db.replace('_', "-");
    let job = home.path().join("job.toml");
    all_job(&job, pair, &name, &db, extra);
    let mut child = spawn_run(home.path(), &job);
    wait_sync(&mut child, &pair.target, &name).await;
    Synced {
        home,
        db,
        name,
        job,
        child,
    }
}
