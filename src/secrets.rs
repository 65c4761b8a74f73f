//! The terminal's secret store (SPEC.md §4, §7): the terminal token, the cache key and the
//! bridge key live here and nowhere else.
//!
//! Three backends sit behind one trait, [`SecretStore`]:
//! - [`KeyringStore`] — the OS keyring (the Secret Service over D-Bus on Linux, Keychain on
//!   macOS, Credential Manager on Windows). The default, and the right choice on a desktop.
//! - [`FileVault`] — the fallback for a headless till that has no secret service: one file
//!   per secret in a directory the installer names explicitly (`file:/path`). It keeps the
//!   secrets away from other users (directory 0700, files 0600) and out of the config file,
//!   the database, the environment and the logs. It does **not** protect against root or
//!   against anyone who can read the disk: the files are plain text to their owner.
//! - [`MemoryStore`] — an in-process twin for tests and the demo; it forgets on exit.
//!
//! What this module never does: fall back from the keyring to a file on its own (the
//! installer chooses, [`open`] only explains), invent a default directory (so the config
//! directory cannot become the vault by accident), read or write an environment variable,
//! log anything, or put a secret value into an error, a `Debug` or a `Display`.
//!
//! The keyring and the file calls block; async code calls them from `spawn_blocking`.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The keyring service name every entry is filed under.
pub const SERVICE: &str = "bonuskassa";

/// The secrets the terminal keeps. A closed set on purpose: nothing else belongs here, and a
/// closed set means a name can never be built from user input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretName {
    /// The token the server issued at enrollment.
    TerminalToken,
    /// The key of the keyed hashes in the customer cache.
    CacheKey,
    /// The key the cash register's bridge requests must carry.
    BridgeKey,
}

impl SecretName {
    /// Every secret, for installers and for `delete all` on decommissioning.
    pub const ALL: [SecretName; 3] = [
        SecretName::TerminalToken,
        SecretName::CacheKey,
        SecretName::BridgeKey,
    ];

    /// The keyring user name and the vault file name. Stable: changing it orphans the
    /// secrets of every enrolled till.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretName::TerminalToken => "terminal-token",
            SecretName::CacheKey => "cache-key",
            SecretName::BridgeKey => "bridge-key",
        }
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret's text. `Debug` and `Display` print `***`; the value is reachable only through
/// [`SecretValue::expose`], and the buffer is overwritten with zeros when it is dropped so a
/// later heap dump or reused allocation does not carry it.
///
/// There is deliberately no `PartialEq`: comparing a presented key with a stored one must
/// be constant-time, and that belongs to the code that does it.
#[derive(Clone)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a secret. The caller's `String` moves in, so no unzeroed copy is left behind.
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(value.into())
    }

    /// The raw secret, for the one place that sends or uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True for the empty string, which no store accepts.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for SecretValue {
    fn drop(&mut self) {
        // `into_bytes` keeps the allocation, so the zeros land on the very bytes that held
        // the secret.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        wipe(&mut bytes);
    }
}

/// Overwrites a buffer's whole allocation (length and spare capacity) with zeros. Volatile
/// writes, because the optimiser may otherwise drop stores to memory about to be freed.
fn wipe(buf: &mut Vec<u8>) {
    for byte in buf.iter_mut() {
        // SAFETY: `byte` is a valid, aligned, exclusive reference into the buffer.
        unsafe { std::ptr::write_volatile(byte, 0) };
    }
    // Spare capacity can hold an earlier, longer value (a `String` that shrank).
    for byte in buf.spare_capacity_mut() {
        // SAFETY: as above; writing an initialised `MaybeUninit` is always allowed.
        unsafe { std::ptr::write_volatile(byte, std::mem::MaybeUninit::new(0)) };
    }
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
}

