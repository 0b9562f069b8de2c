//! The log's side of witnessing: the witnesses it asks, what each last cosigned, and the newest
//! checkpoint with the cosignatures gathered for it.
//!
//! A round takes the log's newest checkpoint and sends it to every witness with a consistency proof
//! from the size that witness last cosigned (C2SP `tlog-witness`). A witness that answers 409 says
//! its size; the round retries once from there (after a restart, or for a witness that was
//! offline). Each cosignature is checked against the witness's published key before it is kept. The
//! newest checkpoint some witness cosigned is served with its cosignatures, so an auditor can check
//! that others saw the same log. What the round learned is saved, so a restart does not ask again
//! from nothing. The HTTP transport is the caller's (a function from URL and body to an answer).

use crate::AuditLog;
use crate::cosignature::CosignatureVerifier;
use crate::note::split_note;
use crate::witness::{SIZE_CONTENT_TYPE, request_body};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A witness the log asks: its published key and where it listens.
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    /// Its cosignature verifier key.
    pub verifier: CosignatureVerifier,
    /// Its submission prefix (`POST <url>/add-checkpoint`).
    pub url: String,
}

impl WitnessConfig {
    /// Parses `<verifier key>@<url>`: a key's base64 never holds `@`.
    pub fn parse(text: &str) -> Result<WitnessConfig, String> {
        let (key, url) = text.split_once('@').ok_or("expected <witness verifier key>@<url>")?;
        let verifier = CosignatureVerifier::parse(key).map_err(|e| e.to_string())?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("{url:?} is not an http(s) URL"));
        }
        Ok(WitnessConfig { verifier, url: url.trim_end_matches('/').to_owned() })
    }
}

/// A witness's answer, as the transport got it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Its content type.
    pub content_type: String,
    /// Its body.
    pub body: String,
}

/// What the log knows of one witness.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WitnessStatus {
    /// The witness's name.
    pub name: String,
    /// Where it listens.
    pub url: String,
    /// The size it last cosigned.
    pub cosigned_size: u64,
    /// When (POSIX seconds, as the cosignature says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosigned_at: Option<u64>,
    /// Why the last round got no cosignature from it, if it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refusal: Option<String>,
}

/// The newest checkpoint some witness cosigned, with every cosignature gathered for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cosigned {
    /// Its tree size.
    pub size: u64,
    /// The log's signed note followed by the witnesses' cosignature lines.
    pub note: String,
    /// The witnesses that cosigned it.
    pub witnesses: Vec<String>,
}

#[derive(Default, Serialize, Deserialize)]
struct Gathered {
    witnesses: BTreeMap<String, WitnessStatus>,
    cosigned: Option<Cosigned>,
}

/// The witnesses a log asks and what they said.
pub struct Witnessing {
    witnesses: Vec<WitnessConfig>,
    path: Option<PathBuf>,
    gathered: Mutex<Gathered>,
}

