// Hide the console window on Windows release builds; harmless elsewhere.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

//! The desktop shell: each command is a thin call into the `ferry` engine, and
//! every engine event of a running job is forwarded to the window as
//! `job-event` (`{ job, event }`). Passwords typed in the UI go to the OS keyring.

mod demo;

use std::collections::HashMap;
use std::sync::Mutex;

use ferry::control::{Control, Request};
use ferry::endpoint::{Endpoint, EndpointConfig, ServerFacts};
use ferry::error::Audience;
use ferry::events::{EventSink, JobEvent};
use ferry::job::{RunOptions, RunSummary};
use ferry::profile::{Profile, ProfileStore};
use ferry::queue::Queue;
use ferry::{Coded, Report, Side};
use serde::Serialize;
use tauri::{Emitter, Manager, State};

/// The demo databases, while they run.
#[derive(Default)]
struct DemoState(tokio::sync::Mutex<Option<demo::Demo>>);

/// Starts two local sandbox servers with sample data and saves the `demo` job.
#[tauri::command]
async fn demo_start(state: State<'_, DemoState>) -> Result<Profile, Report> {
    let mut current = state.0.lock().await;
    // Stop an earlier demo first: its servers and data are replaced.
    current.take();
    // One directory, replaced by each demo, so old demos do not pile up.
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    let dir = std::env::temp_dir().join(format!("ferry-demo-{user}"));
    let (running, profile) = demo::start(&dir).await?;
    *current = Some(running);
    Ok(profile)
}

/// Controls of the jobs this window started, by job name.
#[derive(Default)]
struct Running(Mutex<HashMap<String, Control>>);

/// Set once the DBA chose how to leave with jobs running: the window may close.
#[derive(Default)]
struct Leaving(std::sync::atomic::AtomicBool);

/// The jobs this window runs, by name.
fn running_jobs(running: &Running) -> Vec<String> {
    running
        .0
        .lock()
        .map(|jobs| jobs.keys().cloned().collect())
        .unwrap_or_default()
}

/// Leaves the app with its running jobs paused at their checkpoints, or (`keep`)
/// handed to a `ferry run` of their own that goes on without the window: the app
/// pauses each, waits for its checkpoint, starts `ferry run JOB` detached and
/// waits until that run holds the job. Reopening the app finds the job running
/// and follows it. Exits the app once every job is paused or handed over.
#[tauri::command]
async fn leave(
    app: tauri::AppHandle,
    running: State<'_, Running>,
    leaving: State<'_, Leaving>,
    keep: bool,
) -> Result<(), Report> {
    let ferry_cli = background_cli()?;
    let names = running_jobs(&running);
    let profiles: Vec<Profile> = {
        let store = ProfileStore::user().map_err(report)?;
        names
            .iter()
            .map(|n| store.load(n).map_err(report))
            .collect::<Result<_, _>>()?
    };
    if let Ok(jobs) = running.0.lock() {
        for control in jobs.values() {
            control.pause();
        }
    }
    // Each run ends at its checkpoint (a copy's chunks in flight finish first).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !running_jobs(&running).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    if !running_jobs(&running).is_empty() {
        return Err(Report {
            code: "app.pause_slow".into(),
            message: "a job did not stop within 5 minutes".into(),
            remedy: "wait for it on its Run page, then close the window again".into(),
        });
    }
    if keep {
        for profile in &profiles {
            hand_over(&ferry_cli, profile).await?;
        }
    }
    leaving.0.store(true, std::sync::atomic::Ordering::SeqCst);
    app.exit(0);
    Ok(())
}

/// The `ferry` command-line engine installed beside the app.
fn background_cli() -> Result<std::path::PathBuf, Report> {
    let beside = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name("ferry"))
        .filter(|p| p.exists());
    beside.ok_or_else(|| Report {
        code: "app.no_cli".into(),
        message: "the command-line engine (ferry) is not installed beside the app, so nothing can run the job without the window".into(),
        remedy: "choose Pause and quit (Resume continues from the checkpoint), or reinstall Ferry with its command-line engine".into(),
    })
}

