//! `decloud pool ...`: the pool's own client API (on the scheduler): log in, administer users
//! and groups, declare workers, insert apps and data, submit jobs and read their results, and
//! change access bits and groups.

mod access;
mod api;
mod jobs;
mod objects;
mod session;
mod users;

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};
use decloud_pool::wire::PoolSession;

use super::services::DEFAULT_SCHEDULER_URL;
use super::shared::{WalletOpts, print_json};
use api::Api;

/// The environment variable holding the session token `decloud pool login` printed.
const TOKEN_ENV: &str = "DECLOUD_POOL_TOKEN";

/// Arguments of `decloud pool`.
#[derive(Args)]
pub(crate) struct PoolArgs {
    /// The scheduler's URL with its key's fingerprint (https://HOST:PORT#sha256:...) [default:
    /// the scheduler on 127.0.0.1:7800 of this $DECLOUD_HOME].
    #[arg(long, env = "DECLOUD_SCHEDULER", global = true, value_name = "URL")]
    scheduler: Option<String>,
    /// The session token (`decloud pool login` prints it).
    #[arg(long, env = TOKEN_ENV, global = true, hide_env_values = true, value_name = "TOKEN")]
    token: Option<String>,
    #[command(subcommand)]
    command: PoolCommand,
}

#[derive(Subcommand)]
enum PoolCommand {
    /// Log in with a login and password, a wallet, a client certificate or an OpenID Connect
    /// ID token; prints the session token to export.
    #[command(
        after_help = "Examples:\n  export DECLOUD_POOL_TOKEN=$(DECLOUD_POOL_PASSWORD=... decloud pool login --user ann)\n  decloud pool login --user ann --password-file ann.pass --json\n  decloud pool login --wallet alice\n  decloud pool login --cert carol.pem --key carol.key\n  my-idp-cli token | decloud pool login --id-token-file -"
    )]
    Login {
        /// The user's name (a password login).
        #[arg(long, required_unless_present_any = ["id_token_file", "wallet", "cert"])]
        user: Option<String>,
        /// A file holding the password (else DECLOUD_POOL_PASSWORD, else a prompt).
        #[arg(long, value_name = "FILE", requires = "user")]
        password_file: Option<PathBuf>,
        /// A file holding an OpenID Connect ID token from an issuer the pool trusts (`-`: read
        /// it from standard input). Never on the command line: other users see arguments.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["user", "wallet", "cert"])]
        id_token_file: Option<PathBuf>,
        /// A wallet (name in $DECLOUD_HOME/wallets, or a keystore path) that signs the pool's
        /// single-use challenge; its password from --wallet-password-file, else
        /// DECLOUD_WALLET_PASSWORD, else a prompt.
        #[arg(long, value_name = "NAME|PATH", conflicts_with_all = ["user", "cert"])]
        wallet: Option<String>,
        /// A file holding the wallet's password (first line).
        #[arg(long, value_name = "FILE", requires = "wallet")]
        wallet_password_file: Option<PathBuf>,
        /// A client certificate (PEM, the client's first, then any intermediate CA) from a CA
        /// the pool trusts: presented over mutual TLS to the pinned scheduler only.
        #[arg(long, value_name = "FILE", requires = "key", conflicts_with_all = ["user"])]
        cert: Option<PathBuf>,
        /// The certificate's private key (PKCS#8 PEM).
        #[arg(long, value_name = "FILE", requires = "cert")]
        key: Option<PathBuf>,
    },
    /// Users: add, list, show, validate a pending identity, set a right.
    #[command(subcommand)]
    User(UserCommand),
    /// Groups: add, add a member, list.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Apps: insert a WASI module, list, show, delete.
    #[command(subcommand)]
    App(ObjectCommand),
    /// Data: insert a file (or a certificate), list, show, delete.
    #[command(subcommand)]
    Data(ObjectCommand),
    /// Workers: declare whose work a worker does, list.
    #[command(subcommand)]
    Worker(WorkerCommand),
    /// Jobs: submit, list, show, result, delete.
    #[command(subcommand)]
    Job(JobCommand),
    /// On-chain apps and datasets: confine the deals that use them to some workers, list,
    /// release (an address the pool does not list is public).
    #[command(subcommand)]
    Onchain(OnchainCommand),
    /// Change an object's access bits (only its owner narrows them; an administrator widens).
    #[command(
        after_help = "Examples:\n  decloud pool chmod apps app-1f2e3d4c5b6a7980 750\n  decloud pool chmod data data-0011223344556677 700"
    )]
    Chmod {
        /// apps, data, jobs, users, groups or workers.
        kind: String,
        /// The object's id (a name for users and groups, an address for workers).
        id: String,
        /// The new bits, octal.
        mode: String,
    },
    /// Change an object's group (`--none` removes it).
    #[command(
        after_help = "Examples:\n  decloud pool chgrp apps app-1f2e3d4c5b6a7980 lab\n  decloud pool chgrp apps app-1f2e3d4c5b6a7980 --none"
    )]
    Chgrp {
        /// apps, data, jobs, users, groups or workers.
        kind: String,
        /// The object's id.
        id: String,
        /// The new group.
        #[arg(required_unless_present = "none")]
        group: Option<String>,
        /// No group.
        #[arg(long)]
        none: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user (its password from --password-file or DECLOUD_POOL_PASSWORD, if any).
    #[command(
        after_help = "Examples:\n  DECLOUD_POOL_PASSWORD=... decloud pool user add ann\n  decloud pool user add root2 --right administrator --password-file root2.pass"
    )]
    Add {
        /// Its name.
        name: String,
        /// Its right: visitor, standard, advanced, administrator, worker.
        #[arg(long, default_value = "standard")]
        right: String,
        /// A file holding its password.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// List the users you may see.
    #[command(after_help = "Examples:\n  decloud pool user list\n  decloud pool user list --json")]
    List,
    /// Show a user (`me` for yourself).
    #[command(
        after_help = "Examples:\n  decloud pool user show me\n  decloud pool user show ann --json"
    )]
    Show {
        /// Its name, or `me`.
        name: String,
    },
    /// Validate a pending identity (from a certificate or an OpenID token).
    #[command(after_help = "Examples:\n  decloud pool user validate carol")]
    Validate {
        /// Its name.
        name: String,
    },
    /// Set a user's right.
    #[command(after_help = "Examples:\n  decloud pool user set-right ann advanced")]
    SetRight {
        /// Its name.
        name: String,
        /// visitor, standard, advanced, administrator, worker or none.
        right: String,
    },
}

