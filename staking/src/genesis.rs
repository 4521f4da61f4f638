//! The genesis file (TOML, or JSON when the name ends in `.json`): chain id, epoch length,
//! parameters, initial balances, registered and staked workers, delegations, routers and
//! validators. The genesis validators form the active set of height 1 at once.
//!
//! ```toml
//! chain_id = "wick-devnet"
//! epoch_seconds = 20
//!
//! [params]                 # optional; any field left out keeps its default
//! epoch_reward = 1000000
//! unbonding_epochs = 2
//!
//! [[accounts]]
//! address = "<64 hex chars>"
//! balance = 1000000        # an integer, or a decimal string for amounts above 2^63
//!
//! [[workers]]
//! address = "<64 hex chars>"
//! commission_bps = 500
//! stake = 10000            # bonded at genesis, on top of the account's balance
//!
//! [[delegations]]
//! delegator = "<64 hex chars>"
//! worker = "<64 hex chars>"
//! amount = 5000            # bonded at genesis, on top of the delegator's balance
//!
//! [[routers]]
//! address = "<64 hex chars>"
//! stake = 10000            # bonded at genesis
//! escrow = 100000          # pays for the work it attests
//!
//! [[validators]]
//! address = "<64 hex chars>"  # its ed25519 public key, which signs its votes
//! stake = 10000            # bonded at genesis; at least min_validator_stake
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::TxError;
use crate::state::{Params, Router, State, Validator, Worker};
use crate::tx::ParamKey;
use crate::types::{Address, Amount};

/// Why a genesis file was refused.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML/JSON of the expected shape.
    #[error("parsing the genesis file: {0}")]
    Parse(String),
    /// A field has a bad value.
    #[error("genesis: {0}")]
    Invalid(String),
}

/// An amount written as an integer or a decimal string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenesisAmount(pub u128);

impl Serialize for GenesisAmount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // TOML integers are i64: larger amounts are written as strings.
        match i64::try_from(self.0) {
            Ok(v) => s.serialize_i64(v),
            Err(_) => s.serialize_str(&self.0.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for GenesisAmount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Int(u64),
            Str(String),
        }
        match Repr::deserialize(d)? {
            Repr::Int(v) => Ok(GenesisAmount(v.into())),
            Repr::Str(s) => s
                .parse()
                .map(GenesisAmount)
                .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a non-negative integer"))),
        }
    }
}

/// Parameters as written in a genesis file; missing fields keep [`Params::default`]. Each must
/// be within its bounds (see [`Params::bounds`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisParams {
    /// Tokens minted per epoch at most.
    pub epoch_reward: Option<GenesisAmount>,
    /// Epochs an unbonding waits.
    pub unbonding_epochs: Option<u64>,
    /// Slash fraction, bps.
    pub slash_bps: Option<u32>,
    /// Reporter's part of a slash, bps.
    pub reporter_bps: Option<u32>,
    /// Quorum, bps of bonded stake.
    pub quorum_bps: Option<u32>,
    /// Yes threshold, bps of votes cast.
    pub threshold_bps: Option<u32>,
    /// Epochs a proposal is open.
    pub voting_epochs: Option<u64>,
    /// Epochs a passed change waits.
    pub timelock_epochs: Option<u64>,
    /// Epochs an infraction stays provable.
    pub evidence_epochs: Option<u64>,
    /// Epochs a slashed key stays jailed.
    pub jail_epochs: Option<u64>,
    /// Smallest fee.
    pub min_fee: Option<GenesisAmount>,
    /// Fee per wire byte.
    pub fee_per_byte: Option<GenesisAmount>,
    /// Part of work payments burned, bps.
    pub work_fee_bps: Option<u32>,
    /// Most validators in the active set.
    pub max_validators: Option<u64>,
    /// Least stake that puts a validator in the active set.
    pub min_validator_stake: Option<GenesisAmount>,
}

