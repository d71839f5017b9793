//! The [`Memory`] seam (autogen-core's `Memory` protocol) and the context text made from memories.

use std::fmt::Write as _;

use futures::future::BoxFuture;

use crate::content::MemoryContent;
use crate::error::Result;

/// A store of [`MemoryContent`] that agents use to enrich a model's context (autogen-core's
/// `Memory` protocol).
///
/// The trait is object-safe (methods return [`BoxFuture`]), so agents can hold an
/// `Arc<dyn Memory>` and not care whether it is a [`ListMemory`](crate::ListMemory) in this process or
/// a [`KafkaMemory`](crate::KafkaMemory) shared by a whole session.
///
/// autogen-core's `update_context(model_context)` appends a system message to a chat context.
/// This workspace has no chat-context type, so the hook is [`context_text`](Self::context_text): it
/// gives the text of that system message (or `None` when the memory is empty), for the caller to
/// add to its own context.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use autogen_kafka_memory::{ListMemory, Memory, MemoryContent};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> autogen_kafka_memory::Result<()> {
/// let memory: Arc<dyn Memory> = Arc::new(ListMemory::new());
/// memory.add(MemoryContent::text("the user prefers metric units")).await?;
/// memory.add(MemoryContent::json(serde_json::json!({"city": "Oslo"}))).await?;
///
/// let all = memory.query("").await?;
/// assert_eq!(all.len(), 2);
/// let text = memory.context_text().await?.unwrap_or_default();
/// assert!(text.contains("1. the user prefers metric units"));
/// assert!(text.contains(r#"2. {"city":"Oslo"}"#));
///
/// memory.clear().await?;
/// assert!(memory.query("").await?.is_empty());
/// memory.close().await?;
/// # Ok(()) }
/// ```
pub trait Memory: Send + Sync + 'static {
    /// The name of this memory (for logs and tools).
    fn name(&self) -> &str;

    /// Adds `content`. It is visible to [`query`](Self::query) once this returns.
    ///
    /// # Errors
    ///
    /// Implementation-specific; [`KafkaMemory`](crate::KafkaMemory) fails when the content cannot be
    /// shared or the broker does not acknowledge it.
    fn add(&self, content: MemoryContent) -> BoxFuture<'_, Result<()>>;

    /// The entries relevant to `query`, in chronological order (most recent last).
    ///
    /// [`ListMemory`](crate::ListMemory) and [`KafkaMemory`](crate::KafkaMemory) ignore `query` and return every
    /// entry, as autogen-core's `ListMemory` does; a searching memory may rank or filter.
    ///
    /// # Errors
    ///
    /// Implementation-specific; the two memories of this crate never fail here.
    fn query<'a>(&'a self, query: &'a str) -> BoxFuture<'a, Result<Vec<MemoryContent>>>;

    /// Removes every entry.
    ///
    /// # Errors
    ///
    /// Implementation-specific; [`KafkaMemory`](crate::KafkaMemory) fails when the broker does not
    /// acknowledge the clear.
    fn clear(&self) -> BoxFuture<'_, Result<()>>;

    /// Releases the memory's resources. Calling it again does nothing.
    ///
    /// # Errors
    ///
    /// Implementation-specific; the two memories of this crate never fail here.
    fn close(&self) -> BoxFuture<'_, Result<()>>;

    /// The system-message text for a model's context: every entry of [`query("")`](Self::query), numbered in
    /// chronological order (see [`format_context`]); `None` when there is none.
    ///
    /// # Errors
    ///
    /// Those of [`query`](Self::query).
    fn context_text(&self) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move { Ok(format_context(&self.query("").await?)) })
    }
}

/// The context text of some memories: a heading, then one numbered line per entry in the given
/// (chronological) order, each shown with its [`Display`](std::fmt::Display) form; `None` for no
/// entries.
///
/// # Examples
///
/// ```
/// use autogen_kafka_memory::{MemoryContent, format_context};
///
/// let text = format_context(&[MemoryContent::text("a"), MemoryContent::markdown("*b*")]);
/// assert_eq!(text.as_deref(), Some("\nMemories, oldest first:\n1. a\n2. *b*\n"));
/// assert_eq!(format_context(&[]), None);
/// ```
#[must_use]
pub fn format_context(contents: &[MemoryContent]) -> Option<String> {
    if contents.is_empty() {
        return None;
    }
    let mut text = String::from("\nMemories, oldest first:\n");
    for (number, content) in contents.iter().enumerate() {
        // Writing to a String cannot fail.
        let _ = writeln!(text, "{}. {content}", number + 1);
    }
    Some(text)
}