/// Starts `ferry run JOB` on its own (its own process group, output to a file in
/// the temporary directory) and waits until it holds the job.
async fn hand_over(cli: &std::path::Path, profile: &Profile) -> Result<(), Report> {
    use std::os::unix::process::CommandExt;
    let log = std::env::temp_dir().join(format!("ferry-{}.log", profile.name));
    let out = std::fs::File::create(&log).map_err(|e| Report {
        code: "app.background".into(),
        message: format!("cannot write {}: {e}", log.display()),
        remedy: "choose Pause and quit instead".into(),
    })?;
    let err = out.try_clone().map_err(|e| Report {
        code: "app.background".into(),
        message: e.to_string(),
        remedy: "choose Pause and quit instead".into(),
    })?;
    let mut child = std::process::Command::new(cli)
        .args(["run", &profile.name])
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| Report {
            code: "app.background".into(),
            message: format!("cannot start {}: {e}", cli.display()),
            remedy: "choose Pause and quit instead".into(),
        })?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(Report {
                code: "app.background".into(),
                message: format!(
                    "the background run of {} ended at once ({status}): {}",
                    profile.name,
                    said.lines().rev().take(3).collect::<Vec<_>>().join(" / ")
                ),
                remedy: "the job is paused at its checkpoint: choose Pause and quit, and resume it from the job list".into(),
            });
        }
        if ferry::control::status(profile)
            .await
            .is_ok_and(|s| s.running)
        {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    Err(Report {
        code: "app.background".into(),
        message: format!(
            "the background run of {} did not start within a minute (see {})",
            profile.name,
            log.display()
        ),
        remedy: "choose Pause and quit instead".into(),
    })
}

/// Watches after a cutover that this window runs, by job name (see
/// `ferry::job::watch`).
#[derive(Default)]
struct Watching(Mutex<HashMap<String, Control>>);

/// Jobs this window handed to a DM cluster, by job name: the master's URL and
/// token.
#[derive(Default)]
struct OnCluster(Mutex<HashMap<String, (String, Option<String>)>>);

/// Forwards a job's engine events to the window as `job-event`, with remedies
/// phrased for the app.
fn forward(
    app: &tauri::AppHandle,
    name: &str,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<JobEvent>,
) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    let name = name.to_string();
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            let event = match event {
                JobEvent::Warning { report } => JobEvent::Warning {
                    report: report.for_audience(Audience::App),
                },
                JobEvent::Error { report } => JobEvent::Error {
                    report: report.for_audience(Audience::App),
                },
                other => other,
            };
            let _ = app.emit(
                "job-event",
                JobEventEnvelope {
                    job: name.clone(),
                    event,
                },
            );
        }
    })
}

/// Hands the job to a DM cluster (its source and task created or updated there
/// through DM's OpenAPI, the task started) and follows the task's status as the
/// job's events until it stops there.
#[tauri::command]
async fn start_on_cluster(
    app: tauri::AppHandle,
    on_cluster: State<'_, OnCluster>,
    profile: Profile,
    master: String,
    token: Option<String>,
) -> Result<RunSummary, Report> {
    let token = token.filter(|t| !t.is_empty());
    let store = ferry::dm::store::DmStore::beside(&ProfileStore::user().map_err(report)?);
    let (source, task) = ferry::dm::hand_off(&profile, &store, true).map_err(report)?;
    let m = ferry::dm::client::Master::new(&master, token.clone()).map_err(report)?;
    m.hand_over(&source, &task).await.map_err(report)?;
    if let Ok(mut jobs) = on_cluster.0.lock() {
        jobs.insert(profile.name.clone(), (master, token));
    }
    let started = std::time::Instant::now();
    let (sink, rx) = EventSink::channel();
    let forwarding = forward(&app, &profile.name, rx);
    // Never fired: the window stops a cluster task through `pause`.
    let (_keep, detach) = tokio::sync::oneshot::channel();
    let followed = m.follow(&task.name, &sink, detach).await;
    drop(sink);
    let _ = forwarding.await;
    if let Ok(mut jobs) = on_cluster.0.lock() {
        jobs.remove(&profile.name);
    }
    use ferry::dm::client::Followed;
    let end = match followed.map_err(report)? {
        Followed::Finished => ferry::job::SyncEnd::Completed,
        Followed::Stopped | Followed::Detached => ferry::job::SyncEnd::Paused,
    };
    Ok(RunSummary {
        tables: 0,
        rows: 0,
        bytes: 0,
        seconds: started.elapsed().as_secs_f64(),
        resumed: false,
        position: Default::default(),
        lock_ms: 0,
        verify: None,
        synced_to: None,
        sync_end: Some(end),
        late_writes: None,
    })
}