impl GenesisParams {
    /// The value written for `key`, if any.
    fn get(&self, key: ParamKey) -> Option<u128> {
        match key {
            ParamKey::EpochReward => self.epoch_reward.map(|a| a.0),
            ParamKey::UnbondingEpochs => self.unbonding_epochs.map(u128::from),
            ParamKey::SlashBps => self.slash_bps.map(u128::from),
            ParamKey::ReporterBps => self.reporter_bps.map(u128::from),
            ParamKey::QuorumBps => self.quorum_bps.map(u128::from),
            ParamKey::ThresholdBps => self.threshold_bps.map(u128::from),
            ParamKey::VotingEpochs => self.voting_epochs.map(u128::from),
            ParamKey::TimelockEpochs => self.timelock_epochs.map(u128::from),
            ParamKey::EvidenceEpochs => self.evidence_epochs.map(u128::from),
            ParamKey::JailEpochs => self.jail_epochs.map(u128::from),
            ParamKey::MinFee => self.min_fee.map(|a| a.0),
            ParamKey::FeePerByte => self.fee_per_byte.map(|a| a.0),
            ParamKey::WorkFeeBps => self.work_fee_bps.map(u128::from),
            ParamKey::MaxValidators => self.max_validators.map(u128::from),
            ParamKey::MinValidatorStake => self.min_validator_stake.map(|a| a.0),
        }
    }
}

/// An initial balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// Address, hex.
    pub address: String,
    /// Balance.
    pub balance: GenesisAmount,
}

/// A worker registered (and staked) at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisWorker {
    /// Address, hex.
    pub address: String,
    /// Commission, bps.
    #[serde(default)]
    pub commission_bps: u32,
    /// Own bonded stake.
    #[serde(default = "zero")]
    pub stake: GenesisAmount,
}

/// A router registered at genesis, with its stake and escrow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisRouter {
    /// Address, hex.
    pub address: String,
    /// Bonded stake.
    #[serde(default = "zero")]
    pub stake: GenesisAmount,
    /// Escrow that pays for the work it attests.
    #[serde(default = "zero")]
    pub escrow: GenesisAmount,
}

/// A validator bonded at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// Address (its ed25519 public key), hex.
    pub address: String,
    /// Bonded stake (its voting power).
    pub stake: GenesisAmount,
}

/// A delegation bonded at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisDelegation {
    /// Delegator, hex.
    pub delegator: String,
    /// Worker, hex (must be listed in `workers`).
    pub worker: String,
    /// Amount.
    pub amount: GenesisAmount,
}

fn zero() -> GenesisAmount {
    GenesisAmount(0)
}

fn default_epoch_seconds() -> u64 {
    20
}

/// A genesis file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Chain id every transaction must name.
    pub chain_id: String,
    /// Length of an epoch in block time: the first block at least this many seconds after the
    /// epoch started ends it (see [`State::epoch_due`]).
    #[serde(default = "default_epoch_seconds")]
    pub epoch_seconds: u64,
    /// Parameters.
    #[serde(default)]
    pub params: GenesisParams,
    /// Initial balances.
    #[serde(default)]
    pub accounts: Vec<GenesisAccount>,
    /// Workers.
    #[serde(default)]
    pub workers: Vec<GenesisWorker>,
    /// Delegations.
    #[serde(default)]
    pub delegations: Vec<GenesisDelegation>,
    /// Routers.
    #[serde(default)]
    pub routers: Vec<GenesisRouter>,
    /// Validators: the active set of the first epoch.
    #[serde(default)]
    pub validators: Vec<GenesisValidator>,
}

/// Parses a 64-hex-character address.
pub fn parse_address(s: &str) -> Option<Address> {
    let mut a = [0u8; 32];
    hex::decode_to_slice(s.trim(), &mut a).ok()?;
    Some(Address(a))
}