impl Witnessing {
    /// Witnessing with `witnesses`, remembering what they said in `path` (read when present).
    pub fn open(witnesses: Vec<WitnessConfig>, path: Option<&Path>) -> std::io::Result<Witnessing> {
        let mut gathered: Gathered = match path.map(std::fs::read) {
            Some(Ok(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Some(Err(e)) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => Gathered::default(),
        };
        // Only the witnesses configured now: a removed one is forgotten, a new one starts at 0.
        let mut statuses = BTreeMap::new();
        for w in &witnesses {
            let mut status = gathered.witnesses.remove(w.verifier.name()).unwrap_or_default();
            status.name = w.verifier.name().to_owned();
            status.url = w.url.clone();
            statuses.insert(status.name.clone(), status);
        }
        gathered.witnesses = statuses;
        Ok(Witnessing { witnesses, path: path.map(Path::to_owned), gathered: Mutex::new(gathered) })
    }

    /// No witnesses: nothing is asked and nothing is served.
    pub fn none() -> Witnessing {
        Witnessing { witnesses: Vec::new(), path: None, gathered: Mutex::new(Gathered::default()) }
    }

    /// True when witnesses are configured.
    pub fn is_configured(&self) -> bool {
        !self.witnesses.is_empty()
    }

    /// What the log knows of each witness.
    pub fn statuses(&self) -> Vec<WitnessStatus> {
        self.lock().witnesses.values().cloned().collect()
    }

    /// The newest cosigned checkpoint.
    pub fn cosigned(&self) -> Option<Cosigned> {
        self.lock().cosigned.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gathered> {
        self.gathered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks every witness that has not cosigned the log's newest checkpoint to cosign it. Returns
    /// how many cosignatures the newest checkpoint now has.
    pub fn round(&self, log: &AuditLog, post: impl Fn(&str, String) -> Result<Answer, String>) -> usize {
        let (size, note) = log.checkpoint();
        let Ok((body, _)) = split_note(&note) else { return 0 };
        let mut lines: Vec<(String, String, u64)> = Vec::new();
        for witness in &self.witnesses {
            let name = witness.verifier.name().to_owned();
            let known = self.lock().witnesses.get(&name).map_or(0, |s| s.cosigned_size);
            if known == size && self.lock().cosigned.as_ref().is_some_and(|c| c.size == size && c.witnesses.contains(&name)) {
                continue;
            }
            let outcome = self.ask(log, witness, known, size, &note, &body, &post);
            let mut gathered = self.lock();
            let status = gathered.witnesses.entry(name.clone()).or_default();
            match outcome {
                Ok((line, at)) => {
                    status.cosigned_size = size;
                    status.cosigned_at = Some(at);
                    status.last_refusal = None;
                    lines.push((name, line, at));
                }
                Err((learned, why)) => {
                    if let Some(learned) = learned {
                        status.cosigned_size = learned;
                    }
                    status.last_refusal = Some(why);
                }
            }
        }
        let mut gathered = self.lock();
        if !lines.is_empty() {
            let mut cosigned = match gathered.cosigned.take() {
                Some(c) if c.size == size => c,
                _ => Cosigned { size, note: note.clone(), witnesses: Vec::new() },
            };
            for (name, line, _) in lines {
                if !cosigned.witnesses.contains(&name) {
                    cosigned.note.push_str(&line);
                    cosigned.witnesses.push(name);
                }
            }
            gathered.cosigned = Some(cosigned);
        }
        if let Some(path) = &self.path
            && let Err(e) = save(path, &gathered)
        {
            tracing::warn!(error = %e, "the witnesses' cosignatures could not be saved; the next start asks again");
        }
        gathered.cosigned.as_ref().filter(|c| c.size == size).map_or(0, |c| c.witnesses.len())
    }

    /// One witness, from the size it is believed to have: a verified cosignature line and its time,
    /// or the size it said it has (if it said) and why it did not cosign.
    #[allow(clippy::too_many_arguments)]
    fn ask(
        &self,
        log: &AuditLog,
        witness: &WitnessConfig,
        mut old: u64,
        size: u64,
        note: &str,
        body: &str,
        post: &impl Fn(&str, String) -> Result<Answer, String>,
    ) -> Result<(String, u64), (Option<u64>, String)> {
        let url = format!("{}/add-checkpoint", witness.url);
        let mut learned = None;
        for _ in 0..2 {
            if old > size {
                return Err((
                    learned,
                    format!("the witness has cosigned size {old}, beyond this log's {size}: was the log restored from a backup?"),
                ));
            }
            let proof = if old == 0 || old == size {
                Vec::new()
            } else {
                log.consistency_proof(old, size).ok().flatten().ok_or((learned, format!("no consistency proof from {old} to {size}")))?
            };
            let answer = post(&url, request_body(old, &proof, note)).map_err(|e| (learned, format!("unreachable: {e}")))?;
            match answer.status {
                200 => {
                    let valid = answer.body.lines().find_map(|l| witness.verifier.verify(body, &[l]).map(|at| (format!("{l}\n"), at)));
                    return valid.ok_or((learned, "answered 200 without a valid cosignature from its key".into()));
                }
                409 if answer.content_type.starts_with(SIZE_CONTENT_TYPE) => match answer.body.trim().parse::<u64>() {
                    Ok(theirs) if Some(theirs) != learned => {
                        learned = Some(theirs);
                        old = theirs;
                    }
                    _ => return Err((learned, format!("409: {}", answer.body.trim()))),
                },
                status => return Err((learned, format!("{status}: {}", answer.body.trim()))),
            }
        }
        Err((learned, "the witness's size changed while it was asked".into()))
    }
}

fn save(path: &Path, gathered: &Gathered) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(gathered).expect("statuses serialise");
    glasshouse_wal::files::replace(path, &bytes, glasshouse_wal::files::Readers::Default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosignature::Cosigner;
    use crate::note::NoteVerifier;
    use crate::witness::Witness;
    use crate::{Action, AuditEvent};

    fn event(n: u64) -> AuditEvent {
        AuditEvent {
            actor: "ines".into(),
            role: "investigator".into(),
            component: crate::Component::System,
            address: None,
            action: Action::SqlQuery,
            outcome: "ok".into(),
            details: serde_json::json!({ "n": n }),
        }
    }

    /// A witness answering in-process, as its HTTP server would.
    fn transport(witness: &Witness) -> impl Fn(&str, String) -> Result<Answer, String> + '_ {
        |_, body| {
            Ok(match witness.add_checkpoint(&body, 1_700_000_000) {
                Ok(line) => Answer { status: 200, content_type: "text/plain".into(), body: line },
                Err(crate::witness::Refusal::StaleOldSize { latest, .. }) => {
                    Answer { status: 409, content_type: SIZE_CONTENT_TYPE.into(), body: format!("{latest}\n") }
                }
                Err(refusal) => Answer { status: refusal.status(), content_type: "text/plain".into(), body: refusal.to_string() },
            })
        }
    }

    #[test]
    fn rounds_gather_verified_cosignatures_as_the_log_grows_and_relearn_a_witness_size_after_a_lost_state() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("audit"), &dir.path().join("keys")).unwrap();
        let log_key = NoteVerifier::parse(&log.verifier_key()).unwrap();
        let witness = Witness::open(Cosigner::new("witness.test/w1", &[5u8; 32]), vec![log_key], &dir.path().join("w.json")).unwrap();
        let config = WitnessConfig::parse(&format!("{}@http://127.0.0.1:9/", witness.verifier_key())).unwrap();
        let state = dir.path().join("witnessing.json");
        let witnessing = Witnessing::open(vec![config.clone()], Some(&state)).unwrap();
        for n in 0..3 {
            log.append(event(n)).unwrap();
        }
        assert_eq!(witnessing.round(&log, transport(&witness)), 1);
        let cosigned = witnessing.cosigned().unwrap();
        assert_eq!(cosigned.size, 3);
        let (body, lines) = split_note(&cosigned.note).unwrap();
        assert_eq!(lines.len(), 2, "the log's signature and the witness's");
        assert_eq!(config.verifier.verify(&body, &lines), Some(1_700_000_000));
        assert!(NoteVerifier::parse(&log.verifier_key()).unwrap().open(&cosigned.note).is_ok(), "still the log's signed note");

        for n in 3..7 {
            log.append(event(n)).unwrap();
        }
        assert_eq!(witnessing.round(&log, transport(&witness)), 1, "grown, with a consistency proof from 3");
        assert_eq!(witness.head(&log_key_name(&log)).unwrap().size, 7);

        // The log forgets what the witness cosigned: the witness says its size and the round retries.
        std::fs::remove_file(&state).unwrap();
        let forgetful = Witnessing::open(vec![config], Some(&state)).unwrap();
        log.append(event(7)).unwrap();
        assert_eq!(forgetful.round(&log, transport(&witness)), 1);
        assert_eq!(forgetful.statuses()[0].cosigned_size, 8);
        assert_eq!(forgetful.statuses()[0].last_refusal, None);
    }

    fn log_key_name(log: &AuditLog) -> String {
        NoteVerifier::parse(&log.verifier_key()).unwrap().name().to_owned()
    }

    #[test]
    fn a_witness_address_is_a_cosigner_key_and_an_http_url() {
        let key = Cosigner::new("witness.test/w1", &[5u8; 32]).verifier_key();
        assert!(WitnessConfig::parse(&format!("{key}@https://witness.example/")).is_ok());
        assert!(WitnessConfig::parse(&key).is_err(), "no address");
        assert!(WitnessConfig::parse(&format!("{key}@ftp://witness.example")).is_err());
        let log_key = crate::note::NoteSigner::new("log.test", &[1u8; 32]).verifier_key();
        assert!(WitnessConfig::parse(&format!("{log_key}@http://127.0.0.1:1")).is_err(), "a log's key is not a witness's");
    }
}
