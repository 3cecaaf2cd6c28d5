//! `ferry`: the command line over the engine. Parses arguments, calls the engine,
//! prints results; errors are one line with a code, the cause and the fix.
//!
//! Exit codes: 0 success, 1 failure (the line on stderr says why), 2 usage errors
//! and commands not implemented yet.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferry::endpoint::ServerFacts;
use ferry::inspect::{self, ConnectionCheck};
use ferry::profile::{Profile, ProfileStore};
use ferry::secrets;
use ferry::{Coded, FerryError, Report, Side};

mod render;
mod serve;

/// glibc's malloc spent a third of the copy's CPU in its free lists when each
/// table was written in one chunk (rows are allocated by a reader task and freed
/// by a writer task on another thread); mimalloc's per-thread heaps do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Move a live MySQL-compatible database to another server with almost no downtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Save, list, show or remove job profiles (passwords go to the OS keyring).
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// Test both endpoints of a job and print what each server is.
    Connect {
        /// A job file path or a saved profile name.
        job: String,
        #[arg(long)]
        json: bool,
    },
    /// List the tables and objects a job selects, with their target names.
    Objects {
        /// A job file path or a saved profile name.
        job: String,
        #[arg(long)]
        json: bool,
    },
    /// Check source and target before a migration: pass / warn / fail with fixes.
    Precheck {
        /// A job file path or a saved profile name.
        job: String,
        #[arg(long)]
        json: bool,
    },
    /// Run a job: copy the snapshot (mode full), then verify.
    Run {
        /// A job file path or a saved profile name.
        job: String,
        /// Skip the verification at the end.
        #[arg(long)]
        no_verify: bool,
        /// Print events as JSON lines instead of progress bars.
        #[arg(long)]
        json: bool,
    },
    /// Cut over: wait until the sync has applied everything the source has, verify,
    /// and finish the job. Starts the job here when no process runs it.
    Complete {
        job: String,
        /// Make the source read-only first, so nothing is written after the cutover.
        #[arg(long)]
        freeze_source: bool,
        /// Complete even though selected tables are still written on the source
        /// after the cutover was asked (they are applied and listed in the report).
        /// Without it such writes refuse the cutover.
        #[arg(long)]
        accept_late_writes: bool,
        /// Skip the final verification.
        #[arg(long)]
        no_verify: bool,
        #[arg(long)]
        json: bool,
    },
    /// Decide about a DDL statement the target refused (the sync stopped on it).
    #[command(subcommand)]
    Ddl(DdlCmd),
    /// Hand a job to a TiDB DM cluster: its configuration files, or the job
    /// itself through the cluster's OpenAPI.
    #[command(subcommand)]
    Dm(DmCmd),
    /// Pause a running job with a checkpoint; `ferry run` resumes it.
    Pause { job: String },
    /// Stop a job at once and mark it aborted.
    Abort { job: String },
    /// Return the application to the source after a cutover with `reverse`:
    /// the reverse sync drains the target's changes to the source, verifies,
    /// and gives the source its triggers back.
    Rollback {
        job: String,
        /// Skip the verification.
        #[arg(long)]
        no_verify: bool,
        #[arg(long)]
        json: bool,
    },
    /// End a job's reverse sync: the source is no longer kept current.
    Release { job: String },
    /// Re-copy key ranges the continuous verification found different (see
    /// `ferry status`) from the source, while the job runs; they are then
    /// compared again.
    Repair {
        job: String,
        /// Only this table (`schema.table`, the source's names).
        #[arg(long)]
        table: Option<String>,
        /// Only this range of the table (its number in `ferry status`).
        #[arg(long, requires = "table")]
        range: Option<u32>,
    },
    /// A job's phase, positions and (while it runs) live sync progress.
    Status {
        job: String,
        #[arg(long)]
        json: bool,
    },
    /// After a cutover: read the source's binlog for a while and report writes to
    /// the migrated tables made after it. Exits 1 when it found any.
    Watch {
        job: String,
        /// How long to watch, in seconds.
        #[arg(long = "for", default_value_t = 600)]
        seconds: u64,
        #[arg(long)]
        json: bool,
    },
    /// Bring the writes made on the source after a completed job's cutover to the
    /// target: the job syncs again from its completed position (the triggers the
    /// cutover created are dropped meanwhile) and completes again. Rows written
    /// on the target since with the same keys are overwritten.
    ApplyLate {
        job: String,
        #[arg(long)]
        no_verify: bool,
        #[arg(long)]
        json: bool,
    },
    /// The job's log, kept on the target across runs: phases, warnings, errors,
    /// DDL, retries, differences.
    Log {
        job: String,
        /// How many of the last entries.
        #[arg(long, default_value_t = 200)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// The whole job's report: runs, time per phase, rows, DDL with outcomes,
    /// warnings, the latest verification, and what to do before the application
    /// moves (events to enable, accounts' grants).
    Report {
        job: String,
        /// text (default), json, csv (the verification per table) or html (one
        /// self-contained page).
        #[arg(long, default_value = "text")]
        format: ReportFormat,
        /// Write it to this file instead of the terminal.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Compare source and target tables: row counts and chunked checksums.
    Verify {
        /// A job file path or a saved profile name.
        job: String,
        #[arg(long)]
        json: bool,
    },
    /// Serve TiDB DM's OpenAPI (v1) over this machine's jobs, for tools that
    /// automate DM. Off loopback, every request needs the bearer token.
    Serve {
        /// Address to listen on (DM-master's port by default).
        #[arg(long, default_value = "127.0.0.1:8261")]
        listen: std::net::SocketAddr,
        /// Print the bearer token (made on first use, kept in the OS keyring) and exit.
        #[arg(long)]
        show_token: bool,
        /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<std::path::PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum DmCmd {
    /// Write the DM source and task configuration files (YAML) of a job, for a
    /// DM cluster's `dmctl` (without passwords: fill them in there).
    Export {
        job: String,
        /// Directory to write into.
        #[arg(long, default_value = ".")]
        dir: std::path::PathBuf,
    },
    /// Create the job's source and task on a DM cluster through its OpenAPI,
    /// start it, and follow its status here (Ctrl-C stops following; the task
    /// keeps running on the cluster).
    Push {
        job: String,
        /// The DM-master, e.g. http://10.0.0.5:8261.
        #[arg(long)]
        master: String,
        /// Bearer token for the master (a `ferry serve` off loopback needs one).
        #[arg(long, env = "FERRY_DM_TOKEN")]
        token: Option<String>,
        /// Start the task and return without following it.
        #[arg(long)]
        detach: bool,
        /// Print events as JSON lines instead of progress bars.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DdlCmd {
    /// Skip the refused statement; the next `ferry run` continues after it.
    Skip {
        job: String,
        /// In a job with several sources: the source whose statement it is
        /// (`source` or a `[[shards]]` name; needed when several wait).
        #[arg(long)]
        shard: Option<String>,
    },
    /// Run SQL instead of the refused statement (same default schema).
    Replace {
        job: String,
        sql: String,
        #[arg(long)]
        shard: Option<String>,
    },
}

#[derive(Subcommand)]
enum ProfileCmd {
    /// Validate a job file and save it as a profile under its `name`.
    Save {
        file: std::path::PathBuf,
        /// Do not store or ask for passwords.
        #[arg(long)]
        no_password: bool,
    },
    /// List saved profiles.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Print a saved profile and whether its passwords are stored.
    Show { name: String },
    /// Delete a saved profile and its stored passwords.
    Rm { name: String },
}

/// What a failed command reports: a coded engine error, or a plain failure whose
/// line has already been printed.
enum Failure {
    Error(Report),
    Silent,
}

impl<E: Coded> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Error(Report::from_error(&e))
    }
}

fn main() -> ExitCode {
    ferry::process::prepare();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error ferry.runtime: cannot start the async runtime: {e}. Fix: check the process limits (ulimit -u, -n)");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(Failure::Error(report)) => {
            eprintln!("{}", report.one_line());
            ExitCode::from(1)
        }
        Err(Failure::Silent) => ExitCode::from(1),
    }
}

