//! The secret store's three backends behave alike, the file vault keeps its files private
//! and atomic, and the keyring backend is exercised through keyring-core's mock store.

// The module is named like the library's, so `cargo test --test till --lib secrets` runs
// these with its unit tests.
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use bonuskassa::secrets::{
    self, FileVault, KeyringStore, MemoryStore, SERVICE, SecretBackend, SecretError, SecretName,
    SecretStore, SecretValue,
};

fn mock_keyring() -> (KeyringStore, Arc<keyring_core::mock::Store>) {
    // An explicit mock store rather than keyring-core's process-wide default, so the tests
    // in this binary cannot see each other's entries.
    let mock = keyring_core::mock::Store::new().unwrap();
    (KeyringStore::with_store(mock.clone()), mock)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// set / get / overwrite / delete of every secret; the same contract for every backend.
fn round_trip(store: &dyn SecretStore) {
    for name in SecretName::ALL {
        assert!(store.get(name).unwrap().is_none(), "{name} starts empty");
        let first = SecretValue::new(format!("{name}-first"));
        store.set(name, &first).unwrap();
        assert_eq!(store.get(name).unwrap().unwrap().expose(), first.expose());
        let second = SecretValue::new(format!("{name}-second, longer than the first"));
        store.set(name, &second).unwrap();
        assert_eq!(store.get(name).unwrap().unwrap().expose(), second.expose());
    }
    // The names do not collide.
    for name in SecretName::ALL {
        assert!(
            store
                .get(name)
                .unwrap()
                .unwrap()
                .expose()
                .starts_with(name.as_str())
        );
    }
    for name in SecretName::ALL {
        store.delete(name).unwrap();
        assert!(store.get(name).unwrap().is_none(), "{name} deleted");
        store.delete(name).unwrap(); // deleting again is fine
    }
    let err = store
        .set(SecretName::TerminalToken, &SecretValue::new(""))
        .unwrap_err();
    assert!(matches!(err, SecretError::Empty(SecretName::TerminalToken)));
}

#[test]
fn memory_store_round_trip() {
    let store = MemoryStore::new();
    round_trip(&store);
    assert_eq!(store.describe(), "memory (not persistent)");
}

#[test]
fn keyring_store_round_trip_with_the_mock() {
    let (store, _mock) = mock_keyring();
    round_trip(&store);
    assert_eq!(store.describe(), "os keyring");
}

#[test]
fn keyring_entries_are_filed_under_the_service_and_the_name() {
    let (store, mock) = mock_keyring();
    store
        .set(SecretName::CacheKey, &SecretValue::new("k3y"))
        .unwrap();
    let entry =
        keyring_core::api::CredentialStoreApi::build(&*mock, SERVICE, "cache-key", None).unwrap();
    assert_eq!(entry.get_password().unwrap(), "k3y");
}

#[test]
fn keyring_failures_name_the_secret_but_not_the_value() {
    let (store, mock) = mock_keyring();
    store
        .set(SecretName::TerminalToken, &SecretValue::new("tok-SECRET"))
        .unwrap();
    // The mock hands the next call on this credential the error we plant.
    let entry =
        keyring_core::api::CredentialStoreApi::build(&*mock, SERVICE, "terminal-token", None)
            .unwrap();
    let cred: &keyring_core::mock::Cred = entry.as_any().downcast_ref().unwrap();
    cred.set_error(keyring_core::Error::BadEncoding(b"tok-SECRET".to_vec()));
    let err = store.get(SecretName::TerminalToken).unwrap_err();
    let text = err.to_string();
    assert_eq!(
        text,
        "keyring: cannot read terminal-token: the stored value is not utf-8"
    );
    assert!(!format!("{err:?}").contains("SECRET"));
    // The error was one-shot; the value is intact.
    assert_eq!(
        store
            .get(SecretName::TerminalToken)
            .unwrap()
            .unwrap()
            .expose(),
        "tok-SECRET"
    );
}

#[test]
fn file_vault_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let vault = FileVault::new(tmp.path().join("vault")).unwrap();
    round_trip(&vault);
    assert_eq!(vault.describe(), "file vault");
}

#[test]
fn file_vault_creates_a_0700_dir_and_0600_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("secrets");
    let vault = FileVault::new(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    vault
        .set(SecretName::BridgeKey, &SecretValue::new("bridge"))
        .unwrap();
    assert_eq!(mode(&dir.join("bridge-key")), 0o600);
    assert_eq!(
        fs::read_to_string(dir.join("bridge-key")).unwrap(),
        "bridge"
    );
}

#[test]
fn file_vault_refuses_a_group_or_world_accessible_dir() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in [0o755, 0o750, 0o701] {
        let dir = tmp.path().join(format!("open-{bad:o}"));
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(bad)).unwrap();
        let err = FileVault::new(&dir).unwrap_err();
        assert!(matches!(err, SecretError::Insecure { .. }), "{err:?}");
        assert!(
            err.to_string().contains("accessible by group or others"),
            "{err}"
        );
    }
}

