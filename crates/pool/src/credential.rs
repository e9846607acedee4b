//! The four kinds of credentials and what a new identity of each kind may do before an
//! administrator looks at it.

use decloud_access::{Action, Right};
use serde::{Deserialize, Serialize};

/// How a user proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Credential {
    /// A wallet signature on a single-use challenge.
    Wallet,
    /// A login and its password (argon2id).
    Password,
    /// An X.509 client certificate from a CA the pool trusts (mutual TLS).
    Certificate,
    /// An OpenID Connect ID token from an issuer the pool trusts.
    OpenId,
}

impl Credential {
    /// Every kind.
    pub const ALL: [Credential; 4] = [
        Credential::Wallet,
        Credential::Password,
        Credential::Certificate,
        Credential::OpenId,
    ];

    /// Its name, as identities are stored (`kind:subject`).
    pub fn as_str(self) -> &'static str {
        match self {
            Credential::Wallet => "wallet",
            Credential::Password => "password",
            Credential::Certificate => "x509",
            Credential::OpenId => "oidc",
        }
    }

    /// The right and the state of a user created at its first login with this credential: a
    /// wallet is an active visitor (it reads what it owns, e.g. its deals' jobs); a
    /// certificate's or a token's identity is a standard user, pending unless the pool accepts
    /// new identities. Password users exist only when an administrator adds them: `None`.
    pub fn new_identity(self, auto_accept: bool) -> Option<(Right, bool)> {
        match self {
            Credential::Wallet => Some((Right::Visitor, true)),
            Credential::Password => None,
            Credential::Certificate | Credential::OpenId => Some((Right::Standard, auto_accept)),
        }
    }
}

/// Whether a user logged in with any credential, whose state is `active` (validated), and
/// whose right is `right`, may ask for `action`: a pending identity does nothing; then the
/// right's ladder decides (the credential does not widen or narrow it).
pub fn may_act(active: bool, right: Right, action: Action) -> bool {
    active && right.allows(action)
}