async fn dispatch(command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Profile(cmd) => profile_cmd(cmd),
        Command::Connect { job, json } => connect(&job, json).await,
        Command::Objects { job, json } => objects(&job, json).await,
        Command::Precheck { job, json } => precheck(&job, json).await,
        Command::Run {
            job,
            no_verify,
            json,
        } => run(&job, !no_verify, json, None).await,
        Command::Complete {
            job,
            freeze_source,
            accept_late_writes,
            no_verify,
            json,
        } => {
            let request = ferry::control::Request::Complete {
                freeze_source,
                accept_late: accept_late_writes,
            };
            complete(&job, request, !no_verify, json).await
        }
        Command::Pause { job } => pause(&job).await,
        Command::Ddl(cmd) => ddl(cmd).await,
        Command::Dm(cmd) => dm(cmd).await,
        Command::Abort { job } => abort(&job).await,
        Command::Rollback {
            job,
            no_verify,
            json,
        } => rollback(&job, !no_verify, json).await,
        Command::Release { job } => release(&job).await,
        Command::Repair { job, table, range } => repair(&job, table.as_deref(), range).await,
        Command::Status { job, json } => status(&job, json).await,
        Command::Verify { job, json } => verify(&job, json).await,
        Command::Log { job, limit, json } => log(&job, limit, json).await,
        Command::Report {
            job,
            format,
            output,
        } => report(&job, format, output).await,
        Command::Watch { job, seconds, json } => {
            watch(&job, std::time::Duration::from_secs(seconds), json).await
        }
        Command::ApplyLate {
            job,
            no_verify,
            json,
        } => apply_late(&job, !no_verify, json).await,
        Command::Serve {
            listen,
            show_token,
            tls_cert,
            tls_key,
        } => {
            if show_token {
                println!("{}", secrets::api_token()?);
                return Ok(ExitCode::SUCCESS);
            }
            // Loopback is this machine's users only; anything else needs the token.
            let token = if listen.ip().is_loopback() {
                None
            } else {
                Some(secrets::api_token()?)
            };
            match serve::serve(listen, token, tls_cert.zip(tls_key)).await {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("error ferry.serve: {e}. Fix: choose a free address with --listen");
                    Err(Failure::Silent)
                }
            }
        }
    }
}

/// The DM source and task of a job (see `ferry::dm::hand_off`).
fn dm_parts(
    profile: &Profile,
    with_passwords: bool,
) -> Result<(Vec<ferry::dm::model::Source>, ferry::dm::model::Task), Failure> {
    let dm = ferry::dm::store::DmStore::beside(&ProfileStore::user()?);
    Ok(ferry::dm::hand_off(profile, &dm, with_passwords)?)
}

