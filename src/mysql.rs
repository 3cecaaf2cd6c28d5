//! Small MySQL helpers every module may use: identifier quoting, and the one place
//! that decides whether a server or connection error may heal by itself.

/// Quotes an identifier with backticks, doubling any backtick inside.
pub fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// What a MySQL error means for the work that met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The link broke or the server is busy or failing over: reconnect and go on
    /// from the last checkpoint.
    Transient,
    /// The server rolled the transaction back to break a lock conflict (deadlock
    /// victim, lock wait timeout): running it again succeeds.
    LockConflict,
    /// A refusal that no retry changes (privileges, a bad statement, data the
    /// server rejects, a packet over the protocol's limit): stop and say why.
    Definite,
}

/// Server codes that heal by themselves: too many connections (1040), shutdown
/// in progress (1053), query or connection killed (1317, 1927), read-only during a
/// failover (1290), connection lost (2006, 2013), the server going away (4031).
const TRANSIENT_CODES: &[u16] = &[1040, 1053, 1290, 1317, 1927, 2006, 2013, 4031];

/// Deadlock victim (1213) and lock wait timeout (1205).
const LOCK_CONFLICT_CODES: &[u16] = &[1205, 1213];

/// Classifies `e`. Every retry loop of the engine asks this, nothing else.
pub fn class(e: &mysql_async::Error) -> Class {
    use mysql_async::{DriverError, Error};
    match e {
        // A packet over the client's limit is read again the same way each time.
        Error::Io(io) if io.to_string().contains("larger than max_allowed_packet") => {
            Class::Definite
        }
        Error::Io(_) => Class::Transient,
        Error::Driver(DriverError::ConnectionClosed | DriverError::PoolDisconnected) => {
            Class::Transient
        }
        Error::Server(se) if LOCK_CONFLICT_CODES.contains(&se.code) => Class::LockConflict,
        Error::Server(se) if TRANSIENT_CODES.contains(&se.code) => Class::Transient,
        _ => Class::Definite,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: u16) -> mysql_async::Error {
        mysql_async::Error::Server(mysql_async::ServerError {
            code,
            message: "m".into(),
            state: "HY000".into(),
        })
    }

    #[test]
    fn errors_are_classified_once() {
        assert_eq!(class(&server(2013)), Class::Transient);
        assert_eq!(class(&server(1213)), Class::LockConflict);
        assert_eq!(class(&server(1205)), Class::LockConflict);
        assert_eq!(class(&server(1045)), Class::Definite);
        assert_eq!(class(&server(1062)), Class::Definite);
        assert_eq!(quote("a`b"), "`a``b`");
    }
}
