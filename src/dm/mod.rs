//! TiDB DM compatibility: DM's OpenAPI resources (`model`), DM tasks as Ferry
//! jobs (`convert`), and where sources and the DM side of tasks are kept
//! (`store`). The HTTP server (`ferry serve`) is an adapter over these and the
//! engine's job API.

pub mod client;
pub mod convert;
pub mod model;
pub mod store;
pub mod yaml;

use crate::endpoint::Side;
use crate::error::Coded;
use crate::profile::Profile;

/// The DM sources and task a job is handed to a DM cluster as: each source's
/// registered DM source (made through `ferry serve`) or one made from the job
/// (`<job>-source` for `[source]`, the shard's name for each of `[[shards]]`),
/// and its task; with the job's passwords from the keyring when `with_passwords`.
pub fn hand_off(
    profile: &Profile,
    store: &store::DmStore,
    with_passwords: bool,
) -> Result<(Vec<model::Source>, model::Task), DmError> {
    let made = |name: &str, ep: &crate::profile::EndpointConfig| model::Source {
        source_name: name.to_string(),
        host: ep.host.clone(),
        port: ep.port,
        user: ep.user.clone(),
        password: None,
        enable_gtid: false,
        enable: true,
        flavor: None,
        task_name_list: None,
        security: None,
        purge: None,
        status_list: None,
        relay_config: None,
        case_sensitive: None,
    };
    // A DM task selects by its rules alone: what a job leaves out by `exclude`
    // would be migrated there.
    if let Some(m) = profile
        .members()
        .into_iter()
        .find(|m| !m.objects.exclude.is_empty())
    {
        return Err(DmError::unsupported(format!(
            "[objects] exclude ({}) of source {}: a DM task has no exclusions; name the tables to migrate in include instead",
            m.objects.exclude.join(", "),
            m.source_label()
        )));
    }
    let mut sources = Vec::new();
    let mut names = Vec::new();
    for (i, member) in profile.members().iter().enumerate() {
        let registered = if i == 0 {
            store.registered_source_of(profile)
        } else {
            Some(member.source_label().to_string()).filter(|n| store.source_exists(n))
        };
        let mut source = match &registered {
            Some(name) => store.source(name)?,
            None if i == 0 => made(&format!("{}-source", profile.name), &member.source),
            None => made(member.source_label(), &member.source),
        };
        if with_passwords {
            source.password =
                crate::secrets::resolve_password(member.keyring_name(Side::Source), Side::Source)
                    .map_err(|e| DmError::Storage(e.to_string()))?;
        }
        names.push(source.source_name.clone());
        sources.push(source);
    }
    let mut task = if store.registered_source_of(profile).is_some() {
        store.task_of(profile)
    } else {
        convert::from_profile(profile, &names)
    };
    if with_passwords {
        task.target_config.password =
            crate::secrets::resolve_password(profile.keyring_name(Side::Target), Side::Target)
                .map_err(|e| DmError::Storage(e.to_string()))?;
    }
    Ok((sources, task))
}

/// What the DM API refuses, with a stable code and a number for DM's
/// `error_code`.
#[derive(Debug, thiserror::Error)]
pub enum DmError {
    #[error("{0}")]
    Invalid(String),
    #[error("not supported by Ferry: {0}")]
    Unsupported(String),
    #[error("{kind} \"{name}\" does not exist")]
    NotFound { kind: &'static str, name: String },
    #[error("{kind} \"{name}\" already exists")]
    Exists { kind: &'static str, name: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Storage(String),
    /// A DM master (`ferry dm push`, the app's DM cluster option) did not
    /// answer, or refused what it was sent.
    #[error("{0}")]
    Master(String),
}

impl DmError {
    pub fn invalid(msg: String) -> DmError {
        DmError::Invalid(msg)
    }

    pub fn unsupported(msg: String) -> DmError {
        DmError::Unsupported(msg)
    }

    /// DM's numeric `error_code` for this error (stable; listed in README).
    pub fn number(&self) -> i64 {
        match self {
            DmError::Invalid(_) => 10000,
            DmError::Unsupported(_) => 10001,
            DmError::NotFound { .. } => 10002,
            DmError::Exists { .. } => 10003,
            DmError::Conflict(_) => 10004,
            DmError::Storage(_) => 10007,
            DmError::Master(_) => 10011,
        }
    }
}

impl Coded for DmError {
    fn code(&self) -> &'static str {
        match self {
            DmError::Invalid(_) => "dm.invalid",
            DmError::Unsupported(_) => "dm.unsupported",
            DmError::NotFound { .. } => "dm.not_found",
            DmError::Exists { .. } => "dm.exists",
            DmError::Conflict(_) => "dm.conflict",
            DmError::Storage(_) => "dm.storage",
            DmError::Master(_) => "dm.master",
        }
    }

    fn remedy(&self) -> String {
        match self {
            DmError::Invalid(_) => {
                "correct the request body (DM's field names, see /api/v1/dm.json)".into()
            }
            DmError::Unsupported(_) => {
                "leave the setting out, or use what the message suggests".into()
            }
            DmError::NotFound { kind, .. } => {
                format!("create the {kind} first, or check its name (GET lists them)")
            }
            DmError::Exists { kind, .. } => {
                format!("choose another name, or update the {kind} with PUT")
            }
            DmError::Conflict(_) => "stop the task first".into(),
            DmError::Storage(_) => {
                "check that the configuration directory is writable and the keyring unlocked".into()
            }
            DmError::Master(_) => "check the DM master's address⟦cli: (--master)|app: on the Options page⟧ and that it runs; when it refused the job, do what its message says, then try again".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{phrase, Audience};

    #[test]
    fn a_dm_master_problem_is_phrased_for_where_the_user_is() {
        let e = DmError::Master("the DM master at http://x:8261 did not answer".into());
        let app = phrase(&e.remedy(), Audience::App);
        assert!(
            app.contains("Options page") && !app.contains("--master"),
            "{app}"
        );
        assert!(phrase(&e.remedy(), Audience::Cli).contains("--master"));
    }
}
