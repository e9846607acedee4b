//! `decloud pool ...`: the pool's own client API (on the scheduler): log in, administer users
//! and groups, declare workers, insert apps and data, submit jobs and read their results, and
//! change access bits and groups.

use std::path::{Path, PathBuf};

use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use base64::Engine;
use clap::{Args, Subcommand};
use decloud_pool::wire::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::services::DEFAULT_SCHEDULER_URL;
use super::shared::{Untrusted, WalletOpts, print_json, table};

/// The environment variable holding the session token `decloud pool login` printed.
const TOKEN_ENV: &str = "DECLOUD_POOL_TOKEN";
/// The environment variable holding a password (the login's, or a new user's).
const PASSWORD_ENV: &str = "DECLOUD_POOL_PASSWORD";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

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

/// The pool API of one scheduler, with a session or not.
struct Api {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: String,
}

impl Api {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.url));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn bytes(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Vec<u8>> {
        let response = request.send().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the scheduler at {}: {}",
                self.url,
                decloud_service::transport::error_chain(&e.without_url())
            )
        })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .context("reading the scheduler's answer")?;
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&body)
                .map(|b| b.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
            bail!(
                "the pool refused ({}): {}",
                status.as_u16(),
                Untrusted(message)
            );
        }
        Ok(body.to_vec())
    }

    async fn json<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        let body = self.bytes(request).await?;
        serde_json::from_slice(&body)
            .context("the scheduler's answer is not what the pool API sends")
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.json(self.request(reqwest::Method::GET, path)).await
    }

    async fn post<T: DeserializeOwned, B: Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.json(self.request(reqwest::Method::POST, path).json(body))
            .await
    }
}

fn read_password(file: Option<&Path>, prompt: &str) -> anyhow::Result<Option<String>> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the password file {}", file.display()))?;
        return Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()));
    }
    if let Ok(p) = std::env::var(PASSWORD_ENV)
        && !p.is_empty()
    {
        return Ok(Some(p));
    }
    if prompt.is_empty() || !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Ok(None);
    }
    Ok(Some(
        rpassword::prompt_password(prompt).context("reading the password")?,
    ))
}

fn objects_table(objects: &[ObjectInfo]) {
    let mut t = table([
        "id",
        "name",
        "owner",
        "group",
        "mode",
        "confinement",
        "kind",
        "size",
    ]);
    for o in objects {
        t.add_row(vec![
            Untrusted(&o.id).to_string(),
            Untrusted(&o.name).to_string(),
            Untrusted(&o.owner).to_string(),
            Untrusted(o.group.as_deref().unwrap_or("-")).to_string(),
            o.mode.to_string(),
            o.confinement.as_str().to_owned(),
            o.kind.clone(),
            o.size.to_string(),
        ]);
    }
    println!("{t}");
}

fn users_table(users: &[UserInfo]) {
    let mut t = table(["name", "right", "status", "groups", "identities"]);
    for u in users {
        t.add_row(vec![
            Untrusted(&u.name).to_string(),
            u.right.as_str().to_owned(),
            u.status.clone(),
            Untrusted(u.groups.join(",")).to_string(),
            Untrusted(u.identities.join(" ")).to_string(),
        ]);
    }
    println!("{t}");
}

fn jobs_table(jobs: &[JobInfo]) {
    let mut t = table(["id", "owner", "app", "status", "worker", "origin"]);
    for j in jobs {
        t.add_row(vec![
            Untrusted(&j.id).to_string(),
            Untrusted(&j.owner).to_string(),
            Untrusted(&j.app).to_string(),
            Untrusted(&j.status).to_string(),
            Untrusted(j.worker.as_deref().unwrap_or("-")).to_string(),
            j.origin.clone(),
        ]);
    }
    println!("{t}");
}

/// A secret read from `file` (`-`: standard input), trimmed; refused when empty.
fn read_secret_file(file: &Path, what: &str) -> anyhow::Result<String> {
    let text = if file == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .with_context(|| format!("reading {what} from standard input"))?;
        text
    } else {
        std::fs::read_to_string(file)
            .with_context(|| format!("reading {what} from {}", file.display()))?
    };
    let text = text.trim().to_owned();
    if text.is_empty() {
        bail!("{what} is empty: pass a file that holds it");
    }
    Ok(text)
}

fn confinement(text: &str) -> anyhow::Result<Confinement> {
    text.parse().map_err(|e: String| anyhow::anyhow!(e))
}

fn right(text: &str) -> anyhow::Result<decloud_pool::Right> {
    Ok(text.parse()?)
}

