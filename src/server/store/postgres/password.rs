//! Where the database password comes from: `PGPASSWORD`, else the password file
//! (`PGPASSFILE`, else `~/.pgpass`), read the way libpq reads it, so an operator's existing
//! setup for `psql` works unchanged.
//!
//! The password is never logged, never put into an error and never compared with anything
//! but handed to the connection config. A password file readable by group or others is
//! ignored with a warning, as libpq does: a password in a world-readable file is no secret.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use tokio_postgres::config::Host;

use super::DEFAULT_PORT;

/// The password for the first host of `config`, from the environment read through `env`.
pub(super) fn find(
    config: &tokio_postgres::Config,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Option<Vec<u8>> {
    // An empty PGPASSWORD counts as none, as in libpq.
    if let Some(p) = env("PGPASSWORD").filter(|p| !p.is_empty()) {
        return Some(os_bytes(p));
    }
    let file = match env("PGPASSFILE").filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env("HOME")?).join(".pgpass"),
    };
    let key = Key::of(config);
    let text = read_private(&file)?;
    lookup(&text, &key)
}

/// What a password file line is matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    pub(super) host: String,
    pub(super) port: String,
    pub(super) database: String,
    pub(super) user: String,
}

impl Key {
    fn of(config: &tokio_postgres::Config) -> Key {
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(name)) => name.clone(),
            // libpq matches a Unix-domain socket connection as `localhost`.
            #[cfg(unix)]
            Some(Host::Unix(_)) => "localhost".into(),
            None => "localhost".into(),
        };
        let port = config
            .get_ports()
            .first()
            .copied()
            .unwrap_or(DEFAULT_PORT)
            .to_string();
        let user = config.get_user().unwrap_or_default().to_string();
        let database = config.get_dbname().unwrap_or(&user).to_string();
        Key {
            host,
            port,
            database,
            user,
        }
    }
}

fn os_bytes(s: OsString) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        s.into_vec()
    }
    #[cfg(not(unix))]
    {
        s.to_string_lossy().into_owned().into_bytes()
    }
}

/// The file's bytes, or `None` when it is missing, unreadable, not a plain file, or
/// readable by group or others (then with a warning that names the file, not its content).
fn read_private(path: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        tracing::warn!(path = %path.display(), "the password file is not a plain file; ignored");
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "the password file is readable or writable by group or others, so it is ignored; \
                 make it private: chmod 0600"
            );
            return None;
        }
    }
    match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the password file");
            None
        }
    }
}

/// The password of the first line of a password file that matches `key`: lines are
/// `host:port:database:user:password`, each of the first four may be `*` (anything), and
/// `\:` and `\\` stand for `:` and `\`. Lines starting with `#` are comments.
pub(super) fn lookup(text: &[u8], key: &Key) -> Option<Vec<u8>> {
    for raw in text.split(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let fields = split_fields(line);
        let [host, port, database, user, password] = fields.as_slice() else {
            continue;
        };
        let matches = |field: &Vec<u8>, value: &str| field == b"*" || field == value.as_bytes();
        if matches(host, &key.host)
            && matches(port, &key.port)
            && matches(database, &key.database)
            && matches(user, &key.user)
        {
            return Some(password.clone());
        }
    }
    None
}

/// A line's fields, unescaped: the first four end at an unescaped `:`, the fifth (the
/// password) takes the rest of the line. Fewer than five fields: not a valid line.
fn split_fields(line: &[u8]) -> Vec<Vec<u8>> {
    let mut fields = Vec::with_capacity(5);
    let mut current = Vec::new();
    let mut bytes = line.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => {
                // A backslash before anything escapes it; a trailing one stands for itself.
                current.push(bytes.next().copied().unwrap_or(b'\\'));
            }
            b':' if fields.len() < 4 => fields.push(std::mem::take(&mut current)),
            _ => current.push(b),
        }
    }
    fields.push(current);
    fields
}
