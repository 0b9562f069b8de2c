//! `glasshouse report`: the transparency report of a running server, saved to a file.

use super::client::ApiClient;
use anyhow::{Context, bail};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ReportArgs {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub url: String,
    /// An auditor, supervisor or custodian token.
    #[arg(long)]
    pub token: String,
    /// Start of the period (RFC 3339); default 30 days before --to.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the period (RFC 3339); default now.
    #[arg(long)]
    pub to: Option<String>,
    /// Where to write the report; `.json` writes the figures, anything else the HTML page.
    #[arg(long)]
    pub out: PathBuf,
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.:".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let format = if args.out.extension().is_some_and(|e| e == "json") { "json" } else { "html" };
    let mut query = format!("/v1/reports?format={format}");
    for (name, value) in [("from", &args.from), ("to", &args.to)] {
        if let Some(value) = value {
            query.push_str(&format!("&{name}={}", encode(value)));
        }
    }
    let response = ApiClient::new(&args.url).send("GET", &query, &args.token, "application/json", Vec::new())?;
    if response.status != 200 {
        bail!("GET {query}: {} {}", response.status, response.body);
    }
    std::fs::write(&args.out, response.body).with_context(|| format!("writing {}", args.out.display()))?;
    println!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
