//! Backups of the embedded database: SQLite's online backup API copies it page by page
//! inside one read transaction, so the copy is the database as one moment left it, taken
//! while a server goes on writing (the WAL lets the writer work beside the reader); and a
//! restore into an empty data dir, which refuses anything that is not a bonuskassa
//! server's database.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{SCHEMA_VERSION, SqliteStore, create_private_file, database_path};
use crate::server::store::StoreError;

/// Tables every bonuskassa server database has had since its first schema.
const SERVER_TABLES: [&str; 5] = [
    "customers",
    "bonus_batches",
    "ledger_entries",
    "operations",
    "feed_counter",
];

/// What a backup or a restore made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// The database file written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its schema version.
    pub schema_version: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{} has no bonuskassa-server database ({}); is it the data dir?", .0.display(), super::DATABASE_FILE)]
    NoDatabase(PathBuf),
    #[error("there is no backup file {}", .0.display())]
    NoSuchFile(PathBuf),
    #[error("{} already exists: a backup never overwrites a file; name a new one", .0.display())]
    TargetExists(PathBuf),
    #[error("{} is not empty: a restore goes into an empty (or new) data dir only, so it never mixes with another database", .0.display())]
    NotEmpty(PathBuf),
    #[error("{} is not an SQLite database: {why}", .path.display())]
    NotADatabase { path: PathBuf, why: String },
    #[error("{} is an SQLite database but not a bonuskassa server's: it has no {table} table", .path.display())]
    NotBonuskassa { path: PathBuf, table: &'static str },
    #[error("{} has schema version {found}, newer than this program's {known}; restore it with a newer bonuskassa-server", .path.display())]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{} is damaged: {why}", .path.display())]
    Damaged { path: PathBuf, why: String },
    #[error("{}: {why}", .path.display())]
    Io { path: PathBuf, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BackupError {
    /// Whether what was asked for was wrong (rather than the machine failing).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, BackupError::Io { .. } | BackupError::Store(_))
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |e| BackupError::Io {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> BackupError + '_ {
    move |e| BackupError::Io {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

/// The file a copy is written to before it is complete and renamed into place.
fn partial(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Copies the database of `data_dir` to the new file `to`, consistent as of one moment,
/// while a server may go on serving from it. The copy is one self-contained file
/// (rollback journal, not WAL), checked whole before it gets its name.
pub fn backup(data_dir: &Path, to: &Path) -> Result<BackupInfo, BackupError> {
    let source_path = database_path(data_dir);
    if !source_path.is_file() {
        return Err(BackupError::NoDatabase(data_dir.to_path_buf()));
    }
    if to.exists() {
        return Err(BackupError::TargetExists(to.to_path_buf()));
    }
    // Read-write without create: a read-only connection may not open a WAL database whose
    // shared-memory file is missing. It never writes.
    let source = Connection::open_with_flags(
        &source_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql(&source_path))?;
    source
        .busy_timeout(Duration::from_secs(30))
        .map_err(sql(&source_path))?;
    source
        .pragma_update(None, "query_only", "ON")
        .map_err(sql(&source_path))?;
    check_server_database(&source, &source_path)?;
    let tmp = partial(to);
    let _ = std::fs::remove_file(&tmp);
    create_private_file(&tmp)?;
    let result = copy_into(&source, &tmp).and_then(|()| {
        std::fs::rename(&tmp, to).map_err(io(to))?;
        info(to)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Copies `source` into the database file `to` in one step (one read transaction), then
/// makes it a rollback-journal database, checks it and syncs it to disk.
fn copy_into(source: &Connection, to: &Path) -> Result<(), BackupError> {
    let mut target = Connection::open(to).map_err(sql(to))?;
    {
        let backup = Backup::new(source, &mut target).map_err(sql(to))?;
        // -1: every page in one step, so a writer's commit in between cannot make the copy
        // start over (or mix two moments).
        let mut waits = 0;
        loop {
            match backup.step(-1).map_err(sql(to))? {
                StepResult::Done => break,
                // A writer's checkpoint holds a lock for a moment: wait, up to 30 s.
                StepResult::Busy | StepResult::Locked | StepResult::More if waits < 300 => {
                    waits += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => {
                    return Err(BackupError::Io {
                        path: to.to_path_buf(),
                        why: format!("the database stayed busy: {other:?}"),
                    });
                }
            }
        }
    }
    let mode: String = target
        .pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))
        .map_err(sql(to))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(BackupError::Io {
            path: to.to_path_buf(),
            why: format!("the copy stayed in journal mode {mode}"),
        });
    }
    integrity(&target, to)?;
    target.close().map_err(|(_, e)| sql(to)(e))?;
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(io(to))
}

fn integrity(conn: &Connection, path: &Path) -> Result<(), BackupError> {
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| BackupError::Damaged {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    if verdict != "ok" {
        return Err(BackupError::Damaged {
            path: path.to_path_buf(),
            why: verdict,
        });
    }
    Ok(())
}

/// Refuses a database that is not a bonuskassa server's, or newer than this program.
fn check_server_database(conn: &Connection, path: &Path) -> Result<i64, BackupError> {
    let not_db = |e: rusqlite::Error| BackupError::NotADatabase {
        path: path.to_path_buf(),
        why: e.to_string(),
    };
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(not_db)?;
    for table in SERVER_TABLES {
        let found: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .map_err(not_db)?;
        if found == 0 {
            return Err(BackupError::NotBonuskassa {
                path: path.to_path_buf(),
                table,
            });
        }
    }
    if version > SCHEMA_VERSION {
        return Err(BackupError::TooNew {
            path: path.to_path_buf(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    Ok(version)
}

fn info(path: &Path) -> Result<BackupInfo, BackupError> {
    let bytes = std::fs::metadata(path).map_err(io(path))?.len();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql(path))?;
    let schema_version = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sql(path))?;
    Ok(BackupInfo {
        path: path.to_path_buf(),
        bytes,
        schema_version,
    })
}

/// Restores the backup `from` into `data_dir`, which must be empty or not exist yet; the
/// database is then opened as a server opens it, so an older backup is migrated.
pub fn restore(from: &Path, data_dir: &Path) -> Result<BackupInfo, BackupError> {
    if !from.is_file() {
        return Err(BackupError::NoSuchFile(from.to_path_buf()));
    }
    let mut head = [0u8; 16];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(from).map_err(io(from))?;
        if f.read_exact(&mut head).is_err() || &head != b"SQLite format 3\0" {
            return Err(BackupError::NotADatabase {
                path: from.to_path_buf(),
                why: "it does not begin as one".to_string(),
            });
        }
    }
    if data_dir.exists() {
        let mut entries = std::fs::read_dir(data_dir).map_err(io(data_dir))?;
        if entries.next().is_some() {
            return Err(BackupError::NotEmpty(data_dir.to_path_buf()));
        }
    }
    let source =
        Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| {
            BackupError::NotADatabase {
                path: from.to_path_buf(),
                why: e.to_string(),
            }
        })?;
    check_server_database(&source, from)?;
    integrity(&source, from)?;
    super::prepare_private_dir(data_dir)?;
    let target = database_path(data_dir);
    let tmp = partial(&target);
    create_private_file(&tmp)?;
    let copied =
        copy_into(&source, &tmp).and_then(|()| std::fs::rename(&tmp, &target).map_err(io(&target)));
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    drop(source);
    // As a server opens it: WAL, private files, migrated to this program's schema.
    drop(SqliteStore::open(data_dir)?);
    info(&target)
}
