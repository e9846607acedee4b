//! The four order kinds, their EIP-712 hashing (domain `decloud` / `1` / chain id / hub) and
//! signing.
//!
//! Each order is a plain struct with readable JSON field names (`app_price`,
//! `dataset_restrict`, ...; amounts as decimal strings of nano-units, tags as lists of names,
//! signatures as hex). [`Order::typed`] gives the EIP-712 struct of [`typed`] and
//! [`Order::signed`] the struct the hub's functions take ([`signed`]); both are generated with
//! the order struct from ONE field list (the `orders!` invocation below), which follows
//! `contracts/src/libs/Types.sol` field for field: adding a field to an order is one line here.
//! The trailing `sign` is not part of the signed data, as on chain. [`AnyOrder`] is an order of
//! any kind, for code that handles the four alike.

use alloy::primitives::{Address, B256, Bytes, Signature, U256};
use alloy::signers::SignerSync;
use alloy::sol_types::SolStruct;
use serde::{Deserialize, Deserializer, Serialize};

use crate::amount::decimal;
use crate::{ProtocolError, Tag};

pub use crate::domain::{DOMAIN_NAME, DOMAIN_VERSION, Domain};

named_enum!(
    /// The four kinds of order; the name is the one used in URLs, files and databases, and the
    /// order of `ALL` is the one the CLI lists them in.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum OrderKind ("order kind", expected "app, dataset, workerpool or request") {
        /// An app owner's offer.
        App => "app",
        /// A dataset owner's offer.
        Dataset => "dataset",
        /// A workerpool owner's offer.
        Workerpool => "workerpool",
        /// A requester's demand.
        Request => "request",
    }
);

impl OrderKind {
    /// The name in messages: `app order`, ...
    pub const fn label(self) -> &'static str {
        match self {
            Self::App => "app order",
            Self::Dataset => "dataset order",
            Self::Workerpool => "workerpool order",
            Self::Request => "request order",
        }
    }
}

/// What the four order kinds share: EIP-712 hashing, signing and signature checks.
pub trait Order {
    /// Which kind of order this is.
    const KIND: OrderKind;
    /// The EIP-712 struct.
    type Typed: SolStruct;
    /// The struct the hub's functions take (the EIP-712 fields and `sign`).
    type Signed: alloy::sol_types::SolValue;

    /// The EIP-712 struct of this order (without its signature).
    fn typed(&self) -> Self::Typed;
    /// The order as the hub's functions take it, signature included.
    fn signed(&self) -> Self::Signed;
    /// The signature (empty when unsigned or presigned on chain).
    fn signature(&self) -> &Bytes;
    /// Replaces the signature.
    fn set_signature(&mut self, sign: Bytes);
    /// How many tasks the order offers or asks for in total.
    fn volume(&self) -> u64;
    /// Unix time after which the order can't be matched (`0` = never).
    fn expiry(&self) -> u64;
    /// The order's requirements.
    fn tag(&self) -> Tag;
    /// What makes otherwise identical orders distinct.
    fn salt(&self) -> B256;

    /// The EIP-712 struct hash (`Orders.hash` on chain).
    fn struct_hash(&self) -> B256 {
        self.typed().eip712_hash_struct()
    }

    /// The order hash: the EIP-712 digest the owner signs and the hub keys volumes by
    /// (`hashAppOrder` etc. on chain).
    fn hash(&self, domain: &Domain) -> B256 {
        self.typed().eip712_signing_hash(&domain.eip712())
    }

    /// Whether the order has expired at unix time `now` (the hub refuses it when
    /// `now > expiry`).
    fn is_expired(&self, now: u64) -> bool {
        self.expiry() != 0 && now > self.expiry()
    }

    /// Signs the order with `signer` (the resource owner, or the requester for a request order)
    /// and stores the 65-byte signature; returns the order hash.
    fn sign_with<S: SignerSync + ?Sized>(
        &mut self,
        signer: &S,
        domain: &Domain,
    ) -> Result<B256, ProtocolError> {
        let hash = self.hash(domain);
        let signature = signer
            .sign_hash_sync(&hash)
            .map_err(|e| ProtocolError::Signing {
                reason: e.to_string(),
            })?;
        self.set_signature(Bytes::copy_from_slice(&signature.as_bytes()));
        Ok(hash)
    }

    /// The address the signature recovers to.
    fn signer(&self, domain: &Domain) -> Result<Address, ProtocolError> {
        recover(Self::KIND.label(), self.signature(), self.hash(domain))
    }

