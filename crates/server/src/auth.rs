//! Accounts, roles and bearer tokens.
//!
//! A token is 160 random bits, shown once when created and stored only as its SHA-256 (a hash of a
//! high-entropy secret needs no slow KDF; passwords, when they come, get argon2). The token file is
//! re-read when it changes, so `glasshouse token create` works while the server runs.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

/// The roles of DESIGN §1, each least-privilege.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Watches the live map and alerts; no history search.
    Operator,
    /// Searches history for a case.
    Investigator,
    /// Approves wide or long searches and holds.
    Supervisor,
    /// Aggregates over de-identified views; never raw plates.
    Analyst,
    /// Retention, holds, purges.
    Custodian,
    /// Verifies the audit log and reads reports; no raw data.
    Auditor,
    /// Users, devices, hotlists, rules; no data access.
    Administrator,
    /// Pushes observations; its own write endpoint only.
    Ingest,
    /// Scrapes `/metrics` (counts and timings, nothing personal); no data access.
    Metrics,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 9] = [
        Role::Operator,
        Role::Investigator,
        Role::Supervisor,
        Role::Analyst,
        Role::Custodian,
        Role::Auditor,
        Role::Administrator,
        Role::Ingest,
        Role::Metrics,
    ];

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Investigator => "investigator",
            Role::Supervisor => "supervisor",
            Role::Analyst => "analyst",
            Role::Custodian => "custodian",
            Role::Auditor => "auditor",
            Role::Administrator => "administrator",
            Role::Ingest => "ingest",
            Role::Metrics => "metrics",
        }
    }

    /// The role with this name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// A named account and its role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Account {
    /// Who.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// Where this request came from (set per request; never stored with the token).
    #[serde(skip)]
    #[schema(ignore)]
    pub address: Option<std::net::IpAddr>,
}

impl Account {
    /// An account with no request behind it yet.
    pub fn new(name: impl Into<String>, role: Role) -> Account {
        Account { name: name.into(), role, address: None }
    }

    /// The account as the use cases and the audit log name it: acting over HTTP, from its address.
    pub fn actor(&self) -> glasshouse_app::Actor {
        glasshouse_app::Actor::new(self.name.clone(), self.role.as_str())
            .via(glasshouse_app::Component::Http, self.address.map(|a| a.to_string()))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredToken {
    name: String,
    role: Role,
    token_sha256: String,
    created_at: String,
    /// Set once the server has written the token's creation to the audit log.
    #[serde(default)]
    audited: bool,
}

/// A token created but not yet in the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedToken {
    /// The account.
    pub account: Account,
    /// When the token was made.
    pub created_at: String,
    /// A short, non-secret id of the token: the first 8 hex digits of the hash of its stored hash.
    pub token_id: String,
}

/// Holds the token file's lock while the file is read and rewritten, so the CLI creating a token and
/// the server marking tokens audited never overwrite each other.
pub(crate) fn locked(data_dir: &Path) -> io::Result<fs::File> {
    let lock = fs::OpenOptions::new().create(true).truncate(false).write(true).open(data_dir.join("tokens.lock"))?;
    lock.lock()?;
    Ok(lock)
}

fn write_tokens(path: &Path, tokens: &[StoredToken]) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(tokens).map_err(io::Error::other)?;
    glasshouse_wal::files::replace(path, &bytes, glasshouse_wal::files::Readers::Default)
}

/// A change to an account made outside the server (by the CLI), waiting for the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountChange {
    /// The account.
    pub account: String,
    /// `role_changed`, `revoked` or `second_factor_enrolled`.
    pub change: String,
    /// The role before.
    pub from_role: Role,
    /// The role after (`None` once revoked).
    pub to_role: Option<Role>,
    /// Tokens affected.
    pub tokens: usize,
    /// When.
    pub at: String,
}

const CHANGES_FILE: &str = "account-changes.ndjson";

fn append_change(data_dir: &Path, change: &AccountChange) -> io::Result<()> {
    let mut pending = fs::OpenOptions::new().create(true).append(true).open(data_dir.join(CHANGES_FILE))?;
    io::Write::write_all(&mut pending, (serde_json::to_string(change).map_err(io::Error::other)? + "\n").as_bytes())?;
    pending.sync_all()
}

