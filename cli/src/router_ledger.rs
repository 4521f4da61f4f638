//! A router's ledger identity: `wick router register|bond|unbond|show`, `wick escrow
//! fund|withdraw`. A router must be registered with bonded stake before workers accept its
//! tickets, and its escrow pays for the work it attests (see the staking module's docs).

use wick_staking::{Amount, TxBody};

use crate::GlobalArgs;
use crate::gov::{AmountArgs, QueryOpts, TxOpts, send};
use crate::keys;

/// `wick router …`: run a router, or (with a subcommand) act on the ledger as one.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct RouterCli {
    #[command(subcommand)]
    pub command: Option<RouterLedgerCommand>,
    #[command(flatten)]
    pub run: crate::router::RouterArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum RouterLedgerCommand {
    /// Register the key as a router on the ledger.
    Register {
        #[command(flatten)]
        tx: TxOpts,
    },
    /// Bond your own tokens to your router (workers serve only bonded routers' tickets).
    Bond(AmountArgs),
    /// Start unbonding router stake (slashable until released).
    Unbond(AmountArgs),
    /// Show a router's registration, stake, escrow and jail.
    Show {
        /// Router: an address or a key name.
        router: String,
        #[command(flatten)]
        query: QueryOpts,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum EscrowCommand {
    /// Move tokens from your balance into your router's escrow, which pays the work it attests.
    Fund(AmountArgs),
    /// Start withdrawing escrow (released after the unbonding period).
    Withdraw(AmountArgs),
}

pub fn router(global: &GlobalArgs, cmd: RouterLedgerCommand) -> anyhow::Result<()> {
    match cmd {
        RouterLedgerCommand::Register { tx } => send(global, &tx, TxBody::RegisterRouter),
        RouterLedgerCommand::Bond(a) => send(global, &a.tx, TxBody::BondRouter { amount: Amount(a.amount) }),
        RouterLedgerCommand::Unbond(a) => {
            send(global, &a.tx, TxBody::UnbondRouter { amount: Amount(a.amount) })
        }
        RouterLedgerCommand::Show { router, query } => {
            crate::ledger_query::router(&query, keys::resolve_address(global, &router)?)
        }
    }
}

pub fn escrow(global: &GlobalArgs, cmd: EscrowCommand) -> anyhow::Result<()> {
    match cmd {
        EscrowCommand::Fund(a) => send(global, &a.tx, TxBody::FundEscrow { amount: Amount(a.amount) }),
        EscrowCommand::Withdraw(a) => {
            send(global, &a.tx, TxBody::WithdrawEscrow { amount: Amount(a.amount) })
        }
    }
}