/// The master a job runs on, when this window handed it to a DM cluster.
fn cluster_of(on_cluster: &OnCluster, job: &str) -> Option<(String, Option<String>)> {
    on_cluster.0.lock().ok()?.get(job).cloned()
}

fn not_on_cluster(what: &str) -> Report {
    Report {
        code: "app.dm_cluster".into(),
        message: format!("{what} is not done by a DM cluster"),
        remedy: "stop the application's writes, wait until the task shows synced, then stop the task (Pause) and point the application at the target".into(),
    }
}

/// An engine error for the window: its remedy phrased for the app (pages and
/// buttons, not commands or job-file keys).
fn report(e: impl Coded) -> Report {
    Report::from_error(&e).for_audience(Audience::App)
}

/// Reports the engine version so the page can show which engine it talks to.
#[tauri::command]
fn engine_version() -> String {
    ferry::VERSION.to_string()
}

/// A new job with the engine's defaults, for the wizard to fill in.
#[tauri::command]
fn profile_new(name: String) -> Profile {
    Profile {
        name,
        mode: ferry::profile::Mode::All,
        source: EndpointConfig::new("", 3306, ""),
        shards: Vec::new(),
        target: EndpointConfig::new("", 3306, ""),
        objects: Default::default(),
        options: Default::default(),
        incremental: Default::default(),
        ignore_checks: Vec::new(),
        reverse_of: None,
    }
}

/// A saved profile, or why it could not be read.
#[derive(Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
struct SavedProfile {
    name: String,
    profile: Option<Profile>,
    error: Option<Report>,
}

#[tauri::command]
fn profiles_list() -> Result<Vec<SavedProfile>, Report> {
    let store = ProfileStore::user().map_err(report)?;
    let names = store.list().map_err(report)?;
    Ok(names
        .into_iter()
        .map(|name| match store.load(&name) {
            Ok(p) => SavedProfile {
                name,
                profile: Some(p),
                error: None,
            },
            Err(e) => SavedProfile {
                name,
                profile: None,
                error: Some(report(e)),
            },
        })
        .collect())
}

/// Saves the profile; passwords given here go to the keyring, never to the file.
#[tauri::command]
fn profile_save(
    profile: Profile,
    source_password: Option<String>,
    target_password: Option<String>,
    shard_passwords: Option<std::collections::HashMap<String, String>>,
) -> Result<(), Report> {
    let store = ProfileStore::user().map_err(report)?;
    store.save(&profile).map_err(report)?;
    for (side, password) in [
        (Side::Source, source_password),
        (Side::Target, target_password),
    ] {
        if let Some(p) = password.filter(|p| !p.is_empty()) {
            ferry::secrets::set_password(&profile.name, side, &p).map_err(report)?;
        }
    }
    // Each further source's password under its member's name (`job.shard`), as
    // the engine looks it up (`Profile::keyring_name`).
    for member in profile.members().iter().skip(1) {
        let shard = member.source_label();
        if let Some(p) = shard_passwords
            .as_ref()
            .and_then(|m| m.get(shard))
            .filter(|p| !p.is_empty())
        {
            ferry::secrets::set_password(member.keyring_name(Side::Source), Side::Source, p)
                .map_err(report)?;
        }
    }
    Ok(())
}

#[tauri::command]
fn profile_delete(name: String) -> Result<(), Report> {
    let store = ProfileStore::user().map_err(report)?;
    // The further sources' passwords go too (they are named after the shards).
    let members = store.load(&name).map(|p| p.members()).unwrap_or_default();
    store.remove(&name).map_err(report)?;
    for side in [Side::Source, Side::Target] {
        let _ = ferry::secrets::delete_password(&name, side);
    }
    for member in members.iter().skip(1) {
        let _ = ferry::secrets::delete_password(member.keyring_name(Side::Source), Side::Source);
    }
    Ok(())
}

/// Opens one connection with what the form holds: the typed password, else the
/// one stored for the job.
async fn open_form_endpoint(
    job: &str,
    side: Side,
    config: &EndpointConfig,
    password: Option<String>,
) -> Result<Endpoint, Report> {
    let password = match password.filter(|p| !p.is_empty()) {
        Some(p) => Some(p),
        None => ferry::secrets::resolve_password(job, side).map_err(report)?,
    };
    Endpoint::open(side, config, password.as_deref(), 1)
        .await
        .map_err(report)
}

