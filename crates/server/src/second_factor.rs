//! The optional second factor: TOTP codes (RFC 6238: HMAC-SHA1, six digits, 30-second steps) from
//! an authenticator app, exchanged together with the account's token for a short-lived session.
//!
//! A bearer token is a long-lived secret that leaks the way secrets do (a shell history, a config
//! file). For an enrolled account the token alone opens nothing: `POST /v1/sessions` takes it with a
//! current code and answers a session token that lapses after [`SESSION_TTL_SECS`], dies with a
//! restart, and follows its parent token (a role change applies at once, a revocation ends it).
//!
//! Unlike tokens, TOTP secrets must be readable to check a code, so they cannot be stored as hashes:
//! they live in their own file (`second-factor.json`, mode 0600), never in `tokens.json` or a log.
//! A code is accepted once (RFC 6238 §5.2), one step of clock skew either way, and an account is
//! locked out for a while after [`FAILURES_MAX`] wrong codes, so six digits cannot be guessed.

use crate::auth::ReloadingMap;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::Mutex;
use totp_rs::{Builder, Secret, Totp};

/// How long a session lasts: one shift and a half.
pub const SESSION_TTL_SECS: i64 = 12 * 3600;
/// Wrong codes accepted within [`FAILURE_WINDOW_SECS`] before the account is locked out; at five
/// guesses per five minutes a six-digit code takes about a million minutes to guess half the time.
pub const FAILURES_MAX: usize = 5;
/// The window wrong codes are counted in, and how long a lock-out lasts.
pub const FAILURE_WINDOW_SECS: i64 = 300;
/// Sessions held at once; bounds memory if a client opens sessions in a loop.
const SESSIONS_MAX: usize = 10_000;
/// Marks a session token, so it is told apart from an account token before any lookup.
pub const SESSION_PREFIX: &str = "ghs_";
const FILE: &str = "second-factor.json";
const ISSUER: &str = "Glasshouse";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Enrolment {
    account: String,
    secret_base32: String,
    enrolled_at: String,
}

/// Why a code was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRefusal {
    /// The account has no second factor.
    NotEnrolled,
    /// Not the current code (nor the one before or after).
    Wrong,
    /// Already used to open a session: wait for the next one.
    Reused,
    /// Too many wrong codes lately; try again after this many seconds.
    LockedOut {
        /// Seconds until the oldest counted failure leaves the window.
        retry_after_secs: u32,
    },
}

#[derive(Default)]
struct Attempts {
    /// The newest step a code was accepted for; that code and older ones are refused.
    last_step: u64,
    /// Unix seconds of recent wrong codes.
    failures: Vec<i64>,
}

struct Session {
    account_token_sha256: String,
    expires_at: i64,
}

/// Enrolments, code checks and the sessions they open.
pub struct SecondFactor {
    enrolments: ReloadingMap<Enrolment>,
    attempts: Mutex<HashMap<String, Attempts>>,
    sessions: Mutex<HashMap<String, Session>>,
}

fn totp(secret_base32: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret_base32).ok()?;
    Builder::new().with_secret(secret).build().ok()
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn read(path: &Path) -> io::Result<Vec<Enrolment>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(io::Error::other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Replaces the enrolments file durably, readable by its owner only (it holds the secrets).
fn write(path: &Path, enrolments: &[Enrolment]) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(enrolments).map_err(io::Error::other)?;
    glasshouse_wal::files::replace(path, &bytes, glasshouse_wal::files::Readers::OwnerOnly)
}

/// Writes a new secret for `account` (replacing any earlier one) and returns the `otpauth://` URI
/// to load into an authenticator app. The caller holds the token file's lock.
pub(crate) fn enrol(data_dir: &Path, account: &str) -> io::Result<String> {
    let path = data_dir.join(FILE);
    let mut enrolments = read(&path)?;
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    let generated = Builder::new()
        .with_secret(bytes)
        .with_issuer(Some(ISSUER))
        .with_account_name(account)
        .build()
        .map_err(|e| io::Error::other(e.to_string()))?;
    enrolments.retain(|e| e.account != account);
    enrolments.push(Enrolment {
        account: account.to_owned(),
        secret_base32: generated.secret().to_base32(),
        enrolled_at: Utc::now().to_rfc3339(),
    });
    write(&path, &enrolments)?;
    generated.to_url().map_err(|e| io::Error::other(e.to_string()))
}