async fn dm(cmd: DmCmd) -> Result<ExitCode, Failure> {
    match cmd {
        DmCmd::Export { job, dir } => {
            let profile = load_job(&job)?;
            let (sources, task) = dm_parts(&profile, false)?;
            std::fs::create_dir_all(&dir).map_err(|e| {
                ferry::dm::DmError::Storage(format!("creating {}: {e}", dir.display()))
            })?;
            let mut files = Vec::new();
            for source in &sources {
                files.push((
                    format!("source-{}.yaml", source.source_name),
                    ferry::dm::yaml::source_yaml(source)?,
                ));
            }
            files.push((
                format!("task-{}.yaml", task.name),
                ferry::dm::yaml::task_yaml(&task)?,
            ));
            for (file, text) in files {
                let path = dir.join(file);
                std::fs::write(&path, text).map_err(|e| {
                    ferry::dm::DmError::Storage(format!("writing {}: {e}", path.display()))
                })?;
                println!("wrote {}", path.display());
            }
            let creates: Vec<String> = sources
                .iter()
                .map(|s| format!("dmctl operate-source create source-{}.yaml", s.source_name))
                .collect();
            println!(
                "fill in the passwords, then: {}; dmctl start-task task-{}.yaml",
                creates.join("; "),
                task.name
            );
            Ok(ExitCode::SUCCESS)
        }
        DmCmd::Push {
            job,
            master,
            token,
            detach,
            json,
        } => {
            let profile = load_job(&job)?;
            let (sources, task) = dm_parts(&profile, true)?;
            let m = ferry::dm::client::Master::new(&master, token)?;
            m.hand_over(&sources, &task).await?;
            if !json {
                let names: Vec<&str> = sources.iter().map(|s| s.source_name.as_str()).collect();
                println!(
                    "task {} started on {master} (source {})",
                    task.name,
                    names.join(", ")
                );
            }
            if detach {
                return Ok(ExitCode::SUCCESS);
            }
            let (sink, rx) = ferry::events::EventSink::channel();
            let view = tokio::spawn(render::events(rx, json));
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    let _ = stop_tx.send(());
                }
            });
            let followed = m.follow(&task.name, &sink, stop_rx).await;
            drop(sink);
            let _ = view.await;
            use ferry::dm::client::Followed;
            match followed? {
                Followed::Finished => println!("task {} finished on the cluster", task.name),
                Followed::Stopped => println!("task {} stopped on the cluster", task.name),
                Followed::Detached => println!(
                    "stopped following; task {} goes on on the cluster (GET {master}/api/v1/tasks/{}/status)",
                    task.name, task.name
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_job(job: &str) -> Result<Profile, Failure> {
    Ok(ProfileStore::user()?.resolve(job)?)
}

fn print_json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        // Serialising our own plain types cannot fail; say so if it ever does.
        Err(e) => eprintln!("error ferry.json: cannot encode the result: {e}"),
    }
}

