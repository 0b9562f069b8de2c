//! `glasshouse token create | role | revoke | totp`: accounts, their tokens and second factors. Changes made here reach the
//! audit log through the server, which picks them up from the data directory.

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
    /// Change the role of every token of an account (audited when the server next runs).
    Role {
        /// The server's data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The account name.
        #[arg(long)]
        name: String,
        /// The new role.
        #[arg(long)]
        role: String,
    },
    /// Revoke every token of an account: they stop working at once (audited when the server next runs).
    Revoke {
        /// The server's data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The account name.
        #[arg(long)]
        name: String,
    },
    /// Enrol an account for a TOTP second factor (or give it a new secret): prints the otpauth://
    /// URI for an authenticator app as the last line. From then on the account's token opens only
    /// a session, with a current code (POST /v1/sessions, or the console's sign-in).
    Totp {
        /// The server's data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The account name.
        #[arg(long)]
        name: String,
    },
}

fn parse_role(role: &str) -> anyhow::Result<Role> {
    Role::parse(role).ok_or_else(|| {
        let names: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
        anyhow::anyhow!("unknown role {role:?}; expected one of {}", names.join(", "))
    })
}

pub fn run(command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create { data_dir, name, role } => {
            let role = parse_role(&role)?;
            let token = TokenStore::create(&data_dir, &name, role)?;
            eprintln!("created a {} token for {name}; it is stored only as a hash, so keep it now:", role.as_str());
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Role { data_dir, name, role } => {
            let role = parse_role(&role)?;
            let tokens = TokenStore::set_role(&data_dir, &name, role)?;
            eprintln!("{name} is now {} ({tokens} token(s)); the change goes into the audit log when the server next runs", role.as_str());
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Revoke { data_dir, name } => {
            let tokens = TokenStore::revoke(&data_dir, &name)?;
            eprintln!("revoked {tokens} token(s) of {name}; the revocation goes into the audit log when the server next runs");
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Totp { data_dir, name } => {
            let uri = TokenStore::enrol_second_factor(&data_dir, &name)?;
            eprintln!("{name} now signs in with a TOTP code; load this URI into an authenticator app (it is shown only here):");
            println!("{uri}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
