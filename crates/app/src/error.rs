//! What a use case answers when it does not do what was asked: a kind the interfaces map to their
//! own vocabulary (HTTP status, exit code), a message for the person who asked, and the field of the
//! request at fault when there is one.

/// Why a use case refused or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or breaks a rule of its own (HTTP 400).
    Invalid,
    /// The request is well formed but not allowed: purpose, authority, two-person rules (403).
    Forbidden,
    /// What it names does not exist (404).
    NotFound,
    /// It clashes with the current state (409).
    Conflict,
    /// The request is larger than a limit (413).
    TooLarge,
    /// Try again later: a full queue, a stopped log (503 with a retry time).
    Unavailable {
        /// Seconds after which a retry may succeed.
        retry_after_secs: u32,
    },
    /// Something broke that the requester cannot fix (500); the message is for the log only.
    Internal,
}

/// A use case's refusal or failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// For the requester, except for [`ErrorKind::Internal`], where it is the cause to log.
    pub message: String,
    /// The request field at fault.
    pub field: Option<String>,
}

impl AppError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> AppError {
        AppError { kind, message: message.into(), field: None }
    }

    /// A malformed request as a whole (no one field at fault).
    pub fn malformed(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Invalid, message)
    }

    /// A request past a size limit.
    pub fn too_large(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::TooLarge, message)
    }

    /// A malformed request, naming the field at fault.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError { field: Some(field.into()), ..AppError::new(ErrorKind::Invalid, message) }
    }

    /// A request not allowed.
    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Forbidden, message)
    }

    /// Something named that does not exist.
    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::NotFound, message)
    }

    /// A clash with the current state.
    pub fn conflict(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Conflict, message)
    }

    /// Try again in `retry_after_secs`.
    pub fn unavailable(message: impl Into<String>, retry_after_secs: u32) -> AppError {
        AppError::new(ErrorKind::Unavailable { retry_after_secs }, message)
    }

    /// A failure inside; `cause` is logged by the interface, never shown.
    pub fn internal(cause: impl std::fmt::Display) -> AppError {
        AppError::new(ErrorKind::Internal, cause.to_string())
    }

    /// The same error naming `field`.
    pub fn at(mut self, field: impl Into<String>) -> AppError {
        self.field = Some(field.into());
        self
    }

    /// The audit log could not be written, so the action did not happen.
    pub fn audit_unavailable(cause: impl std::fmt::Display) -> AppError {
        tracing::error!(error = %cause, "audit log write failed; refusing the action");
        AppError::unavailable("the audit log cannot be written, so the action was not performed", 30)
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for AppError {}

impl From<glasshouse_store::StoreError> for AppError {
    fn from(e: glasshouse_store::StoreError) -> Self {
        AppError::internal(e)
    }
}