/// Prefix that makes a leaked token recognisable to secret scanners.
const TOKEN_PREFIX: &str = "gh_";
const TOKENS_FILE: &str = "tokens.json";

/// The token file of a data directory, with an in-memory index by hash.
pub struct TokenStore {
    path: PathBuf,
    by_hash: ReloadingMap<Account>,
}

/// What identifies one version of a file: every write replaces the file (a new inode), so the inode
/// tells versions apart even within one tick of the file-time clock.
type FileVersion = (SystemTime, u64);

fn file_version(path: &Path) -> Option<FileVersion> {
    use std::os::unix::fs::MetadataExt;
    let metadata = fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.ino()))
}

/// A map kept from a file and read again whenever the file is replaced, so what the CLI writes
/// (tokens, roles, second factors) applies at the server's next request.
pub(crate) struct ReloadingMap<V> {
    path: PathBuf,
    load: fn(&Path) -> io::Result<HashMap<String, V>>,
    cache: RwLock<(Option<FileVersion>, HashMap<String, V>)>,
}

impl<V: Clone> ReloadingMap<V> {
    /// A map read from `path` by `load`, on first use and after every change.
    pub(crate) fn new(path: PathBuf, load: fn(&Path) -> io::Result<HashMap<String, V>>) -> Self {
        ReloadingMap { path, load, cache: RwLock::new((None, HashMap::new())) }
    }

    /// Runs `with` on the map as the file says now. An unreadable file (mid-rename, say) leaves
    /// the last map in place, to be read again next time.
    pub(crate) fn with<T>(&self, with: impl FnOnce(&HashMap<String, V>) -> T) -> T {
        let version = file_version(&self.path);
        {
            let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
            if cache.0 == version {
                return with(&cache.1);
            }
        }
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        match (self.load)(&self.path) {
            Ok(map) => *cache = (version, map),
            Err(e) => tracing::warn!(file = %self.path.display(), error = %e, "could not re-read the file"),
        }
        with(&cache.1)
    }