fn profile_cmd(cmd: ProfileCmd) -> Result<ExitCode, Failure> {
    let store = ProfileStore::user()?;
    match cmd {
        ProfileCmd::Save { file, no_password } => {
            let profile = Profile::load_file(&file)?;
            let path = store.save(&profile)?;
            println!("saved profile '{}' to {}", profile.name, path.display());
            if !no_password {
                for member in profile.members() {
                    store_password(&member, Side::Source)?;
                }
                store_password(&profile, Side::Target)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ProfileCmd::List { json } => {
            let names = store.list()?;
            if json {
                print_json(&names);
            } else if names.is_empty() {
                println!("no saved profiles in {}", store.dir().display());
            } else {
                for name in names {
                    match store.load(&name) {
                        Ok(p) => println!(
                            "{name}\t{}\t{} -> {}",
                            p.mode.as_str(),
                            p.source.address(),
                            p.target.address()
                        ),
                        Err(e) => println!("{name}\t(unreadable: {})", e.code()),
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ProfileCmd::Show { name } => {
            let profile = store.load(&name)?;
            print!("{}", profile.to_toml());
            let members = profile.members();
            let sides = members
                .iter()
                .map(|m| (m, Side::Source))
                .chain([(&members[0], Side::Target)]);
            for (m, side) in sides {
                let state = match secrets::get_password(m.keyring_name(side), side)? {
                    Some(_) => format!("stored in the OS keyring ({})", secrets::store().name()),
                    None => "not stored".to_string(),
                };
                let whose = if side == Side::Source && members.len() > 1 {
                    format!("{side} {}", m.source_label())
                } else {
                    side.to_string()
                };
                println!("# {whose} password: {state}");
            }
            Ok(ExitCode::SUCCESS)
        }
        ProfileCmd::Rm { name } => {
            let members = store.load(&name).map(|p| p.members()).unwrap_or_default();
            store.remove(&name)?;
            for side in [Side::Source, Side::Target] {
                secrets::delete_password(&name, side)?;
            }
            for m in members.iter().skip(1) {
                secrets::delete_password(m.keyring_name(Side::Source), Side::Source)?;
            }
            println!("removed profile '{name}' and its stored passwords");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Stores a side's password: from FERRY_*_PASSWORD when set, else asked on a
/// terminal (an empty answer keeps what is stored). Never printed.
fn store_password(profile: &Profile, side: Side) -> Result<(), Failure> {
    let ep = match side {
        Side::Source => &profile.source,
        Side::Target => &profile.target,
    };
    let password = match std::env::var(side.password_env()) {
        Ok(p) => Some(p),
        Err(_) if std::io::stdin().is_terminal() => {
            let whose = if profile.name.contains('.') {
                format!("{side} {}", profile.source_label())
            } else {
                side.to_string()
            };
            let prompt = format!(
                "{whose} password for {}@{} (empty keeps the stored one): ",
                ep.user,
                ep.address()
            );
            let answer = rpassword::prompt_password(prompt).map_err(|e| {
                Failure::Error(Report {
                    code: "cli.prompt".into(),
                    message: format!("cannot read the {side} password from the terminal: {e}"),
                    remedy: format!("set {} instead", side.password_env()),
                })
            })?;
            Some(answer).filter(|a| !a.is_empty())
        }
        Err(_) => None,
    };
    if let Some(password) = password {
        secrets::set_password(profile.keyring_name(side), side, &password)?;
        println!(
            "stored the {side} password in the OS keyring ({})",
            secrets::store().name()
        );
    }
    Ok(())
}

async fn precheck(job: &str, json: bool) -> Result<ExitCode, Failure> {
    let profile = load_job(job)?;
    let report = ferry::precheck::run(&profile)
        .await
        .for_audience(ferry::error::Audience::Cli);
    if json {
        print_json(&report);
    } else {
        render::precheck(&report, &profile.ignore_checks);
    }
    Ok(if report.blocking(&[]).is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `complete`: a cutover request the run carries out as soon as it syncs; a
/// refused cutover (writes after it was asked) pauses that run, so `ferry
/// complete` ends with an answer.
async fn run(
    job: &str,
    verify: bool,
    json: bool,
    complete: Option<ferry::control::Request>,
) -> Result<ExitCode, Failure> {
    let profile = load_job(job)?;
    let (sink, rx) = ferry::events::EventSink::channel();
    let control = ferry::control::Control::default();
    let rx = match complete {
        Some(request) => {
            control.send(request);
            pause_on_refusal(rx, control.clone())
        }
        None => rx,
    };
    let view = tokio::spawn(render::events(rx, json));
    let on_ctrl_c = control.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.pause();
        }
    });
    // The engine's one start path: it refuses to start into a failing check.
    let result = ferry::job::start(
        &profile,
        ferry::job::RunOptions {
            verify,
            control,
            queue: None,
            shard: None,
        },
        sink,
    )
    .await;
    let _ = view.await;
    if let Err(ferry::job::JobError::PrecheckFailed { report, .. }) = &result {
        if !json {
            render::precheck(report, &profile.ignore_checks);
            eprintln!("(a check may be ignored for this job by listing its id in the job file's ignore_checks)");
        }
    }
    let summary = result?;
    let completed =
        summary.sync_end == Some(ferry::job::SyncEnd::Completed) && summary.synced_to.is_some();
    let peak_rss_bytes = peak_rss_bytes();
    if json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            summary: &'a ferry::job::RunSummary,
            peak_rss_bytes: Option<u64>,
        }
        print_json(&Out {
            summary: &summary,
            peak_rss_bytes,
        });
    } else if summary.synced_to.is_none() && summary.sync_end.is_some() {
        use ferry::job::SyncEnd;
        let copied = format!(
            "{} rows ({}) on the target after {:.1} s",
            summary.rows,
            human_bytes(summary.bytes),
            summary.seconds
        );
        match summary.sync_end {
            Some(SyncEnd::Aborted) => println!("aborted during the copy: {copied}. {ABORT_NOTE}"),
            _ => println!("copy paused: {copied}; run the job again to resume the copy"),
        }
    } else if summary.synced_to.is_none() || summary.rows > 0 {
        println!(
            "{} {} tables, {} rows, {} in {:.1} s ({:.0} rows/s); snapshot at {} (writes blocked {} ms){}",
            if summary.resumed { "resumed and copied" } else { "copied" },
            summary.tables,
            summary.rows,
            human_bytes(summary.bytes),
            summary.seconds,
            summary.rows as f64 / summary.seconds.max(0.001),
            summary.position,
            summary.lock_ms,
            peak_rss_bytes.map_or(String::new(), |b| format!("; peak memory {}", human_bytes(b)))
        );
    }
    if !json {
        if let Some(v) = &summary.verify {
            render::verify_report(v);
        }
        if let (Some(p), Some(end)) = (&summary.synced_to, summary.sync_end) {
            use ferry::job::SyncEnd;
            match end {
                SyncEnd::Paused => println!("sync paused at {p}; run the job again to resume"),
                SyncEnd::Completed => {
                    println!(
                        "completed: the target has every change up to {p}; point the application at the target"
                    );
                    if let Some(late) = &summary.late_writes {
                        println!(
                            "accepted: {} were written to the source after the cutover was asked; they are on the target",
                            late.describe()
                        );
                    }
                }
                SyncEnd::CompletedUnverified => println!(
                    "caught up at {p}, but the verification found differences (was the source still written to?); the job keeps its position: stop the writes (or use --freeze-source) and complete again"
                ),
                SyncEnd::Aborted => println!("aborted at {p}. {ABORT_NOTE}"),
            }
        }
    }
    // At a terminal, the run goes on watching the source after its cutover (see
    // `ferry watch`); scripts call `ferry watch` when they want it.
    // A job with a reverse sync has none: the reverse sync's own writes to the
    // source would read as late writes.
    let reversible = profile.incremental.reverse_for() != ferry::profile::ReverseFor::Off;
    if completed && !reversible && !json && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        watch(job, ferry::job::WATCH, false).await?;
    }
    Ok(match (&summary.verify, summary.sync_end) {
        (Some(v), _) if !v.equal => ExitCode::from(1),
        // Asked to complete, it paused: the cutover was refused.
        (_, Some(ferry::job::SyncEnd::Paused)) if complete.is_some() => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

/// `ferry watch`: what the source's binlog holds for the migrated tables after
/// the cutover.
async fn watch(job: &str, window: std::time::Duration, json: bool) -> Result<ExitCode, Failure> {
    let profile = load_job(job)?;
    let (sink, rx) = ferry::events::EventSink::channel();
    let view = tokio::spawn(render::events(rx, json));
    let control = ferry::control::Control::default();
    let on_ctrl_c = control.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.pause();
        }
    });
    if !json {
        println!(
            "watching the source's binlog for writes to the migrated tables after the cutover for {} s (Ctrl-C stops watching; the migration stays complete)",
            window.as_secs()
        );
    }
    let opts = ferry::job::RunOptions {
        control,
        ..Default::default()
    };
    let late = ferry::job::watch(&profile, window, opts, sink).await;
    let _ = view.await;
    let late = late?;
    if json {
        print_json(&late);
    } else if late.is_empty() {
        println!(
            "no write to the migrated tables after the cutover (since {})",
            late.since
        );
    } else {
        println!(
            "written to the source after the cutover: {}. The target does not have them; `ferry apply-late {}` brings them over (rows the application wrote on the target with the same keys are overwritten)",
            late.describe(),
            profile.name
        );
    }
    Ok(if late.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `ferry log`: the job's log from its target.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Text,
    Json,
    Csv,
    Html,
}

async fn report(
    job: &str,
    format: ReportFormat,
    output: Option<std::path::PathBuf>,
) -> Result<ExitCode, Failure> {
    let profile = load_job(job)?;
    let report = ferry::report::load(&profile).await?;
    let text = match format {
        ReportFormat::Text => render::report(&report),
        ReportFormat::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
        ReportFormat::Csv => ferry::report::csv(&report),
        ReportFormat::Html => ferry::report::html(&report),
    };
    match output {
        Some(path) => {
            std::fs::write(&path, text).map_err(|e| {
                Failure::Error(Report {
                    code: "cli.write".into(),
                    message: format!("cannot write {}: {e}", path.display()),
                    remedy: "choose a path in a directory you may write to".into(),
                })
            })?;
            println!("report written to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn log(job: &str, limit: u32, json: bool) -> Result<ExitCode, Failure> {
    let profile = load_job(job)?;
    let entries = ferry::control::log(&profile, limit).await?;
    if json {
        print_json(&entries);
        return Ok(ExitCode::SUCCESS);
    }
    for e in &entries {
        println!(
            "{} {:<7} {}",
            render::utc_time(e.at),
            e.severity,
            ferry::error::phrase(&e.text, ferry::error::Audience::Cli)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ferry apply-late`: the writes after the cutover brought to the target.
async fn apply_late(job: &str, verify: bool, json: bool) -> Result<ExitCode, Failure> {
    let profile = load_job(job)?;
    let (sink, rx) = ferry::events::EventSink::channel();
    let view = tokio::spawn(render::events(rx, json));
    let opts = ferry::job::RunOptions {
        verify,
        ..Default::default()
    };
    let result = ferry::job::apply_late(&profile, opts, sink).await;
    let _ = view.await;
    let summary = result?;
    if json {
        print_json(&summary);
    } else {
        if let Some(v) = &summary.verify {
            render::verify_report(v);
        }
        match summary.sync_end {
            Some(ferry::job::SyncEnd::Completed) => println!(
                "completed again: the target has every change up to {}",
                summary
                    .synced_to
                    .as_ref()
                    .map_or(String::new(), |p| p.to_string())
            ),
            _ => println!("the job did not complete again; `ferry status` says where it stands"),
        }
    }
    Ok(match summary.sync_end {
        Some(ferry::job::SyncEnd::Completed) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// Passes the events on; a refused cutover pauses the run.
fn pause_on_refusal(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<ferry::events::JobEvent>,
    control: ferry::control::Control,
) -> tokio::sync::mpsc::UnboundedReceiver<ferry::events::JobEvent> {
    let (tx, out) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            if matches!(&event, ferry::events::JobEvent::Warning { report } if report.code == ferry::cutover::REFUSED)
            {
                control.pause();
            }
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    out
}

const ABORT_NOTE: &str = "The target keeps the rows copied and applied so far. To start again, drop or empty the target tables (or set on_existing = \"truncate\") and run the job: it starts over with a new snapshot.";

async fn complete(
    job: &str,
    request: ferry::control::Request,
    verify: bool,
    json: bool,
) -> Result<ExitCode, Failure> {
    let profile = load_job(job)?;
    if profile.incremental.cutover == ferry::profile::Cutover::Never {
        return Err(Failure::Error(Report {
            code: "job.standby".into(),
            message: format!("{} is a standby (cutover = \"never\"); it does not complete", profile.name),
            remedy: "set cutover = \"auto\" under [incremental] to allow a cutover, or pause / abort the standby".into(),
        }));
    }
    // The answer to this request, not to an earlier one (see `CutoverStatus`).
    let attempt = |s: &ferry::control::JobStatus| {
        s.live
            .as_ref()
            .and_then(|l| l.cutover.as_ref())
            .map_or(0, |c| c.attempt)
    };
    let now = ferry::control::status(&profile).await?;
    let before = attempt(&now);
    // A job that has ended is not run again by a complete: that would start it over.
    if !now.running {
        use ferry::checkpoint::JobPhase;
        match now.phase.as_deref() {
            Some(p) if p == JobPhase::Completed.as_str() => {
                println!(
                    "{} has completed already; nothing to do (`ferry report` shows it; `ferry run` would start it over)",
                    profile.name
                );
                return Ok(ExitCode::SUCCESS);
            }
            Some(p) if p == JobPhase::Aborted.as_str() => {
                return Err(Failure::Error(Report {
                    code: "job.aborted".into(),
                    message: format!("{} was aborted; it cannot complete", profile.name),
                    remedy: "run it again with `ferry run` (it starts over with a new snapshot)"
                        .into(),
                }));
            }
            _ => {}
        }
    }
    if !ferry::control::request(&profile, request).await? {
        // Nobody runs the job: run it here, cutting over as soon as it has caught up.
        return run(job, verify, json, Some(request)).await;
    }
    println!("asked the running job to complete; waiting for it to catch up and verify…");
    let mut last = String::new();
    loop {
        let s = ferry::control::status(&profile).await?;
        if !s.running {
            let completed = ferry::checkpoint::JobPhase::Completed.as_str();
            return Ok(match s.phase.as_deref() {
                Some(p) if p == completed => {
                    println!(
                        "completed: {} has every change; point the application at the target",
                        profile.name
                    );
                    ExitCode::SUCCESS
                }
                other => {
                    eprintln!(
                        "error job.not_completed: the job stopped in phase {}. Fix: see the output of the running process; run `ferry complete` again",
                        other.unwrap_or("unknown")
                    );
                    ExitCode::from(1)
                }
            });
        }
        if let Some(c) = s.live.as_ref().and_then(|l| l.cutover.as_ref()) {
            if c.step == ferry::events::CutoverStep::Refused && c.attempt > before {
                eprintln!("{}", ferry::cutover::refusal(&c.late).one_line());
                return Ok(ExitCode::from(1));
            }
        }
        if let Some(l) = &s.live {
            let line = format!(
                "{} · lag {} · applied {}",
                l.state,
                render::lag_text(l.lag_secs),
                l.applied
            );
            if line != last {
                println!("{line}");
                last = line;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

async fn ddl(cmd: DdlCmd) -> Result<ExitCode, Failure> {
    use ferry::control::DdlDecision;
    let (job, decision, shard) = match cmd {
        DdlCmd::Skip { job, shard } => (job, DdlDecision::Skip, shard),
        DdlCmd::Replace { job, sql, shard } => (job, DdlDecision::Replace(sql), shard),
    };
    let job_profile = load_job(&job)?;
    // The source whose statement waits: the one named, or the only one waiting.
    let members = job_profile.members();
    let labels: Vec<&str> = members.iter().map(|m| m.source_label()).collect();
    if let Some(name) = &shard {
        if !labels.contains(&name.as_str()) {
            return Err(Failure::Error(Report {
                code: "ddl.unknown_shard".into(),
                message: format!("{job} has no source named {name}"),
                remedy: format!("name one of: {}", labels.join(", ")),
            }));
        }
    }
    let mut waiting = Vec::new();
    for m in &members {
        if shard.as_deref().is_none_or(|n| n == m.source_label())
            && ferry::control::status(m).await?.pending_ddl.is_some()
        {
            waiting.push(m.clone());
        }
    }
    if waiting.len() > 1 {
        return Err(Failure::Error(Report {
            code: "ddl.which_shard".into(),
            message: format!(
                "DDL waits for a decision on several sources of {job}: {}",
                waiting
                    .iter()
                    .map(|m| m.source_label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            remedy: "name the source the decision is for with --shard NAME".into(),
        }));
    }
    let profile = waiting.pop().unwrap_or_else(|| members[0].clone());
    match ferry::control::decide_ddl(&profile, &decision).await? {
        Some((position, statement, _)) => {
            match &decision {
                DdlDecision::Skip => println!("at {position}: will skip `{statement}`"),
                DdlDecision::Replace(s) => {
                    println!("at {position}: will run `{s}` instead of `{statement}`")
                }
            }
            println!("run `ferry run {job}` to continue");
            Ok(ExitCode::SUCCESS)
        }
        None => Err(Failure::Error(Report {
            code: "ddl.none_pending".into(),
            message: format!("{} has no refused DDL waiting for a decision", profile.name),
            remedy: "nothing to do; `ferry status` shows the job's state".into(),
        })),
    }
}

/// Waits up to a minute for the job that was asked to `asked` (pause, abort) to
/// stop; an error if it still runs then.
async fn wait_stopped(
    profile: &Profile,
    asked: &str,
) -> Result<ferry::control::JobStatus, Failure> {
    let s = ferry::control::wait_stopped(profile, std::time::Duration::from_secs(60)).await?;
    if s.running {
        return Err(Failure::Error(Report {
            code: "job.still_running".into(),
            message: format!("{} was asked to {asked} but still runs after 60 s", profile.name),
            remedy: "it stops at its next checkpoint (a large transaction or chunk can take a while): watch `ferry status`, or stop its process".into(),
        }));
    }
    Ok(s)
}

async fn pause(job: &str) -> Result<ExitCode, Failure> {
    let profile = load_job(job)?;
    if !ferry::control::request(&profile, ferry::control::Request::Pause).await? {
        println!("{} is not running; nothing to pause", profile.name);
        return Ok(ExitCode::SUCCESS);
    }
    let s = wait_stopped(&profile, "pause").await?;
    println!(
        "{} paused (phase {}); `ferry run` resumes it",
        profile.name,
        s.phase.as_deref().unwrap_or("unknown")
    );
    Ok(ExitCode::SUCCESS)
}

async fn abort(job: &str) -> Result<ExitCode, Failure> {
    let profile = load_job(job)?;
    if ferry::control::request(&profile, ferry::control::Request::Abort).await? {
        wait_stopped(&profile, "abort").await?;
    } else if ferry::control::abort_stopped(&profile).await?.is_none() {
        println!(
            "{} never ran against this target; nothing to abort",
            profile.name
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} aborted. {ABORT_NOTE}", profile.name);
    Ok(ExitCode::SUCCESS)
}

/// The job's reverse sync that still syncs, or the error that says why not.
async fn syncing_back(
    job: &str,
) -> Result<(Profile, ferry::reverse::ReverseState, Profile), Failure> {
    let profile = load_job(job)?;
    let no = |message: String| {
        Failure::Error(Report {
            code: "reverse.none".into(),
            message,
            remedy: "a job keeps a reverse sync after its cutover when [incremental] reverse is \"until-released\" or a number of hours (\"24h\")".into(),
        })
    };
    match ferry::control::reverse(&profile).await? {
        Some((state, back)) if state.state == ferry::reverse::SYNCING => Ok((profile, state, back)),
        Some((state, _)) => Err(no(format!(
            "{}'s reverse sync has ended ({})",
            profile.name, state.state
        ))),
        None => Err(no(format!("{} has no reverse sync", profile.name))),
    }
}

async fn rollback(job: &str, verify: bool, json: bool) -> Result<ExitCode, Failure> {
    let (profile, _, back) = syncing_back(job).await?;
    let request = ferry::control::Request::complete();
    if !ferry::control::request(&back, request).await? {
        // Nobody runs the reverse sync: run it here, rolling back once caught up.
        return run(job, verify, json, Some(request)).await;
    }
    println!("asked the reverse sync to roll back; waiting for it to drain the target's changes and verify…");
    let s = wait_stopped(&back, "rollback").await?;
    let completed = ferry::checkpoint::JobPhase::Completed.as_str();
    if s.phase.as_deref() == Some(completed) {
        println!(
            "rolled back: the source has every change the target had; point the application back at the source ({})",
            profile.source.address()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "the rollback did not finish (phase {}); `ferry status {job}` says why",
            s.phase.as_deref().unwrap_or("unknown")
        );
        Ok(ExitCode::from(1))
    }
}

async fn release(job: &str) -> Result<ExitCode, Failure> {
    let (profile, _, back) = syncing_back(job).await?;
    if ferry::control::request(&back, ferry::control::Request::Abort).await? {
        wait_stopped(&back, "release").await?;
    }
    ferry::job::set_reverse_state(&profile, ferry::reverse::RELEASED)
        .await
        .map_err(Failure::from)?;
    println!(
        "released: {}'s reverse sync has ended; the source is no longer kept current",
        profile.name
    );
    Ok(ExitCode::SUCCESS)
}

async fn repair(job: &str, table: Option<&str>, range: Option<u32>) -> Result<ExitCode, Failure> {
    let profile = load_job(job)?;
    let table = match table {
        Some(t) => match t.split_once('.') {
            Some((s, n)) => Some((s.to_string(), n.to_string())),
            None => {
                eprintln!("--table takes schema.table, the source's names: {t}");
                return Ok(ExitCode::from(2));
            }
        },
        None => None,
    };
    let asked = ferry::control::repair(&profile, table.as_ref(), range).await?;
    if asked.ranges == 0 {
        println!("no differing range to repair; `ferry status` lists what the verification found");
        return Ok(ExitCode::from(1));
    }
    println!(
        "asked to repair {}: {}",
        if asked.ranges == 1 {
            "1 range".to_string()
        } else {
            format!("{} ranges", asked.ranges)
        },
        if asked.running {
            "the running job re-copies them from the source and compares them again"
        } else {
            "no process runs the job; the next `ferry run` repairs them"
        }
    );
    Ok(ExitCode::SUCCESS)
}

async fn status(job: &str, json: bool) -> Result<ExitCode, Failure> {
    let profile = load_job(job)?;
    let members = profile.members();
    let mut all = Vec::new();
    for m in &members {
        all.push(ferry::control::status(m).await?);
    }
    // The way back after the cutover, when the job keeps one.
    let back = match ferry::control::reverse(&profile).await? {
        Some((state, back)) => {
            let live = ferry::control::status(&back).await.ok();
            Some((state, live))
        }
        None => None,
    };
    if json {
        // A job with several sources: the first source's status, with every
        // source's under `sources`.
        let mut value = serde_json::to_value(&all[0]).unwrap_or_default();
        if members.len() > 1 {
            let list: Vec<serde_json::Value> = members
                .iter()
                .zip(&all)
                .map(|(m, s)| {
                    let mut v = serde_json::to_value(s).unwrap_or_default();
                    v["source"] = m.source_label().into();
                    v
                })
                .collect();
            value["sources"] = list.into();
        }
        if let Some((state, live)) = &back {
            value["reverse"] = serde_json::json!({ "state": state, "status": live });
        }
        print_json(&value);
        return Ok(ExitCode::SUCCESS);
    }
    for (m, s) in members.iter().zip(&all) {
        if members.len() > 1 {
            println!("── source {} ({})", m.source_label(), m.source.address());
        }
        print_status(s);
    }
    if let Some((state, live)) = &back {
        println!(
            "back     reverse sync {} from {}{}{}",
            state.state.replace('_', " "),
            state.start,
            state.until.map_or(String::new(), |u| format!(
                " · ends by itself in {:.1} h",
                ((u - ferry::events::unix_now()) / 3600.0).max(0.0)
            )),
            live.as_ref()
                .and_then(|l| l.live.as_ref().filter(|_| l.running))
                .map_or(String::new(), |l| format!(
                    " · lag {} · {}",
                    render::lag_text(l.lag_secs),
                    if l.synced { "synced" } else { "catching up" }
                ))
        );
        if state.state == ferry::reverse::SYNCING {
            println!("         `ferry rollback {job}` returns the application to the source; `ferry release {job}` ends it");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_status(s: &ferry::control::JobStatus) {
    println!("job      {}", s.job);
    println!(
        "phase    {}{}",
        s.phase.as_deref().unwrap_or("never run"),
        if s.running {
            " (running)"
        } else if s.interrupted {
            " (interrupted: the process running it ended without stopping it; `ferry run` resumes)"
        } else {
            ""
        }
    );
    if let Some(p) = &s.snapshot {
        println!("snapshot {p}");
    }
    if let Some(p) = &s.applied {
        println!("applied  {p}");
    }
    if let Some(p) = &s.source_now {
        println!(
            "source   {p} now{}",
            s.behind_bytes.map_or(String::new(), |b| format!(
                " ({b} bytes of binlog to apply)"
            ))
        );
    }
    if s.copied_rows > 0 || s.live.is_some() {
        let (changes, ddl) = s
            .live
            .as_ref()
            .map_or((0, 0), |l| (l.job_changes, l.job_ddl));
        println!(
            "job      {} rows ({}) copied, {changes} row changes and {ddl} DDL statements replicated",
            s.copied_rows,
            human_bytes(s.copied_bytes)
        );
    }
    if let Some(a) = s.live.as_ref().and_then(|l| l.after_cutover.as_ref()) {
        let when = if a.watching_until.is_some() {
            "watching"
        } else {
            "watched"
        };
        if a.late.is_empty() {
            println!(
                "after    no write to the migrated tables after the cutover ({when} to {})",
                a.read_to.as_ref().map_or(String::new(), |p| p.to_string())
            );
        } else {
            println!(
                "after    written to the source after the cutover: {} ({when}); `ferry apply-late` brings them over",
                a.late.describe()
            );
        }
    }
    if let Some(d) = &s.pending_ddl {
        println!(
            "waiting  a decision on the DDL the target refused at {}: `{}` ({}); `ferry ddl skip` or `ferry ddl replace`",
            d.position, d.statement, d.error
        );
    }
    if let (Some(l), true) = (&s.live, s.running) {
        println!(
            "sync     {} · lag {}{} · {:.0} txn/s · {:.0} rows/s · synced {}",
            l.state,
            render::lag_text(l.lag_secs),
            l.behind_bytes
                .map_or(String::new(), |b| format!(" ({b} bytes behind)")),
            l.transactions_per_sec,
            l.changes_per_sec,
            if l.synced { "yes" } else { "no" }
        );
        if let Some(src) = &l.source {
            println!("source   {src}");
        }
        if let Some(v) = &l.verification {
            for line in render::verification_lines(v) {
                println!("{line}");
            }
        }
        if let Some(r) = &l.retry {
            println!(
                "retry    {r}{}",
                l.health_since.map_or(String::new(), |t| format!(
                    " (out of contact for {:.0} s)",
                    (ferry::events::unix_now() - t).max(0.0)
                ))
            );
        }
        for k in &l.shard_locks {
            println!(
                "lock     DDL of merged table {} waits for {} (arrived: {}): `{}`",
                k.target,
                k.waiting_for.join(", "),
                k.arrived.join(", "),
                k.statement
            );
        }
    }
}

async fn verify(job: &str, json: bool) -> Result<ExitCode, Failure> {
    let profile = load_job(job)?;
    let report = ferry::job::verify_job(&profile, ferry::events::EventSink::none()).await?;
    if json {
        print_json(&report);
    } else {
        render::verify_report(&report);
    }
    Ok(if report.equal {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The process's peak resident memory (Linux `VmHWM`), shown so users and tests can
/// see the copy's memory bound hold.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn describe_facts(f: &ServerFacts) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    format!(
        "{:?} {} | server_id {} | log_bin {} | binlog_format {} | binlog_row_image {} | gtid {:?} | lower_case_table_names {} | max_allowed_packet {} | time_zone {} ({}) | charset {}/{}{}",
        f.flavor,
        f.version,
        f.server_id,
        if f.log_bin { "ON" } else { "OFF" },
        opt(&f.binlog_format),
        opt(&f.binlog_row_image),
        f.gtid_mode,
        f.lower_case_table_names,
        human_bytes(f.max_allowed_packet),
        f.time_zone,
        f.system_time_zone,
        f.character_set_server,
        f.collation_server,
        if f.read_only { " | read_only" } else { "" },
    )
}

async fn connect(job: &str, json: bool) -> Result<ExitCode, Failure> {
    let profile = load_job(job)?;
    let (source, target) = tokio::join!(
        inspect::check_connection(&profile, Side::Source),
        inspect::check_connection(&profile, Side::Target)
    );
    let checks: [ConnectionCheck; 2] = [source, target];
    if json {
        print_json(&checks);
    } else {
        for c in &checks {
            match (&c.facts, &c.error) {
                (Some(f), _) => println!(
                    "{:<6} {} as {} ok, TLS {}\n       {}",
                    c.side.as_str(),
                    c.address,
                    c.user,
                    if c.tls { "on" } else { "off" },
                    describe_facts(f)
                ),
                (None, Some(e)) => eprintln!("{}", e.one_line()),
                (None, None) => {}
            }
        }
    }
    Ok(if checks.iter().all(ConnectionCheck::ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn objects(job: &str, json: bool) -> Result<ExitCode, Failure> {
    let profile = load_job(job)?;
    let selection = inspect::selected_objects(&profile)
        .await
        .map_err(|e: FerryError| Failure::Error(e.report()))?;
    if json {
        print_json(&selection);
        return Ok(ExitCode::SUCCESS);
    }
    if selection.tables.is_empty() {
        println!("the rules select no table on the source");
        return Err(Failure::Silent);
    }
    let src = |s: &str, t: &str| format!("{s}.{t}");
    let width = selection
        .tables
        .iter()
        .map(|t| src(&t.schema, &t.name).len())
        .max()
        .unwrap_or(0)
        .max(6);
    let twidth = selection
        .tables
        .iter()
        .map(|t| src(&t.target_schema, &t.target_name).len())
        .max()
        .unwrap_or(0)
        .max(6);
    println!(
        "{:<width$}    {:<twidth$}  {:>12}  {:>10}  KEY",
        "SOURCE", "TARGET", "ROWS~", "SIZE"
    );
    for t in &selection.tables {
        let key = if t.row_key.is_empty() {
            "(none)".to_string()
        } else {
            t.row_key.join(",")
        };
        println!(
            "{:<width$} -> {:<twidth$}  {:>12}  {:>10}  {key}",
            src(&t.schema, &t.name),
            src(&t.target_schema, &t.target_name),
            t.row_estimate,
            human_bytes(t.bytes),
        );
    }
    for o in &selection.objects {
        println!(
            "{:<9} {}.{} -> {}.{}",
            o.kind, o.schema, o.name, o.target_schema, o.target_name
        );
    }
    let names = |ns: &[(String, String)]| {
        ns.iter()
            .map(|(s, t)| format!("{s}.{t}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for l in &selection.left_out {
        println!(
            "{:<9} {}.{} left out: built on {}, not selected",
            l.object.kind,
            l.object.schema,
            l.object.name,
            names(&l.missing)
        );
    }
    for k in &selection.broken_keys {
        println!(
            "foreign key {}.{} ({}) references {}.{}, not selected: the precheck fails",
            k.schema, k.table, k.name, k.parent_schema, k.parent_table
        );
    }
    println!(
        "{} tables, ~{} rows, {}; {} other objects",
        selection.tables.len(),
        selection.total_rows(),
        human_bytes(selection.total_bytes()),
        selection.objects.len()
    );
    Ok(ExitCode::SUCCESS)
}
