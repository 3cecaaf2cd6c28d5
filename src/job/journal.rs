//! The job's log in the meta schema: every run (in the app, `ferry run`, a run
//! the app left running in the background) appends what happened — phases,
//! warnings, errors, DDL, retries, differences — so the log outlives the window
//! and the process that wrote it (`ferry log`, the app's Run page).
//!
//! Best effort by design: the log is for people; a failed write is reported in
//! the process's own log and never stops the job. Events reach the adapter
//! unchanged and in order.

use crate::checkpoint::Meta;
use crate::endpoint::Endpoint;
use crate::events::{EventSink, LogLine};

/// Passes every event on to `sink` and keeps the notable ones in the job's log,
/// after `first` (how the run starts: written in the background, so the run does
/// not wait for them, and before anything the run logs). Returns the sink the job
/// writes to and the task to wait for once the job's sinks are dropped (it then
/// has written everything).
pub(crate) fn keep(
    sink: EventSink,
    target: &Endpoint,
    meta: &Meta,
    first: Vec<LogLine>,
) -> (EventSink, tokio::task::JoinHandle<()>) {
    let (journal, mut rx) = EventSink::channel();
    let target = target.clone();
    let meta = meta.clone();
    let task = tokio::spawn(async move {
        let mut conn = None;
        for line in &first {
            note(&target, &meta, line).await;
        }
        while let Some(event) = rx.recv().await {
            if let Some(line) = event.log_line() {
                if conn.is_none() {
                    conn = target.conn().await.ok();
                }
                if let Some(c) = conn.as_mut() {
                    if let Err(e) = meta.append_log(c, crate::events::unix_now(), &line).await {
                        tracing::warn!(cause = %e, "keeping the job's log failed");
                        conn = None;
                    }
                }
            }
            sink.emit(event);
        }
    });
    (journal, task)
}

/// Adds one line to the job's log (a run starting, resuming, ending).
pub(crate) async fn note(target: &Endpoint, meta: &Meta, line: &LogLine) {
    if let Ok(mut conn) = target.conn().await {
        if let Err(e) = meta
            .append_log(&mut conn, crate::events::unix_now(), line)
            .await
        {
            tracing::warn!(cause = %e, "keeping the job's log failed");
        }
    }
}
