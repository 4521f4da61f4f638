//! Chat templates: the Jinja template a GGUF carries (`tokenizer.chat_template`), rendered with
//! minijinja the way Hugging Face renders them (trim_blocks and lstrip_blocks on, Python string
//! methods available, `raise_exception` defined).

use minijinja::{Environment, ErrorKind, context};

use crate::{ModelError, Result};

const TEMPLATE_NAME: &str = "chat";

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: "system".into(), content: content.into() }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: "user".into(), content: content.into() }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: "assistant".into(), content: content.into() }
    }
}

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
}

impl ChatTemplate {
    /// Compiles `source`.
    pub fn new(source: &str) -> Result<Self> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_template_owned(TEMPLATE_NAME, source.to_string())
            .map_err(|e| ModelError::Template(format!("compiling the model's chat template: {e}")))?;
        Ok(Self { env })
    }

    /// Renders a conversation; with `add_generation_prompt` the text ends where the assistant's
    /// answer begins.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        bos_token: &str,
        eos_token: &str,
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template =
            self.env.get_template(TEMPLATE_NAME).map_err(|e| ModelError::Template(e.to_string()))?;
        template
            .render(context! {
                messages => messages,
                bos_token => bos_token,
                eos_token => eos_token,
                add_generation_prompt => add_generation_prompt,
            })
            .map_err(|e| ModelError::Template(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_exception_becomes_an_error() {
        let t = ChatTemplate::new("{% if messages|length == 0 %}{{ raise_exception('empty') }}{% endif %}");
        let err = t.and_then(|t| t.render(&[], "", "", true)).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("empty")));
    }

    #[test]
    fn python_string_methods_work() {
        let t = ChatTemplate::new("{% for m in messages %}{{ m.content.strip() }}{% endfor %}");
        let out = t.and_then(|t| t.render(&[ChatMessage::user("  hi  ")], "", "", false));
        assert_eq!(out.ok().as_deref(), Some("hi"));
    }
}
