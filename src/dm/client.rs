//! A client of a DM cluster's OpenAPI (`ferry dm push`): creates a job's source
//! and task there, starts it, and follows its status as Ferry's own progress
//! events, so a job running on a cluster shows like a local one.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::model::{Source, SubTaskStatus, Task, TaskStage};
use super::DmError;
use crate::error::Report;
use crate::events::{EventSink, JobEvent, Phase, SyncStatus};
use crate::position::Position;

/// A DM-master's API, e.g. `http://10.0.0.5:8261`.
pub struct Master {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// How following a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    Finished,
    Stopped,
    /// The caller stopped following; the task goes on on the cluster.
    Detached,
}

fn unreachable(url: &str, e: impl std::fmt::Display) -> DmError {
    DmError::Master(format!("the DM master at {url} did not answer: {e}"))
}

impl Master {
    pub fn new(url: &str, token: Option<String>) -> Result<Master, DmError> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(DmError::Master(format!(
                "master URL \"{url}\": give http://host:port or https://host:port"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| unreachable(url, e))?;
        Ok(Master { base, token, http })
    }

    /// One request; a DM error body becomes an error with its message.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), DmError> {
        let url = format!("{}/api/v1{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| DmError::invalid(e.to_string()))?;
        let mut req = self.http.request(method, &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| unreachable(&self.base, e))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| unreachable(&self.base, e))?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok((status, value))
    }

    fn refused(what: &str, status: u16, body: &Value) -> DmError {
        let msg = body["error_msg"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| body.to_string());
        DmError::Master(format!("the DM master refused {what} ({status}): {msg}"))
    }

    /// Creates the source, or updates it when the cluster has one of its name.
    pub async fn put_source(&self, source: &Source) -> Result<(), DmError> {
        let body = json!({ "source": source });
        let (code, answer) = self.call("POST", "/sources", Some(body.clone())).await?;
        match code {
            200 | 201 => Ok(()),
            // DM answers an existing name with 400 (its own code) or 409.
            400 | 409 if self.source_exists(&source.source_name).await? => {
                let (code, answer) = self
                    .call(
                        "PUT",
                        &format!("/sources/{}", source.source_name),
                        Some(body),
                    )
                    .await?;
                if code == 200 {
                    Ok(())
                } else {
                    Err(Self::refused("the source", code, &answer))
                }
            }
            _ => Err(Self::refused("the source", code, &answer)),
        }
    }

    async fn source_exists(&self, name: &str) -> Result<bool, DmError> {
        Ok(self.call("GET", &format!("/sources/{name}"), None).await?.0 == 200)
    }

    /// Creates the task (the cluster runs its precheck), or updates it.
    pub async fn put_task(&self, task: &Task) -> Result<(), DmError> {
        let body = json!({ "task": task });
        let exists = self
            .call("GET", &format!("/tasks/{}", task.name), None)
            .await?
            .0
            == 200;
        let (code, answer) = if exists {
            self.call("PUT", &format!("/tasks/{}", task.name), Some(body))
                .await?
        } else {
            self.call("POST", "/tasks", Some(body)).await?
        };
        if code == 200 || code == 201 {
            Ok(())
        } else {
            Err(Self::refused("the task", code, &answer))
        }
    }

    /// POSTs a task action (`start`, `stop`) with an empty body.
    async fn act(&self, task: &str, action: &str, what: &str) -> Result<(), DmError> {
        let (code, answer) = self
            .call("POST", &format!("/tasks/{task}/{action}"), Some(json!({})))
            .await?;
        if code == 200 {
            Ok(())
        } else {
            Err(Self::refused(what, code, &answer))
        }
    }

    pub async fn start(&self, task: &str) -> Result<(), DmError> {
        self.act(task, "start", "starting the task").await
    }

    /// Stops the task there (DM pauses it; a start resumes).
    pub async fn stop(&self, task: &str) -> Result<(), DmError> {
        self.act(task, "stop", "stopping the task").await
    }

    /// Creates or updates the source and the task, and starts the task.
    pub async fn hand_over(&self, sources: &[Source], task: &Task) -> Result<(), DmError> {
        for source in sources {
            self.put_source(source).await?;
        }
        self.put_task(task).await?;
        self.start(&task.name).await
    }

    pub async fn status(&self, task: &str) -> Result<Vec<SubTaskStatus>, DmError> {
        let (code, answer) = self
            .call("GET", &format!("/tasks/{task}/status"), None)
            .await?;
        if code != 200 {
            return Err(Self::refused("the status request", code, &answer));
        }
        serde_json::from_value(answer["data"].clone())
            .map_err(|e| DmError::invalid(format!("the DM master's status answer: {e}")))
    }

