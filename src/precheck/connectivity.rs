//! Connectivity, authentication and TLS of each endpoint.

use super::Check;
use crate::inspect::ConnectionCheck;

pub fn connect(c: &ConnectionCheck) -> Check {
    let id = format!("connect.{}", c.side.as_str());
    let title = format!("Connect to the {}", c.side);
    match (&c.facts, &c.error) {
        (Some(f), _) => Check::pass(
            &id,
            &title,
            format!(
                "{:?} {} at {} as {}",
                f.flavor, f.version, c.address, c.user
            ),
        ),
        (None, Some(e)) => Check::fail(
            &id,
            &title,
            format!("{} ({})", e.message, e.code),
            e.remedy.clone(),
        ),
        (None, None) => Check::fail(&id, &title, "no answer", "check the endpoint settings"),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

/// `None` for a side that could not be reached: its connection check fails
/// already, and a second failure for the same cause would count it twice.
pub fn tls(c: &ConnectionCheck) -> Option<Check> {
    let id = format!("tls.{}", c.side.as_str());
    let title = format!("Encryption to the {}", c.side);
    let host = c
        .address
        .rsplit_once(':')
        .map_or(c.address.as_str(), |(h, _)| h);
    Some(match (&c.facts, c.tls) {
        (None, _) => return None,
        (Some(f), true) => Check::pass(
            &id,
            &title,
            format!("TLS in use ({})", f.tls_version.clone().unwrap_or_default()),
        ),
        (Some(_), false) if is_loopback(host.trim_matches(|c| c == '[' || c == ']')) => {
            Check::pass(&id, &title, "plain TCP on the loopback interface")
        }
        (Some(_), false) => Check::warn(
            &id,
            &title,
            format!("data and credentials cross the network to {} unencrypted", c.address),
            format!("enable TLS on the {} server and ⟦cli:set tls = \"required\" (or verify-ca) in the profile|app:choose TLS required (or verify-ca) on the Connect page⟧", c.side),
        ),
    })
}
