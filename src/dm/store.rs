//! Where the DM side lives on this machine: sources as JSON files (their
//! passwords in the OS keyring, their TLS material as files beside them), and
//! each task as DM wrote it, beside the job profile it became.
//!
//! Layout, next to the profiles directory: `dm/sources/<name>.json`,
//! `dm/sources/<name>/{ca,cert,key}.pem`, `dm/tasks/<name>.json`.

use std::path::{Path, PathBuf};

use super::model::{Security, Source, Task};
use super::DmError;
use crate::endpoint::Side;
use crate::profile::{EndpointConfig, ProfileStore, TlsMode};
use crate::secrets;

/// The keyring "profile" a source's password is kept under: `@` cannot start a
/// job name, so it never meets a job's own entries.
fn keyring_name(source: &str) -> String {
    format!("@source:{source}")
}

#[derive(Debug, Clone)]
pub struct DmStore {
    dir: PathBuf,
}

fn storage(what: &str, e: impl std::fmt::Display) -> DmError {
    DmError::Storage(format!("{what}: {e}"))
}

impl DmStore {
    /// The store beside a profile store.
    pub fn beside(profiles: &ProfileStore) -> DmStore {
        let parent = profiles.dir().parent().unwrap_or(profiles.dir());
        DmStore {
            dir: parent.join("dm"),
        }
    }

    fn sources_dir(&self) -> PathBuf {
        self.dir.join("sources")
    }

    fn tasks_dir(&self) -> PathBuf {
        self.dir.join("tasks")
    }

    fn source_file(&self, name: &str) -> PathBuf {
        self.sources_dir().join(format!("{name}.json"))
    }

    /// Source names are DM's, checked with the job-name rule (they become file
    /// names and keyring accounts).
    pub fn check_name(kind: &'static str, name: &str) -> Result<(), DmError> {
        crate::profile::validate_name(name)
            .map_err(|e| DmError::Invalid(format!("{kind} name: {e}")))
    }

    pub fn source_names(&self) -> Result<Vec<String>, DmError> {
        list(&self.sources_dir())
    }

    /// The source as stored (no password, no status).
    pub fn source(&self, name: &str) -> Result<Source, DmError> {
        Self::check_name("source", name)?;
        read(&self.source_file(name))?.ok_or_else(|| DmError::NotFound {
            kind: "source",
            name: name.to_string(),
        })
    }

    pub fn source_exists(&self, name: &str) -> bool {
        self.source_file(name).exists()
    }

    /// Stores a source: its password (when given) in the keyring, its TLS
    /// material as files, the rest as JSON.
    pub fn save_source(&self, source: &Source) -> Result<(), DmError> {
        Self::check_name("source", &source.source_name)?;
        let mut stored = source.clone();
        if let Some(pw) = stored.password.take() {
            secrets::set_password(&keyring_name(&source.source_name), Side::Source, &pw)
                .map_err(|e| storage("storing the password", e))?;
        }
        stored.status_list = None;
        stored.task_name_list = None;
        if let Some(sec) = &stored.security {
            self.write_tls(&source.source_name, sec)?;
        }
        write(&self.source_file(&source.source_name), &stored)
    }

    pub fn delete_source(&self, name: &str) -> Result<(), DmError> {
        self.source(name)?;
        secrets::delete_password(&keyring_name(name), Side::Source)
            .map_err(|e| storage("deleting the password", e))?;
        let _ = std::fs::remove_dir_all(self.sources_dir().join(name));
        std::fs::remove_file(self.source_file(name)).map_err(|e| storage("deleting the source", e))
    }

    pub fn source_password(&self, name: &str) -> Result<Option<String>, DmError> {
        secrets::get_password(&keyring_name(name), Side::Source)
            .map_err(|e| storage("reading the password", e))
    }

    fn tls_dir(&self, name: &str) -> PathBuf {
        self.sources_dir().join(name)
    }