/// Connects with what the form holds (the typed password, else the stored one)
/// and returns the server's facts, or the exact error.
#[tauri::command]
async fn test_connection(
    job: String,
    side: Side,
    config: EndpointConfig,
    password: Option<String>,
) -> Result<ServerFacts, Report> {
    let endpoint = open_form_endpoint(&job, side, &config, password).await?;
    let facts = endpoint.facts().await.map_err(report);
    endpoint.close().await;
    facts
}

/// Whether the keyring holds a password for one side of a job (the Connect
/// page says so instead of showing an empty field as if none were set).
#[tauri::command]
async fn password_stored(job: String, side: Side) -> Result<bool, Report> {
    ferry::secrets::get_password(&job, side)
        .map(|p| p.is_some())
        .map_err(report)
}

/// The source's current binlog file/position and GTID set: hints for where an
/// incremental-only job could start.
#[tauri::command]
async fn source_position(
    job: String,
    config: EndpointConfig,
    password: Option<String>,
) -> Result<ferry::position::Position, Report> {
    let endpoint = open_form_endpoint(&job, Side::Source, &config, password).await?;
    let flavor = endpoint.facts().await.map_err(report)?.flavor;
    let mut conn = endpoint.conn().await.map_err(report)?;
    let position = ferry::position::current(&mut conn, flavor)
        .await
        .map_err(|e| Report {
            code: "app.source_position".into(),
            message: format!("reading the source's binlog position failed: {e}"),
            remedy: "grant the source account REPLICATION CLIENT (MariaDB: BINLOG MONITOR)".into(),
        });
    drop(conn);
    endpoint.close().await;
    position
}

#[tauri::command]
async fn objects(profile: Profile) -> Result<ferry::rules::Selection, Report> {
    ferry::inspect::selected_objects(&profile)
        .await
        .map_err(report)
}

/// Each source's selection, for a job with several sources (its merged tables).
#[tauri::command]
async fn objects_by_source(
    profile: Profile,
) -> Result<Vec<(String, ferry::rules::Selection)>, Report> {
    ferry::inspect::selected_by_source(&profile)
        .await
        .map_err(report)
}

#[tauri::command]
async fn precheck(profile: Profile) -> ferry::precheck::Report {
    ferry::precheck::run(&profile)
        .await
        .for_audience(Audience::App)
}

/// An engine event of one job, as the window receives it.
#[derive(Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
struct JobEventEnvelope {
    job: String,
    event: JobEvent,
}

/// Starts (or resumes) the job; its events arrive as `job-event`, and the summary
/// as the command's result when it ends.
#[tauri::command]
async fn start(
    app: tauri::AppHandle,
    running: State<'_, Running>,
    queue: State<'_, Queue>,
    profile: Profile,
    verify: bool,
) -> Result<RunSummary, Report> {
    let remedy = "wait for it, or pause or abort it first";
    run_here(
        &app,
        &running,
        &profile.name,
        remedy,
        |control, sink| async {
            // The engine's one start path: the precheck gate, then the run.
            let opts = RunOptions {
                verify,
                control,
                queue: Some(queue.inner().clone()),
                shard: None,
            };
            ferry::job::start(&profile, opts, sink).await
        },
    )
    .await
}

/// Runs `go` as this window's run of job `name` (refused while one runs): its
/// control registered for Pause / Complete / Abort, its events forwarded as
/// `job-event` until it ends.
async fn run_here<F, Fut>(
    app: &tauri::AppHandle,
    running: &Running,
    name: &str,
    remedy: &str,
    go: F,
) -> Result<RunSummary, Report>
where
    F: FnOnce(Control, EventSink) -> Fut,
    Fut: std::future::Future<Output = Result<RunSummary, ferry::job::JobError>>,
{
    let control = claim(running, name, remedy)?;
    let (sink, rx) = EventSink::channel();
    let forwarding = forward(app, name, rx);
    let result = go(control, sink).await;
    let _ = forwarding.await;
    if let Ok(mut jobs) = running.0.lock() {
        jobs.remove(name);
    }
    result.map_err(report)
}