/// A wallet login: `signer` signs the pool's single-use challenge. The message signed is made
/// here from the challenge's parts, never taken as the scheduler sent it, so a scheduler cannot
/// get the wallet to sign any other text.
async fn login_wallet(api: &Api, signer: &PrivateKeySigner) -> anyhow::Result<PoolSession> {
    let challenge: decloud_protocol::pool::Challenge = api.get("/v1/pool/login/challenge").await?;
    if challenge.nonce.is_empty()
        || challenge.nonce.len() > 64
        || !challenge.nonce.bytes().all(|b| b.is_ascii_hexdigit())
    {
        bail!("the scheduler's login challenge is malformed: check --scheduler");
    }
    let message = decloud_protocol::pool::login_message(
        &challenge.nonce,
        challenge.scheduler,
        challenge.deadline,
    );
    let signature = signer
        .sign_message_sync(message.as_bytes())
        .context("signing the login challenge")?;
    api.post(
        "/v1/pool/login/wallet",
        &WalletLogin {
            address: signer.address(),
            nonce: challenge.nonce,
            deadline: challenge.deadline,
            signature: signature.to_string(),
        },
    )
    .await
}

/// A client-certificate login: mutual TLS to the pinned scheduler, presenting `cert` (PEM
/// chain) with its PKCS#8 `key`.
async fn login_certificate(
    api: &Api,
    pinned: &decloud_service::transport::PinnedUrl,
    cert: &Path,
    key: &Path,
) -> anyhow::Result<PoolSession> {
    let chain = decloud_service::tls::load_certificates(cert)?;
    let key = decloud_service::tls::load_private_key(key)?;
    let api = Api {
        http: decloud_service::transport::http_client_with_certificate(
            pinned,
            reqwest::Client::builder(),
            chain,
            key,
        )?,
        url: api.url.clone(),
        token: None,
    };
    api.post("/v1/pool/login/certificate", &serde_json::json!({}))
        .await
        .map_err(|e| {
            // A certificate of a CA the pool does not trust fails the handshake itself: say so
            // rather than leave the reader with a TLS alert.
            if e.to_string().starts_with("cannot reach the scheduler") {
                anyhow::anyhow!(
                    "{e} (a scheduler refuses the handshake of a certificate whose CA is not in its pool's trust list)"
                )
            } else {
                e
            }
        })
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
                let id_token = read_secret_file(&file, "the ID token")?;
                api.post("/v1/pool/login/oidc", &OidcLogin { id_token })
                    .await?
            } else if let Some(wallet) = wallet {
                let signer = WalletOpts {
                    wallet,
                    password_file: wallet_password_file,
                }
                .unlock(home)?;
                login_wallet(&api, &signer).await?
            } else if let (Some(cert), Some(key)) = (cert, key) {
                login_certificate(&api, &pinned, &cert, &key).await?
            } else if let Some(user) = user {
                let password = read_password(password_file.as_deref(), "password: ")?
                    .with_context(|| {
                        format!("no password: pass --password-file or set {PASSWORD_ENV}")
                    })?;
                api.post(
                    "/v1/pool/login/password",
                    &PasswordLogin {
                        login: user,
                        password,
                    },
                )
                .await?
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
        PoolCommand::User(command) => match command {
            UserCommand::Add {
                name,
                right: r,
                password_file,
            } => {
                let password = read_password(password_file.as_deref(), "")?;
                let user: UserInfo = api
                    .post(
                        "/v1/pool/users",
                        &NewUser {
                            name,
                            right: Some(right(&r)?),
                            password,
                        },
                    )
                    .await?;
                if json {
                    return print_json(&user);
                }
                println!(
                    "user {} added ({})",
                    Untrusted(&user.name),
                    user.right.as_str()
                );
            }
            UserCommand::List => {
                let users: Vec<UserInfo> = api.get("/v1/pool/users").await?;
                if json {
                    return print_json(&users);
                }
                users_table(&users);
            }
            UserCommand::Show { name } => {
                let path = if name == "me" {
                    "/v1/pool/me".to_owned()
                } else {
                    format!("/v1/pool/users/{name}")
                };
                let user: UserInfo = api.get(&path).await?;
                if json {
                    return print_json(&user);
                }
                users_table(std::slice::from_ref(&user));
            }
            UserCommand::Validate { name } => {
                let user: UserInfo = api
                    .post(
                        &format!("/v1/pool/users/{name}/validate"),
                        &serde_json::json!({}),
                    )
                    .await?;
                if json {
                    return print_json(&user);
                }
                println!("user {} is {}", Untrusted(&user.name), user.status);
            }
            UserCommand::SetRight { name, right: r } => {
                let user: UserInfo = api
                    .post(
                        &format!("/v1/pool/users/{name}/right"),
                        &SetRight { right: right(&r)? },
                    )
                    .await?;
                if json {
                    return print_json(&user);
                }
                println!(
                    "user {} now has the right {}",
                    Untrusted(&user.name),
                    user.right.as_str()
                );
            }
        },
        PoolCommand::Group(command) => match command {
            GroupCommand::Add { name } => {
                let group: GroupInfo = api.post("/v1/pool/groups", &NewGroup { name }).await?;
                if json {
                    return print_json(&group);
                }
                println!("group {} added", Untrusted(&group.name));
            }
            GroupCommand::AddMember { group, user } => {
                let group: GroupInfo = api
                    .post(
                        &format!("/v1/pool/groups/{group}/members"),
                        &NewMember { user },
                    )
                    .await?;
                if json {
                    return print_json(&group);
                }
                println!(
                    "group {}: {}",
                    Untrusted(&group.name),
                    Untrusted(group.members.join(", "))
                );
            }
            GroupCommand::List => {
                let groups: Vec<GroupInfo> = api.get("/v1/pool/groups").await?;
                if json {
                    return print_json(&groups);
                }
                let mut t = table(["name", "owner", "mode", "members"]);
                for g in &groups {
                    t.add_row(vec![
                        Untrusted(&g.name).to_string(),
                        Untrusted(&g.owner).to_string(),
                        g.mode.to_string(),
                        Untrusted(g.members.join(",")).to_string(),
                    ]);
                }
                println!("{t}");
            }
        },
        PoolCommand::App(command) => objects(&api, "apps", command, json).await?,
        PoolCommand::Data(command) => objects(&api, "data", command, json).await?,
        PoolCommand::Worker(command) => match command {
            WorkerCommand::Add {
                address,
                owner,
                confinement: c,
                group,
            } => {
                let address = super::shared::parse_address(&address, "the worker's address")?;
                let worker: ObjectInfo = api
                    .post(
                        "/v1/pool/workers",
                        &NewWorker {
                            address,
                            owner,
                            confinement: confinement(&c)?,
                            group,
                        },
                    )
                    .await?;
                if json {
                    return print_json(&worker);
                }
                println!(
                    "worker {} works for {} ({})",
                    worker.id,
                    Untrusted(&worker.owner),
                    worker.confinement.as_str()
                );
            }
            WorkerCommand::List => {
                let workers: Vec<ObjectInfo> = api.get("/v1/pool/workers").await?;
                if json {
                    return print_json(&workers);
                }
                objects_table(&workers);
            }
        },
        PoolCommand::Onchain(command) => match command {
            OnchainCommand::Confine {
                address,
                kind,
                owner,
                confinement: c,
                group,
            } => {
                let address = super::shared::parse_address(&address, "the registry address")?;
                let kind = if kind == "app" {
                    ChainKind::App
                } else {
                    ChainKind::Dataset
                };
                let confined: ObjectInfo = api
                    .post(
                        "/v1/pool/onchain",
                        &NewChainResource {
                            address,
                            kind,
                            owner,
                            confinement: confinement(&c)?,
                            group,
                        },
                    )
                    .await?;
                if json {
                    return print_json(&confined);
                }
                println!(
                    "{} {} is {} to {}",
                    confined.kind,
                    confined.id,
                    confined.confinement.as_str(),
                    Untrusted(confined.group.as_deref().unwrap_or(&confined.owner))
                );
            }
            OnchainCommand::List => {
                let listed: Vec<ObjectInfo> = api.get("/v1/pool/onchain").await?;
                if json {
                    return print_json(&listed);
                }
                objects_table(&listed);
            }
            OnchainCommand::Release { address } => {
                let address = super::shared::parse_address(&address, "the registry address")?;
                let answer: serde_json::Value = api
                    .json(api.request(
                        reqwest::Method::DELETE,
                        &format!("/v1/pool/onchain/{address}"),
                    ))
                    .await?;
                if json {
                    return print_json(&answer);
                }
                println!("{address} is public again: its deals' tasks may go to any worker");
            }
        },
        PoolCommand::Job(command) => match command {
            JobCommand::Submit { app, datum, args } => {
                let job: JobInfo = api
                    .post("/v1/pool/jobs", &NewJob { app, datum, args })
                    .await?;
                if json {
                    return print_json(&job);
                }
                println!("job {} submitted", Untrusted(&job.id));
            }
            JobCommand::List => {
                let jobs: Vec<JobInfo> = api.get("/v1/pool/jobs").await?;
                if json {
                    return print_json(&jobs);
                }
                jobs_table(&jobs);
            }
            JobCommand::Show { id } => {
                let job: JobInfo = api.get(&format!("/v1/pool/jobs/{id}")).await?;
                if json {
                    return print_json(&job);
                }
                jobs_table(std::slice::from_ref(&job));
                if let Some(reason) = &job.reason {
                    println!("reason: {}", Untrusted(reason));
                }
            }
            JobCommand::Delete { id } => delete(&api, "jobs", &id, json).await?,
            JobCommand::Result { id, out } => {
                let bytes = api
                    .bytes(api.request(reqwest::Method::GET, &format!("/v1/pool/jobs/{id}/result")))
                    .await?;
                std::fs::write(&out, &bytes)
                    .with_context(|| format!("writing {}", out.display()))?;
                if json {
                    return print_json(
                        &serde_json::json!({"job": id, "file": out, "bytes": bytes.len()}),
                    );
                }
                println!(
                    "result of {} written to {} ({} bytes)",
                    Untrusted(&id),
                    out.display(),
                    bytes.len()
                );
            }
        },
        PoolCommand::Chmod { kind, id, mode } => {
            let answer: serde_json::Value = api
                .post(&format!("/v1/pool/{kind}/{id}/chmod"), &Chmod { mode })
                .await?;
            if json {
                return print_json(&answer);
            }
            println!(
                "{} {}: {}",
                kind,
                Untrusted(&id),
                Untrusted(answer["symbolic"].as_str().unwrap_or(""))
            );
        }
        PoolCommand::Chgrp {
            kind,
            id,
            group,
            none,
        } => {
            let group = if none { None } else { group };
            let answer: serde_json::Value = api
                .post(&format!("/v1/pool/{kind}/{id}/chgrp"), &Chgrp { group })
                .await?;
            if json {
                return print_json(&answer);
            }
            println!(
                "{} {}: group {}",
                kind,
                Untrusted(&id),
                Untrusted(answer["group"].as_str().unwrap_or("-"))
            );
        }
    }
    Ok(())
}

