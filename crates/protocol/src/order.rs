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

use std::fmt;
use std::str::FromStr;

use alloy::primitives::{Address, B256, Bytes, Signature, U256};
use alloy::signers::SignerSync;
use alloy::sol_types::SolStruct;
use serde::{Deserialize, Deserializer, Serialize};

use crate::amount::decimal;
use crate::{ProtocolError, Tag};

pub use crate::domain::{DOMAIN_NAME, DOMAIN_VERSION, Domain};

/// The four kinds of order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderKind {
    /// An app owner's offer.
    App,
    /// A dataset owner's offer.
    Dataset,
    /// A workerpool owner's offer.
    Workerpool,
    /// A requester's demand.
    Request,
}

impl OrderKind {
    /// Every kind, in the order the CLI lists them.
    pub const ALL: [OrderKind; 4] = [Self::App, Self::Dataset, Self::Workerpool, Self::Request];

    /// The name used in URLs, files and databases: `app`, `dataset`, `workerpool`, `request`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::Dataset => "dataset",
            Self::Workerpool => "workerpool",
            Self::Request => "request",
        }
    }

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

impl fmt::Display for OrderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderKind {
    type Err = ProtocolError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ProtocolError::UnknownOrderKind {
                name: s.to_string(),
            })
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

/// Recovers the signer of `hash` from a 65-byte (`r, s, v`) or 64-byte (EIP-2098) signature, as
/// the hub's signature check accepts both.
pub fn recover(kind: &'static str, sign: &[u8], hash: B256) -> Result<Address, ProtocolError> {
    let signature = match sign.len() {
        0 => return Err(ProtocolError::Unsigned { kind }),
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
mod tests {
    use super::*;
    use alloy::primitives::{address, keccak256};
    use alloy::signers::local::PrivateKeySigner;

    /// The Solidity source whose type strings the hub hashes.
    const ORDERS_SOL: &str = include_str!("../../../contracts/src/libs/Orders.sol");

    /// The string literal inside `NAME_TYPEHASH = keccak256("...")` in Orders.sol.
    fn solidity_type_string(constant: &str) -> String {
        let start = ORDERS_SOL
            .find(&format!("{constant} = keccak256("))
            .unwrap_or_else(|| panic!("{constant} not found in Orders.sol"));
        let rest = &ORDERS_SOL[start..];
        let open = rest.find('"').unwrap() + 1;
        let close = open + rest[open..].find('"').unwrap();
        rest[open..close].to_string()
    }

    fn domain() -> Domain {
        Domain::new(
            31337,
            address!("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
        )
    }

    fn app_order() -> AppOrder {
        AppOrder {
            app: Address::repeat_byte(0xa1),
            app_price: U256::from(5u64),
            volume: 10,
            tag: Tag::TEE,
            requester_restrict: Address::repeat_byte(0xb2),
            expiry: 1_900_000_000,
            salt: B256::repeat_byte(0x5a),
            ..Default::default()
        }
    }

    fn request_order() -> RequestOrder {
        RequestOrder {
            app: Address::repeat_byte(1),
            app_max_price: U256::from(1),
            dataset: Address::repeat_byte(2),
            dataset_max_price: U256::from(2),
            workerpool: Address::repeat_byte(3),
            workerpool_max_price: U256::from(3),
            requester: Address::repeat_byte(4),
            volume: 5,
            tag: Tag::bit(3),
            category: 2,
            trust: 100,
            beneficiary: Address::repeat_byte(5),
            callback: Address::repeat_byte(6),
            params: r#"{"args":"--n 3"}"#.into(),
            expiry: 7,
            salt: B256::repeat_byte(8),
            sign: Bytes::new(),
        }
    }

    #[test]
    fn type_strings_and_hashes_are_the_contracts() {
        let cases = [
            (
                "APP_TYPEHASH",
                typed::AppOrder::eip712_encode_type(),
                app_order().typed().eip712_type_hash(),
            ),
            (
                "DATASET_TYPEHASH",
                typed::DatasetOrder::eip712_encode_type(),
                DatasetOrder::default().typed().eip712_type_hash(),
            ),
            (
                "WORKERPOOL_TYPEHASH",
                typed::WorkerpoolOrder::eip712_encode_type(),
                WorkerpoolOrder::default().typed().eip712_type_hash(),
            ),
            (
                "REQUEST_TYPEHASH",
                typed::RequestOrder::eip712_encode_type(),
                request_order().typed().eip712_type_hash(),
            ),
        ];
        for (constant, ours, hash) in cases {
            let theirs = solidity_type_string(constant);
            assert_eq!(ours, theirs, "{constant}");
            assert_eq!(hash, keccak256(theirs.as_bytes()), "{constant}");
        }
        // Pinned values: a change to the contracts' types must be a deliberate change here too.
        assert_eq!(
            keccak256(solidity_type_string("APP_TYPEHASH")),
            keccak256(
                "AppOrder(address app,uint256 appprice,uint256 volume,bytes32 tag,address datasetrestrict,address workerpoolrestrict,address requesterrestrict,uint256 expiry,bytes32 salt)"
            )
        );
    }

    #[test]
    fn struct_hash_is_typehash_then_the_abi_head_like_orders_sol() {
        // Orders.hash copies the 9 static words after the type hash; the request order's
        // 14th word (params) is replaced by keccak256(params).
        let o = app_order();
        let mut words = Vec::new();
        words.extend_from_slice(o.typed().eip712_type_hash().as_slice());
        let word = |a: &Address| B256::left_padding_from(a.as_slice());
        words.extend_from_slice(word(&o.app).as_slice());
        words.extend_from_slice(&o.app_price.to_be_bytes::<32>());
        words.extend_from_slice(&U256::from(o.volume).to_be_bytes::<32>());
        words.extend_from_slice(o.tag.0.as_slice());
        words.extend_from_slice(word(&o.dataset_restrict).as_slice());
        words.extend_from_slice(word(&o.workerpool_restrict).as_slice());
        words.extend_from_slice(word(&o.requester_restrict).as_slice());
        words.extend_from_slice(&U256::from(o.expiry).to_be_bytes::<32>());
        words.extend_from_slice(o.salt.as_slice());
        assert_eq!(words.len(), 0x140);
        assert_eq!(o.struct_hash(), keccak256(&words));

        let r = request_order();
        let enc = r.typed().eip712_encode_data();
        assert_eq!(enc.len(), 16 * 32);
        assert_eq!(
            &enc[13 * 32..14 * 32],
            keccak256(r.params.as_bytes()).as_slice()
        );

        // digest = keccak256("\x19\x01" ‖ domainSeparator ‖ structHash)
        let d = domain();
        let digest = keccak256(
            [
                &[0x19u8, 0x01][..],
                d.separator().as_slice(),
                o.struct_hash().as_slice(),
            ]
            .concat(),
        );
        assert_eq!(o.hash(&d), digest);
    }

    #[test]
    fn domain_separator_is_solady_s() {
        // keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256(name), keccak256(version), chainId, hub))
        let d = domain();
        let typehash = keccak256(
            "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
        );
        let enc = [
            typehash.as_slice(),
            keccak256("decloud").as_slice(),
            keccak256("1").as_slice(),
            &U256::from(31337).to_be_bytes::<32>(),
            B256::left_padding_from(d.hub.as_slice()).as_slice(),
        ]
        .concat();
        assert_eq!(d.separator(), keccak256(enc));
    }

    #[test]
    fn sign_and_verify() {
        let owner = PrivateKeySigner::random();
        let d = domain();
        let mut o = app_order();
        assert!(matches!(o.signer(&d), Err(ProtocolError::Unsigned { .. })));
        let h = o.sign_with(&owner, &d).unwrap();
        assert_eq!(o.sign.len(), 65);
        assert_eq!(o.verify(&d, owner.address()).unwrap(), h);

        let mut changed = o.clone();
        changed.volume += 1;
        assert!(matches!(
            changed.verify(&d, owner.address()),
            Err(ProtocolError::WrongSigner { .. })
        ));
        let other_chain = Domain::new(1, d.hub);
        assert!(o.verify(&other_chain, owner.address()).is_err());
        let mut garbage = o.clone();
        garbage.sign = Bytes::from(vec![1u8; 13]);
        assert!(matches!(
            garbage.signer(&d),
            Err(ProtocolError::MalformedSignature { len: 13, .. })
        ));

        // EIP-2098 compact signatures are accepted like the hub does.
        let sig = Signature::from_raw(&o.sign).unwrap();
        let mut compact = o.clone();
        compact.sign = Bytes::copy_from_slice(&sig.as_erc2098());
        assert_eq!(compact.signer(&d).unwrap(), owner.address());
    }

    #[test]
    fn every_field_changes_the_hash() {
        let d = domain();
        let base = request_order();
        let h = base.hash(&d);
        let edits: Vec<fn(&mut RequestOrder)> = vec![
            |o| o.app = Address::repeat_byte(0x71),
            |o| o.app_max_price += U256::from(1),
            |o| o.dataset = Address::ZERO,
            |o| o.dataset_max_price += U256::from(1),
            |o| o.workerpool = Address::ZERO,
            |o| o.workerpool_max_price += U256::from(1),
            |o| o.requester = Address::repeat_byte(0x72),
            |o| o.volume += 1,
            |o| o.tag = Tag::NONE,
            |o| o.category += 1,
            |o| o.trust += 1,
            |o| o.beneficiary = Address::ZERO,
            |o| o.callback = Address::ZERO,
            |o| o.params.push(' '),
            |o| o.expiry += 1,
            |o| o.salt = B256::ZERO,
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut o = base.clone();
            edit(&mut o);
            assert_ne!(o.hash(&d), h, "edit {i}");
        }
        let mut o = base.clone();
        o.sign = Bytes::from(vec![1, 2, 3]);
        assert_eq!(o.hash(&d), h, "the signature is not hashed");
    }

    #[test]
    fn order_kinds_parse_and_print() {
        for kind in OrderKind::ALL {
            assert_eq!(kind.as_str().parse::<OrderKind>().unwrap(), kind);
            assert_eq!(kind.to_string(), kind.as_str());
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        assert_eq!(AppOrder::KIND.label(), "app order");
        let e = "apps".parse::<OrderKind>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown order kind \"apps\": use app, dataset, workerpool or request"
        );
    }

    #[test]
    fn any_order_is_the_order_inside() {
        let owner = PrivateKeySigner::random();
        let d = domain();
        let mut any = AnyOrder::from(app_order());
        let hash = any.sign_with(&owner, &d).unwrap();
        let AnyOrder::App(app) = &any else {
            panic!("an app order")
        };
        assert_eq!(hash, app.hash(&d));
        assert_eq!(any.kind(), OrderKind::App);
        assert_eq!(
            (
                any.resource(),
                any.price(),
                any.volume(),
                any.tag(),
                any.expiry(),
                any.salt()
            ),
            (
                app.app,
                app.app_price,
                app.volume,
                app.tag,
                app.expiry,
                app.salt
            )
        );
        assert_eq!(
            (any.category(), any.trust(), any.requester()),
            (None, None, None)
        );
        assert_eq!(any.verify(&d, owner.address()).unwrap(), hash);
        assert_eq!(any.signer(&d).unwrap(), owner.address());
        assert_eq!(any.struct_hash(), app.struct_hash());
        assert_eq!(
            serde_json::to_value(&any).unwrap(),
            serde_json::to_value(app).unwrap()
        );
        let json = serde_json::to_value(&any).unwrap();
        assert_eq!(
            AnyOrder::deserialize_as(OrderKind::App, &json).unwrap(),
            any
        );
        assert!(AnyOrder::deserialize_as(OrderKind::Workerpool, &json).is_err());

        let r = AnyOrder::from(request_order());
        assert_eq!(r.kind(), OrderKind::Request);
        assert_eq!(r.resource(), Address::repeat_byte(1));
        assert_eq!(
            r.price(),
            U256::from(3),
            "a request's price is its workerpool max price"
        );
        assert_eq!((r.category(), r.trust()), (Some(2), Some(100)));
        assert_eq!(r.requester(), Some(Address::repeat_byte(4)));
        assert_eq!(r.dataset(), Some(Address::repeat_byte(2)));
        assert_eq!(r.workerpool(), Some(Address::repeat_byte(3)));
        assert_eq!(AnyOrder::from(AppOrder::default()).workerpool(), None);
    }

    #[test]
    fn signed_is_typed_then_the_signature() {
        use alloy::sol_types::SolValue;
        let mut r = request_order();
        r.sign = Bytes::from(vec![9u8; 65]);
        let signed = r.signed();
        assert_eq!(signed.sign, r.sign);
        // The head of both encodings holds the same fields, in the same order.
        let typed = r.typed().abi_encode_params();
        let full = signed.abi_encode_params();
        assert_eq!(&typed[..13 * 32], &full[..13 * 32]);
        assert_eq!(&typed[14 * 32..16 * 32], &full[14 * 32..16 * 32]);
    }

    #[test]
    fn json_is_readable_and_round_trips() {
        let owner = PrivateKeySigner::random();
        let mut o = app_order();
        o.sign_with(&owner, &domain()).unwrap();
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["app_price"], "5");
        assert_eq!(json["tag"], serde_json::json!(["tee"]));
        assert_eq!(json["volume"], 10);
        assert!(
            json.get("dataset_restrict").is_none(),
            "zero restrictions are left out"
        );
        assert_eq!(serde_json::from_value::<AppOrder>(json).unwrap(), o);

        let minimal: WorkerpoolOrder = serde_json::from_str(
            r#"{"workerpool":"0x0000000000000000000000000000000000000003","workerpool_price":100,"category":1,"trust":5}"#,
        )
        .unwrap();
        assert_eq!(minimal.volume, 1);
        assert_eq!(minimal.workerpool_price, U256::from(100));
        assert!(serde_json::from_str::<WorkerpoolOrder>(r#"{"workerpool":"0x0000000000000000000000000000000000000003","workerpool_price":"1","trsut":5}"#).is_err());
        assert!(
            serde_json::from_str::<AppOrder>(
                r#"{"app":"0x0000000000000000000000000000000000000003","app_price":"-1"}"#
            )
            .is_err()
        );
        let r = request_order();
        assert_eq!(
            serde_json::from_str::<RequestOrder>(&serde_json::to_string(&r).unwrap()).unwrap(),
            r
        );
    }
}
