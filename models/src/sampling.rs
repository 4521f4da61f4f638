//! Choosing the next token from logits: repetition penalty, temperature, top-k, top-p, and a
//! per-request ChaCha RNG so the same seed gives the same choices on every machine.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Below this temperature sampling is greedy.
const GREEDY_BELOW: f32 = 1e-5;

/// Sampling settings of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy.
    pub temperature: f32,
    /// Nucleus mass in (0, 1]; 1 disables it.
    pub top_p: f32,
    /// Keep only the k most likely tokens; 0 disables it.
    pub top_k: usize,
    /// Divides positive (multiplies negative) logits of recent tokens; 1 disables it.
    pub repetition_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    /// Seed of the request's RNG.
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self { temperature: 0.0, top_p: 1.0, top_k: 0, repetition_penalty: 1.0, repeat_last_n: 64, seed: 0 }
    }
}

/// Samples tokens for one sequence.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: ChaCha8Rng,
    candidates: Vec<(u32, f32)>,
    ranks: Vec<u64>,
    probs: Vec<f64>,
}

impl Sampler {
    /// A sampler whose RNG starts from `params.seed`.
    pub fn new(params: SamplingParams) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(params.seed);
        Self { params, rng, candidates: Vec::new(), ranks: Vec::new(), probs: Vec::new() }
    }

    /// Advances the RNG exactly as one call of [`Sampler::sample`] does, without choosing: for
    /// replaying tokens that were sampled before.
    pub fn skip_draw(&mut self) {
        if self.params.temperature >= GREEDY_BELOW {
            let _: f64 = self.rng.random();
        }
    }

    /// Picks the next token. `history` is the sequence so far (prompt and output); `logits` is
    /// modified in place.
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        let p = &self.params;
        if p.repetition_penalty != 1.0 {
            let start = history.len().saturating_sub(p.repeat_last_n);
            let mut seen: Vec<u32> = history[start..].to_vec();
            seen.sort_unstable();
            seen.dedup();
            for id in seen {
                if let Some(l) = logits.get_mut(id as usize) {
                    *l = if *l > 0.0 { *l / p.repetition_penalty } else { *l * p.repetition_penalty };
                }
            }
        }
        if p.temperature < GREEDY_BELOW {
            return argmax(logits);
        }
        // Candidates ordered by logit, ties by id, so the order never depends on the sort.
        let ranks = &mut self.ranks;
        ranks.clear();
        ranks.extend(logits.iter().enumerate().map(|(i, &l)| rank(i as u32, l / p.temperature)));
        if p.top_k > 0 && p.top_k < ranks.len() {
            ranks.select_nth_unstable(p.top_k - 1);
            ranks.truncate(p.top_k);
        }
        ranks.sort_unstable();
        let c = &mut self.candidates;
        c.clear();
        c.extend(ranks.iter().map(|&r| {
            let id = r as u32;
            (id, logits[id as usize] / p.temperature)
        }));
        let max = c[0].1;
        let probs = &mut self.probs;
        probs.clear();
        probs.extend(c.iter().map(|&(_, l)| f64::from(l - max).exp()));
        let total: f64 = probs.iter().sum();
        let mut keep = probs.len();
        if p.top_p < 1.0 {
            let mut mass = 0.0;
            for (i, prob) in probs.iter().enumerate() {
                mass += prob / total;
                if mass >= f64::from(p.top_p) {
                    keep = i + 1;
                    break;
                }
            }
        }
        probs.truncate(keep);
        let kept: f64 = probs.iter().sum();
        let mut draw = self.rng.random::<f64>() * kept;
        for (i, prob) in probs.iter().enumerate() {
            draw -= prob;
            if draw < 0.0 {
                return c[i].0;
            }
        }
        c[keep - 1].0
    }
}

/// A key whose ascending order is the candidates' order: logit descending (in `f32::total_cmp`
/// order), then id ascending. The order is total, so any sort gives the same permutation, and
/// sorting plain integers is several times faster than sorting pairs through a comparator (a
/// whole vocabulary is sorted for every token drawn without top-k).
fn rank(id: u32, logit: f32) -> u64 {
    let bits = logit.to_bits();
    // Unsigned order of `ordered` is the total order of the floats.
    let ordered = if bits >> 31 == 1 { !bits } else { bits | 0x8000_0000 };
    (u64::from(!ordered) << 32) | u64::from(id)
}

/// Index of the largest logit, the lowest index on ties.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        (0..100).map(|i| ((i * 37) % 101) as f32 / 10.0).collect()
    }

    #[test]
    fn greedy_picks_the_max() {
        let mut s = Sampler::new(SamplingParams::default());
        let mut l = logits();
        let expected = argmax(&l);
        assert_eq!(s.sample(&mut l, &[]), expected);
    }

    #[test]
    fn same_seed_same_draws() {
        let params =
            SamplingParams { temperature: 1.0, top_p: 0.9, top_k: 40, seed: 7, ..Default::default() };
        let draws = |params: &SamplingParams| {
            let mut s = Sampler::new(params.clone());
            (0..50).map(|_| s.sample(&mut logits(), &[])).collect::<Vec<_>>()
        };
        assert_eq!(draws(&params), draws(&params));
        let other = SamplingParams { seed: 8, ..params.clone() };
        assert_ne!(draws(&params), draws(&other));
    }

    #[test]
    fn ranks_order_candidates_as_the_comparator_does() {
        let mut values: Vec<f32> =
            vec![0.0, -0.0, 1.0, -1.0, 1.0, f32::MAX, f32::MIN, 1e-30, -1e-30, 2.5, 2.5];
        values.extend((0..500).map(|i| ((i * 7919) % 211) as f32 / 7.0 - 15.0));
        let mut by_comparator: Vec<(u32, f32)> =
            values.iter().enumerate().map(|(i, &l)| (i as u32, l)).collect();
        by_comparator.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut by_rank: Vec<u64> = values.iter().enumerate().map(|(i, &l)| rank(i as u32, l)).collect();
        by_rank.sort_unstable();
        let ids: Vec<u32> = by_rank.iter().map(|&r| r as u32).collect();
        assert_eq!(ids, by_comparator.iter().map(|c| c.0).collect::<Vec<_>>());
    }

    #[test]
    fn top_k_one_is_greedy() {
        let params = SamplingParams { temperature: 1.5, top_k: 1, seed: 3, ..Default::default() };
        let mut s = Sampler::new(params);
        let expected = argmax(&logits());
        for _ in 0..20 {
            assert_eq!(s.sample(&mut logits(), &[]), expected);
        }
    }

    #[test]
    fn repetition_penalty_demotes_recent_tokens() {
        let mut l = vec![1.0, 0.9, 0.1];
        let mut s = Sampler::new(SamplingParams { repetition_penalty: 2.0, ..Default::default() });
        assert_eq!(s.sample(&mut l, &[0]), 1);
    }
}
