//! Prints messages on standard output, framed like a chat bubble.

use super::{Receipt, SinkError};
use crate::item::Message;

#[derive(Debug)]
pub struct ConsoleSink {
    name: String,
}

impl ConsoleSink {
    pub fn new(name: &str) -> Self {
        ConsoleSink {
            name: name.to_owned(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn send(&self, message: &Message) -> Result<Receipt, SinkError> {
        println!("{}", render(message));
        Ok(Receipt::default())
    }
}

/// The message as a person would see it, with its source and image.
pub fn render(message: &Message) -> String {
    let mut out = format!(
        "┌─ {} · {}{}\n",
        message.source,
        message.kind,
        if message.priority == crate::config::Priority::Urgent {
            " · URGENTE"
        } else {
            ""
        }
    );
    for line in message.text.lines() {
        out.push_str("│ ");
        out.push_str(line);
        out.push('\n');
    }
    if let Some(image) = &message.image {
        out.push_str("│ [immagine] ");
        out.push_str(image);
        out.push('\n');
    }
    out.push('└');
    out.push_str(&"─".repeat(40));
    out
}
