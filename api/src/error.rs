//! Why a request was refused.

/// A request the client must change: what is wrong and, when one parameter is to blame, its
/// name (OpenAI's `param`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// What is wrong, and what would be right.
    pub message: String,
    /// The parameter at fault, e.g. `response_format.json_schema` or `tools`.
    pub param: Option<String>,
}

impl RequestError {
    /// An error that no single parameter is to blame for.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), param: None }
    }

    /// An error in parameter `param`.
    pub fn param(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self { message: message.into(), param: Some(param.into()) }
    }
}