/// Why a secret could not be read, written or deleted. The messages name the secret and
/// the place, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The OS keyring cannot be reached; the installer has to decide what happens instead.
    #[error(
        "the os keyring is unavailable ({reason}); on a till without a secret service choose \
         the file fallback explicitly with the secrets backend `file:/absolute/dir`"
    )]
    KeyringUnavailable { reason: String },
    /// The keyring answered with an error for one entry.
    #[error("keyring: cannot {op} {name}: {reason}")]
    Keyring {
        op: &'static str,
        name: SecretName,
        reason: String,
    },
    /// A file operation of the vault failed.
    #[error("secret vault: cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The vault directory or a secret file can be reached by other users.
    #[error(
        "secret vault: {} is accessible by group or others (mode {mode:o}); it must be \
         {wanted:o} and owned by the till's user",
        path.display()
    )]
    Insecure {
        path: PathBuf,
        mode: u32,
        wanted: u32,
    },
    /// The vault path is not an absolute directory path.
    #[error("secret vault: {} {problem}", path.display())]
    BadVaultPath {
        path: PathBuf,
        problem: &'static str,
    },
    /// A stored secret cannot be read back as text.
    #[error("stored {name} is corrupt: {problem}")]
    Corrupt {
        name: SecretName,
        problem: &'static str,
    },
    /// Stores refuse empty secrets: an empty token is always a bug upstream.
    #[error("refusing to store an empty {0}")]
    Empty(SecretName),
    /// The secrets backend setting could not be parsed.
    #[error("unknown secrets backend `{0}`: expected `keyring`, `file:/absolute/dir` or `memory`")]
    BadBackend(String),
}

/// One place where secrets are kept. Implementations are cheap to share across threads.
pub trait SecretStore: Send + Sync {
    /// The secret, or `None` if it was never set or has been deleted.
    fn get(&self, name: SecretName) -> Result<Option<SecretValue>, SecretError>;
    /// Stores or replaces the secret.
    fn set(&self, name: SecretName, value: &SecretValue) -> Result<(), SecretError>;
    /// Forgets the secret; deleting a missing secret is not an error.
    fn delete(&self, name: SecretName) -> Result<(), SecretError>;
    /// A short human description for status screens and logs (never a path or a value).
    fn describe(&self) -> &'static str;
}

// ---------------------------------------------------------------------------------------
// OS keyring

/// The OS keyring via the `keyring` crates.
pub struct KeyringStore {
    store: Arc<keyring_core::CredentialStore>,
}

impl KeyringStore {
    /// Connects to the platform keyring, once per process (the `keyring` crate caches the
    /// outcome). On Linux this is a real round trip to the Secret Service, so a headless
    /// till without one gets [`SecretError::KeyringUnavailable`] here rather than later.
    pub fn open_os() -> Result<Self, SecretError> {
        if let Err(err) = keyring::Entry::store_status() {
            return Err(SecretError::KeyringUnavailable {
                reason: describe_keyring_error(err),
            });
        }
        // `store_status` installed the platform store as keyring-core's default; we keep our
        // own handle so later entries are built from it explicitly.
        let store =
            keyring_core::get_default_store().ok_or_else(|| SecretError::KeyringUnavailable {
                reason: "no platform credential store was installed".to_owned(),
            })?;
        Ok(KeyringStore { store })
    }

    /// Uses a given credential store, e.g. `keyring_core::mock::Store::new()` in tests.
    pub fn with_store(store: Arc<keyring_core::CredentialStore>) -> Self {
        KeyringStore { store }
    }

    fn entry(
        &self,
        op: &'static str,
        name: SecretName,
    ) -> Result<keyring_core::Entry, SecretError> {
        self.store
            .build(SERVICE, name.as_str(), None)
            .map_err(|err| keyring_error(op, name, err))
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, name: SecretName) -> Result<Option<SecretValue>, SecretError> {
        match self.entry("read", name)?.get_password() {
            Ok(value) => Ok(Some(SecretValue::new(value))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(err) => Err(keyring_error("read", name, err)),
        }
    }

    fn set(&self, name: SecretName, value: &SecretValue) -> Result<(), SecretError> {
        if value.is_empty() {
            return Err(SecretError::Empty(name));
        }
        self.entry("write", name)?
            .set_password(value.expose())
            .map_err(|err| keyring_error("write", name, err))
    }

    fn delete(&self, name: SecretName) -> Result<(), SecretError> {
        match self.entry("delete", name)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(err) => Err(keyring_error("delete", name, err)),
        }
    }

