//! Each refusal of the gate, tried the way an attacker would send it.

use ed25519_dalek::SigningKey;
use tonic::Code;
use wick_proto::signing;
use wick_proto::time::now_unix_ms;
use wick_proto::v1::{ChatMessage, JobTicket, SamplingParams};

use super::{Request, TicketGate};

const MODEL: [u8; 32] = [7; 32];

fn model_id() -> String {
    hex::encode(MODEL)
}

fn messages(text: &str) -> Vec<ChatMessage> {
    vec![ChatMessage { role: "user".into(), content: text.into() }]
}

/// A ticket of `router` for a chat of `text`, job id `id`, at `price`, in epoch 5.
fn ticket(router: &SigningKey, text: &str, id: u8, price: u64) -> JobTicket {
    let params = SamplingParams::default();
    let mut t = JobTicket {
        job_id: vec![id; 16],
        request_hash: signing::request_hash(&model_id(), &messages(text), "", Some(&params)).to_vec(),
        model_id: MODEL.to_vec(),
        params: Some(params),
        deadline_unix_ms: now_unix_ms() + 60_000,
        price_per_1k_tokens: price,
        epoch: 5,
        ..Default::default()
    };
    signing::sign_ticket(router, &mut t);
    t
}

fn admit(gate: &TicketGate, t: Option<&JobTicket>, text: &str) -> Result<(), Code> {
    let model = model_id();
    let m = messages(text);
    let params = SamplingParams::default();
    let req = Request::Generation { model_id: &model, messages: &m, prompt: "", params: Some(&params) };
    gate.admit(t, &req).map(|_| ()).map_err(|s| s.code())
}

/// A gate following a ledger that vouches for router key 1, at epoch 5, price 10.
fn gate() -> (TicketGate, SigningKey) {
    let router = SigningKey::from_bytes(&[1; 32]);
    let gate = TicketGate::new(10, 900, false, true);
    gate.set_routers([router.verifying_key().to_bytes()].into());
    gate.set_epoch(5);
    (gate, router)
}

#[test]
fn an_honest_ticket_is_served_once() {
    let (gate, router) = gate();
    let t = ticket(&router, "hi", 1, 10);
    assert_eq!(admit(&gate, Some(&t), "hi"), Ok(()));
    assert_eq!(admit(&gate, Some(&t), "hi"), Err(Code::AlreadyExists), "the same ticket twice");
}

#[test]
fn no_ticket_is_refused_unless_in_development() {
    let (gate, _) = gate();
    assert_eq!(admit(&gate, None, "hi"), Err(Code::PermissionDenied));
    let dev = TicketGate::new(10, 900, true, false);
    assert_eq!(admit(&dev, None, "hi"), Ok(()));
}

#[test]
fn a_strangers_ticket_is_refused() {
    let (gate, _) = gate();
    let stranger = SigningKey::from_bytes(&[9; 32]);
    assert_eq!(admit(&gate, Some(&ticket(&stranger, "hi", 1, 10)), "hi"), Err(Code::PermissionDenied));
    // Before the ledger has answered, a ledger-following worker trusts no router.
    let fresh = TicketGate::new(10, 900, false, true);
    let router = SigningKey::from_bytes(&[1; 32]);
    assert_eq!(admit(&fresh, Some(&ticket(&router, "hi", 1, 10)), "hi"), Err(Code::PermissionDenied));
}

#[test]
fn a_forged_or_reused_ticket_is_refused() {
    let (gate, router) = gate();
    let mut t = ticket(&router, "hi", 1, 10);
    t.price_per_1k_tokens = 1_000;
    assert_eq!(admit(&gate, Some(&t), "hi"), Err(Code::Unauthenticated), "edited after signing");
    // One ticket, another request (the stranger's attack of the trust review, by a real router).
    let t = ticket(&router, "hi", 2, 10);
    assert_eq!(admit(&gate, Some(&t), "something else"), Err(Code::InvalidArgument));
}

#[test]
fn price_epoch_and_deadline_are_bounded() {
    let (gate, router) = gate();
    assert_eq!(admit(&gate, Some(&ticket(&router, "hi", 1, 9)), "hi"), Err(Code::FailedPrecondition));
    gate.set_epoch(7);
    assert_eq!(admit(&gate, Some(&ticket(&router, "hi", 2, 10)), "hi"), Err(Code::FailedPrecondition));
    gate.set_epoch(6);
    assert_eq!(admit(&gate, Some(&ticket(&router, "hi", 3, 10)), "hi"), Ok(()), "a neighbouring epoch");
    let mut far = ticket(&router, "hi", 4, 10);
    far.deadline_unix_ms = now_unix_ms() + 3_600_000;
    signing::sign_ticket(&router, &mut far);
    assert_eq!(admit(&gate, Some(&far), "hi"), Err(Code::InvalidArgument));
    let mut past = ticket(&router, "hi", 5, 10);
    past.deadline_unix_ms = now_unix_ms() - 1;
    signing::sign_ticket(&router, &mut past);
    assert_eq!(admit(&gate, Some(&past), "hi"), Err(Code::DeadlineExceeded));
    let mut max = ticket(&router, "hi", 6, 10);
    max.deadline_unix_ms = u64::MAX;
    signing::sign_ticket(&router, &mut max);
    assert_eq!(admit(&gate, Some(&max), "hi"), Err(Code::InvalidArgument), "a value at its bound");
}

#[test]
fn a_restart_remembers_the_jobs_already_served() {
    let (gate, router) = gate();
    let t = ticket(&router, "hi", 1, 10);
    let mut r = signing::receipt_for(Some(&t), [0; 32]);
    r.finished_unix_ms = now_unix_ms();
    let signed = signing::sign_receipt(&SigningKey::from_bytes(&[3; 32]), r);
    gate.remember(&[signed]);
    assert_eq!(admit(&gate, Some(&t), "hi"), Err(Code::AlreadyExists));
}