/// Watches the source after a completed job's cutover for `seconds` (or until
/// `stop_watch`), forwarding what it finds as `after_cutover` events; returns the
/// writes found.
#[tauri::command]
async fn watch(
    app: tauri::AppHandle,
    watching: State<'_, Watching>,
    profile: Profile,
    seconds: u64,
) -> Result<ferry::events::LateWrites, Report> {
    let name = profile.name.clone();
    let control = Control::default();
    {
        let mut jobs = watching.0.lock().map_err(|_| busy())?;
        // One watch per job: a second Done page for it takes over.
        if let Some(old) = jobs.insert(name.clone(), control.clone()) {
            old.pause();
        }
    }
    let (sink, rx) = EventSink::channel();
    let forwarding = forward(&app, &name, rx);
    let opts = RunOptions {
        control: control.clone(),
        ..Default::default()
    };
    let window = std::time::Duration::from_secs(seconds);
    let result = ferry::job::watch(&profile, window, opts, sink).await;
    let _ = forwarding.await;
    if let Ok(mut jobs) = watching.0.lock() {
        // Only this watch's own entry: a newer one may have replaced it.
        if jobs.get(&name).is_some_and(|c| c.same(&control)) {
            jobs.remove(&name);
        }
    }
    result.map_err(report)
}

/// Ends the watch after a job's cutover, if this window runs one.
#[tauri::command]
fn stop_watch(watching: State<'_, Watching>, profile: Profile) -> Result<bool, Report> {
    let jobs = watching.0.lock().map_err(|_| busy())?;
    Ok(jobs.get(&profile.name).map(|c| c.pause()).is_some())
}

/// Brings the writes found after a completed job's cutover to the target (see
/// `ferry::job::apply_late`), as a run of the job: its events are forwarded and
/// Pause / Abort reach it.
#[tauri::command]
async fn apply_late(
    app: tauri::AppHandle,
    running: State<'_, Running>,
    watching: State<'_, Watching>,
    profile: Profile,
    verify: bool,
) -> Result<RunSummary, Report> {
    if let Some(w) = watching.0.lock().map_err(|_| busy())?.get(&profile.name) {
        w.pause();
    }
    run_here(
        &app,
        &running,
        &profile.name,
        "wait for it to end",
        |control, sink| async {
            let opts = RunOptions {
                verify,
                control,
                ..Default::default()
            };
            ferry::job::apply_late(&profile, opts, sink).await
        },
    )
    .await
}

/// The job's log kept on its target (every run, in any process), remedies
/// phrased for the app.
#[tauri::command]
async fn job_log(profile: Profile, limit: u32) -> Result<Vec<ferry::events::LogEntry>, Report> {
    let mut entries = ferry::control::log(&profile, limit).await.map_err(report)?;
    for e in &mut entries {
        e.text = ferry::error::phrase(&e.text, Audience::App);
    }
    Ok(entries)
}

/// Registers a run of `name` in this window, unless one is registered already:
/// its control (Pause / Complete / Abort reach it through it).
fn claim(running: &Running, name: &str, remedy: &str) -> Result<Control, Report> {
    let control = Control::default();
    let mut jobs = running.0.lock().map_err(|_| busy())?;
    if jobs.contains_key(name) {
        return Err(Report {
            code: "app.already_running".into(),
            message: format!("{name} is already running in this window"),
            remedy: remedy.into(),
        });
    }
    jobs.insert(name.to_string(), control.clone());
    Ok(control)
}

fn busy() -> Report {
    Report {
        code: "app.state".into(),
        message: "the app's job list is unavailable".into(),
        remedy: "restart the app".into(),
    }
}

/// Sends a request to a job: through this window when it runs here, else through
/// the target's meta schema (a `ferry run` elsewhere). Returns whether it was
/// delivered to a running job.
async fn request(running: &Running, profile: &Profile, request: Request) -> Result<bool, Report> {
    let local = running
        .0
        .lock()
        .map_err(|_| busy())?
        .get(&profile.name)
        .cloned();
    if let Some(control) = local {
        control.send(request);
        return Ok(true);
    }
    ferry::control::request(profile, request)
        .await
        .map_err(report)
}