    fn describe(&self) -> &'static str {
        "os keyring"
    }
}

fn keyring_error(op: &'static str, name: SecretName, err: keyring_core::Error) -> SecretError {
    SecretError::Keyring {
        op,
        name,
        reason: describe_keyring_error(&err),
    }
}

/// Turns a keyring error into text without the raw bytes some variants carry: `BadEncoding`
/// and `BadDataFormat` hold the stored blob, which is the secret itself.
fn describe_keyring_error(err: &keyring_core::Error) -> String {
    use keyring_core::Error as E;
    match err {
        E::PlatformFailure(inner) => format!("platform failure: {inner}"),
        E::NoStorageAccess(inner) => format!("no access to the credential store: {inner}"),
        E::NoEntry => "no such entry".to_owned(),
        E::BadEncoding(_) => "the stored value is not utf-8".to_owned(),
        E::BadDataFormat(_, _) => "the stored value is malformed".to_owned(),
        E::BadStoreFormat(_) => "the credential store is malformed".to_owned(),
        E::Ambiguous(entries) => format!("{} entries match", entries.len()),
        E::NoDefaultStore => "no credential store is available on this system".to_owned(),
        E::NotSupportedByStore(what) => format!("not supported: {what}"),
        // The remaining variants (`Invalid`, `TooLong`, future ones) describe parameters,
        // which are our service and entry names, not the value.
        other => other.to_string().to_lowercase(),
    }
}

// ---------------------------------------------------------------------------------------
// In-memory twin

/// Secrets in process memory: for tests and the demo. Nothing survives a restart.
#[derive(Default)]
pub struct MemoryStore {
    secrets: Mutex<HashMap<SecretName, SecretValue>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SecretName, SecretValue>> {
        // A panic while holding the lock cannot leave the map half-updated (each operation
        // is one map call), so a poisoned lock is still consistent.
        self.secrets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SecretStore for MemoryStore {
    fn get(&self, name: SecretName) -> Result<Option<SecretValue>, SecretError> {
        Ok(self.lock().get(&name).cloned())
    }

    fn set(&self, name: SecretName, value: &SecretValue) -> Result<(), SecretError> {
        if value.is_empty() {
            return Err(SecretError::Empty(name));
        }
        self.lock().insert(name, value.clone());
        Ok(())
    }

    fn delete(&self, name: SecretName) -> Result<(), SecretError> {
        self.lock().remove(&name);
        Ok(())
    }

    fn describe(&self) -> &'static str {
        "memory (not persistent)"
    }
}

// ---------------------------------------------------------------------------------------
// File vault: the explicit fallback for headless tills

/// Mode of the vault directory: the till's user only.
pub const VAULT_DIR_MODE: u32 = 0o700;
/// Mode of each secret file: the till's user only, read and write.
pub const VAULT_FILE_MODE: u32 = 0o600;

/// One file per secret in a directory the installer chose (see the module doc for what it
/// protects against and what it does not).
///
/// Writes go to a temporary file in the same directory, are fsynced, renamed over the old
/// file and the directory is fsynced, so a crash leaves either the old or the new secret,
/// never a torn one.
#[derive(Debug)]
pub struct FileVault {
    dir: PathBuf,
}

/// Tells temporary files of concurrent writers in one process apart.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FileVault {
    /// Opens the vault at `dir`, creating it with mode 0700 if it does not exist.
    ///
    /// Refuses a relative path (a vault location is always spelled out by the installer,
    /// never resolved against whatever the working directory happens to be), a path that
    /// is not a directory, and a directory that group or others can access.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, SecretError> {
        let dir = dir.into();
        if !dir.is_absolute() {
            return Err(SecretError::BadVaultPath {
                path: dir,
                problem: "must be an absolute path",
            });
        }
        create_private_dir(&dir)?;
        let meta = fs::metadata(&dir).map_err(|source| SecretError::Io {
            op: "inspect",
            path: dir.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(SecretError::BadVaultPath {
                path: dir,
                problem: "is not a directory",
            });
        }
        check_private(&dir, &meta, VAULT_DIR_MODE)?;
        Ok(FileVault { dir })
    }