    /// Checks that `expected` signed this very order; returns its hash.
    fn verify(&self, domain: &Domain, expected: Address) -> Result<B256, ProtocolError> {
        let hash = self.hash(domain);
        let recovered = recover(Self::KIND.label(), self.signature(), hash)?;
        if recovered != expected {
            return Err(ProtocolError::WrongSigner {
                kind: Self::KIND.label(),
                hash,
                recovered,
                expected,
            });
        }
        Ok(hash)
    }
}

/// Recovers the signer of `hash` from a 65-byte (`r, s, v`) or 64-byte (EIP-2098) signature,
/// with exactly the hub's rules (its `ecrecover`): `v` must be 27 or 28, a high `s` is accepted,
/// `r` and `s` must be non-zero scalars below the curve order. What the hub would refuse is an
/// error here, so nothing off-chain accepts a signature the chain rejects.
pub fn recover(kind: &'static str, sign: &[u8], hash: B256) -> Result<Address, ProtocolError> {
    let signature = match sign.len() {
        0 => return Err(ProtocolError::Unsigned { kind }),
        65 if !matches!(sign[64], 27 | 28) => {
            return Err(ProtocolError::BadRecoveryId { kind, v: sign[64] });
        }
        65 => Signature::from_raw(sign).ok(),
        64 => Some(Signature::from_erc2098(sign)),
        _ => None,
    }
    .ok_or(ProtocolError::MalformedSignature {
        kind,
        len: sign.len(),
    })?;
    signature
        .recover_address_from_prehash(&hash)
        .map_err(|_| ProtocolError::MalformedSignature {
            kind,
            len: sign.len(),
        })
}

fn is_zero(a: &Address) -> bool {
    a.is_zero()
}

fn no_bytes(b: &Bytes) -> bool {
    b.is_empty()
}

fn default_volume() -> u64 {
    1
}

/// A field's value as its Solidity type: the identity, except for the counts the Rust side
/// keeps as `u64` and the tag.
trait ToSol<T> {
    fn to_sol(&self) -> T;
}

impl<T: Clone> ToSol<T> for T {
    fn to_sol(&self) -> T {
        self.clone()
    }
}

impl ToSol<U256> for u64 {
    fn to_sol(&self) -> U256 {
        U256::from(*self)
    }
}

impl ToSol<B256> for Tag {
    fn to_sol(&self) -> B256 {
        self.0
    }
}

