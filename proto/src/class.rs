//! Numeric classes: which workers' outputs can be compared bit for bit.
//!
//! Wick checks workers by re-running their jobs and comparing output hashes, which only works
//! while every worker computes the same floats in the same order. Wick's CPU kernels do
//! (class `cpu-v1`), but a GPU sums in another order and gets other bits, and so may another
//! GPU generation. So every receipt and capability record names the class of the device that
//! computed it, and everything that compares outputs (audits, fraud proofs, resuming a stream
//! on another worker) stays within one class. A class is a short lowercase name such as
//! `cpu-v1`, or `cuda-8.6-82sm` (a CUDA compute capability and multiprocessor count).

/// Longest numeric class, in bytes.
pub const MAX_CLASS_BYTES: usize = 32;

/// Why a numeric class is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassError {
    /// No class at all.
    #[error("the numeric class is empty")]
    Empty,
    /// Longer than [`MAX_CLASS_BYTES`].
    #[error("the numeric class is {0} bytes long; at most {MAX_CLASS_BYTES} are allowed")]
    TooLong(usize),
    /// The first character is not a lowercase ASCII letter.
    #[error("the numeric class must start with a letter a-z")]
    NoLeadingLetter,
    /// A character outside `a-z`, `0-9`, `.` and `-`.
    #[error("the numeric class may only hold a-z, 0-9, '.' and '-'")]
    BadCharacter,
}

/// Checks a numeric class: 1 to [`MAX_CLASS_BYTES`] bytes of `[a-z0-9.-]`, starting with a
/// letter. Keeping it this narrow makes it safe to log, print and use as a metric label.
pub fn validate_class(class: &str) -> Result<(), ClassError> {
    let bytes = class.as_bytes();
    let first = *bytes.first().ok_or(ClassError::Empty)?;
    if bytes.len() > MAX_CLASS_BYTES {
        return Err(ClassError::TooLong(bytes.len()));
    }
    if !first.is_ascii_lowercase() {
        return Err(ClassError::NoLeadingLetter);
    }
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-';
    if !bytes.iter().all(allowed) {
        return Err(ClassError::BadCharacter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_classes_pass() {
        for class in ["cpu-v1", "cuda-8.6", "cuda-12.0", "metal-m3", "test-gpu-1.0", "a"] {
            assert_eq!(validate_class(class), Ok(()), "{class}");
        }
    }

    #[test]
    fn the_length_bound_is_exact() {
        let at_bound = format!("c{}", "1".repeat(MAX_CLASS_BYTES - 1));
        assert_eq!(validate_class(&at_bound), Ok(()));
        let over = format!("{at_bound}1");
        assert_eq!(validate_class(&over), Err(ClassError::TooLong(MAX_CLASS_BYTES + 1)));
        assert_eq!(validate_class(""), Err(ClassError::Empty));
    }

    #[test]
    fn other_characters_are_refused() {
        for class in ["cpU-v1", "cpu_v1", "cpu v1", "cpu/v1", "cpu-v1\n", "cpü", "cpu\0"] {
            assert_eq!(validate_class(class), Err(ClassError::BadCharacter), "{class:?}");
        }
        for class in ["1cpu", "-cpu", ".cpu", "Cpu", "é"] {
            assert_eq!(validate_class(class), Err(ClassError::NoLeadingLetter), "{class:?}");
        }
    }
}