    fn write_tls(&self, name: &str, sec: &Security) -> Result<(), DmError> {
        let dir = self.tls_dir(name);
        std::fs::create_dir_all(&dir).map_err(|e| storage("creating the TLS directory", e))?;
        for (file, text) in [
            ("ca.pem", &sec.ssl_ca_content),
            ("cert.pem", &sec.ssl_cert_content),
            ("key.pem", &sec.ssl_key_content),
        ] {
            let path = dir.join(file);
            if text.is_empty() {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            write_private(&path, text.as_bytes())?;
        }
        Ok(())
    }

    /// The endpoint a job connects to the source with.
    pub fn source_endpoint(&self, source: &Source) -> EndpointConfig {
        let mut e = EndpointConfig::new(source.host.clone(), source.port, source.user.clone());
        if let Some(sec) = &source.security {
            let dir = self.tls_dir(&source.source_name);
            let file = |present: bool, f: &str| present.then(|| dir.join(f));
            e.ca = file(!sec.ssl_ca_content.is_empty(), "ca.pem");
            e.cert = file(!sec.ssl_cert_content.is_empty(), "cert.pem");
            e.key = file(!sec.ssl_key_content.is_empty(), "key.pem");
            e.tls = if e.ca.is_some() {
                TlsMode::VerifyCa
            } else {
                TlsMode::Required
            };
        }
        e
    }

    /// The task as DM wrote it, if it was made through the API.
    pub fn task(&self, name: &str) -> Result<Option<Task>, DmError> {
        read(&self.tasks_dir().join(format!("{name}.json")))
    }

    /// Keeps a task's DM form (passwords and status removed).
    pub fn save_task(&self, task: &Task) -> Result<(), DmError> {
        write(
            &self.tasks_dir().join(format!("{}.json", task.name)),
            &stored_form(task),
        )
    }

    /// The registered source a job reads from: the one its task names, else one
    /// with the job's source address and user; `None` for a job whose source was
    /// never registered.
    pub fn registered_source_of(&self, p: &crate::profile::Profile) -> Option<String> {
        if let Ok(Some(t)) = self.task(&p.name) {
            if let Ok(name) = super::convert::source_of(&t) {
                return Some(name);
            }
        }
        self.source_names()
            .unwrap_or_default()
            .into_iter()
            .find(|name| {
                self.source(name).is_ok_and(|s| {
                    s.host == p.source.host && s.port == p.source.port && s.user == p.source.user
                })
            })
    }

    /// The name a job's source goes by in DM: its registered source, else the
    /// address.
    pub fn source_name_of(&self, p: &crate::profile::Profile) -> String {
        self.registered_source_of(p)
            .unwrap_or_else(|| p.source.address())
    }

    /// The DM names of a job's sources: its first source's (see
    /// [`source_name_of`](Self::source_name_of)), then its shards' (a task over
    /// several sources names its shards for its DM sources).
    pub fn source_names_of(&self, p: &crate::profile::Profile) -> Vec<String> {
        std::iter::once(self.source_name_of(p))
            .chain(p.shards.iter().map(|s| s.name.clone()))
            .collect()
    }

    /// Every source a task reads from, with its endpoint, in the task's order.
    pub fn endpoints_of(&self, task: &Task) -> Result<Vec<(String, EndpointConfig)>, DmError> {
        super::convert::sources_of(task)?
            .into_iter()
            .map(|name| {
                let source = self.source(&name)?;
                Ok((name, self.source_endpoint(&source)))
            })
            .collect()
    }

    /// The task a job reads as: as DM wrote it while the job is still what that
    /// made, else what a DM task can say of the job (made or edited elsewhere).
    pub fn task_of(&self, p: &crate::profile::Profile) -> Task {
        if let Ok(Some(t)) = self.task(&p.name) {
            let same = self
                .endpoints_of(&t)
                .ok()
                .and_then(|e| super::convert::to_profile(&t, &e).ok())
                .is_some_and(|made| &made == p);
            if same {
                return t;
            }
        }
        super::convert::from_profile(p, &self.source_names_of(p))
    }

    fn templates_dir(&self) -> PathBuf {
        self.dir.join("templates")
    }

    pub fn template_names(&self) -> Result<Vec<String>, DmError> {
        list(&self.templates_dir())
    }

    pub fn template(&self, name: &str) -> Result<Task, DmError> {
        Self::check_name("template", name)?;
        read(&self.templates_dir().join(format!("{name}.json")))?.ok_or_else(|| DmError::NotFound {
            kind: "task template",
            name: name.to_string(),
        })
    }

    /// Keeps a task template (a task's settings, without a job or passwords).
    pub fn save_template(&self, task: &Task) -> Result<(), DmError> {
        Self::check_name("template", &task.name)?;
        write(
            &self.templates_dir().join(format!("{}.json", task.name)),
            &stored_form(task),
        )
    }

    pub fn delete_template(&self, name: &str) -> Result<(), DmError> {
        self.template(name)?;
        std::fs::remove_file(self.templates_dir().join(format!("{name}.json")))
            .map_err(|e| storage("deleting the template", e))
    }

    pub fn delete_task(&self, name: &str) -> Result<(), DmError> {
        match std::fs::remove_file(self.tasks_dir().join(format!("{name}.json"))) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(storage("deleting the task", e)),
        }
    }
}

fn list(dir: &Path) -> Result<Vec<String>, DmError> {
    let mut names = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(storage(&format!("listing {}", dir.display()), e)),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "json") {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                names.push(stem.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// A task as it is kept on disk: without the target's password or a status.
fn stored_form(task: &Task) -> Task {
    let mut stored = task.clone();
    stored.target_config.password = None;
    stored.status_list = None;
    stored
}

/// A stored JSON file, `None` when there is none.
fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, DmError> {
    match std::fs::read_to_string(path) {
        Ok(t) => serde_json::from_str(&t)
            .map(Some)
            .map_err(|e| storage(&format!("parsing {}", path.display()), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(storage(&format!("reading {}", path.display()), e)),
    }
}

fn write<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), DmError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| storage("encoding", e))?;
    write_private(path, text.as_bytes())
}

/// Writes a file readable by its owner only, through a temporary file so a crash
/// never leaves half a file.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DmError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| storage(&format!("creating {}", dir.display()), e))?;
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options
            .open(&tmp)
            .map_err(|e| storage(&format!("writing {}", tmp.display()), e))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| storage(&format!("writing {}", tmp.display()), e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| storage(&format!("writing {}", path.display()), e))
}
