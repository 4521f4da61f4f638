//! Log probabilities of sampled tokens (OpenAI's `logprobs` and `top_logprobs`) and the
//! penalties that depend on what a sequence generated so far (`presence_penalty`,
//! `frequency_penalty`).
//!
//! Log probabilities are the log-softmax of the model's raw logits, before penalties,
//! temperature and constraints, as vLLM reports them by default. The softmax's sum runs over
//! eight fixed lanes with a polynomial `exp` of plain float operations (no libm, no CPU-specific
//! path), so the figures are the same on every machine, and it costs a few microseconds per
//! token instead of a libm call per vocabulary entry.

use std::collections::HashMap;

/// Most alternatives a request may ask for (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: usize = 20;

/// The log probability of one token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenLogprob {
    /// The token.
    pub token: u32,
    /// Its natural log probability.
    pub logprob: f32,
}

/// The sampled token's log probability and the most likely alternatives.
#[derive(Debug, Clone, PartialEq)]
pub struct Logprobs {
    /// The token that was sampled.
    pub chosen: TokenLogprob,
    /// The `top` most likely tokens, most likely first, ties by token id.
    pub top: Vec<TokenLogprob>,
}

/// The distribution of one position, kept until the token is drawn.
#[derive(Debug, Clone)]
pub struct Distribution {
    logits: Vec<f32>,
    log_total: f64,
    top: Vec<TokenLogprob>,
}

impl Distribution {
    /// Log-softmax of `logits` and its `top` most likely tokens.
    pub fn new(logits: &[f32], top: usize) -> Self {
        let max = lane_max(logits);
        let max = if max.is_finite() { max } else { 0.0 };
        let log_total = f64::from(max) + f64::from(sum_exp_below(logits, max)).ln();
        let logprob = |t: u32| (f64::from(logits[t as usize]) - log_total) as f32;
        let top = most_likely(logits, top.min(MAX_TOP_LOGPROBS))
            .into_iter()
            .map(|token| TokenLogprob { token, logprob: logprob(token) })
            .collect();
        Self { logits: logits.to_vec(), log_total, top }
    }

    /// The figures once `token` was drawn.
    pub fn chosen(self, token: u32) -> Logprobs {
        let raw = self.logits.get(token as usize).copied().unwrap_or(f32::NEG_INFINITY);
        let logprob = (f64::from(raw) - self.log_total) as f32;
        Logprobs { chosen: TokenLogprob { token, logprob }, top: self.top }
    }
}

const LANES: usize = 8;

/// The largest logit, over eight fixed lanes.
fn lane_max(logits: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = logits.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (m, &l) in lanes.iter_mut().zip(chunk) {
            *m = if l > *m { l } else { *m };
        }
    }
    rest.iter().chain(&lanes).copied().fold(f32::NEG_INFINITY, |m, l| if l > m { l } else { m })
}

/// `2^t` for `t` in [-126, 0]: an integer power of two from the exponent bits times a
/// degree-6 Taylor polynomial of `2^f` for the rest `f` in [-0.5, 0.5] (relative error below
/// 5e-7, a few float steps, far under what a log probability shows).
fn exp2_nonpositive(t: f32) -> f32 {
    // Rounds to the nearest integer without `round` (a libm call on baseline x86-64).
    const ROUND: f32 = 12_582_912.0;
    let k = (t + ROUND) - ROUND;
    let f = t - k;
    let p = 1.0
        + f * (std::f32::consts::LN_2
            + f * (0.240_226_5
                + f * (0.055_504_11 + f * (0.009_618_129 + f * (0.001_333_355 + f * 0.000_154_035)))));
    let scale = f32::from_bits(((k as i32 + 127) as u32) << 23);
    p * scale
}

/// The sum of `exp(l - max)` over `logits` (every `l` at most `max`), over eight fixed lanes.
fn sum_exp_below(logits: &[f32], max: f32) -> f32 {
    let term = |l: f32| exp2_nonpositive(((l - max) * std::f32::consts::LOG2_E).max(-126.0));
    let mut lanes = [0.0f32; LANES];
    let chunks = logits.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (s, &l) in lanes.iter_mut().zip(chunk) {
            *s += term(l);
        }
    }
    lanes.iter().sum::<f32>() + rest.iter().map(|&l| term(l)).sum::<f32>()
}