#[derive(Subcommand)]
enum GroupCommand {
    /// Create a group (you are its first member).
    #[command(after_help = "Examples:\n  decloud pool group add lab")]
    Add {
        /// Its name.
        name: String,
    },
    /// Add a member.
    #[command(after_help = "Examples:\n  decloud pool group add-member lab bob")]
    AddMember {
        /// The group.
        group: String,
        /// The user.
        user: String,
    },
    /// List the groups you may see.
    #[command(after_help = "Examples:\n  decloud pool group list --json")]
    List,
}

#[derive(Subcommand)]
enum ObjectCommand {
    /// Insert a file: a WASI module for an app, any file for a datum.
    #[command(
        after_help = "Examples:\n  decloud pool app add greeting.wasm --confinement private\n  decloud pool data add input.csv --confinement group --group lab\n  decloud pool data add me.pem --certificate"
    )]
    Add {
        /// The file.
        file: PathBuf,
        /// A name (the file's name by default).
        #[arg(long)]
        name: Option<String>,
        /// public, group or private.
        #[arg(long, default_value = "private")]
        confinement: String,
        /// Its group (for `--confinement group`).
        #[arg(long)]
        group: Option<String>,
        /// (data) An X.509 certificate: always private, never sent to a worker.
        #[arg(long)]
        certificate: bool,
    },
    /// List what you may see.
    #[command(after_help = "Examples:\n  decloud pool app list\n  decloud pool data list --json")]
    List,
    /// Show one.
    #[command(after_help = "Examples:\n  decloud pool app show app-1f2e3d4c5b6a7980 --json")]
    Show {
        /// Its id.
        id: String,
    },
    /// Delete one (its owner or an administrator; not while a job not yet ended uses it).
    #[command(
        after_help = "Examples:\n  decloud pool app delete app-1f2e3d4c5b6a7980\n  decloud pool data delete data-0011223344556677 --json"
    )]
    Delete {
        /// Its id.
        id: String,
    },
}

#[derive(Subcommand)]
enum WorkerCommand {
    /// Declare a worker's owner and confinement (administrators).
    #[command(
        after_help = "Examples:\n  decloud pool worker add 0xAb...cd --owner ann --confinement private\n  decloud pool worker add 0xAb...cd --owner ops --confinement group --group lab"
    )]
    Add {
        /// The worker's address.
        address: String,
        /// The user it works for.
        #[arg(long)]
        owner: String,
        /// public, group or private.
        #[arg(long)]
        confinement: String,
        /// Its group.
        #[arg(long)]
        group: Option<String>,
    },
    /// List the declared workers.
    #[command(after_help = "Examples:\n  decloud pool worker list --json")]
    List,
}

