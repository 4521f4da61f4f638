//! The Wick ledger's staking module: signed transactions, their wire form, and the deterministic
//! state machine that records proofs of service and pays for them (epochs, rewards, slashing,
//! governance, audit evidence, parallel execution, the genesis file). It is pure: no clock, no
//! storage, no network, no randomness of its own; the ledger node (`wick-ledger`) feeds it blocks
//! and stores them. It knows receipts only through `wick-proto`'s messages and must not know
//! workers, routers or the network.
//!
//! # Transactions
//! Each transaction is signed (ed25519, verified with ZIP-215 rules by `ed25519-consensus`, in
//! batches when a block has more than one, see [`verify`]) over canonical bytes: the tag `wick.v1.LedgerTx`, chain
//! id, signer, nonce, fee, a kind code and the fields (see [`tx::Tx::signing_bytes`]). The nonce
//! must be the account's next one; the fee is burned. A rejected transaction changes nothing and
//! pays no fee.
//!
//! # Epoch end (exact formula)
//! For epoch `e`, with reward `R = params.epoch_reward`, all divisions flooring:
//! 1. Credited work of worker `w`: `c_w = min(claim_w.tokens, max{att.tokens : att for (e, w),
//!    att.root == claim_w.root})`, or 0 if no claim, no matching attestation, or `w` is jailed.
//! 2. Weight `x_w = c_w · S_w` where `S_w` is `w`'s bonded stake (own + delegated), saturating.
//! 3. Worker share `P_w = R · x_w / Σx`. Commission `C_w = P_w · commission_bps / 10000`.
//! 4. Each delegator `d` of `w` with delegation `s_d` gets `(P_w − C_w) · s_d / S_w`; the worker
//!    gets `P_w − Σ_d` (its commission, its own pro-rata part and the rounding dust).
//! 5. Only the amounts paid are minted (`Σ P_w ≤ R`); they accrue as rewards to be withdrawn.
//! 6. Proposals whose voting ends with `e` are tallied by current voting power (own stake plus
//!    delegations made): passed iff `cast ≥ bonded · quorum_bps / 10000` and
//!    `yes > cast · threshold_bps / 10000`; passed changes apply from epoch `e + 1`.
//! 7. The epoch becomes `e + 1`; unbonding entries with release epoch `≤ e + 1` return to balances.
//!
//! Step 1 is the last use of epoch `e`'s claims and attestations (later ones are rejected as
//! past), so the epoch end drops them from the state; the blocks keep them, and the state keeps
//! how many workers were credited. The state, and hashing it for each block's root, thus stay
//! the size of the accounts and one epoch's work, however old the chain.
//!
//! # Slashing
//! A fraud proof (two receipts validly signed by one worker for the same job with different
//! outputs) cuts `slash_bps` of the worker's own stake and of each delegation, pays
//! `reporter_bps` of the cut to the reporter and burns the rest; the worker is jailed and the job
//! cannot be proven twice. Supply changes only by minted rewards minus burned fees and slashes.
//!
//! # Parallel execution
//! [`State::apply_block_parallel`] gives exactly [`State::apply_block`]'s results and root on all
//! cores. Each transaction declares the keys it reads and writes ([`State::access`]: accounts,
//! worker records, proven jobs, the proposal table; a fraud proof writes the worker and all its
//! delegators); transactions sharing a written key form one group and keep their block order;
//! groups are packed onto lanes that each run the ordinary [`State::apply_verified`] on a private
//! copy of the entries they reach; the disjoint results are merged and the supply/burned deltas
//! summed. Signature batches are verified on all cores meanwhile; a caller that verifies block
//! N+1 while block N executes uses [`State::apply_verified_block`] (see [`parallel`]; `wick
//! bench ledger` measures it).

pub mod error;
pub mod evidence;
pub mod genesis;
pub mod parallel;
pub mod state;
pub mod tx;
pub mod types;
pub mod verify;
pub mod wire;

pub use error::TxError;
pub use state::{Params, State};
pub use tx::{ParamKey, SignedTx, Tx, TxBody};
pub use types::{Address, Amount};
