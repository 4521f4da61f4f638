//! Progress bars for long work, drawn on stderr.

use indicatif::{ProgressBar, ProgressStyle};
use wick_models::fetch::FetchProgress;

/// An indicatif bar behind the library's progress trait.
pub struct Bar(ProgressBar);

impl Bar {
    /// A hidden bar until the first phase starts.
    pub fn new() -> Self {
        Self(ProgressBar::hidden())
    }
}

impl FetchProgress for Bar {
    fn start(&self, message: &str, total: u64) {
        self.0.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        self.0.set_length(total);
        self.0.set_position(0);
        if let Ok(style) =
            ProgressStyle::with_template("{msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
        {
            self.0.set_style(style.progress_chars("=> "));
        }
        self.0.set_message(message.to_string());
    }

    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }

    fn message(&self, message: &str) {
        self.0.set_message(message.to_string());
    }
}
