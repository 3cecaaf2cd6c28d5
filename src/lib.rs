//! Ferry's migration engine. The `ferry` CLI and the desktop app are thin adapters
//! over this API and the same progress-event stream.

pub mod catalog;
pub mod checkpoint;
pub mod control;
pub mod cutover;
pub mod dm;
pub mod endpoint;
pub mod error;
pub mod events;
pub mod failpoint;
pub mod gtid;
pub mod inspect;
pub mod job;
pub mod mysql;
pub mod position;
pub mod precheck;
pub mod process;
pub mod profile;
pub mod queue;
pub mod replicate;
pub mod report;
pub mod reverse;
pub mod rules;
pub mod secrets;
pub mod shard;
pub mod snapshot;
pub mod target;
pub mod verify;
pub mod wording;

pub use catalog::Catalog;
pub use endpoint::Side;
pub use endpoint::{Endpoint, EndpointConfig, ServerFacts, TlsMode};
pub use error::{Coded, Report};
pub use inspect::FerryError;
pub use profile::{Mode, Profile, ProfileStore};
pub use rules::{ObjectRules, Selection};

/// The engine version, shown by the CLI and the app.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
