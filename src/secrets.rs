//! Passwords: the OS keyring, never a file or a log line.
//!
//! Each profile keeps two entries under the service `ferry`, accounts
//! `<profile>/source` and `<profile>/target`. On Linux the desktop Secret Service
//! (GNOME Keyring, KWallet) is used when one answers on the session bus; otherwise
//! the kernel's key store: the per-user keyring, linked to the user's persistent
//! keyring so entries outlive the process (servers, CI, ssh sessions). Kernel keys
//! stay in memory only: they are gone after a reboot, and `ferry` says "not stored". `FERRY_KEYRING=secret-service|keyutils` forces one. For the CLI and
//! CI, `FERRY_SOURCE_PASSWORD` / `FERRY_TARGET_PASSWORD` override the keyring.

use std::sync::OnceLock;

use keyring::Entry;

use crate::endpoint::Side;
use crate::error::Coded;

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
        let SecretError::Keyring { side, store, .. } = self;
        #[cfg(target_os = "linux")]
        if *store == Store::Keyutils.name() {
            // Already the kernel store: pointing at it again would not help.
            return format!(
                "the kernel key store refused it (its quota is full, or this container gives no user keyring): ⟦cli:check `keyctl show @u` and free keys with `keyctl purge user ferry:`, or pass the password in {} for this run|app:log out and in again (a new session gets a new keyring), or ask the machine's administrator about the key quota, then try again⟧",
                side.password_env()
            );
        }
        let _ = store;
        format!(
            "unlock the desktop keyring⟦cli: (or set FERRY_KEYRING=keyutils to use the kernel store), or pass the password in {} for this run|app: (your session's keyring, e.g. GNOME Keyring or KWallet), then try again⟧",
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
        #[cfg(target_os = "linux")]
        Store::SecretService => {
            keyring::secret_service::SsCredential::new_with_target(None, SERVICE, &user)
                .map(|c| Entry::new_with_credential(Box::new(c)))
        }
        _ => Entry::new(SERVICE, &user),
    }
}

/// The kernel key store, per user.
#[cfg(target_os = "linux")]
mod kernel {
    use linux_keyutils::{KeyError, KeyRing, KeyRingIdentifier};

    fn description(account: &str) -> String {
        format!("{}:{account}", super::SERVICE)
    }

    fn user_keyring() -> Result<KeyRing, KeyError> {
        KeyRing::from_special_id(KeyRingIdentifier::User, true)
    }

    pub fn set(account: &str, secret: &str) -> Result<(), KeyError> {
        let ring = user_keyring()?;
        let key = ring.add_key(&description(account), secret.as_bytes())?;
        // The persistent keyring keeps the key after the user's last process ends
        // (until it expires unused); not every kernel has it, so it is best effort.
        if let Ok(persistent) = KeyRing::get_persistent(KeyRingIdentifier::User) {
            let _ = persistent.link_key(key);
        }
        Ok(())
    }

    pub fn get(account: &str) -> Result<Option<String>, KeyError> {
        let ring = user_keyring()?;
        match ring.search(&description(account)) {
            Ok(key) => {
                let bytes = key.read_to_vec()?;
                Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Err(KeyError::KeyDoesNotExist) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn delete(account: &str) -> Result<(), KeyError> {
        let ring = user_keyring()?;
        match ring.search(&description(account)) {
            Ok(key) => key.invalidate(),
            Err(KeyError::KeyDoesNotExist) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn wrap(action: &'static str, profile: &str, side: Side, cause: String) -> SecretError {
    SecretError::Keyring {
        store: store().name(),
        action,
        side,
        profile: profile.to_string(),
        cause,
    }
}

/// Stores (or replaces) a password. An empty one means the account logs in
/// without a password: nothing is stored (a stored one is forgotten), which is
/// what logging in without one reads back — and the kernel keyring refuses empty
/// secrets.
pub fn set_password(profile: &str, side: Side, password: &str) -> Result<(), SecretError> {
    if password.is_empty() {
        return delete_password(profile, side);
    }
    #[cfg(target_os = "linux")]
    if store() == Store::Keyutils {
        return kernel::set(&account(profile, side), password)
            .map_err(|e| wrap("store", profile, side, format!("{e:?}")));
    }
    entry(profile, side)
        .and_then(|e| e.set_password(password))
        .map_err(|e| wrap("store", profile, side, e.to_string()))
}

/// The stored password, or `None` when the profile has none for this side.
pub fn get_password(profile: &str, side: Side) -> Result<Option<String>, SecretError> {
    #[cfg(target_os = "linux")]
    if store() == Store::Keyutils {
        return kernel::get(&account(profile, side))
            .map_err(|e| wrap("read", profile, side, format!("{e:?}")));
    }
    match entry(profile, side).and_then(|e| e.get_password()) {
        Ok(p) => Ok(Some(p)),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(wrap("read", profile, side, e.to_string())),
    }
}

/// Forgets a password; forgetting one that is not there is not an error.
pub fn delete_password(profile: &str, side: Side) -> Result<(), SecretError> {
    #[cfg(target_os = "linux")]
    if store() == Store::Keyutils {
        return kernel::delete(&account(profile, side))
            .map_err(|e| wrap("delete", profile, side, format!("{e:?}")));
    }
    match entry(profile, side).and_then(|e| e.delete_credential()) {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(wrap("delete", profile, side, e.to_string())),
    }
}

/// The bearer token of `ferry serve` (made on first use): a fixed keyring entry
/// that no job's entries can meet (job names start with a letter).
pub fn api_token() -> Result<String, SecretError> {
    const HOLDER: &str = "@serve";
    if let Some(t) = get_password(HOLDER, Side::Target)? {
        return Ok(t);
    }
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| wrap("make", HOLDER, Side::Target, e.to_string()))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    set_password(HOLDER, Side::Target, &token)?;
    Ok(token)
}

/// The password to connect with: the environment override first, then the keyring
/// entry of the profile, else none (accounts without a password).
pub fn resolve_password(profile: &str, side: Side) -> Result<Option<String>, SecretError> {
    if let Ok(p) = std::env::var(side.password_env()) {
        return Ok(Some(p));
    }
    get_password(profile, side)
}