#[test]
fn file_vault_refuses_relative_paths_and_files() {
    let err = FileVault::new("secrets").unwrap_err();
    assert!(
        err.to_string().contains("must be an absolute path"),
        "{err}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain");
    fs::write(&file, "x").unwrap();
    let err = FileVault::new(&file).unwrap_err();
    assert!(matches!(
        err,
        SecretError::Io { .. } | SecretError::BadVaultPath { .. }
    ));
}

#[test]
fn file_vault_refuses_a_secret_file_others_can_read() {
    let tmp = tempfile::tempdir().unwrap();
    let vault = FileVault::new(tmp.path().join("v")).unwrap();
    vault
        .set(SecretName::CacheKey, &SecretValue::new("ck-SECRET"))
        .unwrap();
    let file = vault.dir().join("cache-key");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let err = vault.get(SecretName::CacheKey).unwrap_err();
    assert!(matches!(err, SecretError::Insecure { .. }), "{err:?}");
    assert!(!err.to_string().contains("SECRET"));
}

#[test]
fn file_vault_overwrite_is_atomic_and_leaves_no_temp_files() {
    let tmp = tempfile::tempdir().unwrap();
    let vault = Arc::new(FileVault::new(tmp.path().join("v")).unwrap());
    let a = "a".repeat(4096);
    let b = "b".repeat(8192);
    // Writers race readers: a reader sees the old or the new value, never a mix or nothing.
    let writers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|text| {
            let vault = vault.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    vault
                        .set(SecretName::TerminalToken, &SecretValue::new(text.clone()))
                        .unwrap();
                }
            })
        })
        .collect();
    vault
        .set(SecretName::TerminalToken, &SecretValue::new(a.clone()))
        .unwrap();
    for _ in 0..200 {
        let seen = vault.get(SecretName::TerminalToken).unwrap().unwrap();
        assert!(seen.expose() == a || seen.expose() == b, "torn read");
    }
    for writer in writers {
        writer.join().unwrap();
    }
    let names: Vec<_> = fs::read_dir(vault.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["terminal-token"], "no temp files left behind");
}

#[test]
fn file_vault_reads_back_after_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    FileVault::new(&dir)
        .unwrap()
        .set(SecretName::TerminalToken, &SecretValue::new("persisted"))
        .unwrap();
    let again = secrets::open(SecretBackend::File(dir)).unwrap();
    assert_eq!(
        again
            .get(SecretName::TerminalToken)
            .unwrap()
            .unwrap()
            .expose(),
        "persisted"
    );
}

#[test]
fn secret_value_debug_is_masked() {
    let value = SecretValue::new("tok-SECRET");
    assert_eq!(format!("{value:?}"), "***");
    assert_eq!(format!("{value}"), "***");
    assert_eq!(format!("{:?}", Some(&value)), "Some(***)");
}

#[test]
fn backend_parsing() {
    assert_eq!(
        "keyring".parse::<SecretBackend>().unwrap(),
        SecretBackend::Keyring
    );
    assert_eq!(
        "memory".parse::<SecretBackend>().unwrap(),
        SecretBackend::Memory
    );
    assert_eq!(
        "file:/var/lib/bonuskassa/secrets"
            .parse::<SecretBackend>()
            .unwrap(),
        SecretBackend::File("/var/lib/bonuskassa/secrets".into())
    );
    for bad in [
        "",
        "Keyring",
        "file:",
        "file:relative/dir",
        "file",
        "env",
        "keyring ",
    ] {
        let err = bad.parse::<SecretBackend>().unwrap_err();
        assert!(matches!(err, SecretError::BadBackend(_)), "{bad:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "unknown secrets backend `{bad}`: expected `keyring`, `file:/absolute/dir` or \
                 `memory`"
            )
        );
    }
}

#[test]
fn open_memory_and_file_backends() {
    let store = secrets::open(SecretBackend::Memory).unwrap();
    round_trip(store.as_ref());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shared");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let err = secrets::open(SecretBackend::File(dir))
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, SecretError::Insecure { .. }));
}

#[test]
fn open_keyring_works_or_tells_the_installer_to_choose_the_file_fallback() {
    // On a desktop the probe succeeds; on a headless till (and this CI) there is no secret
    // service, and the error must point at the explicit fallback instead of falling back.
    match secrets::open(SecretBackend::Keyring) {
        Ok(store) => assert_eq!(store.describe(), "os keyring"),
        Err(err) => {
            assert!(
                matches!(err, SecretError::KeyringUnavailable { .. }),
                "{err:?}"
            );
            let text = err.to_string();
            assert!(text.starts_with("the os keyring is unavailable"), "{text}");
            assert!(text.contains("file:/absolute/dir"), "{text}");
        }
    }
}