    /// Follows the task's status about once a second as job events until it
    /// finishes or stops, or `detach` fires.
    pub async fn follow(
        &self,
        task: &str,
        sink: &EventSink,
        mut detach: tokio::sync::oneshot::Receiver<()>,
    ) -> Result<Followed, DmError> {
        let mut phase: Option<Phase> = None;
        let mut last_rows: Option<(f64, Instant)> = None;
        let mut failures = 0u32;
        loop {
            tokio::select! {
                _ = &mut detach => return Ok(Followed::Detached),
                _ = tokio::time::sleep(Duration::from_millis(1000)) => {}
            }
            let subs = match self.status(task).await {
                Ok(s) => {
                    failures = 0;
                    s
                }
                Err(e) => {
                    failures += 1;
                    sink.emit(JobEvent::Retrying {
                        attempt: failures,
                        cause: e.to_string(),
                        in_secs: 1.0,
                    });
                    if failures >= 30 {
                        return Err(e);
                    }
                    continue;
                }
            };
            let Some(sub) = subs.first() else { continue };
            let mut enter = |p: Phase| {
                if phase != Some(p) {
                    phase = Some(p);
                    sink.phase(p);
                }
            };
            match sub.stage {
                TaskStage::Finished => {
                    enter(Phase::Completed);
                    return Ok(Followed::Finished);
                }
                TaskStage::Paused | TaskStage::Stopped => {
                    if let Some(msg) = &sub.error_msg {
                        sink.emit(JobEvent::Error {
                            report: Report {
                                code: "dm.task_stopped".into(),
                                message: msg.clone(),
                                remedy: "see the task's status on the DM cluster".into(),
                            },
                        });
                        enter(Phase::Failed);
                    } else {
                        enter(Phase::Paused);
                    }
                    return Ok(Followed::Stopped);
                }
                TaskStage::Running => {}
            }
            match sub.unit.to_ascii_lowercase().as_str() {
                "check" => enter(Phase::Precheck),
                "dump" | "load" => {
                    enter(Phase::Copy);
                    let (rows, total) = sub
                        .dump_status
                        .as_ref()
                        .map_or((0.0, 0.0), |d| (d.finished_rows, d.estimate_total_rows));
                    let (bytes, bytes_total) = sub
                        .load_status
                        .as_ref()
                        .map_or((0, 0), |l| (l.finished_bytes, l.total_bytes));
                    let now = Instant::now();
                    let rate = last_rows
                        .map(|(r, t)| (rows - r) / now.duration_since(t).as_secs_f64().max(0.001))
                        .unwrap_or(0.0)
                        .max(0.0);
                    last_rows = Some((rows, now));
                    sink.emit(JobEvent::Throughput {
                        rows_done: rows as u64,
                        bytes_done: bytes,
                        rows_total: total as u64,
                        bytes_total,
                        rows_per_sec: rate,
                        bytes_per_sec: 0.0,
                        eta_secs: (rate > 0.0 && total > rows)
                            .then(|| ((total - rows) / rate) as u64),
                        tables: Vec::new(),
                    });
                }
                _ => {
                    enter(Phase::Sync);
                    if let Some(s) = &sub.sync_status {
                        sink.emit(JobEvent::Sync(sync_status(s)));
                    }
                }
            }
        }
    }
}

/// DM's `(file, pos)` and GTID as a position.
fn position(binlog: &str, gtid: &str) -> Position {
    let inner = binlog.trim().trim_start_matches('(').trim_end_matches(')');
    let (file, pos) = match inner.split_once(',') {
        Some((f, p)) => (Some(f.trim().to_string()), p.trim().parse().ok()),
        None => (None, None),
    };
    Position {
        file: file.filter(|f| !f.is_empty()),
        pos,
        gtid: (!gtid.is_empty()).then(|| gtid.to_string()),
    }
}

fn sync_status(s: &super::model::SyncStatus) -> SyncStatus {
    SyncStatus {
        state: "syncing".into(),
        changes: s.total_events,
        job_changes: s.total_events,
        transactions_per_sec: s.recent_tps as f64,
        lag_secs: Some(s.seconds_behind_master as f64),
        applied: position(&s.syncer_binlog, &s.syncer_binlog_gtid),
        source: Some(position(&s.master_binlog, &s.master_binlog_gtid)),
        synced: s.synced,
        ..SyncStatus::default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dm_positions_parse() {
        let p = super::position("(mysql-bin.000001, 1979)", "0-1-42");
        assert_eq!(p.file.as_deref(), Some("mysql-bin.000001"));
        assert_eq!(p.pos, Some(1979));
        assert_eq!(p.gtid.as_deref(), Some("0-1-42"));
        assert_eq!(super::position("", "").file, None);
    }
}
