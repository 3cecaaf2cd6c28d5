//! Read-only looks at a job's servers: connection tests with server facts, and the
//! selected objects with their target names. The CLI's `connect` / `objects` and the
//! app's "Test connection" / object tree call these.

use mysql_async::prelude::Queryable;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::endpoint::Side;
use crate::endpoint::{Endpoint, ServerFacts};
use crate::error::{Coded, Report};
use crate::profile::{Profile, FIRST_SOURCE};
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
    let (account, stored_as) = profile.password_key(side);
    let password = secrets::resolve_password(account, stored_as)?;
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
    let (check, endpoint) = open_checked(profile, side, 1).await;
    if let Some(ep) = endpoint {
        ep.close().await;
    }
    check
}

/// The pool size a run opens each side with: its copy threads, and room for the
/// catalog's nine queries at once beside the job's own (its lock, its log, its
/// start-up reads): a query that waits for a connection waits a round trip more
/// at a distance. Pooled connections are opened only when used.
pub fn run_connections(profile: &Profile, side: Side) -> usize {
    let o = &profile.options;
    match side {
        Side::Source => o.export_threads + 3,
        Side::Target => o.import_threads + 3,
    }
    .max(16)
}

/// As [`check_connection`], keeping the side open (with a pool of
/// `max_connections`) when it could be reached.
pub async fn open_checked(
    profile: &Profile,
    side: Side,
    max_connections: usize,
) -> (ConnectionCheck, Option<Endpoint>) {
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
        let ep = open(profile, side, max_connections).await?;
        match ep.facts().await {
            Ok(facts) => Ok((ep, facts)),
            Err(e) => {
                ep.close().await;
                Err(FerryError::from(e))
            }
        }
    }
    .await;
    match result {
        Ok((ep, facts)) => {
            check.tls = ep.tls_active();
            check.facts = Some(facts);
            (check, Some(ep))
        }
        Err(e) => {
            check.error = Some(e.report());
            (check, None)
        }
    }
}

/// Both sides of a job, open, and what it selects on its source: what a precheck
/// read, handed to the run that follows it so the run does not open and read them
/// again (at a distance, each is round trips).
pub struct Opened {
    pub source: Endpoint,
    pub target: Endpoint,
    pub catalog: Catalog,
    pub selection: Selection,
    pub matcher: crate::rules::Matcher,
}

impl Opened {
    pub async fn close(self) {
        self.source.close().await;
        self.target.close().await;
    }
}

/// Lists what the job selects on its source, with target names.
pub async fn selected_objects(profile: &Profile) -> Result<Selection, FerryError> {
    let source = open(profile, Side::Source, 2).await?;
    let result = selected_on(&source, profile).await;
    source.close().await;
    result
}

/// What the rules select on each source of a job (`source` first, then each
/// `[[shards]]` source by name), read side by side: a job with several sources
/// previews its merged tables from these.
pub async fn selected_by_source(profile: &Profile) -> Result<Vec<(String, Selection)>, FerryError> {
    let members = profile.members();
    let selections = futures_util::future::try_join_all(members.iter().map(|m| async move {
        let label = m.source_label();
        let selection = selected_objects(m).await;
        match label {
            FIRST_SOURCE => selection,
            shard => selection.map_err(|e| e.of_shard(shard)),
        }
    }))
    .await?;
    Ok(members
        .iter()
        .map(|m| m.source_label().to_string())
        .zip(selections)
        .collect())
}

/// As [`selected_objects`], on an already open source.
pub async fn selected_on(source: &Endpoint, profile: &Profile) -> Result<Selection, FerryError> {
    Ok(read_selection(source, profile).await?.2)
}

/// The job's rules compiled for the source, the catalog of the schemas they
/// touch, and what they select there; a rule naming a schema or table the source
/// lacks is an error.
pub async fn read_selection(
    source: &Endpoint,
    profile: &Profile,
) -> Result<(crate::rules::Matcher, Catalog, Selection), FerryError> {
    let facts = source.facts().await?;
    let matcher = profile.objects.compile(facts.lower_case_table_names)?;
    // Schemas are filtered for reading; the unknown-name check needs every schema.
    // Both at once: at a distance each is round trips.
    let (catalog, all_schemas) = tokio::try_join!(
        Catalog::load(source, |s| matcher.touches_schema(s)),
        Catalog::load_schema_names(source),
    )?;
    matcher.check_against(
        catalog
            .tables
            .iter()
            .map(|t| (t.schema.as_str(), t.name.as_str())),
        &all_schemas,
    )?;
    let selection = matcher.select(&catalog);
    Ok((matcher, catalog, selection))
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
    /// A further source's error, said with its name.
    #[error("source “{shard}”: {cause}")]
    Shard {
        shard: String,
        #[source]
        cause: Box<FerryError>,
    },
}

impl FerryError {
    fn inner(&self) -> &dyn Coded {
        match self {
            FerryError::Endpoint(e) => e,
            FerryError::Secret(e) => e,
            FerryError::Profile(e) => e,
            FerryError::Catalog(e) => e,
            FerryError::Rules(e) => e,
            FerryError::Shard { cause, .. } => cause.inner(),
        }
    }

    /// The error as one source's among several (a `[[shards]]` member's).
    fn of_shard(self, shard: &str) -> FerryError {
        FerryError::Shard {
            shard: shard.to_string(),
            cause: Box::new(self),
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
        match self {
            // The job's rules name what only the first source has.
            FerryError::Shard { shard, cause } if matches!(**cause, FerryError::Rules(_)) => format!(
                "⟦cli:give [[shards]] {shard} rules of its own ([shards.objects])|app:give source “{shard}” its own tables and routes on the Objects page⟧, or fix the rule"
            ),
            _ => self.inner().remedy(),
        }
    }

    fn is_transient(&self) -> bool {
        self.inner().is_transient()
    }
}

/// The source's `CREATE TABLE` of `schema`.`table`, one of the tables the job
/// selects (`None` when the job selects no such table).
pub async fn selected_table_definition(
    profile: &Profile,
    schema: &str,
    table: &str,
) -> Result<Option<String>, FerryError> {
    let source = open(profile, Side::Source, 2).await?;
    let result = async {
        let selection = selected_on(&source, profile).await?;
        if !selection
            .tables
            .iter()
            .any(|t| t.schema == schema && t.name == table)
        {
            return Ok(None);
        }
        let mut conn = source.conn().await?;
        let row: Option<(String, String)> = conn
            .query_first(format!(
                "SHOW CREATE TABLE {}.{}",
                crate::mysql::quote(schema),
                crate::mysql::quote(table)
            ))
            .await
            .map_err(|e| source.query_error(e))?;
        Ok(row.map(|(_, create)| create))
    }
    .await;
    source.close().await;
    result
}
