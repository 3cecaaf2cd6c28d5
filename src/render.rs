//! Terminal rendering of job events: progress bars on a terminal (indicatif hides
//! them when stderr is not one), JSON lines with `--json`.

use ferry::error::{phrase, Audience};
use std::collections::HashMap;

use ferry::events::{JobEvent, Phase};
use ferry::verify::VerifyReport;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::human_bytes;

pub async fn events(mut rx: UnboundedReceiver<JobEvent>, json: bool) {
    let started = std::time::Instant::now();
    let multi = MultiProgress::new();
    let mut bars: HashMap<(String, String), ProgressBar> = HashMap::new();
    let overall = multi.add(ProgressBar::new(0));
    overall.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} rows  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    overall.set_prefix("total");
    // Writes after the cutover the watch has reported so far.
    let mut late_rows = 0;
    // One line for the sync, created when it starts.
    let mut sync_line: Option<ProgressBar> = None;
    let table_style =
        ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} chunks  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    while let Some(event) = rx.recv().await {
        if json {
            // Each line is the event plus `t`, seconds since the run started.
            if let Ok(serde_json::Value::Object(mut fields)) = serde_json::to_value(&event) {
                let t = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
                fields.insert("t".into(), serde_json::json!(t));
                eprintln!("{}", serde_json::Value::Object(fields));
            }
            continue;
        }
        match event {
            JobEvent::Phase { phase } => {
                overall.set_message(format!("{phase:?}").to_lowercase());
                if phase == Phase::Completed {
                    overall.finish();
                }
            }
            JobEvent::Plan { tables } => {
                overall.set_length(tables.iter().map(|t| t.rows_estimate).sum());
                for t in tables {
                    let bar = multi.add(ProgressBar::new(t.chunks));
                    bar.set_style(table_style.clone());
                    bar.set_prefix("table");
                    bar.set_position(t.chunks_done);
                    bar.set_message(format!("{}.{} -> {}", t.schema, t.table, t.target));
                    bars.insert((t.schema, t.table), bar);
                }
            }
            JobEvent::Chunk {
                schema,
                table,
                chunks_done,
                chunks,
                ..
            } => {
                if let Some(bar) = bars.get(&(schema, table)) {
                    bar.set_position(chunks_done);
                    if chunks_done >= chunks {
                        bar.finish();
                    }
                }
            }
            JobEvent::Throughput {
                rows_done,
                rows_total,
                rows_per_sec,
                bytes_per_sec,
                eta_secs,
                ..
            } => {
                overall.set_length(rows_total.max(rows_done));
                overall.set_position(rows_done);
                let eta = eta_secs.map_or(String::new(), |s| format!(", ETA {s} s"));
                overall.set_message(format!(
                    "{rows_per_sec:.0} rows/s, {}/s{eta}",
                    human_bytes(bytes_per_sec as u64)
                ));
            }
            JobEvent::Sync(st) => {
                let line = sync_line.get_or_insert_with(|| {
                    for bar in bars.values() {
                        bar.finish_and_clear();
                    }
                    overall.finish_and_clear();
                    let b = multi.add(ProgressBar::new_spinner());
                    b.set_style(
                        ProgressStyle::with_template("{prefix:>8} {spinner} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b.set_prefix("sync");
                    b.enable_steady_tick(std::time::Duration::from_millis(250));
                    b
                });
                line.set_message(format!(
                    "{} · lag {}{} · {:.0} txn/s · {:.0} rows/s · applied {}{}",
                    st.state,
                    lag_text(st.lag_secs),
                    st.behind_bytes
                        .map_or(String::new(), |b| format!(" ({} behind)", human_bytes(b))),
                    st.transactions_per_sec,
                    st.changes_per_sec,
                    st.applied,
                    if st.synced { " · synced" } else { "" }
                ));
            }
            JobEvent::Retrying {
                attempt,
                cause,
                in_secs,
            } => {
                let _ = multi.println(format!("retrying ({attempt}) in {in_secs:.0} s — {cause}"));
            }
            JobEvent::Scheduled { start_at, in_secs } => {
                let _ = multi.println(format!(
                    "scheduled: starting at {start_at} (in {in_secs} s); Ctrl-C cancels"
                ));
            }
            JobEvent::Queued { behind } => {
                let _ = multi.println(format!(
                    "queued: starts when {behind} has finished its copy"
                ));
            }
            JobEvent::Ddl {
                statement, outcome, ..
            } => {
                let _ = multi.println(format!("ddl {outcome}: {statement}"));
            }
            JobEvent::Warning { report } => {
                let _ = multi.println(format!(
                    "warning {}: {}. {}",
                    report.code,
                    report.message,
                    phrase(&report.remedy, Audience::Cli)
                ));
            }
            JobEvent::Error { report } => {
                let _ = multi.println(report.one_line());
            }
            JobEvent::AfterCutover(found) if found.late.rows != late_rows => {
                late_rows = found.late.rows;
                let _ = multi.println(format!(
                    "written to the source after the cutover: {}",
                    found.late.describe()
                ));
            }
            _ => {}
        }
    }
    for bar in bars.values() {
        bar.finish();
    }
    if let Some(line) = sync_line {
        line.finish_and_clear();
    }
    overall.finish_and_clear();
}

/// The continuous verification as `ferry status` prints it: a line of
/// progress, then each differing range with its keys.
pub fn verification_lines(v: &ferry::events::VerificationStatus) -> Vec<String> {
    let percent = if v.chunks == 0 {
        0.0
    } else {
        v.verified as f64 * 100.0 / v.chunks as f64
    };
    let mut lines = vec![format!(
        "verify   {} · verified {percent:.0} % ({} of {} ranges) · {} differences{}",
        v.state,
        v.verified,
        v.chunks,
        v.differences.len(),
        v.detail
            .as_ref()
            .map_or(String::new(), |d| format!(" · {d}"))
    )];
    for d in &v.differences {
        let keys: Vec<String> = d
            .mismatch
            .samples
            .iter()
            .map(|k| format!("{} ({})", k.key, k.difference))
            .collect();
        lines.push(format!(
            "differs  {}.{} range {} {}: {} rows on the source, {} on the target{}; `ferry repair --table {}.{} --range {}`",
            d.schema,
            d.table,
            d.mismatch.chunk,
            d.mismatch.range,
            d.mismatch.source_rows,
            d.mismatch.target_rows,
            if keys.is_empty() {
                String::new()
            } else {
                format!("; keys {}", keys.join(", "))
            },
            d.schema,
            d.table,
            d.mismatch.chunk
        ));
    }
    for n in &v.not_continuous {
        lines.push(format!("cutover  compared at the cutover only: {n}"));
    }
    lines
}

pub fn verify_report(report: &VerifyReport) {
    for t in &report.tables {
        println!(
            "{:<6} {}.{} -> {}.{}  rows {} / {}  chunks {}{}",
            if t.equal { "equal" } else { "DIFF" },
            t.schema,
            t.table,
            t.target_schema,
            t.target_table,
            t.source_rows,
            t.target_rows,
            t.chunks,
            if t.mismatches.is_empty() {
                String::new()
            } else {
                format!(", {} differ", t.mismatches.len())
            }
        );
        for m in &t.mismatches {
            println!(
                "         chunk {} {}: source {} rows, target {} rows, checksums differ",
                m.chunk, m.range, m.source_rows, m.target_rows
            );
            for k in &m.samples {
                println!("           key {}: {}", k.key, k.difference);
            }
        }
        for d in &t.definition {
            println!("         definition: {d}");
        }
        if let Some(ddl) = &t.last_ddl {
            println!("         last DDL on it: {ddl}");
        }
    }
    let differing = report.tables.iter().filter(|t| !t.equal).count();
    if report.ranges_known > 0 {
        println!(
            "ranges:  {} verified during the sync and unchanged since, {} compared now",
            report.ranges_known, report.ranges_compared
        );
    }
    if report.equal {
        println!("verified: {} tables equal", report.tables.len());
    } else {
        println!(
            "verification FAILED: {differing} of {} tables differ",
            report.tables.len()
        );
    }
}

/// `ferry report` at a terminal.
pub fn report(r: &ferry::report::JobReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let secs = |s: f64| {
        if s < 60.0 {
            format!("{s:.1} s")
        } else {
            format!("{}m{:02}s", s as u64 / 60, s as u64 % 60)
        }
    };
    let _ = writeln!(
        out,
        "{}: {}{} · mode {}",
        r.job,
        r.phase.as_deref().unwrap_or("not started"),
        if r.running { " (running)" } else { "" },
        r.mode.as_deref().unwrap_or("—")
    );
    if let Some(at) = r.started_at {
        let _ = writeln!(out, "started   {}", utc_time(at));
    }
    if let Some(at) = r.ended_at {
        let _ = writeln!(out, "ended     {}", utc_time(at));
    }
    let _ = writeln!(
        out,
        "copied    {} rows ({} bytes) · replicated {} row changes · {} DDL ran on the target",
        r.rows_copied, r.bytes_copied, r.row_changes, r.ddl_ran
    );
    let _ = writeln!(out, "\nruns");
    for run in &r.runs {
        let phases: Vec<String> = run
            .phases
            .iter()
            .map(|p| format!("{} {}", p.phase, secs(p.seconds)))
            .collect();
        let _ = writeln!(
            out,
            "  {}  {:<12} {}",
            utc_time(run.started_at),
            run.end,
            phases.join(", ")
        );
    }
    let _ = writeln!(out, "\ntime per phase");
    for p in &r.phases {
        let _ = writeln!(out, "  {:<12} {}", p.phase, secs(p.seconds));
    }
    if !r.ddl.is_empty() {
        let _ = writeln!(out, "\nDDL");
        for d in &r.ddl {
            let _ = writeln!(out, "  {}  {}: {}", utc_time(d.at), d.outcome, d.statement);
        }
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings and errors");
        for w in &r.warnings {
            let _ = writeln!(
                out,
                "  {} {:<7} {}",
                utc_time(w.at),
                w.severity,
                ferry::error::phrase(&w.text, ferry::error::Audience::Cli)
            );
        }
    }
    if let Some(v) = &r.verification {
        let differ = v.tables.iter().filter(|t| !t.equal).count();
        let _ = writeln!(
            out,
            "\nverification{}: {}",
            r.verified_at
                .map_or(String::new(), |at| format!(" ({})", utc_time(at))),
            if v.equal {
                format!("{} tables equal", v.tables.len())
            } else {
                format!("{differ} of {} tables differ", v.tables.len())
            }
        );
        for t in v.tables.iter().filter(|t| !t.equal) {
            let _ = writeln!(
                out,
                "  {}.{}: rows {} / {}",
                t.schema, t.table, t.source_rows, t.target_rows
            );
            for m in &t.mismatches {
                let keys: Vec<String> = m
                    .samples
                    .iter()
                    .map(|k| format!("{} ({})", k.key, k.difference))
                    .collect();
                let _ = writeln!(out, "    range {}: {}", m.range, keys.join(", "));
            }
            for d in &t.definition {
                let _ = writeln!(out, "    definition: {d}");
            }
        }
    }
    if let Some(late) = &r.late_writes {
        let _ = writeln!(
            out,
            "\naccepted after the cutover point: {} row changes since {}",
            late.rows, late.since
        );
    }
    if let Some(w) = &r.way_back {
        let _ = writeln!(out, "\nway back: {}", ferry::report::way_back_text(w));
    }
    let _ = writeln!(out, "\nbefore you switch the application");
    for item in &r.checklist {
        let _ = writeln!(out, "  - {}", item.text);
        if let Some(sql) = &item.sql {
            for line in sql.lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    out
}

pub fn precheck(report: &ferry::precheck::Report, ignored: &[String]) {
    use ferry::precheck::Status;
    for c in &report.checks {
        let mark = match c.status {
            Status::Pass => "pass",
            Status::Warn => "WARN",
            Status::Fail if ignored.contains(&c.id) => "fail (ignored)",
            Status::Fail => "FAIL",
        };
        println!("{mark:<5} {:<32} {}: {}", c.id, c.title, c.detail);
        for o in c.objects.iter().take(10) {
            println!("{:38}- {o}", "");
        }
        if c.objects.len() > 10 {
            println!("{:38}… and {} more", "", c.objects.len() - 10);
        }
        if c.status != Status::Pass && !c.remedy.is_empty() {
            println!("{:38}fix: {}", "", phrase(&c.remedy, Audience::Cli));
        }
    }
    let count = |s| report.checks.iter().filter(|c| c.status == s).count();
    println!(
        "{} checks: {} pass, {} warn, {} fail",
        report.checks.len(),
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail)
    );
}

/// "1.5 s", or "unknown" while the sync is out of contact with the source.
pub fn lag_text(lag: Option<f64>) -> String {
    lag.map_or_else(|| "unknown".into(), |l| format!("{l:.1} s"))
}

/// `2026-12-03 16:27:38` (UTC) for seconds since the epoch.
pub use ferry::mysql::utc_time;