/// Declares each order from one field list: the Rust struct (with its JSON form), its EIP-712
/// twin in [`typed`], its hub-call twin in [`signed`], its [`Order`] impl and its [`AnyOrder`]
/// variant. Each field reads `rust_name: RustType => soltype solname`, in the Solidity order.
macro_rules! orders {
    (
        typed_extra { $($typed_extra:tt)* }
        $(
            $(#[$meta:meta])*
            $variant:ident $name:ident (sign: $sign_doc:literal) {
                $( $(#[$fmeta:meta])* $field:ident : $fty:ty => $sty:ident $sname:ident, )*
            }
        )*
    ) => {
        /// The EIP-712 structs, field for field as the contracts declare them (without `sign`),
        /// and the deal struct that `matchOrders` emits in `DealCreated`.
        pub mod typed {
            alloy::sol! {
                $(
                    #[derive(Debug, PartialEq, Eq)]
                    struct $name { $($sty $sname;)* }
                )*
                $($typed_extra)*
            }
        }

        /// The orders as the hub's functions take them: the EIP-712 fields, then `sign` (the
        /// structs of `Types.sol`).
        pub mod signed {
            alloy::sol! {
                $(
                    #[derive(Debug, PartialEq, Eq)]
                    struct $name { $($sty $sname;)* bytes sign; }
                )*
            }
        }

        $(
            $(#[$meta])*
            #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct $name {
                $( $(#[$fmeta])* pub $field: $fty, )*
                #[doc = $sign_doc]
                #[serde(default, skip_serializing_if = "no_bytes")]
                pub sign: Bytes,
            }

            impl Order for $name {
                const KIND: OrderKind = OrderKind::$variant;
                type Typed = typed::$name;
                type Signed = signed::$name;

                fn typed(&self) -> typed::$name {
                    typed::$name { $($sname: self.$field.to_sol(),)* }
                }
                fn signed(&self) -> signed::$name {
                    signed::$name { $($sname: self.$field.to_sol(),)* sign: self.sign.clone() }
                }
                fn signature(&self) -> &Bytes {
                    &self.sign
                }
                fn set_signature(&mut self, sign: Bytes) {
                    self.sign = sign;
                }
                fn volume(&self) -> u64 {
                    self.volume
                }
                fn expiry(&self) -> u64 {
                    self.expiry
                }
                fn tag(&self) -> Tag {
                    self.tag
                }
                fn salt(&self) -> B256 {
                    self.salt
                }
            }

            impl From<$name> for AnyOrder {
                fn from(o: $name) -> Self {
                    Self::$variant(o)
                }
            }
        )*

        /// An order of any kind, for code that handles the four alike (the order book, the
        /// CLI). In JSON it is the order itself: the kind travels beside it.
        #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
        #[serde(untagged)]
        pub enum AnyOrder {
            $(
                #[allow(missing_docs)]
                $variant($name),
            )*
        }

        /// Applies `$body` to the order inside an [`AnyOrder`], whatever its kind.
        macro_rules! each {
            ($any:expr, $o:ident => $body:expr) => {
                match $any {
                    $(AnyOrder::$variant($o) => $body,)*
                }
            };
        }

        impl AnyOrder {
            /// Reads an order of `kind` (from JSON, TOML, ...).
            pub fn deserialize_as<'de, D: Deserializer<'de>>(
                kind: OrderKind,
                deserializer: D,
            ) -> Result<Self, D::Error> {
                Ok(match kind {
                    $(OrderKind::$variant => Self::$variant($name::deserialize(deserializer)?),)*
                })
            }

            /// Which kind of order it is.
            pub fn kind(&self) -> OrderKind {
                match self {
                    $(Self::$variant(_) => OrderKind::$variant,)*
                }
            }
        }
    };
}

orders! {
    typed_extra {
        /// A deal as `matchOrders` creates it and emits it in `DealCreated` (every later hub call
        /// passes it back). The hub stores the top 216 bits of `keccak256(abi.encode(deal))`.
        #[derive(Debug, Default, PartialEq, Eq)]
        struct Deal {
            address app;
            address appOwner;
            uint256 appPrice;
            address dataset;
            address datasetOwner;
            uint256 datasetPrice;
            address workerpool;
            address scheduler;
            uint256 workerpoolPrice;
            address requester;
            address beneficiary;
            address callback;
            uint256 category;
            uint256 trust;
            bytes32 tag;
            uint256 workClockTimeRef;
            uint256 workerStake;
            uint256 schedulerRewardRatio;
            bytes32 requestHash;
            uint256 botFirst;
            uint256 volume;
        }
    }

    /// An app owner's offer to run its app `volume` times at `app_price` each.
    App AppOrder (sign: "The app owner's signature (empty when unsigned or presigned).") {
        /// The app (its registry address).
        app: Address => address app,
        /// Price per task, in nano-units.
        #[serde(with = "decimal")]
        app_price: U256 => uint256 appprice,
        /// Number of tasks offered.
        #[serde(default = "default_volume")]
        volume: u64 => uint256 volume,
        /// Requirements (e.g. `["tee"]`).
        #[serde(default)]
        tag: Tag => bytes32 tag,
        /// Only this dataset (zero = any).
        #[serde(default, skip_serializing_if = "is_zero")]
        dataset_restrict: Address => address datasetrestrict,
        /// Only this workerpool (zero = any).
        #[serde(default, skip_serializing_if = "is_zero")]
        workerpool_restrict: Address => address workerpoolrestrict,
        /// Only this requester (zero = any).
        #[serde(default, skip_serializing_if = "is_zero")]
        requester_restrict: Address => address requesterrestrict,
        /// Unix time after which the order is void (`0` = never).
        #[serde(default)]
        expiry: u64 => uint256 expiry,
        /// Makes otherwise identical orders distinct.
        #[serde(default)]
        salt: B256 => bytes32 salt,
    }

    /// A dataset owner's offer to let its dataset be used `volume` times at `dataset_price` each.
    Dataset DatasetOrder (sign: "The dataset owner's signature.") {
        /// The dataset (its registry address).
        dataset: Address => address dataset,
        /// Price per task, in nano-units.
        #[serde(with = "decimal")]
        dataset_price: U256 => uint256 datasetprice,
        /// Number of tasks offered.
        #[serde(default = "default_volume")]
        volume: u64 => uint256 volume,
        /// Requirements (e.g. `["tee"]`).
        #[serde(default)]
        tag: Tag => bytes32 tag,
        /// Only this app (zero = any).
        #[serde(default, skip_serializing_if = "is_zero")]
        app_restrict: Address => address apprestrict,
        /// Only this workerpool (zero = any).
        #[serde(default, skip_serializing_if = "is_zero")]
        workerpool_restrict: Address => address workerpoolrestrict,
        /// Only this requester (zero = any).
        #[serde(default, skip_serializing_if = "is_zero")]
        requester_restrict: Address => address requesterrestrict,
        /// Unix time after which the order is void (`0` = never).
        #[serde(default)]
        expiry: u64 => uint256 expiry,
        /// Makes otherwise identical orders distinct.
        #[serde(default)]
        salt: B256 => bytes32 salt,
    }

    /// A workerpool owner's (scheduler's) offer of `volume` tasks of computing in `category`.
    Workerpool WorkerpoolOrder (sign: "The scheduler's signature.") {
        /// The workerpool (its registry address).
        workerpool: Address => address workerpool,
        /// Price per task, in nano-units.
        #[serde(with = "decimal")]
        workerpool_price: U256 => uint256 workerpoolprice,
        /// Number of tasks offered.
        #[serde(default = "default_volume")]
        volume: u64 => uint256 volume,
        /// What the pool offers (it must cover every bit the other orders ask for).
        #[serde(default)]
        tag: Tag => bytes32 tag,
        /// Category id (0 = XS, ...).
        #[serde(default)]
        category: u64 => uint256 category,
        /// Highest trust the pool accepts.
        #[serde(default)]
        trust: u64 => uint256 trust,
        /// Only this app (zero = any).
        #[serde(default, skip_serializing_if = "is_zero")]
        app_restrict: Address => address apprestrict,
        /// Only this dataset (zero = any).
        #[serde(default, skip_serializing_if = "is_zero")]
        dataset_restrict: Address => address datasetrestrict,
        /// Only this requester (zero = any).
        #[serde(default, skip_serializing_if = "is_zero")]
        requester_restrict: Address => address requesterrestrict,
        /// Unix time after which the order is void (`0` = never).
        #[serde(default)]
        expiry: u64 => uint256 expiry,
        /// Makes otherwise identical orders distinct.
        #[serde(default)]
        salt: B256 => bytes32 salt,
    }

    /// A requester's demand: run `app` (on `dataset`, on `workerpool`) `volume` times.
    Request RequestOrder (sign: "The requester's signature.") {
        /// The app to run.
        app: Address => address app,
        /// Most the requester pays the app owner per task.
        #[serde(with = "decimal")]
        app_max_price: U256 => uint256 appmaxprice,
        /// The dataset (zero = none).
        #[serde(default, skip_serializing_if = "is_zero")]
        dataset: Address => address dataset,
        /// Most the requester pays the dataset owner per task.
        #[serde(with = "decimal", default)]
        dataset_max_price: U256 => uint256 datasetmaxprice,
        /// The workerpool (zero = any).
        #[serde(default, skip_serializing_if = "is_zero")]
        workerpool: Address => address workerpool,
        /// Most the requester pays the workerpool per task.
        #[serde(with = "decimal")]
        workerpool_max_price: U256 => uint256 workerpoolmaxprice,
        /// Who signs and pays.
        requester: Address => address requester,
        /// Number of tasks asked for.
        #[serde(default = "default_volume")]
        volume: u64 => uint256 volume,
        /// Requirements (e.g. `["tee"]`).
        #[serde(default)]
        tag: Tag => bytes32 tag,
        /// Category id (0 = XS, ...).
        #[serde(default)]
        category: u64 => uint256 category,
        /// Required trust (`0` or `1`: one contribution suffices).
        #[serde(default)]
        trust: u64 => uint256 trust,
        /// Who may read the result (zero = the requester's choice of none).
        #[serde(default, skip_serializing_if = "is_zero")]
        beneficiary: Address => address beneficiary,
        /// Contract receiving the result (zero = none).
        #[serde(default, skip_serializing_if = "is_zero")]
        callback: Address => address callback,
        /// Execution parameters (a JSON string: args, input files, ...).
        #[serde(default)]
        params: String => string params,
        /// Unix time after which the order is void (`0` = never).
        #[serde(default)]
        expiry: u64 => uint256 expiry,
        /// Makes otherwise identical orders distinct.
        #[serde(default)]
        salt: B256 => bytes32 salt,
    }
}

fn nonzero(a: Address) -> Option<Address> {
    (!a.is_zero()).then_some(a)
}

impl AnyOrder {
    /// The app, dataset or workerpool offered; for a request, the app asked for.
    pub fn resource(&self) -> Address {
        match self {
            Self::App(o) => o.app,
            Self::Dataset(o) => o.dataset,
            Self::Workerpool(o) => o.workerpool,
            Self::Request(o) => o.app,
        }
    }

    /// The price per task offered; for a request, the most it pays the workerpool.
    pub fn price(&self) -> U256 {
        match self {
            Self::App(o) => o.app_price,
            Self::Dataset(o) => o.dataset_price,
            Self::Workerpool(o) => o.workerpool_price,
            Self::Request(o) => o.workerpool_max_price,
        }
    }

    /// The category (workerpool and request orders).
    pub fn category(&self) -> Option<u64> {
        match self {
            Self::Workerpool(o) => Some(o.category),
            Self::Request(o) => Some(o.category),
            Self::App(_) | Self::Dataset(_) => None,
        }
    }

    /// The trust (workerpool and request orders).
    pub fn trust(&self) -> Option<u64> {
        match self {
            Self::Workerpool(o) => Some(o.trust),
            Self::Request(o) => Some(o.trust),
            Self::App(_) | Self::Dataset(_) => None,
        }
    }

    /// The workerpool the order offers, names or is restricted to, if any.
    pub fn workerpool(&self) -> Option<Address> {
        match self {
            Self::App(o) => nonzero(o.workerpool_restrict),
            Self::Dataset(o) => nonzero(o.workerpool_restrict),
            Self::Workerpool(o) => Some(o.workerpool),
            Self::Request(o) => nonzero(o.workerpool),
        }
    }

    /// The dataset the order offers, names or is restricted to, if any.
    pub fn dataset(&self) -> Option<Address> {
        match self {
            Self::App(o) => nonzero(o.dataset_restrict),
            Self::Dataset(o) => Some(o.dataset),
            Self::Workerpool(o) => nonzero(o.dataset_restrict),
            Self::Request(o) => nonzero(o.dataset),
        }
    }

    /// The requester of a request order (who must sign it); `None` for the offers, which
    /// their resource's owner signs.
    pub fn requester(&self) -> Option<Address> {
        match self {
            Self::Request(o) => Some(o.requester),
            Self::App(_) | Self::Dataset(_) | Self::Workerpool(_) => None,
        }
    }

    /// How many tasks the order offers or asks for in total.
    pub fn volume(&self) -> u64 {
        each!(self, o => o.volume)
    }

    /// Unix time after which the order can't be matched (`0` = never).
    pub fn expiry(&self) -> u64 {
        each!(self, o => o.expiry)
    }

    /// The order's requirements.
    pub fn tag(&self) -> Tag {
        each!(self, o => o.tag)
    }

    /// What makes otherwise identical orders distinct.
    pub fn salt(&self) -> B256 {
        each!(self, o => o.salt)
    }

    /// Sets the salt (before signing: a fresh salt makes a new order of the same terms).
    pub fn set_salt(&mut self, salt: B256) {
        each!(self, o => o.salt = salt)
    }

    /// The signature (empty when unsigned or presigned on chain).
    pub fn signature(&self) -> &Bytes {
        each!(self, o => &o.sign)
    }

    /// Whether the order has expired at unix time `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        each!(self, o => o.is_expired(now))
    }

    /// The EIP-712 struct hash.
    pub fn struct_hash(&self) -> B256 {
        each!(self, o => o.struct_hash())
    }

    /// The order hash (the EIP-712 digest its signer signs).
    pub fn hash(&self, domain: &Domain) -> B256 {
        each!(self, o => o.hash(domain))
    }

    /// Signs the order with `signer`; returns its hash.
    pub fn sign_with<S: SignerSync + ?Sized>(
        &mut self,
        signer: &S,
        domain: &Domain,
    ) -> Result<B256, ProtocolError> {
        each!(self, o => o.sign_with(signer, domain))
    }

    /// The address the signature recovers to.
    pub fn signer(&self, domain: &Domain) -> Result<Address, ProtocolError> {
        each!(self, o => o.signer(domain))
    }

    /// Checks that `expected` signed this very order; returns its hash.
    pub fn verify(&self, domain: &Domain, expected: Address) -> Result<B256, ProtocolError> {
        each!(self, o => o.verify(domain, expected))
    }
}

impl DatasetOrder {
    /// The all-zero dataset order `matchOrders` takes when the request uses no dataset.
    pub fn none() -> Self {
        Self {
            volume: 0,
            ..Self::default()
        }
    }
}

#[cfg(test)]
#[path = "order_tests.rs"]
mod tests;