/// Drops `account`'s secret (its tokens were revoked). The caller holds the token file's lock.
pub(crate) fn forget(data_dir: &Path, account: &str) -> io::Result<()> {
    let path = data_dir.join(FILE);
    let mut enrolments = read(&path)?;
    let before = enrolments.len();
    enrolments.retain(|e| e.account != account);
    if enrolments.len() == before {
        return Ok(());
    }
    write(&path, &enrolments)
}

impl SecondFactor {
    /// The enrolments of `data_dir`; the file is re-read whenever it changes, so an enrolment made
    /// with the CLI applies at the next request.
    pub fn open(data_dir: &Path) -> SecondFactor {
        let by_account = |path: &Path| -> io::Result<HashMap<String, Enrolment>> {
            Ok(read(path)?.into_iter().map(|e| (e.account.clone(), e)).collect())
        };
        SecondFactor {
            enrolments: ReloadingMap::new(data_dir.join(FILE), by_account),
            attempts: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn enrolment(&self, account: &str) -> Option<Enrolment> {
        self.enrolments.get(account)
    }

    /// Whether `account` must sign in with a code.
    pub fn required(&self, account: &str) -> bool {
        self.enrolment(account).is_some()
    }

    /// The accounts with a second factor, for the transparency report.
    pub fn enrolled_accounts(&self) -> Vec<String> {
        let mut names: Vec<String> = self.enrolments.with(|map| map.keys().cloned().collect());
        names.sort();
        names
    }

    /// Checks `code` for `account` at `now` (Unix seconds). Each code opens at most one session.
    pub fn check_code(&self, account: &str, code: &str, now: i64) -> Result<(), CodeRefusal> {
        let enrolment = self.enrolment(account).ok_or(CodeRefusal::NotEnrolled)?;
        let totp = totp(&enrolment.secret_base32).ok_or(CodeRefusal::NotEnrolled)?;
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        let entry = attempts.entry(account.to_owned()).or_default();
        entry.failures.retain(|at| now - at < FAILURE_WINDOW_SECS);
        if entry.failures.len() >= FAILURES_MAX {
            let oldest = entry.failures.iter().min().copied().unwrap_or(now);
            return Err(CodeRefusal::LockedOut { retry_after_secs: (oldest + FAILURE_WINDOW_SECS - now).max(1) as u32 });
        }
        let code = code.trim();
        let step = (code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()))
            .then(|| totp.check(code, u64::try_from(now).unwrap_or(0)))
            .flatten();
        match step {
            Some(step) if step <= entry.last_step => Err(CodeRefusal::Reused),
            Some(step) => {
                entry.last_step = step;
                entry.failures.clear();
                Ok(())
            }
            None => {
                entry.failures.push(now);
                Err(CodeRefusal::Wrong)
            }
        }
    }

    /// Opens a session for the account whose token hashes to `account_token_sha256`; returns the
    /// session token (shown once, kept only as a hash) and when it expires (Unix seconds).
    pub fn open_session(&self, account_token_sha256: &str, now: i64) -> (String, i64) {
        let mut bytes = [0u8; 20];
        // A failing OS random source is not recoverable for credentials.
        getrandom::fill(&mut bytes).expect("os random source");
        let token = format!("{SESSION_PREFIX}{}", hex::encode(bytes));
        let expires_at = now + SESSION_TTL_SECS;
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, s| s.expires_at > now);
        if sessions.len() >= SESSIONS_MAX {
            // Full of live sessions: the one closest to expiry makes room.
            if let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.expires_at).map(|(k, _)| k.clone()) {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(sha256(&token), Session { account_token_sha256: account_token_sha256.to_owned(), expires_at });
        (token, expires_at)
    }

    /// The hash of the account token behind a live session token.
    pub fn session(&self, token: &str, now: i64) -> Option<String> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.get(&sha256(token)).filter(|s| s.expires_at > now).map(|s| s.account_token_sha256.clone())
    }

