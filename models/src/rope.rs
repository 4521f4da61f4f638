//! Rotary position embeddings, from a table of cosines and sines computed once at load.

/// Which elements of a head rotate together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs `(2i, 2i + 1)`: GGML's "normal" RoPE, which llama GGUFs are permuted for.
    Adjacent,
    /// The two halves `(i, i + d/2)`: GGML's "NeoX" RoPE, which qwen2 uses.
    Halves,
}

pub(crate) struct RopeTable {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
    style: RopeStyle,
}

impl RopeTable {
    pub(crate) fn new(head_dim: usize, base: f32, positions: usize, style: RopeStyle) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(positions * half);
        let mut sin = Vec::with_capacity(positions * half);
        for pos in 0..positions {
            for i in 0..half {
                let freq = 1.0 / base.powf((2 * i) as f32 / head_dim as f32);
                let angle = pos as f32 * freq;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Self { cos, sin, half, style }
    }

    /// The cosines and sines, `half` per position.
    pub(crate) fn tables(&self) -> (&[f32], &[f32]) {
        (&self.cos, &self.sin)
    }

    /// Positions the table covers.
    pub(crate) fn positions(&self) -> usize {
        self.cos.len() / self.half
    }

    /// Rotates every head of `row` for position `pos`.
    pub(crate) fn apply(&self, row: &mut [f32], pos: usize, head_dim: usize) {
        let cos = &self.cos[pos * self.half..][..self.half];
        let sin = &self.sin[pos * self.half..][..self.half];
        for head in row.chunks_exact_mut(head_dim) {
            for i in 0..self.half {
                let (a, b) = match self.style {
                    RopeStyle::Adjacent => (2 * i, 2 * i + 1),
                    RopeStyle::Halves => (i, i + self.half),
                };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * cos[i] - x1 * sin[i];
                head[b] = x0 * sin[i] + x1 * cos[i];
            }
        }
    }
}
