//! The web console's static files, embedded in the binary at build time.
//!
//! Built by `npm run build` in `console/`. When the folder was missing at compile time the server
//! still runs and says how to build the console, instead of failing the whole build.

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../console/dist"]
#[allow_missing = true]
struct Assets;

pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("v1/") {
        return crate::error::ApiError::not_found(format!("no route {}", uri.path())).into_response();
    }
    let (name, file) = match Assets::get(path) {
        Some(file) if !path.is_empty() => (path, file),
        // Unknown paths load the app, which routes on the client.
        _ => match Assets::get("index.html") {
            Some(file) => ("index.html", file),
            None => {
                return (StatusCode::NOT_FOUND, "the console is not built: run `npm ci && npm run build` in console/, then rebuild")
                    .into_response();
            }
        },
    };
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let cache = if name == "index.html" { "no-cache" } else { "public, max-age=31536000, immutable" };
    ([(header::CONTENT_TYPE, mime.as_ref().to_owned()), (header::CACHE_CONTROL, cache.to_owned())], file.data.into_owned()).into_response()
}