    /// The value under `key` now.
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        self.with(|map| map.get(key).cloned())
    }
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn read_tokens(path: &Path) -> io::Result<Vec<StoredToken>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(io::Error::other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

impl TokenStore {
    /// The store of `data_dir`.
    pub fn open(data_dir: &Path) -> TokenStore {
        let by_hash = |path: &Path| -> io::Result<HashMap<String, Account>> {
            Ok(read_tokens(path)?.into_iter().map(|t| (t.token_sha256, Account::new(t.name, t.role))).collect())
        };
        TokenStore { path: data_dir.join(TOKENS_FILE), by_hash: ReloadingMap::new(data_dir.join(TOKENS_FILE), by_hash) }
    }

    /// Creates a token for `name` with `role`, stores its hash and returns the token itself (the
    /// only time it exists in clear).
    pub fn create(data_dir: &Path, name: &str, role: Role) -> io::Result<String> {
        if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c)) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "name must be 1..=64 of letters, digits and . _ - @"));
        }
        fs::create_dir_all(data_dir)?;
        let _lock = locked(data_dir)?;
        let path = data_dir.join(TOKENS_FILE);
        let mut tokens = read_tokens(&path)?;
        let mut secret = [0u8; 20];
        getrandom::fill(&mut secret).map_err(|e| io::Error::other(e.to_string()))?;
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
        tokens.push(StoredToken {
            name: name.into(),
            role,
            token_sha256: hash(&token),
            created_at: Utc::now().to_rfc3339(),
            audited: false,
        });
        write_tokens(&path, &tokens)?;
        Ok(token)
    }

    /// Gives every token of account `name` the role `role`. The change waits in the data directory
    /// until the server writes it to the audit log.
    pub fn set_role(data_dir: &Path, name: &str, role: Role) -> io::Result<usize> {
        Self::change(data_dir, name, Some(role))
    }

    /// Revokes every token of account `name`: they stop working at the server's next request.
    pub fn revoke(data_dir: &Path, name: &str) -> io::Result<usize> {
        Self::change(data_dir, name, None)
    }

    fn change(data_dir: &Path, name: &str, role: Option<Role>) -> io::Result<usize> {
        let _lock = locked(data_dir)?;
        let path = data_dir.join(TOKENS_FILE);
        let mut tokens = read_tokens(&path)?;
        let Some(from_role) = tokens.iter().find(|t| t.name == name).map(|t| t.role) else {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("no account {name:?}")));
        };
        let affected = tokens.iter().filter(|t| t.name == name).count();
        match role {
            Some(role) => tokens.iter_mut().filter(|t| t.name == name).for_each(|t| t.role = role),
            None => tokens.retain(|t| t.name != name),
        }
        // The pending change goes down first: a crash between the two writes leaves a logged change
        // that did not happen, never a change that is not logged.
        append_change(
            data_dir,
            &AccountChange {
                account: name.to_owned(),
                change: if role.is_some() { "role_changed" } else { "revoked" }.into(),
                from_role,
                to_role: role,
                tokens: affected,
                at: Utc::now().to_rfc3339(),
            },
        )?;
        write_tokens(&path, &tokens)?;
        if role.is_none() {
            crate::second_factor::forget(data_dir, name)?;
        }
        Ok(affected)
    }

    /// Gives account `name` a new TOTP secret (replacing any earlier one): from then on its tokens
    /// open only a session, with a current code. Returns the `otpauth://` URI for an authenticator
    /// app. Waits for the audit log like a role change.
    pub fn enrol_second_factor(data_dir: &Path, name: &str) -> io::Result<String> {
        let _lock = locked(data_dir)?;
        let tokens = read_tokens(&data_dir.join(TOKENS_FILE))?;
        let Some(role) = tokens.iter().find(|t| t.name == name).map(|t| t.role) else {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("no account {name:?}")));
        };
        append_change(
            data_dir,
            &AccountChange {
                account: name.to_owned(),
                change: "second_factor_enrolled".into(),
                from_role: role,
                to_role: Some(role),
                tokens: tokens.iter().filter(|t| t.name == name).count(),
                at: Utc::now().to_rfc3339(),
            },
        )?;
        crate::second_factor::enrol(data_dir, name)
    }

    /// The data directory the token file is in.
    pub fn data_dir(&self) -> Option<&Path> {
        self.path.parent()
    }

    /// Account changes made since the last call, for the audit log; `record` runs for each in order
    /// and those after the first it refuses stay pending.
    pub fn drain_changes(&self, mut record: impl FnMut(&AccountChange) -> bool) -> io::Result<usize> {
        let Some(data_dir) = self.path.parent() else { return Ok(0) };
        let path = data_dir.join(CHANGES_FILE);
        if !path.exists() {
            return Ok(0);
        }
        let _lock = locked(data_dir)?;
        let text = fs::read_to_string(&path)?;
        let changes: Vec<AccountChange> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let recorded = changes.iter().take_while(|c| record(c)).count();
        let rest: String = changes[recorded..].iter().map(|c| serde_json::to_string(c).expect("changes serialise") + "\n").collect();
        glasshouse_wal::files::replace(&path, rest.as_bytes(), glasshouse_wal::files::Readers::Default)?;
        Ok(recorded)
    }

    /// Tokens created since the last call, for the audit log. `record` runs for each (under the file
    /// lock); only those it accepts are marked audited, so a failing audit log retries next time.
    pub fn drain_unaudited(&self, mut record: impl FnMut(&CreatedToken) -> bool) -> io::Result<usize> {
        let Some(data_dir) = self.path.parent() else { return Ok(0) };
        if !self.path.exists() {
            return Ok(0);
        }
        let _lock = locked(data_dir)?;
        let mut tokens = read_tokens(&self.path)?;
        let mut recorded = 0;
        for t in tokens.iter_mut().filter(|t| !t.audited) {
            let created = CreatedToken {
                account: Account::new(t.name.clone(), t.role),
                created_at: t.created_at.clone(),
                token_id: hash(&t.token_sha256)[..8].to_owned(),
            };
            if !record(&created) {
                break;
            }
            t.audited = true;
            recorded += 1;
        }
        if recorded > 0 {
            write_tokens(&self.path, &tokens)?;
        }
        Ok(recorded)
    }

    /// Every account with a token: name, role and when the token was created (never the hash).
    pub fn accounts(&self) -> io::Result<Vec<(Account, String)>> {
        Ok(read_tokens(&self.path)?.into_iter().map(|t| (Account::new(t.name, t.role), t.created_at)).collect())
    }

    /// The account a presented token belongs to. The token file is re-read whenever it changed, so
    /// a role change or a revocation takes effect at the next request.
    pub fn authenticate(&self, token: &str) -> Option<Account> {
        if !token.starts_with(TOKEN_PREFIX) {
            return None;
        }
        self.account_by_hash(&hash(token))
    }

    /// The SHA-256 under which a token is stored (what a session remembers of its parent token).
    pub fn token_hash(token: &str) -> String {
        hash(token)
    }

    /// The account of the token stored under `digest`, as the token file says now.
    pub fn account_by_hash(&self, digest: &str) -> Option<Account> {
        self.by_hash.get(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_changes_and_revocations_take_effect_at_once_and_wait_for_the_audit_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path());
        let token = TokenStore::create(dir.path(), "ana", Role::Investigator).unwrap();
        assert_eq!(store.authenticate(&token).unwrap().role, Role::Investigator);
        assert_eq!(TokenStore::set_role(dir.path(), "ana", Role::Analyst).unwrap(), 1);
        assert_eq!(store.authenticate(&token).unwrap().role, Role::Analyst);
        TokenStore::revoke(dir.path(), "ana").unwrap();
        assert_eq!(store.authenticate(&token), None, "a revoked token stops working");
        assert_eq!(TokenStore::set_role(dir.path(), "nobody", Role::Analyst).unwrap_err().kind(), io::ErrorKind::NotFound);
        let mut seen = Vec::new();
        assert_eq!(
            store
                .drain_changes(|c| {
                    seen.push(c.clone());
                    seen.len() < 2
                })
                .unwrap(),
            1,
            "a refused record stays pending"
        );
        assert_eq!(seen[0].change, "role_changed");
        assert_eq!((seen[0].from_role, seen[0].to_role), (Role::Investigator, Some(Role::Analyst)));
        let mut rest = Vec::new();
        assert_eq!(
            store
                .drain_changes(|c| {
                    rest.push(c.clone());
                    true
                })
                .unwrap(),
            1
        );
        assert_eq!((rest[0].change.as_str(), rest[0].to_role), ("revoked", None));
        assert_eq!(store.drain_changes(|_| true).unwrap(), 0);
    }

    #[test]
    fn tokens_are_stored_only_as_hashes_and_authenticate() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path());
        assert_eq!(store.authenticate("gh_nothing"), None);
        let token = TokenStore::create(dir.path(), "ana", Role::Operator).unwrap();
        let file = fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        assert!(!file.contains(&token), "the token must not be stored in clear");
        assert_eq!(store.authenticate(&token), Some(Account::new("ana", Role::Operator)));
        assert_eq!(store.authenticate(&format!("{token}x")), None);
    }

    #[test]
    fn new_tokens_are_handed_to_the_audit_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path());
        assert_eq!(store.drain_unaudited(|_| true).unwrap(), 0);
        TokenStore::create(dir.path(), "ana", Role::Operator).unwrap();
        TokenStore::create(dir.path(), "ben", Role::Auditor).unwrap();
        assert_eq!(store.drain_unaudited(|_| false).unwrap(), 0, "a failed audit leaves them pending");
        let mut seen = Vec::new();
        assert_eq!(
            store
                .drain_unaudited(|t| {
                    seen.push(t.account.name.clone());
                    true
                })
                .unwrap(),
            2
        );
        assert_eq!(seen, vec!["ana", "ben"]);
        assert_eq!(store.drain_unaudited(|_| true).unwrap(), 0);
        let token = TokenStore::create(dir.path(), "cy", Role::Analyst).unwrap();
        assert!(store.authenticate(&token).is_some(), "marking audited kept every token valid");
    }
}
