//! `glasshouse token create`.

use clap::Subcommand;
use glasshouse_server::{Role, TokenStore};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token for a named account; prints the token as the last line (it is shown only once).
    Create {
        /// The server's data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The account name (letters, digits, . _ - @).
        #[arg(long)]
        name: String,
        /// operator, investigator, supervisor, analyst, custodian, auditor, administrator or ingest.
        #[arg(long)]
        role: String,
    },
}

pub fn run(command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create { data_dir, name, role } => {
            let Some(role) = Role::parse(&role) else {
                let names: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
                anyhow::bail!("unknown role {role:?}; expected one of {}", names.join(", "));
            };
            let token = TokenStore::create(&data_dir, &name, role)?;
            eprintln!("created a {} token for {name}; it is stored only as a hash, so keep it now:", role.as_str());
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