async fn objects(api: &Api, kind: &str, command: ObjectCommand, json: bool) -> anyhow::Result<()> {
    match command {
        ObjectCommand::Add {
            file,
            name,
            confinement: c,
            group,
            certificate,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let name = match name {
                Some(n) => n,
                None => file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .context("the file has no name: pass --name")?,
            };
            let confinement = confinement(&c)?;
            let object: ObjectInfo = if kind == "apps" {
                if certificate {
                    bail!("--certificate is for data, not apps");
                }
                api.post(
                    "/v1/pool/apps",
                    &NewApp {
                        name,
                        confinement,
                        group,
                        module: B64.encode(&bytes),
                    },
                )
                .await?
            } else {
                api.post(
                    "/v1/pool/data",
                    &NewDatum {
                        name,
                        confinement,
                        group,
                        certificate,
                        content: B64.encode(&bytes),
                    },
                )
                .await?
            };
            if json {
                return print_json(&object);
            }
            println!(
                "{} {} added ({}, {})",
                object.kind,
                Untrusted(&object.id),
                object.confinement.as_str(),
                object.mode
            );
        }
        ObjectCommand::List => {
            let list: Vec<ObjectInfo> = api.get(&format!("/v1/pool/{kind}")).await?;
            if json {
                return print_json(&list);
            }
            objects_table(&list);
        }
        ObjectCommand::Delete { id } => delete(api, kind, &id, json).await?,
        ObjectCommand::Show { id } => {
            let object: ObjectInfo = api.get(&format!("/v1/pool/{kind}/{id}")).await?;
            if json {
                return print_json(&object);
            }
            objects_table(std::slice::from_ref(&object));
        }
    }
    Ok(())
}

/// `DELETE /v1/pool/{kind}/{id}`.
async fn delete(api: &Api, kind: &str, id: &str, json: bool) -> anyhow::Result<()> {
    let deleted: Deleted = api
        .json(api.request(reqwest::Method::DELETE, &format!("/v1/pool/{kind}/{id}")))
        .await?;
    if json {
        return print_json(&deleted);
    }
    println!("{} deleted", Untrusted(&deleted.id));
    Ok(())
}