impl Genesis {
    /// Reads a genesis file: JSON if the name ends in `.json`, TOML otherwise.
    pub fn from_file(path: &Path) -> Result<Self, GenesisError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| GenesisError::Read { path: path.display().to_string(), source })?;
        if path.extension().is_some_and(|e| e == "json") {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        }
    }

    /// Parses TOML.
    pub fn from_toml(text: &str) -> Result<Self, GenesisError> {
        toml::from_str(text).map_err(|e| GenesisError::Parse(e.to_string()))
    }

    /// Parses JSON.
    pub fn from_json(text: &str) -> Result<Self, GenesisError> {
        serde_json::from_str(text).map_err(|e| GenesisError::Parse(e.to_string()))
    }

    /// Writes the genesis as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Canonical JSON of the genesis (what the store keeps to recognise its chain).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The parameters, defaults filled in.
    pub fn params(&self) -> Params {
        let mut params = Params::default();
        for key in ParamKey::ALL {
            if let Some(v) = self.params.get(key) {
                params.set(key, v);
            }
        }
        params
    }

    /// Builds the state at height 0.
    pub fn state(&self) -> Result<State, GenesisError> {
        let invalid = |m: String| GenesisError::Invalid(m);
        if self.chain_id.is_empty() {
            return Err(invalid("chain_id is empty".into()));
        }
        if self.epoch_seconds == 0 {
            return Err(invalid("epoch_seconds must be at least 1".into()));
        }
        let params = self.params();
        params.check_genesis().map_err(|e| invalid(format!("params: {e}")))?;
        let addr = |s: &str, what: &str| {
            parse_address(s).ok_or_else(|| invalid(format!("{what} {s:?} is not 64 hex characters")))
        };
        let overflow = |e: TxError| invalid(format!("amounts overflow: {e}"));
        let mut balances = Vec::new();
        for a in &self.accounts {
            balances.push((addr(&a.address, "account")?, Amount(a.balance.0)));
        }
        let mut s = State::genesis(&self.chain_id, params, &balances).map_err(overflow)?;
        let mint = |s: &mut State, v: u128| -> Result<(), GenesisError> {
            s.supply = s.supply.checked_add(Amount(v)).ok_or_else(|| invalid("supply overflows".into()))?;
            Ok(())
        };
        for w in &self.workers {
            let a = addr(&w.address, "worker")?;
            if w.commission_bps > 10_000 {
                return Err(invalid(format!(
                    "worker {a}: commission_bps {} is above 10000",
                    w.commission_bps
                )));
            }
            if s.workers.contains_key(&a) {
                return Err(invalid(format!("worker {a} is listed twice")));
            }
            s.workers.insert(
                a,
                Worker {
                    commission_bps: w.commission_bps,
                    self_stake: Amount(w.stake.0),
                    ..Default::default()
                },
            );
            mint(&mut s, w.stake.0)?;
        }
        for d in &self.delegations {
            let (from, to) = (addr(&d.delegator, "delegator")?, addr(&d.worker, "delegation worker")?);
            let w = s
                .workers
                .get_mut(&to)
                .ok_or_else(|| invalid(format!("delegation to {to}, which is not a genesis worker")))?;
            w.delegated =
                w.delegated.checked_add(Amount(d.amount.0)).ok_or_else(|| invalid("overflow".into()))?;
            w.self_stake.checked_add(w.delegated).ok_or_else(|| invalid("bonded stake overflows".into()))?;
            let e = s.delegations.entry((from, to)).or_default();
            *e = e.checked_add(Amount(d.amount.0)).ok_or_else(|| invalid("overflow".into()))?;
            mint(&mut s, d.amount.0)?;
        }
        for r in &self.routers {
            let a = addr(&r.address, "router")?;
            if s.routers.contains_key(&a) {
                return Err(invalid(format!("router {a} is listed twice")));
            }
            s.routers.insert(a, Router { stake: Amount(r.stake.0), escrow: Amount(r.escrow.0), jail: None });
            mint(&mut s, r.stake.0)?;
            mint(&mut s, r.escrow.0)?;
        }
        for v in &self.validators {
            let a = addr(&v.address, "validator")?;
            self.check_validator(&s, a, v.stake.0)?;
            s.validators.insert(a, Validator { stake: Amount(v.stake.0), jail: None });
            mint(&mut s, v.stake.0)?;
        }
        s.epoch_seconds = self.epoch_seconds;
        // Height 1 has a set: the genesis validators, by the rule of every epoch end.
        s.update_validator_set();
        Ok(s)
    }

    /// A genesis validator must be listed once, be a valid ed25519 key (it must sign votes) and
    /// have the stake to be in the set: one that could never vote is a mistake in the file.
    fn check_validator(&self, s: &State, a: Address, stake: u128) -> Result<(), GenesisError> {
        let invalid = |m: String| Err(GenesisError::Invalid(format!("validator {a}: {m}")));
        if s.validators.contains_key(&a) {
            return invalid("listed twice".into());
        }
        if ed25519_consensus::VerificationKey::try_from(a.0).is_err() {
            return invalid("not an ed25519 public key".into());
        }
        if stake < s.params.min_validator_stake.max(1) {
            return invalid(format!(
                "stake {stake} is below min_validator_stake {}",
                s.params.min_validator_stake
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_genesis_builds_a_staked_state() {
        let w = "11".repeat(32);
        let d = "22".repeat(32);
        let text = format!(
            r#"
chain_id = "t"
epoch_seconds = 5
[params]
epoch_reward = "340282366920938463463374607431768211455"
voting_epochs = 2
[[routers]]
address = "{d}"
stake = 7
escrow = 3
[[accounts]]
address = "{d}"
balance = 100
[[workers]]
address = "{w}"
commission_bps = 500
stake = 1000
[[delegations]]
delegator = "{d}"
worker = "{w}"
amount = 50
"#
        );
        let g = Genesis::from_toml(&text).expect("parse");
        let s = g.state().expect("state");
        assert_eq!(s.params.epoch_reward, u128::MAX);
        assert_eq!(s.params.voting_epochs, 2);
        let wa = parse_address(&w).expect("addr");
        assert_eq!(s.workers[&wa].self_stake, Amount(1000));
        assert_eq!(s.workers[&wa].delegated, Amount(50));
        assert_eq!(s.supply, Amount(1160));
        let da = parse_address(&d).expect("addr");
        assert_eq!((s.routers[&da].stake, s.routers[&da].escrow), (Amount(7), Amount(3)));
        let back = Genesis::from_json(&g.to_json()).expect("json");
        assert_eq!(back, g);
    }

    #[test]
    fn bad_genesis_says_what_is_wrong() {
        let e = Genesis::from_toml("chain_id = \"t\"\n[[accounts]]\naddress = \"zz\"\nbalance = 1\n")
            .expect("parse")
            .state()
            .expect_err("bad address");
        assert!(e.to_string().contains("\"zz\" is not 64 hex"), "{e}");
        let e = Genesis::from_toml("chain_id = \"t\"\n[params]\nslash_bps = 20000\n").expect("p").state();
        assert!(e.expect_err("bps").to_string().contains("slash_bps = 20000 is outside 100 ..= 5000"));
        assert!(Genesis::from_toml("chain = 1").is_err());
    }

    fn validator_key(i: u8) -> String {
        let k = ed25519_dalek::SigningKey::from_bytes(&[i; 32]);
        hex::encode(k.verifying_key().to_bytes())
    }

    fn with_validators(validators: &[(String, u128)], params: &str) -> Result<State, GenesisError> {
        let mut text = format!("chain_id = \"t\"\nepoch_seconds = 7\n{params}\n");
        for (a, stake) in validators {
            text.push_str(&format!("[[validators]]\naddress = \"{a}\"\nstake = {stake}\n"));
        }
        Genesis::from_toml(&text).map_err(|e| GenesisError::Parse(e.to_string()))?.state()
    }

    #[test]
    fn genesis_validators_are_minted_and_form_the_first_set() {
        let (a, b) = (validator_key(1), validator_key(2));
        let s = with_validators(&[(a.clone(), 500), (b.clone(), 70)], "").expect("state");
        assert_eq!(s.supply, Amount(570), "validator stake is minted into the supply");
        let (a, b) = (parse_address(&a).expect("a"), parse_address(&b).expect("b"));
        assert_eq!(s.validators[&a].stake, Amount(500));
        assert_eq!(s.validator_set, [(a, 500), (b, 70)].into_iter().collect());
        assert_eq!(s.epoch_seconds, 7);
        assert_eq!(s.voting_power(&a), 500);
    }

    #[test]
    fn genesis_validators_that_could_never_vote_are_refused() {
        let a = validator_key(1);
        let e = with_validators(&[(a.clone(), 1), (a.clone(), 2)], "").expect_err("twice");
        assert!(e.to_string().contains("listed twice"), "{e}");
        let e = with_validators(&[(a.clone(), 9)], "[params]\nmin_validator_stake = 10").expect_err("min");
        assert!(e.to_string().contains("stake 9 is below min_validator_stake 10"), "{e}");
        let e = with_validators(&[(a, 0)], "").expect_err("zero");
        assert!(e.to_string().contains("below min_validator_stake"), "{e}");
        // Not a point on the curve: it could sign no vote.
        let not_a_key = format!("02{}", "00".repeat(31));
        let e = with_validators(&[(not_a_key, 5)], "").expect_err("key");
        assert!(e.to_string().contains("not an ed25519 public key"), "{e}");
        let e =
            Genesis::from_toml("chain_id = \"t\"\n[[validators]]\naddress = \"aa\"\nstake = 1\npower = 3\n");
        assert!(e.is_err(), "unknown fields are refused");
        let e = with_validators(&[], "[params]\nmax_validators = 151").expect_err("bound");
        assert!(e.to_string().contains("max_validators = 151 is outside 1 ..= 150"), "{e}");
    }

    #[test]
    fn a_genesis_without_validators_has_an_empty_set_and_the_old_fields_still_parse() {
        let s = Genesis::from_toml("chain_id = \"t\"\n").expect("parse").state().expect("state");
        assert!(s.validator_set.is_empty());
        assert_eq!(s.epoch_seconds, 20);
    }
}