    /// The directory the secrets live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: SecretName) -> PathBuf {
        self.dir.join(name.as_str())
    }

    fn sync_dir(&self) -> Result<(), SecretError> {
        // A rename or unlink is durable only once the directory entry is on disk.
        fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|source| SecretError::Io {
                op: "sync",
                path: self.dir.clone(),
                source,
            })
    }
}

impl SecretStore for FileVault {
    fn get(&self, name: SecretName) -> Result<Option<SecretValue>, SecretError> {
        let path = self.path(name);
        let mut file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SecretError::Io {
                    op: "open",
                    path,
                    source,
                });
            }
        };
        let meta = file.metadata().map_err(|source| SecretError::Io {
            op: "inspect",
            path: path.clone(),
            source,
        })?;
        // Someone widened the file's mode: its secret may already be known to others, so
        // say so instead of quietly using it.
        check_private(&path, &meta, VAULT_FILE_MODE)?;
        let mut bytes = Vec::new();
        if let Err(source) = io::Read::read_to_end(&mut file, &mut bytes) {
            wipe(&mut bytes);
            return Err(SecretError::Io {
                op: "read",
                path,
                source,
            });
        }
        match String::from_utf8(bytes) {
            Ok(text) if text.is_empty() => Err(SecretError::Corrupt {
                name,
                problem: "the file is empty",
            }),
            Ok(text) => Ok(Some(SecretValue::new(text))),
            Err(err) => {
                wipe(&mut err.into_bytes());
                Err(SecretError::Corrupt {
                    name,
                    problem: "the file is not utf-8",
                })
            }
        }
    }

    fn set(&self, name: SecretName, value: &SecretValue) -> Result<(), SecretError> {
        if value.is_empty() {
            return Err(SecretError::Empty(name));
        }
        let target = self.path(name);
        let temp = self.dir.join(format!(
            ".{}.tmp.{}.{}",
            name.as_str(),
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = write_private_file(&temp, value.expose().as_bytes())
            .and_then(|()| fs::rename(&temp, &target));
        if let Err(source) = written {
            // Best effort: a leftover temp file holds the secret, so try to take it away.
            let _ = fs::remove_file(&temp);
            return Err(SecretError::Io {
                op: "write",
                path: target,
                source,
            });
        }
        self.sync_dir()
    }

    fn delete(&self, name: SecretName) -> Result<(), SecretError> {
        let path = self.path(name);
        match fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SecretError::Io {
                op: "delete",
                path,
                source,
            }),
        }
    }

    fn describe(&self) -> &'static str {
        "file vault"
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<(), SecretError> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(VAULT_DIR_MODE)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(source) => Err(SecretError::Io {
            op: "create",
            path: dir.to_path_buf(),
            source,
        }),
    }
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &fs::Metadata, wanted: u32) -> Result<(), SecretError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretError::Insecure {
            path: path.to_path_buf(),
            mode,
            wanted,
        });
    }
    Ok(())
}

#[cfg(unix)]
fn write_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    // `create_new` so a planted file or symlink at the temp name is never followed; the mode
    // is set at creation, so the secret is never readable by others, not even briefly.
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(VAULT_FILE_MODE)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

// The vault's protection is Unix permissions; on other systems the OS keyring is the store.
#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<(), SecretError> {
    Err(SecretError::BadVaultPath {
        path: dir.to_path_buf(),
        problem: "cannot be protected here: the file vault needs unix permissions",
    })
}