#[tauri::command]
async fn pause(
    running: State<'_, Running>,
    on_cluster: State<'_, OnCluster>,
    profile: Profile,
) -> Result<bool, Report> {
    if let Some((master, token)) = cluster_of(&on_cluster, &profile.name) {
        let m = ferry::dm::client::Master::new(&master, token).map_err(report)?;
        m.stop(&profile.name).await.map_err(report)?;
        return Ok(true);
    }
    request(&running, &profile, Request::Pause).await
}

#[tauri::command]
async fn complete(
    running: State<'_, Running>,
    on_cluster: State<'_, OnCluster>,
    demo: State<'_, DemoState>,
    profile: Profile,
    freeze_source: bool,
    accept_late: Option<bool>,
) -> Result<bool, Report> {
    if cluster_of(&on_cluster, &profile.name).is_some() {
        return Err(not_on_cluster("the cutover"));
    }
    if let Some(d) = demo.0.lock().await.as_mut() {
        d.stop_writes_for(&profile);
    }
    let request_ = Request::Complete {
        freeze_source,
        accept_late: accept_late.unwrap_or(false),
    };
    request(&running, &profile, request_).await
}

/// The job's reverse sync that still syncs, and its job; an error otherwise.
async fn syncing_back(profile: &Profile) -> Result<Profile, Report> {
    match ferry::control::reverse(profile).await.map_err(report)? {
        Some((state, back)) if state.state == ferry::reverse::SYNCING => Ok(back),
        _ => Err(Report {
            code: "reverse.none".into(),
            message: format!("{} has no reverse sync running", profile.name),
            remedy: "a way back is kept after the cutover when the job's Options page chose one before the job started".into(),
        }),
    }
}

/// Rolls the job back to its source: its reverse sync drains, verifies and
/// finishes (the run that follows it ends then).
#[tauri::command]
async fn rollback(profile: Profile) -> Result<bool, Report> {
    let back = syncing_back(&profile).await?;
    ferry::control::request(&back, Request::complete())
        .await
        .map_err(report)
}

/// Ends the job's reverse sync: the source is no longer kept current.
#[tauri::command]
async fn release(profile: Profile) -> Result<bool, Report> {
    let back = syncing_back(&profile).await?;
    let delivered = ferry::control::request(&back, Request::Abort)
        .await
        .map_err(report)?;
    if !delivered {
        ferry::job::set_reverse_state(&profile, ferry::reverse::RELEASED)
            .await
            .map_err(report)?;
    }
    Ok(delivered)
}

/// Asks the job to re-copy a range (or every range) its continuous
/// verification found different, from the source.
#[tauri::command]
async fn repair(
    on_cluster: State<'_, OnCluster>,
    profile: Profile,
    schema: Option<String>,
    table: Option<String>,
    range: Option<u32>,
) -> Result<ferry::control::RepairAsked, Report> {
    if cluster_of(&on_cluster, &profile.name).is_some() {
        return Err(not_on_cluster("a repair"));
    }
    let table = schema.zip(table);
    ferry::control::repair(&profile, table.as_ref(), range)
        .await
        .map_err(report)
}

#[tauri::command]
async fn abort(
    running: State<'_, Running>,
    on_cluster: State<'_, OnCluster>,
    profile: Profile,
) -> Result<bool, Report> {
    if cluster_of(&on_cluster, &profile.name).is_some() {
        return Err(not_on_cluster("an abort"));
    }
    let delivered = request(&running, &profile, Request::Abort).await?;
    if !delivered {
        ferry::control::abort_stopped(&profile)
            .await
            .map_err(report)?;
    }
    Ok(delivered)
}

#[tauri::command]
async fn status(profile: Profile) -> Result<ferry::control::JobStatus, Report> {
    ferry::control::status(&profile).await.map_err(report)
}

/// Decides the refused DDL the job stopped on; returns false when none waits.
#[tauri::command]
async fn decide_ddl(
    profile: Profile,
    decision: ferry::control::DdlDecision,
) -> Result<bool, Report> {
    ferry::control::decide_ddl(&profile, &decision)
        .await
        .map(|decided| decided.is_some())
        .map_err(report)
}

#[tauri::command]
async fn verify(profile: Profile) -> Result<ferry::verify::VerifyReport, Report> {
    ferry::job::verify_job(&profile, EventSink::none())
        .await
        .map_err(report)
}

