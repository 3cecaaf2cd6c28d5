//! Read-only looks at a job's servers: connection tests with server facts, and the
//! selected objects with their target names. The CLI's `connect` / `objects` and the
//! app's "Test connection" / object tree call these.

use serde::Serialize;

use crate::catalog::Catalog;
use crate::endpoint::Side;
use crate::endpoint::{Endpoint, ServerFacts};
use crate::error::{Coded, Report};
use crate::profile::Profile;
use crate::rules::Selection;
use crate::secrets;

/// Opens one side of a job with its password from the environment or the keyring.
pub async fn open(
    profile: &Profile,
    side: Side,
    max_connections: usize,
) -> Result<Endpoint, FerryError> {
    let config = match side {
        Side::Source => &profile.source,
        Side::Target => &profile.target,
    };
    let password = secrets::resolve_password(profile.keyring_name(side), side)?;
    Ok(Endpoint::open(side, config, password.as_deref(), max_connections).await?)
}

/// The outcome of testing one endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionCheck {
    pub side: Side,
    pub address: String,
    pub user: String,
    pub tls: bool,
    pub facts: Option<ServerFacts>,
    pub error: Option<Report>,
}

impl ConnectionCheck {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Connects to one side and reads its facts; failures are part of the answer.
pub async fn check_connection(profile: &Profile, side: Side) -> ConnectionCheck {
    let config = match side {
        Side::Source => &profile.source,
        Side::Target => &profile.target,
    };
    let mut check = ConnectionCheck {
        side,
        address: config.address(),
        user: config.user.clone(),
        tls: false,
        facts: None,
        error: None,
    };
    let result = async {
        let ep = open(profile, side, 1).await?;
        let facts = ep.facts().await;
        let tls = ep.tls_active();
        ep.close().await;
        Ok::<_, FerryError>((tls, facts?))
    }
    .await;
    match result {
        Ok((tls, facts)) => {
            check.tls = tls;
            check.facts = Some(facts);
        }
        Err(e) => check.error = Some(e.report()),
    }
    check
}

/// Lists what the job selects on its source, with target names.
pub async fn selected_objects(profile: &Profile) -> Result<Selection, FerryError> {
    let source = open(profile, Side::Source, 2).await?;
    let result = selected_on(&source, profile).await;
    source.close().await;
    result
}

/// As [`selected_objects`], on an already open source.
pub async fn selected_on(source: &Endpoint, profile: &Profile) -> Result<Selection, FerryError> {
    let facts = source.facts().await?;
    let matcher = profile.objects.compile(facts.lower_case_table_names)?;
    let catalog = Catalog::load(source, |s| matcher.touches_schema(s)).await?;
    // Schemas are filtered for reading; the unknown-name check needs every schema.
    let all_schemas = Catalog::load_schema_names(source).await?;
    matcher.check_against(
        catalog
            .tables
            .iter()
            .map(|t| (t.schema.as_str(), t.name.as_str())),
        &all_schemas,
    )?;
    Ok(matcher.select(&catalog))
}

/// Any engine error, for API entry points that cross module boundaries. The code,
/// message and remedy are those of the module error inside.
#[derive(Debug, thiserror::Error)]
pub enum FerryError {
    #[error(transparent)]
    Endpoint(#[from] crate::endpoint::EndpointError),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error(transparent)]
    Rules(#[from] crate::rules::RulesError),
}

impl FerryError {
    fn inner(&self) -> &dyn Coded {
        match self {
            FerryError::Endpoint(e) => e,
            FerryError::Secret(e) => e,
            FerryError::Profile(e) => e,
            FerryError::Catalog(e) => e,
            FerryError::Rules(e) => e,
        }
    }

    pub fn report(&self) -> Report {
        Report::from_error(self)
    }
}

impl Coded for FerryError {
    fn code(&self) -> &'static str {
        self.inner().code()
    }

    fn remedy(&self) -> String {
        self.inner().remedy()
    }

    fn is_transient(&self) -> bool {
        self.inner().is_transient()
    }
}
