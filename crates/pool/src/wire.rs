//! The pool API's request and answer bodies (the CLI and the worker read them from here).
//! Binary content (an app's module, a datum, a result) travels as standard base64.

use serde::{Deserialize, Serialize};

/// A login's answer: the bearer token for `Authorization: Bearer <token>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSession {
    /// The token (only its hash is stored).
    pub token: String,
    /// The user it acts as.
    pub user: String,
    /// When it expires (unix seconds).
    pub expires_at: u64,
}

/// `POST /v1/pool/login/password`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PasswordLogin {
    /// The user's name.
    pub login: String,
    /// Its password.
    pub password: String,
}

/// `POST /v1/pool/login/wallet`: a signature of the challenge's message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WalletLogin {
    /// The wallet.
    pub address: alloy::primitives::Address,
    /// The challenge's nonce.
    pub nonce: String,
    /// The challenge's deadline.
    pub deadline: u64,
    /// The EIP-191 signature of the challenge's message.
    pub signature: String,
}

/// `POST /v1/pool/login/oidc`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OidcLogin {
    /// The ID token the issuer gave.
    pub id_token: String,
}

/// A user, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Its name (a wallet login's user is named by the address).
    pub name: String,
    /// Its right.
    pub right: decloud_access::Right,
    /// `active`, or `pending` until an administrator validates it.
    pub status: String,
    /// The groups it belongs to.
    pub groups: Vec<String>,
    /// Its credentials other than a password: `kind:subject`.
    pub identities: Vec<String>,
    /// Who owns the user object.
    pub owner: String,
    /// The user object's group.
    pub group: Option<String>,
    /// Its access bits.
    pub mode: decloud_access::Mode,
}

/// `POST /v1/pool/users`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewUser {
    /// Its name.
    pub name: String,
    /// Its right (standard by default).
    #[serde(default)]
    pub right: Option<decloud_access::Right>,
    /// A password, to log in with login/password.
    #[serde(default)]
    pub password: Option<String>,
}

/// `POST /v1/pool/users/{name}/right`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetRight {
    /// The new right.
    pub right: decloud_access::Right,
}

/// A group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    /// Its name.
    pub name: String,
    /// Its members.
    pub members: Vec<String>,
    /// Who owns it.
    pub owner: String,
    /// Its access bits.
    pub mode: decloud_access::Mode,
}

/// `POST /v1/pool/groups`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewGroup {
    /// Its name.
    pub name: String,
}

/// `POST /v1/pool/groups/{name}/members`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewMember {
    /// The user to add.
    pub user: String,
}

/// Who may see and use an app, a datum or a worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confinement {
    /// Anybody, anywhere.
    Public,
    /// The members and workers of the object's group.
    Group,
    /// Its owner and the owner's private workers.
    #[default]
    Private,
}

impl Confinement {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Confinement::Public => "public",
            Confinement::Group => "group",
            Confinement::Private => "private",
        }
    }
}

impl std::str::FromStr for Confinement {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "public" => Ok(Confinement::Public),
            "group" => Ok(Confinement::Group),
            "private" => Ok(Confinement::Private),
            other => Err(format!(
                "unknown confinement {other:?}: use public, group or private"
            )),
        }
    }
}

/// `POST /v1/pool/apps`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewApp {
    /// A name to show.
    pub name: String,
    /// Its confinement (private by default).
    #[serde(default)]
    pub confinement: Confinement,
    /// Its group (needed for a group app).
    #[serde(default)]
    pub group: Option<String>,
    /// The WASI module, base64.
    pub module: String,
}

/// An app, a datum, a worker: what the API shows of an object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its owner.
    pub owner: String,
    /// Its group.
    pub group: Option<String>,
    /// Its access bits.
    pub mode: decloud_access::Mode,
    /// Its confinement.
    pub confinement: Confinement,
    /// `data` or `certificate` for a datum; `app`, `worker` otherwise.
    pub kind: String,
    /// The sha256 of its content (empty for a worker).
    pub checksum: String,
    /// Its size in bytes.
    pub size: u64,
}

/// `POST /v1/pool/data`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewDatum {
    /// A name to show.
    pub name: String,
    /// Its confinement (private by default; a certificate is private whatever this says).
    #[serde(default)]
    pub confinement: Confinement,
    /// Its group (needed for group data).
    #[serde(default)]
    pub group: Option<String>,
    /// An X.509 certificate (and key) rather than input data: never sent to a worker.
    #[serde(default)]
    pub certificate: bool,
    /// The content, base64.
    pub content: String,
}

/// `POST /v1/pool/workers`: declare a worker's owner and confinement (administrators).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewWorker {
    /// The worker's wallet address.
    pub address: alloy::primitives::Address,
    /// The user it works for.
    pub owner: String,
    /// Its confinement: a public worker runs public apps, a group worker its group's, a private
    /// worker its owner's.
    pub confinement: Confinement,
    /// Its group (needed for a group worker).
    #[serde(default)]
    pub group: Option<String>,
}

/// Which registry an on-chain resource is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainKind {
    /// The app registry.
    App,
    /// The dataset registry.
    Dataset,
}

impl ChainKind {
    /// Its name as objects show it (`chain-app`, `chain-dataset`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChainKind::App => "chain-app",
            ChainKind::Dataset => "chain-dataset",
        }
    }
}

/// `POST /v1/pool/onchain`: confine the tasks of on-chain deals that use an app or a dataset
/// (administrators). An address the pool does not list is public.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewChainResource {
    /// The app's or dataset's registry address.
    pub address: alloy::primitives::Address,
    /// Which registry it is in.
    pub kind: ChainKind,
    /// The pool user it belongs to (whose private workers run it when it is private).
    pub owner: String,
    /// Its confinement.
    pub confinement: Confinement,
    /// Its group (needed for a group resource).
    #[serde(default)]
    pub group: Option<String>,
}

/// `POST /v1/pool/jobs`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewJob {
    /// The app's id.
    pub app: String,
    /// A datum's id, mounted as `/in/<its name>`.
    #[serde(default)]
    pub datum: Option<String>,
    /// The app's arguments (split like a deal's `params.args`).
    #[serde(default)]
    pub args: String,
}

/// A job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInfo {
    /// Its id (a deal's task id for a deal's job).
    pub id: String,
    /// Its owner (a deal's requester for a deal's job).
    pub owner: String,
    /// Its group.
    pub group: Option<String>,
    /// Its access bits.
    pub mode: decloud_access::Mode,
    /// Its app (empty for a deal's job).
    pub app: String,
    /// Its datum.
    pub datum: Option<String>,
    /// Its arguments.
    pub args: String,
    /// `pending`, `running`, `completed`, `failed` (a deal's job: its task's status).
    pub status: String,
    /// The worker running or having run it.
    pub worker: Option<String>,
    /// The sha256 of its result.
    pub result_checksum: Option<String>,
    /// Why it failed.
    pub reason: Option<String>,
    /// `client` (submitted to the pool) or `deal` (from the chain).
    pub origin: String,
}

/// The answer of a `DELETE`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    /// What was deleted.
    pub id: String,
    /// Always true.
    pub deleted: bool,
}

/// `POST /v1/pool/{kind}/{id}/chmod`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Chmod {
    /// The new bits, octal (`750`).
    pub mode: String,
}

/// `POST /v1/pool/{kind}/{id}/chgrp`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Chgrp {
    /// The new group (`None`: no group).
    pub group: Option<String>,
}

/// What a worker is given for a pool job, and how it ends it (wire types of the scheduler's
/// claim, shared with the worker's client).
pub use decloud_protocol::pool::{JobOutcome, WorkOrder};
