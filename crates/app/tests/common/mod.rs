//! An application over a temporary data directory, with an ingest entrance that makes records
//! searchable at once (the binary's tests drive the real WAL behind the same seam).
#![allow(dead_code)]

use glasshouse_app::{App, Ingest, IngestOutcome, IngestQueue, PushBack, SubmitError};
use glasshouse_ingest::DeadLetterStore;
use glasshouse_model::validate::{RawRecord, from_stored};
use glasshouse_model::{Device, DeviceType, Observation, Timestamp};
use glasshouse_sinks::AlertLog;
use glasshouse_store::{Catalog, CatalogEvent, SegmentStore, Store};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::oneshot;

/// Puts submitted records straight into the store's hot window, or refuses while `busy`.
pub struct IntoStore {
    pub store: Arc<Store>,
    pub busy: AtomicBool,
    next_lsn: AtomicU64,
}

impl IngestQueue for IntoStore {
    fn submit(&self, observations: Vec<Observation>, _: PushBack) -> Result<oneshot::Receiver<Result<IngestOutcome, String>>, SubmitError> {
        if self.busy.load(Ordering::Relaxed) {
            return Err(SubmitError::Busy);
        }
        let appended = observations.len();
        let first = self.next_lsn.fetch_add(appended as u64, Ordering::Relaxed) + 1;
        self.store.insert(observations.into_iter().enumerate().map(|(i, o)| (first + i as u64, o)));
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Ok(IngestOutcome { appended, duplicates: 0 }));
        Ok(rx)
    }
}

pub struct Fixture {
    pub app: App,
    pub sink: Arc<IntoStore>,
}

/// An application over `dir` with a plate reader `lpr-1` and a camera `cam-1` registered.
pub fn app(dir: &Path) -> Fixture {
    let mut catalog = Catalog::open(&dir.join("catalog")).unwrap();
    for device in [
        Device::fixed("lpr-1", DeviceType::PlateReader, 60.17, 24.94),
        Device {
            bearing_deg: Some(90.0),
            fov_deg: Some(60.0),
            range_m: Some(80.0),
            ..Device::fixed("cam-1", DeviceType::Camera, 60.17, 24.94)
        },
    ] {
        catalog.record(CatalogEvent::DeviceUpserted { device, actor: "test".into(), at: Timestamp(0) }).unwrap();
    }
    let store = Arc::new(Store::new(SegmentStore::open(dir.join("segments")).unwrap()));
    let sink = Arc::new(IntoStore { store: store.clone(), busy: AtomicBool::new(false), next_lsn: AtomicU64::new(0) });
    let app = App {
        devices: RwLock::new(Arc::new(catalog.devices.clone())),
        engine: Arc::new(RwLock::new(Arc::new(catalog.engine()))),
        catalog: Mutex::new(catalog),
        ingest: Ingest::new(
            sink.clone(),
            DeadLetterStore::open(dir.join("dead_letter.ndjson")).unwrap(),
            glasshouse_store::ImageStore::open(&dir.join("images")).unwrap(),
        ),
        alerts: Arc::new(AlertLog::open(&dir.join("alerts"), glasshouse_wal::FsyncPolicy::Never).unwrap()),
        store,
        audit: Arc::new(glasshouse_audit::AuditLog::open(&dir.join("audit"), &dir.join("audit-keys")).unwrap()),
        policy: Default::default(),
        approvals: glasshouse_audit::approvals::ApprovalBook::open(&dir.join("approvals")).unwrap(),
        holds: glasshouse_audit::holds::HoldBook::open(&dir.join("holds")).unwrap(),
        warrants: glasshouse_audit::warrants::WarrantBook::open(&dir.join("warrants")).unwrap(),
        cases: glasshouse_audit::cases::CaseBook::open(&dir.join("cases")).unwrap(),
        exigencies: glasshouse_audit::exigency::ExigencyBook::open(&dir.join("exigency_reviews")).unwrap(),
        retention: glasshouse_app::retention::RetentionSettings::new(Default::default(), Some(dir.join("retention.json"))),
        changes: glasshouse_audit::changes::ChangeBook::open(&dir.join("changes")).unwrap(),
        sharing: Default::default(),
        rule_metrics: Default::default(),
        witnessing: std::sync::Arc::new(glasshouse_audit::witnessing::Witnessing::none()),
        audit_reads: Default::default(),
    };
    Fixture { app, sink }
}

/// A plate read at `lpr-1`, `minutes_ago` before now, as NDJSON.
pub fn read_line(id: &str, plate: &str, minutes_ago: i64) -> String {
    let at = Timestamp::now().plus_secs(-minutes_ago * 60);
    format!(r#"{{"id":"{id}","kind":"plate_read","device_id":"lpr-1","observed_at":"{}","plate":"{plate}"}}"#, at.to_rfc3339())
}

/// The same read as an observation, for putting straight into the store.
pub fn read(id: &str, plate: &str, observed_at: Timestamp) -> Observation {
    let line = format!(
        r#"{{"id":"{id}","kind":"plate_read","device_id":"lpr-1","observed_at":"{}","received_at":"{}","lat":60.17,"lon":24.94,"plate":"{plate}"}}"#,
        observed_at.to_rfc3339(),
        observed_at.to_rfc3339()
    );
    from_stored(&serde_json::from_str::<RawRecord>(&line).unwrap()).unwrap()
}

/// A dispatch incident's report, for putting straight into the store.
pub fn incident(id: &str, incident_id: &str, observed_at: Timestamp) -> Observation {
    let line = format!(
        r#"{{"id":"{id}","kind":"incident","device_id":"cad","observed_at":"{}","received_at":"{}","lat":60.17,"lon":24.94,"incident_id":"{incident_id}","type_code":"SHOTS","priority":1,"status":"open"}}"#,
        observed_at.to_rfc3339(),
        observed_at.to_rfc3339()
    );
    from_stored(&serde_json::from_str::<RawRecord>(&line).unwrap()).unwrap()
}

/// Every audit entry as JSON, oldest first.
pub fn entries(app: &App) -> Vec<serde_json::Value> {
    app.audit.entries(0, usize::MAX).unwrap().iter().map(|b| serde_json::from_slice(b).unwrap()).collect()
}
