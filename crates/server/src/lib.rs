//! The HTTP API: routes, authentication and roles, errors, the live alert stream and the console.
//!
//! The server owns no pipeline stage and no product rule: it parses requests, calls a use case of
//! the application layer (`glasshouse_app`) and serializes its answer. Every route but `/healthz` and the console's static files needs a bearer token, and each
//! route names the roles that may use it, in one table ([`routes::ROUTES`], which the router, the
//! permission check and the OpenAPI document are built from).
#![deny(missing_docs)]

pub mod auth;
pub mod error;
pub mod headers;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod second_factor;
pub mod state;
pub mod throttle;
pub mod tls;

pub use auth::{Account, Role, TokenStore};
pub use error::ApiError;
pub use routes::app;
pub use state::{AppState, AuthRefusal, BeforeRun, SqlFailure, SqlFuture, SqlService};