/// The whole job's report (see `ferry::report`), worded for the window.
#[tauri::command]
async fn job_report(profile: Profile) -> Result<ferry::report::JobReport, Report> {
    let mut r = ferry::report::load(&profile).await.map_err(report)?;
    for w in &mut r.warnings {
        w.text = ferry::error::phrase(&w.text, Audience::App);
    }
    for item in &mut r.checklist {
        item.text = ferry::error::phrase(&item.text, Audience::App);
    }
    Ok(r)
}

/// Saves the job's report where downloads go: `json` (all of it), `csv` (the
/// verification per table) or `html` (one self-contained page). Returns its path.
#[tauri::command]
async fn export_report(profile: Profile, format: String) -> Result<String, Report> {
    let name = profile.name.clone();
    let r = job_report(profile).await?;
    let (file, text) = match format.as_str() {
        "json" => (
            format!("{name}-report.json"),
            serde_json::to_string_pretty(&r).unwrap_or_default(),
        ),
        "csv" => (format!("{name}-verification.csv"), ferry::report::csv(&r)),
        "html" => (format!("{name}-report.html"), ferry::report::html(&r)),
        other => {
            return Err(Report {
                code: "app.export".into(),
                message: format!("no report format {other}"),
                remedy: "export as JSON, CSV or HTML".into(),
            })
        }
    };
    save_report(file, text)
}

/// Writes an exported report where downloads go (the XDG download folder, else
/// ~/Downloads) under a fresh name, and returns its path for the window to show.
#[tauri::command]
fn save_report(name: String, contents: String) -> Result<String, Report> {
    let failed = |what: String| Report {
        code: "app.export".into(),
        message: what,
        remedy: "check that the downloads folder exists and is writable".into(),
    };
    let dirs = directories::UserDirs::new()
        .ok_or_else(|| failed("no home directory to save the report in".into()))?;
    let dir = dirs
        .download_dir()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| dirs.home_dir().join("Downloads"));
    std::fs::create_dir_all(&dir).map_err(|e| failed(format!("{}: {e}", dir.display())))?;
    // Only a plain file name from the window; never a path.
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let (stem, ext) = clean.rsplit_once('.').unwrap_or((clean.as_str(), "txt"));
    for n in 0..1000 {
        let file = if n == 0 {
            format!("{stem}.{ext}")
        } else {
            format!("{stem}-{n}.{ext}")
        };
        let path = dir.join(file);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(contents.as_bytes())
                    .map_err(|e| failed(format!("{}: {e}", path.display())))?;
                return Ok(path.display().to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(failed(format!("{}: {e}", path.display()))),
        }
    }
    Err(failed(format!(
        "too many reports named {stem} in {}",
        dir.display()
    )))
}

/// The engine's allocator (see the `ferry` CLI's).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    ferry::process::prepare();
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .manage(Running::default())
        .manage(OnCluster::default())
        .manage(Watching::default())
        .manage(Leaving::default())
        .on_window_event(|window, event| {
            // Closing the window never stops a job behind the DBA's back: with
            // jobs running, the page asks what to do with them (see `leave`).
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                let app = window.app_handle();
                if app
                    .state::<Leaving>()
                    .0
                    .load(std::sync::atomic::Ordering::SeqCst)
                {
                    return;
                }
                let jobs = running_jobs(&app.state::<Running>());
                if !jobs.is_empty() {
                    api.prevent_close();
                    let _ = window.emit("close-requested", jobs);
                }
            }
        })
        .manage(Queue::default())
        .manage(DemoState::default())
        .invoke_handler(tauri::generate_handler![
            engine_version,
            save_report,
            demo_start,
            profile_new,
            profiles_list,
            profile_save,
            profile_delete,
            test_connection,
            password_stored,
            source_position,
            objects,
            objects_by_source,
            precheck,
            start,
            start_on_cluster,
            pause,
            complete,
            abort,
            repair,
            rollback,
            release,
            status,
            decide_ddl,
            verify,
            watch,
            stop_watch,
            apply_late,
            job_log,
            job_report,
            export_report,
            leave
        ])
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(|handle, event| {
            if let tauri::RunEvent::Exit = event {
                // The demo's servers stop with the app.
                if let Ok(mut demo) = handle.state::<DemoState>().0.try_lock() {
                    demo.take();
                }
            }
        }),
        Err(err) => {
            eprintln!("error FERRY-APP: the window could not start: {err}. Check that a display (or Xvfb) is available.");
            std::process::exit(1);
        }
    }
}
