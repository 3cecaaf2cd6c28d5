//! Jobs this server started, with what their event stream said last: the DM
//! status of a task comes from the job's stored status on the target plus this.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferry::control::Control;
use ferry::error::Report;
use ferry::events::{EventSink, JobEvent, Phase};
use ferry::job::RunOptions;
use ferry::profile::Profile;

#[derive(Debug, Clone, Default)]
pub struct Live {
    pub active: bool,
    pub phase: Option<Phase>,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub rows_done: u64,
    pub rows_total: u64,
    pub tables: u64,
    pub tables_done: u64,
    /// The error the last run ended with.
    pub error: Option<Report>,
}

/// A job started here: how to reach it, and what its events said.
type Entry = (Control, Arc<Mutex<Live>>);

#[derive(Clone, Default)]
pub struct Runs {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
}

impl Runs {
    /// What this server knows of a job's run, if it started one.
    pub fn live(&self, job: &str) -> Option<Live> {
        let map = self.inner.lock().ok()?;
        let (_, live) = map.get(job)?;
        live.lock().ok().map(|l| l.clone())
    }

    /// The control of a job running here.
    pub fn control(&self, job: &str) -> Option<Control> {
        let map = self.inner.lock().ok()?;
        let (control, live) = map.get(job)?;
        let active = live.lock().map(|l| l.active).unwrap_or(false);
        active.then(|| control.clone())
    }

    /// Asks every job running here to pause; returns how many were asked.
    pub fn pause_all(&self) -> usize {
        let Ok(map) = self.inner.lock() else { return 0 };
        let mut n = 0;
        for (control, live) in map.values() {
            if live.lock().map(|l| l.active).unwrap_or(false) {
                control.pause();
                n += 1;
            }
        }
        n
    }

    /// Waits until no job runs here, at most `limit`.
    pub async fn wait_idle(&self, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            let busy = self.inner.lock().is_ok_and(|map| {
                map.values()
                    .any(|(_, live)| live.lock().map(|l| l.active).unwrap_or(false))
            });
            if !busy {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Starts the job in the background (the engine's one start path: precheck,
    /// then the run). Returns false when it already runs here.
    pub fn start(&self, profile: Profile) -> bool {
        let Ok(mut map) = self.inner.lock() else {
            return false;
        };
        if let Some((_, live)) = map.get(&profile.name) {
            if live.lock().map(|l| l.active).unwrap_or(false) {
                return false;
            }
        }
        let control = Control::default();
        let live = Arc::new(Mutex::new(Live {
            active: true,
            ..Live::default()
        }));
        map.insert(profile.name.clone(), (control.clone(), live.clone()));
        drop(map);
        let (sink, mut rx) = EventSink::channel();
        let watched = live.clone();
        let watch = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let Ok(mut l) = watched.lock() else { continue };
                match event {
                    JobEvent::Phase { phase } => l.phase = Some(phase),
                    JobEvent::Throughput {
                        bytes_done,
                        bytes_total,
                        rows_done,
                        rows_total,
                        ..
                    } => {
                        l.bytes_done = bytes_done;
                        l.bytes_total = bytes_total;
                        l.rows_done = rows_done;
                        l.rows_total = rows_total;
                    }
                    JobEvent::Plan { tables } => {
                        l.tables = tables.len() as u64;
                        l.tables_done = tables
                            .iter()
                            .filter(|t| t.chunks > 0 && t.chunks_done >= t.chunks)
                            .count() as u64;
                    }
                    JobEvent::Chunk {
                        chunks_done,
                        chunks,
                        ..
                    } if chunks_done >= chunks => l.tables_done += 1,
                    JobEvent::CopyDone { bytes, rows, .. } => {
                        l.bytes_done = bytes;
                        l.bytes_total = l.bytes_total.max(bytes);
                        l.rows_done = rows;
                        l.rows_total = l.rows_total.max(rows);
                    }
                    _ => {}
                }
            }
        });
        tokio::spawn(async move {
            let opts = RunOptions {
                verify: true,
                control,
                queue: None,
                shard: None,
            };
            let result = ferry::job::start(&profile, opts, sink).await;
            let _ = watch.await;
            if let Ok(mut l) = live.lock() {
                l.active = false;
                if let Err(e) = &result {
                    tracing::warn!(job = %profile.name, error = %e, "task run ended with an error");
                    l.error = Some(Report::from_error(e).for_audience(ferry::error::Audience::Cli));
                }
            }
        });
        true
    }
}
