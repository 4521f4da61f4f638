//! Log probabilities of sampled tokens (OpenAI's `logprobs` and `top_logprobs`) and the
//! penalties that depend on what a sequence generated so far (`presence_penalty`,
//! `frequency_penalty`).
//!
//! Log probabilities are the log-softmax of the model's raw logits, before penalties,
//! temperature and constraints, as vLLM reports them by default. Sums run in f64 in index order,
//! so the figures are the same on every machine.

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
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let max = if max.is_finite() { f64::from(max) } else { 0.0 };
        let sum: f64 = logits.iter().map(|&l| (f64::from(l) - max).exp()).sum();
        let log_total = max + sum.ln();
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
