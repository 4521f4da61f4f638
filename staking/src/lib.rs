//! The Wick ledger's staking module: signed transactions, their wire form, and the deterministic
//! state machine that records proofs of service and pays for them (routers' escrow, epochs,
//! rewards, slashing, bounded governance, audit evidence, the genesis file). It is pure: no
//! clock, no storage, no network, no randomness of its own; the ledger node (`wick-ledger`) feeds
//! it blocks and stores them. It knows receipts only through `wick-proto`'s messages and must not
//! know workers, routers or the network.
//!
//! # Who the ledger believes
//! Only keys with something to lose. Tickets, attestations and audit evidence count only from
//! routers that are registered, bonded and unjailed; work claims only from bonded, unjailed
//! workers; audit witnesses must be bonded, unjailed workers other than the accused; a reporter
//! must have bonded stake and cannot be the accused; consensus votes count only from the active
//! validator set, which only bonded, unjailed validators enter. A message from any other key
//! counts for nothing, whatever its signature.
//!
//! # Validators and block time
//! Validators bond stake (`BondValidator`, `UnbondValidator`), which is their voting power in
//! consensus and in governance. The active set ([`State::validator_set()`]) is recomputed only at
//! epoch ends (step 8 below), so one set decides every height of an epoch. Block execution
//! passes each block's agreed time: [`State::check_block_time`] refuses one that does not move
//! forward, [`State::epoch_due`] says whether the block ends the epoch (`epoch_seconds` of block
//! time after it started, see `state::clock`), and [`State::apply_block`] and
//! [`State::end_epoch`] take it. Double-vote evidence in a decided block is applied with
//! [`State::slash_equivocation`].
//!
//! # Transactions and fees
//! Each transaction is signed (ed25519, verified with ZIP-215 rules by `ed25519-consensus`, in
//! batches when a block has more than one, see [`verify`]) over canonical bytes: the tag
//! `wick.v1.LedgerTx`, chain id, signer, nonce, fee, a kind code and the fields (see
//! [`tx::Tx::signing_bytes`]). The nonce must be the account's next one, and the fee at least
//! `min_fee + fee_per_byte × wire size`; the fee is burned. A transaction that fails these
//! checks is refused: it changes nothing and is never stored. One that passes them pays its fee
//! even when its kind fails (see [`error`]), so every stored byte was paid for.
//!
//! # Settlement: per (epoch, worker, router), paid from escrow
//! A router funds an escrow. Every ticket carries the price the worker advertised when the
//! router issued it, and the worker's receipt repeats the ticket's router, price and job id. In
//! each epoch's receipt window (the `wick-settle` crate's docs), for every router it served, a
//! worker claims `(root, count, tokens, amount)` over its receipts of that router's tickets, and
//! every router attests the same for every worker it used, reserving `amount` from its escrow.
//! The amounts are `Σ (tokens_in + tokens_out) · price / 1000` over the receipts.
//!
//! Claims and attestations are compared per pair, never across routers, so a second router, one
//! receipt logged on one side only, or a client gone before the end costs that pair at most the
//! receipts in question, never the epoch: the pair is paid `min(claimed, attested)`. The roots
//! stay in the blocks, so either side can later show which receipts it counted; the ledger does
//! not adjudicate roots. A router that under-attests pays less but loses the worker (workers
//! choose whom they serve); a worker that over-claims is paid only what the router attested.
//!
//! # Why colluding routers and workers cannot mint
//! A router and a worker in collusion can attest any amount of fake work, but the router pays it
//! from its escrow to the worker (a transfer among themselves), the work fee `work_fee_bps` of it
//! is burned, and its inflation share is capped by that very fee (step 3 below). So fake work of
//! amount `P` burns `P · work_fee_bps / 10000` and mints at most as much: it never gains tokens.
//!
//! # Epoch end (exact formula)
//! Epoch `e` ends with the first block whose agreed time `t` is at least `epoch_started_ms +
//! epoch_seconds · 1000` (never with the first block, whose time starts epoch 0). For epoch `e`,
//! with `R = params.epoch_reward`, all divisions flooring:
//! 1. For each (worker `w`, router `r`) the router attested: `paid_{w,r} = min(claim_{w,r}.amount,
//!    att_{w,r}.amount)` (0 without a claim, or if `w` is jailed), out of the amount reserved;
//!    the rest of the reservation returns to `r`'s escrow. `P_w = Σ_r paid_{w,r}`.
//! 2. Work fee `F_w = P_w · work_fee_bps / 10000`, burned.
//! 3. Inflation share `I_w = min(R · P_w / Σ P, F_w)`, minted.
//! 4. The worker's income `X_w = P_w − F_w + I_w`; commission `C_w = X_w · commission_bps /
//!    10000`; each delegator `d` of `w` with delegation `s_d` gets `(X_w − C_w) · s_d / S_w`,
//!    `S_w` the worker's bonded stake (own + delegated); the worker gets `X_w − Σ_d`.
//! 5. All of it accrues as rewards to be withdrawn.
//! 6. Proposals whose voting ends with `e` are tallied against the voting power snapshotted when
//!    their voting opened: passed iff `cast ≥ bonded · quorum_bps / 10000` and `yes > cast ·
//!    threshold_bps / 10000`; a passed change applies `timelock_epochs` after `e + 1`, if still
//!    within bounds ([`Params::bounds`]). Proposals submitted in `e` open for votes in `e + 1`.
//! 7. The epoch becomes `e + 1`; unbonding entries released by then return to their owners;
//!    proven infractions older than the evidence window are forgotten.
//! 8. The validator set of `e + 1`, under the parameters in force in `e + 1`: the unjailed
//!    validators with stake `≥ min_validator_stake`, the `max_validators` largest stakes (ties
//!    by address), each with power `min(stake, u64::MAX)`; if none qualifies, the set of `e`
//!    stays. The epoch clock restarts at `t`.
//!
//! Step 1 is the last use of epoch `e`'s claims and attestations (later ones are refused as
//! past), so the epoch end drops them; the blocks keep them. The state, and hashing it for each
//! block's root, stay the size of the accounts and one epoch's work, however old the chain.
//!
//! # Slashing
//! See [`state`]'s slashing rules: evidence is checked against the ticket of a router in good
//! standing, within `evidence_epochs`, once; the slash reaches stake that was unbonding since the
//! infraction; the reporter's reward never exceeds the accused's own loss. A validator's
//! equivocation is slashed the same way, once per jail term, and all of it is burned.
//!
//! # Supply
//! Supply changes only by minted rewards minus burned fees, work fees and slashes.
//!
//! # Threat model
//! Each attack found in the trust review, the rule that refuses it, and the test that tries it
//! (`staking/tests/trust.rs` on the state machine; `cli/tests/attacks.rs` against real
//! processes; `worker/src/ticket_gate/tests.rs` on the worker's gate).
//!
//! | attack | refused by |
//! | --- | --- |
//! | a stranger signs a ticket, gets two receipts for it, reports the worker | workers serve only tickets of routers the ledger vouches for, each (router, job id) once and only for the request it names; evidence counts only with a ticket of a router in good standing, from a bonded reporter |
//! | a worker reports itself (directly, or through a bonded accomplice) | `SelfReport`; the reporter's part never exceeds the accused's own loss, so the pair always loses |
//! | any key attests made-up work | attestations only from bonded, unjailed routers, for registered workers; each is paid from that router's escrow, and collusion cannot mint (above) |
//! | audit evidence from throwaway witnesses, or with any key as the ticket's router | witnesses must be bonded, unjailed workers; the ticket's router must be in good standing |
//! | unbond just before the proof lands; a jailed worker unbonds | the slash reaches unbonding entries started at or after the infraction; a jailed key cannot unbond until the evidence window of its slash closes |
//! | governance: quorum 0, slash 100 %, any reward; a last-block proposal; power bought for the tally | bounds per parameter ([`Params`]), checked when proposed and again when applied; voting opens the epoch after submission on a snapshot of power taken then; a timelock before a change applies |
//! | state growth for free: fee 0, accounts and workers created by attestations, attacker-sized hashes kept, rejected transactions stored | `min_fee + fee_per_byte × size`, refusals are never stored (nor is a block of nothing but refusals); attestations name registered workers only; proven infractions are fixed-size keys dropped after the evidence window |
//! | embeddings counted as output floats; audits compare only the output hash; the receipt does not cover the text | embeddings count input tokens; audits and fraud proofs compare tokens in, tokens out and the output hash, which covers token ids and the text the client received |
//! | one root per epoch for a worker with several routers, one stray receipt loses the epoch | claims and attestations per (epoch, worker, router), paid `min(claimed, attested)` |
//! | direct calls to a worker's port, past the routers' keys and limits | no ticket, no service (`--dev-unticketed` only for development) |
//! | a router signs two tickets for one job id | `RouterEquivocation` slashes and jails the router |
//! | a validator signs two votes for one height and round, then unbonds, or the proposer includes the evidence for profit, or again at the same height | [`State::slash_equivocation`] cuts its stake and its unbonding since the infraction's epoch, burns it all (no reward for anyone) and jails it, out of the set from the next epoch end; one slash per (validator, height) and per jail term, within the evidence window only (`cli/tests/replication.rs` drives an equivocating validator) |
//! | the one process that runs the ledger rewrites balances, drops transactions or stops | the ledger is replicated by BFT consensus (`wick-consensus`): a block counts only once more than two thirds of the validators' power voted for it after re-executing it to the same state root; a validator votes nil on a block whose root, time, signatures or evidence do not check (`cli/tests/replication.rs`) |
//! | a stranger floods a ledger node's `RelayTxs` (open to full nodes, so unstaked) to burn its signature checks | each source IP address relays through a token bucket (`--relay-rate`, bursts of 4,096); a message past it is refused whole with `RESOURCE_EXHAUSTED` before decoding, a reconnection keeps its bucket, other sources keep theirs (`cli/tests/replication.rs`) |
//! | a proposer stalls or rushes the epoch clock | block time must exceed the parent's and be at most 2 s ahead of each validator's clock, and proposers rotate every height |
//! | a proposer rewinds or stalls the block time to end epochs early or never; one replica's clock decides | epoch ends follow the agreed block time in the state, which must increase; the set and the clock are in the state root |
//! | a key jailed in two roles unjails the later term on the strength of the earlier | `Unjail` waits until every term of the key is over |
//! | honest workers on another device (GPU float order) outvote or frame a worker; a worker restarted on another device is reported for its new answer | receipts sign their numeric class; audit evidence must be of one class, checked before any output is compared, and fraud proofs of two classes are refused |
//!
//! # Execution is serial
//! Blocks execute one transaction after the other ([`State::apply_block`]); signature batches
//! are verified on all cores beforehand. Execution alone runs at millions of transactions per
//! second on one core, far above what verification admits, so lanes of parallel execution did
//! not pay for their copying and merging (measured 3× slower at 2 threads) and were removed.

pub mod error;
pub mod evidence;
pub mod genesis;
pub mod state;
pub mod tx;
pub mod types;
pub mod verify;
pub mod wire;

pub use error::TxError;
pub use state::{Params, State};
pub use tx::{ParamKey, SignedTx, Tx, TxBody, WorkReport};
pub use types::{Address, Amount};
