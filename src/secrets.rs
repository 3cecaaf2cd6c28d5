//! Passwords: the OS keyring, never a file or a log line.
//!
//! Each profile keeps two entries under the service `ferry`, accounts
//! `<profile>/source` and `<profile>/target`. On Linux the desktop Secret Service
//! (GNOME Keyring, KWallet) is used when one answers on the session bus; otherwise
//! the kernel's keyutils store (session keyring), which servers and CI machines
//! always have. `FERRY_KEYRING=secret-service|keyutils` forces one. For the CLI and
//! CI, `FERRY_SOURCE_PASSWORD` / `FERRY_TARGET_PASSWORD` override the keyring.

use std::sync::OnceLock;

use keyring::Entry;

use crate::error::{Coded, Side};

pub const SERVICE: &str = "ferry";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the OS keyring ({store}) could not {action} the {side} password of profile '{profile}': {cause}")]
    Keyring {
        store: &'static str,
        action: &'static str,
        side: Side,
        profile: String,
        cause: String,
    },
}

impl Coded for SecretError {
    fn code(&self) -> &'static str {
        "secrets.keyring"
    }

    fn remedy(&self) -> String {
        let SecretError::Keyring { side, .. } = self;
        format!(
            "unlock the desktop keyring (or set FERRY_KEYRING=keyutils to use the kernel store), or pass the password in {} for this run",
            side.password_env()
        )
    }
}

/// Which credential store holds Ferry's passwords on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Platform,
    #[cfg(target_os = "linux")]
    SecretService,
    #[cfg(target_os = "linux")]
    Keyutils,
}

impl Store {
    pub fn name(self) -> &'static str {
        match self {
            Store::Platform => "platform keychain",
            #[cfg(target_os = "linux")]
            Store::SecretService => "Secret Service",
            #[cfg(target_os = "linux")]
            Store::Keyutils => "kernel keyutils",
        }
    }
}

/// The store chosen for this process (probed once).
pub fn store() -> Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    *STORE.get_or_init(choose_store)
}

#[cfg(target_os = "linux")]
fn choose_store() -> Store {
    match std::env::var("FERRY_KEYRING").as_deref() {
        Ok("keyutils") => return Store::Keyutils,
        Ok("secret-service") => return Store::SecretService,
        _ => {}
    }
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        return Store::Keyutils;
    }
    // A bus without a running Secret Service fails here, not with NoEntry.
    let probe = keyring::secret_service::SsCredential::new_with_target(None, SERVICE, "probe")
        .map(|c| Entry::new_with_credential(Box::new(c)));
    match probe.map(|e| e.get_password()) {
        Ok(Ok(_)) | Ok(Err(keyring::Error::NoEntry)) => Store::SecretService,
        _ => Store::Keyutils,
    }
}

#[cfg(not(target_os = "linux"))]
fn choose_store() -> Store {
    Store::Platform
}

fn account(profile: &str, side: Side) -> String {
    format!("{profile}/{}", side.as_str())
}

fn entry(profile: &str, side: Side) -> keyring::Result<Entry> {
    let user = account(profile, side);
    match store() {
        Store::Platform => Entry::new(SERVICE, &user),
        #[cfg(target_os = "linux")]
        Store::SecretService => {
            keyring::secret_service::SsCredential::new_with_target(None, SERVICE, &user)
                .map(|c| Entry::new_with_credential(Box::new(c)))
        }
        #[cfg(target_os = "linux")]
        Store::Keyutils => {
            keyring::keyutils::KeyutilsCredential::new_with_target(None, SERVICE, &user)
                .map(|c| Entry::new_with_credential(Box::new(c)))
        }
    }
}

fn wrap(action: &'static str, profile: &str, side: Side, e: keyring::Error) -> SecretError {
    SecretError::Keyring {
        store: store().name(),
        action,
        side,
        profile: profile.to_string(),
        cause: e.to_string(),
    }
}

/// Stores (or replaces) a password.
pub fn set_password(profile: &str, side: Side, password: &str) -> Result<(), SecretError> {
    entry(profile, side)
        .and_then(|e| e.set_password(password))
        .map_err(|e| wrap("store", profile, side, e))
}

/// The stored password, or `None` when the profile has none for this side.
pub fn get_password(profile: &str, side: Side) -> Result<Option<String>, SecretError> {
    match entry(profile, side).and_then(|e| e.get_password()) {
        Ok(p) => Ok(Some(p)),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(wrap("read", profile, side, e)),
    }
}

/// Forgets a password; forgetting one that is not there is not an error.
pub fn delete_password(profile: &str, side: Side) -> Result<(), SecretError> {
    match entry(profile, side).and_then(|e| e.delete_credential()) {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(wrap("delete", profile, side, e)),
    }
}

/// The password to connect with: the environment override first, then the keyring
/// entry of the profile, else none (accounts without a password).
pub fn resolve_password(profile: &str, side: Side) -> Result<Option<String>, SecretError> {
    if let Ok(p) = std::env::var(side.password_env()) {
        return Ok(Some(p));
    }
    get_password(profile, side)
}