#[cfg(not(unix))]
fn check_private(_: &Path, _: &fs::Metadata, _: u32) -> Result<(), SecretError> {
    Ok(())
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

// ---------------------------------------------------------------------------------------
// Choosing a backend

/// Where the terminal keeps its secrets, as the installer configured it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretBackend {
    /// `keyring`: the OS keyring.
    Keyring,
    /// `file:/absolute/dir`: the [`FileVault`] fallback in that directory.
    File(PathBuf),
    /// `memory`: [`MemoryStore`], for tests and the demo.
    Memory,
}

impl FromStr for SecretBackend {
    type Err = SecretError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "keyring" => Ok(SecretBackend::Keyring),
            "memory" => Ok(SecretBackend::Memory),
            _ => match text.strip_prefix("file:") {
                // Absolute only: the vault must never land relative to the config or the
                // working directory by accident.
                Some(dir) if Path::new(dir).is_absolute() => {
                    Ok(SecretBackend::File(PathBuf::from(dir)))
                }
                _ => Err(SecretError::BadBackend(text.to_owned())),
            },
        }
    }
}

impl fmt::Display for SecretBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretBackend::Keyring => f.write_str("keyring"),
            SecretBackend::File(dir) => write!(f, "file:{}", dir.display()),
            SecretBackend::Memory => f.write_str("memory"),
        }
    }
}

/// Opens the chosen backend. The keyring is probed once; if it is unavailable the error
/// tells the installer to choose the file fallback. It never falls back by itself.
pub fn open(backend: SecretBackend) -> Result<Box<dyn SecretStore>, SecretError> {
    Ok(match backend {
        SecretBackend::Keyring => Box::new(KeyringStore::open_os()?),
        SecretBackend::File(dir) => Box::new(FileVault::new(dir)?),
        SecretBackend::Memory => Box::new(MemoryStore::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_value_is_masked_in_debug_and_display() {
        let value = SecretValue::new("tok-123");
        assert_eq!(format!("{value:?}"), "***");
        assert_eq!(format!("{value}"), "***");
        assert_eq!(format!("{:?}", Some(value.clone())), "Some(***)");
        assert_eq!(value.expose(), "tok-123");
    }

    #[test]
    fn wipe_zeroes_length_and_spare_capacity() {
        let mut buf = b"a long secret that shrinks".to_vec();
        buf.truncate(4);
        wipe(&mut buf);
        assert_eq!(buf, [0, 0, 0, 0]);
        let capacity = buf.capacity();
        // SAFETY: `wipe` initialised the whole allocation with zeros.
        let whole = unsafe { std::slice::from_raw_parts(buf.as_ptr(), capacity) };
        assert!(whole.iter().all(|&b| b == 0));
    }

    #[test]
    fn names_are_stable() {
        let names: Vec<_> = SecretName::ALL.iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["terminal-token", "cache-key", "bridge-key"]);
    }

    #[test]
    fn keyring_errors_drop_the_stored_bytes() {
        let leaked = b"super-secret".to_vec();
        let err = keyring_core::Error::BadEncoding(leaked.clone());
        let text = keyring_error("read", SecretName::CacheKey, err).to_string();
        assert!(!text.contains("super-secret"), "{text}");
        assert_eq!(
            text,
            "keyring: cannot read cache-key: the stored value is not utf-8"
        );
    }

    #[test]
    fn memory_store_refuses_empty() {
        let store = MemoryStore::new();
        let err = store
            .set(SecretName::BridgeKey, &SecretValue::new(""))
            .unwrap_err();
        assert_eq!(err.to_string(), "refusing to store an empty bridge-key");
    }

    #[test]
    fn backend_display_round_trips() {
        for text in ["keyring", "memory", "file:/var/lib/bonuskassa/secrets"] {
            let backend: SecretBackend = text.parse().unwrap();
            assert_eq!(backend.to_string(), text);
        }
    }
}
