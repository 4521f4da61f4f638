//! Governance: the parameters with their bounds, and every proposal with its tally and the
//! epoch its change would apply from (the timelock).

use serde::Serialize;
use wick_ledger::json::{ParamsJson, ProposalJson};

use crate::ledger_state::LedgerSnapshot;

/// The governance page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GovernancePage {
    /// The current epoch.
    pub epoch: u64,
    /// Bonded stake: what a proposal's quorum is measured against.
    pub bonded: String,
    /// The parameters and their bounds.
    pub params: ParamsJson,
    /// Every proposal, by id (as `wick proposal list --json` prints them).
    pub proposals: Vec<ProposalJson>,
}

/// The governance page from a ledger snapshot.
pub fn page(s: &LedgerSnapshot) -> GovernancePage {
    GovernancePage {
        epoch: s.epoch.epoch,
        bonded: s.supply.bonded.clone(),
        params: ParamsJson::from(&s.params),
        proposals: s.proposals.iter().map(ProposalJson::from).collect(),
    }
}