/// The `k` tokens with the highest logits, most likely first, ties by token id. One pass that
/// keeps a sorted list of `k`: a token enters only when it beats the last kept one, which after
/// the first few hundred tokens almost never happens, so this costs about one comparison per
/// vocabulary entry.
fn most_likely(logits: &[f32], k: usize) -> Vec<u32> {
    let mut kept: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
    if k == 0 {
        return Vec::new();
    }
    for (token, &l) in logits.iter().enumerate() {
        // Ids rise, so an equal logit never displaces a kept one (ties go to the lower id).
        if kept.len() == k && kept[k - 1].0.total_cmp(&l).is_ge() {
            continue;
        }
        let at = kept.partition_point(|(kl, _)| kl.total_cmp(&l).is_ge());
        kept.insert(at, (l, token as u32));
        kept.truncate(k);
    }
    kept.into_iter().map(|(_, t)| t).collect()
}

/// OpenAI's presence and frequency penalties over `generated`: each token's logit loses
/// `frequency` times its count plus `presence` once.
pub fn apply_penalties(logits: &mut [f32], generated: &[u32], presence: f32, frequency: f32) {
    if presence == 0.0 && frequency == 0.0 {
        return;
    }
    let mut counts: HashMap<u32, u32> = HashMap::new();
    for &t in generated {
        *counts.entry(t).or_default() += 1;
    }
    for (t, n) in counts {
        if let Some(l) = logits.get_mut(t as usize) {
            *l -= frequency * n as f32 + presence;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logprobs_are_a_log_softmax_with_sorted_alternatives() {
        let logits = [1.0f32, 3.0, 2.0, 3.0];
        let d = Distribution::new(&logits, 3);
        let out = d.chosen(2);
        let total: f64 = logits.iter().map(|&l| f64::from(l).exp()).sum();
        let expect = (2.0f64.exp() / total).ln() as f32;
        assert!((out.chosen.logprob - expect).abs() < 1e-6);
        let ids: Vec<u32> = out.top.iter().map(|t| t.token).collect();
        assert_eq!(ids, vec![1, 3, 2], "ties by id");
        let mass: f64 =
            (0..4).map(|t| f64::from(Distribution::new(&logits, 0).chosen(t).chosen.logprob).exp()).sum();
        assert!((mass - 1.0).abs() < 1e-6);
    }

    #[test]
    fn the_polynomial_exp_is_within_a_few_float_steps() {
        for i in 0..=126_000 {
            let t = -(i as f32) / 1000.0;
            let exact = 2f64.powf(f64::from(t));
            let got = f64::from(exp2_nonpositive(t));
            assert!(((got - exact) / exact).abs() < 5e-7, "2^{t}: {got} vs {exact}");
        }
        let logits: Vec<f32> = (0..1001).map(|i| (i % 97) as f32 / 7.0 - 9.0).collect();
        let max = lane_max(&logits);
        assert_eq!(max, logits.iter().copied().fold(f32::MIN, f32::max));
        let exact: f64 = logits.iter().map(|&l| (f64::from(l) - f64::from(max)).exp()).sum();
        assert!((f64::from(sum_exp_below(&logits, max)) / exact - 1.0).abs() < 1e-5);
    }

    #[test]
    fn the_one_pass_top_k_matches_a_full_sort() {
        let mut state = 7u64;
        for round in 0..200 {
            // Few distinct values, so ties are common.
            let logits: Vec<f32> = (0..300)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((state >> 33) % 50) as f32 / 4.0 - 6.0
                })
                .collect();
            let mut sorted: Vec<u32> = (0..logits.len() as u32).collect();
            sorted.sort_by(|a, b| logits[*b as usize].total_cmp(&logits[*a as usize]).then(a.cmp(b)));
            let k = round % (MAX_TOP_LOGPROBS + 1);
            assert_eq!(most_likely(&logits, k), sorted[..k], "k = {k}");
        }
    }

    #[test]
    fn penalties_count_generated_tokens() {
        let mut logits = vec![0.0f32; 4];
        apply_penalties(&mut logits, &[1, 1, 2], 0.5, 1.0);
        assert_eq!(logits, vec![0.0, -2.5, -1.5, 0.0]);
    }
}