    /// Ends a session (sign-out). Returns whether it was live.
    pub fn end_session(&self, token: &str) -> bool {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(&sha256(token)).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_at(dir: &Path, account: &str, now: i64) -> String {
        let enrolments = read(&dir.join(FILE)).unwrap();
        let secret = &enrolments.iter().find(|e| e.account == account).unwrap().secret_base32;
        totp(secret).unwrap().generate(now as u64).to_string()
    }

    #[test]
    fn the_generator_matches_the_rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B: the ASCII secret "12345678901234567890", eight digits at 59 s and at
        // 1111111109 s; the six-digit code is the low six of the same value.
        let totp = Builder::new().with_secret(b"12345678901234567890".to_vec()).with_digits(8).build().unwrap();
        assert_eq!(totp.generate(59).to_string(), "94287082");
        assert_eq!(totp.generate(1_111_111_109).to_string(), "07081804");
    }

    #[test]
    fn a_code_opens_once_wrong_codes_lock_out_and_sessions_expire() {
        let dir = tempfile::tempdir().unwrap();
        let factor = SecondFactor::open(dir.path());
        assert!(!factor.required("ana"));
        assert_eq!(factor.check_code("ana", "123456", 1_000), Err(CodeRefusal::NotEnrolled));
        let uri = enrol(dir.path(), "ana").unwrap();
        assert!(uri.starts_with("otpauth://totp/Glasshouse:ana?"), "{uri}");
        assert!(factor.required("ana"), "an enrolment applies without a restart");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the secrets file is readable by its owner only");
        }
        let now = 1_800_000_000;
        let code = code_at(dir.path(), "ana", now);
        assert_eq!(factor.check_code("ana", &code, now), Ok(()));
        assert_eq!(factor.check_code("ana", &code, now + 1), Err(CodeRefusal::Reused), "a code opens one session");
        let next = code_at(dir.path(), "ana", now + 30);
        assert_eq!(factor.check_code("ana", &next, now + 31), Ok(()), "the next step's code works");
        let stale = code_at(dir.path(), "ana", now - 300);
        for _ in 0..FAILURES_MAX {
            assert_eq!(factor.check_code("ana", &stale, now + 40), Err(CodeRefusal::Wrong));
        }
        let good = code_at(dir.path(), "ana", now + 60);
        assert!(matches!(factor.check_code("ana", &good, now + 60), Err(CodeRefusal::LockedOut { .. })), "even a good code waits");
        let later = code_at(dir.path(), "ana", now + 40 + FAILURE_WINDOW_SECS);
        assert_eq!(factor.check_code("ana", &later, now + 40 + FAILURE_WINDOW_SECS), Ok(()), "the lock-out lapses");
        assert_eq!(factor.check_code("ana", "12345a", now + 500), Err(CodeRefusal::Wrong));

        let (session, expires_at) = factor.open_session("parent-hash", now);
        assert!(session.starts_with(SESSION_PREFIX));
        assert_eq!(expires_at, now + SESSION_TTL_SECS);
        assert_eq!(factor.session(&session, now + 10).as_deref(), Some("parent-hash"));
        assert_eq!(factor.session(&session, expires_at), None, "expired");
        assert!(factor.end_session(&session));
        assert_eq!(factor.session(&session, now + 10), None, "ended");

        enrol(dir.path(), "ben").unwrap();
        forget(dir.path(), "ana").unwrap();
        assert!(!factor.required("ana"));
        assert!(factor.required("ben"), "forgetting one account keeps the others");
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "rewritten after a revocation, the secrets file stays the owner's alone");
        }
    }
}