#[derive(Subcommand)]
enum OnchainCommand {
    /// Confine the tasks of deals of an on-chain app or dataset (administrators): a private
    /// one runs only on its owner's private workers, a group's on the group's workers.
    #[command(
        after_help = "Examples:\n  decloud pool onchain confine 0xAb...cd --kind app --owner ann --confinement private\n  decloud pool onchain confine 0xEf...01 --kind dataset --owner ops --confinement group --group lab"
    )]
    Confine {
        /// The app's or dataset's registry address.
        address: String,
        /// app or dataset.
        #[arg(long, value_parser = ["app", "dataset"])]
        kind: String,
        /// The pool user it belongs to.
        #[arg(long)]
        owner: String,
        /// public, group or private.
        #[arg(long)]
        confinement: String,
        /// Its group.
        #[arg(long)]
        group: Option<String>,
    },
    /// List the confined on-chain apps and datasets.
    #[command(after_help = "Examples:\n  decloud pool onchain list --json")]
    List,
    /// Release an on-chain app or dataset: its deals' tasks may go to any worker again.
    #[command(after_help = "Examples:\n  decloud pool onchain release 0xAb...cd")]
    Release {
        /// Its registry address.
        address: String,
    },
}

#[derive(Subcommand)]
enum JobCommand {
    /// Submit a job of an app in the pool.
    #[command(
        after_help = "Examples:\n  decloud pool job submit app-1f2e3d4c5b6a7980 --args 'Alice Bob'\n  decloud pool job submit app-1f2e3d4c5b6a7980 --datum data-0011223344556677 --json"
    )]
    Submit {
        /// The app's id.
        app: String,
        /// A datum's id.
        #[arg(long)]
        datum: Option<String>,
        /// The app's arguments.
        #[arg(long, default_value = "")]
        args: String,
    },
    /// List the jobs you may see (deals' tasks included, after a wallet login).
    #[command(after_help = "Examples:\n  decloud pool job list\n  decloud pool job list --json")]
    List,
    /// Show a job.
    #[command(
        after_help = "Examples:\n  decloud pool job show job-00112233445566778899aabb --json"
    )]
    Show {
        /// Its id.
        id: String,
    },
    /// Delete a job (its owner or an administrator; not while it runs, not a deal's task).
    #[command(after_help = "Examples:\n  decloud pool job delete job-00112233445566778899aabb")]
    Delete {
        /// Its id.
        id: String,
    },
    /// Download a job's result (the packed /out, a tar) to a file.
    #[command(
        after_help = "Examples:\n  decloud pool job result job-00112233445566778899aabb --out result.tar"
    )]
    Result {
        /// Its id.
        id: String,
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// Runs `decloud pool <noun> <verb>`.
pub(crate) async fn run(args: PoolArgs, home: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let given = args.scheduler.clone().unwrap_or_else(|| {
        decloud_local::node::local_service_url(home, "scheduler", DEFAULT_SCHEDULER_URL)
    });
    let pinned: decloud_service::transport::PinnedUrl = given.parse()?;
    let api = Api {
        http: decloud_service::transport::http_client(&pinned, reqwest::Client::builder())?,
        url: pinned.base().to_owned(),
        token: args.token.filter(|t| !t.is_empty()),
    };
    let needs_session = !matches!(args.command, PoolCommand::Login { .. });
    if needs_session && api.token.is_none() {
        bail!("no session: run `decloud pool login --user NAME` and export {TOKEN_ENV}");
    }
    match args.command {
        PoolCommand::Login {
            user,
            password_file,
            id_token_file,
            wallet,
            wallet_password_file,
            cert,
            key,
        } => {
            let session: PoolSession = if let Some(file) = id_token_file {
                session::login_oidc(&api, &file).await?
            } else if let Some(wallet) = wallet {
                let signer = WalletOpts {
                    wallet,
                    password_file: wallet_password_file,
                }
                .unlock(home)?;
                session::login_wallet(&api, &signer).await?
            } else if let (Some(cert), Some(key)) = (cert, key) {
                session::login_certificate(&api, &pinned, &cert, &key).await?
            } else if let Some(user) = user {
                session::login_password(&api, user, password_file.as_deref()).await?
            } else {
                bail!(
                    "pass --user NAME, --wallet NAME, --cert FILE --key FILE or --id-token-file FILE"
                )
            };
            if json {
                return print_json(&session);
            }
            println!("{}", session.token);
        }
        PoolCommand::User(command) => users::user(&api, command, json).await?,
        PoolCommand::Group(command) => users::group(&api, command, json).await?,
        PoolCommand::App(command) => objects::objects(&api, "apps", command, json).await?,
        PoolCommand::Data(command) => objects::objects(&api, "data", command, json).await?,
        PoolCommand::Worker(command) => objects::worker(&api, command, json).await?,
        PoolCommand::Onchain(command) => objects::onchain(&api, command, json).await?,
        PoolCommand::Job(command) => jobs::job(&api, command, json).await?,
        PoolCommand::Chmod { kind, id, mode } => access::chmod(&api, kind, id, mode, json).await?,
        PoolCommand::Chgrp {
            kind,
            id,
            group,
            none,
        } => access::chgrp(&api, kind, id, group, none, json).await?,
    }
    Ok(())
}
