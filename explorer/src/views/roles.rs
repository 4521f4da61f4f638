//! The network's roles besides workers. Routers are ledger identities with stake and escrow, and
//! the chain shows their attested work; validators are not on this ledger yet, and the pages say
//! so instead of inventing numbers. When the ledger learns a role, its entry in [`ROLES`] turns
//! `on_ledger` and its page gains the ledger's columns.

use serde::Serialize;

use wick_ledger::json::RouterJson;

use crate::index::Index;
use crate::ledger_state::{LedgerSnapshot, LedgerStatus};

/// A role of the network and how much of it the ledger knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    /// Name, and the page's path.
    pub name: &'static str,
    /// Whether the ledger has the role (registration, stake).
    pub on_ledger: bool,
    /// Columns the page cannot fill yet.
    pub missing: &'static [&'static str],
    /// One sentence on where the role stands.
    pub note: &'static str,
}

/// Every role, in the order the pages list them.
pub const ROLES: &[Role] = &[
    Role {
        name: "workers",
        on_ledger: true,
        missing: &[],
        note: "workers register, bond stake, take delegations and claim their work each epoch",
    },
    Role {
        name: "routers",
        on_ledger: true,
        missing: &[],
        note: "routers register, bond stake, fund an escrow that pays the work they attest, and sign the tickets workers serve",
    },
    Role {
        name: "validators",
        on_ledger: false,
        missing: &["stake", "voting power", "blocks signed"],
        note: "one ledger node cuts every block; validators are not on this ledger yet",
    },
];

/// A role, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleJson {
    /// Name.
    pub name: &'static str,
    /// Whether the ledger has the role.
    pub on_ledger: bool,
    /// Columns shown as "not on this ledger yet".
    pub missing: &'static [&'static str],
    /// Where the role stands.
    pub note: &'static str,
}

impl From<&Role> for RoleJson {
    fn from(r: &Role) -> Self {
        Self { name: r.name, on_ledger: r.on_ledger, missing: r.missing, note: r.note }
    }
}

fn role(name: &str) -> RoleJson {
    ROLES
        .iter()
        .find(|r| r.name == name)
        .map_or(RoleJson { name: "unknown", on_ledger: false, missing: &[], note: "" }, RoleJson::from)
}

/// What a router attested in one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouterEpochJson {
    /// Epoch.
    pub epoch: u64,
    /// Workers attested.
    pub workers: u32,
    /// Receipts attested.
    pub receipts: u64,
    /// Tokens attested.
    pub tokens: u64,
}

/// A router seen attesting on the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouterRow {
    /// Its address (the key that signs its attestations).
    pub address: String,
    /// Epochs it attested in.
    pub epochs: usize,
    /// Tokens attested over all epochs.
    pub tokens: u64,
    /// Its attestations per epoch, the last 20, oldest first.
    pub history: Vec<RouterEpochJson>,
    /// Its ledger record (stake, escrow, jail), if the ledger has read it.
    pub ledger: Option<RouterJson>,
}

/// The routers page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutersPage {
    /// The role and what the ledger lacks of it.
    pub role: RoleJson,
    /// Routers, by tokens attested (most first).
    pub routers: Vec<RouterRow>,
}

/// The routers page: every router registered on the ledger or seen attesting on the chain.
pub fn routers(index: &Index, snap: Option<&LedgerSnapshot>) -> RoutersPage {
    let record =
        |a: &[u8]| snap.and_then(|s| s.routers.iter().find(|r| r.address == a)).map(RouterJson::from);
    let mut routers: Vec<RouterRow> = index
        .routers()
        .iter()
        .map(|(a, epochs)| {
            let mut history: Vec<RouterEpochJson> = epochs
                .iter()
                .rev()
                .take(20)
                .map(|(e, r)| RouterEpochJson {
                    epoch: *e,
                    workers: r.workers,
                    receipts: r.receipts,
                    tokens: r.tokens,
                })
                .collect();
            history.reverse();
            RouterRow {
                address: a.to_string(),
                epochs: epochs.len(),
                tokens: epochs.values().map(|r| r.tokens).fold(0, u64::saturating_add),
                history,
                ledger: record(&a.0),
            }
        })
        .collect();
    for r in snap.map_or(&[][..], |s| s.routers.as_slice()) {
        let address = hex::encode(&r.address);
        if !routers.iter().any(|x| x.address == address) {
            let ledger = Some(RouterJson::from(r));
            routers.push(RouterRow { address, epochs: 0, tokens: 0, history: Vec::new(), ledger });
        }
    }
    routers.sort_by(|a, b| b.tokens.cmp(&a.tokens).then_with(|| a.address.cmp(&b.address)));
    RoutersPage { role: role("routers"), routers }
}

/// The validators page: the role, and the ledger endpoints the explorer reads meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidatorsPage {
    /// The role and what the ledger lacks of it.
    pub role: RoleJson,
    /// Validators (none until the ledger has the role).
    pub validators: Vec<String>,
    /// The ledger endpoints the explorer follows.
    pub ledger_endpoints: Vec<String>,
}

/// The validators page.
pub fn validators(ledger: &LedgerStatus) -> ValidatorsPage {
    ValidatorsPage {
        role: role("validators"),
        validators: Vec::new(),
        ledger_endpoints: ledger.endpoints.clone(),
    }
}
