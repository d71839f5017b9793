//! [`ListMemory`]: an in-process, chronological list of memories.

use std::sync::{Mutex, MutexGuard, PoisonError};

use futures::future::BoxFuture;

use crate::content::MemoryContent;
use crate::error::Result;
use crate::memory::Memory;

/// The name a [`ListMemory`] gets when none is given.
const DEFAULT_NAME: &str = "default_list_memory";

/// A chronological list of memories in this process (autogen-core's `ListMemory`).
///
/// [`query`](Memory::query) returns every entry, oldest first; [`clear`](Memory::clear) empties the
/// list; [`close`](Memory::close) does nothing. The list can also be read and replaced directly
/// ([`contents`](Self::contents), [`set_contents`](Self::set_contents)). Cheap operations under a
/// short lock: no call ever waits on anything else.
///
/// # Examples
///
/// ```
/// use autogen_kafka_memory::{ListMemory, Memory, MemoryContent};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> autogen_kafka_memory::Result<()> {
/// let memory = ListMemory::with_name("chat_history");
/// memory.add(MemoryContent::text("the user prefers formal language")).await?;
/// memory.set_contents(vec![MemoryContent::text("new preference")]);
/// assert_eq!(memory.query("anything").await?, vec![MemoryContent::text("new preference")]);
/// assert_eq!(memory.name(), "chat_history");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ListMemory {
    name: String,
    contents: Mutex<Vec<MemoryContent>>,
}

impl Default for ListMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl ListMemory {
    /// An empty memory named `default_list_memory`.
    #[must_use]
    pub fn new() -> Self {
        Self::with_name(DEFAULT_NAME)
    }

    /// An empty memory with a name.
    #[must_use]
    pub fn with_name(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            contents: Mutex::new(Vec::new()),
        }
    }

    /// Starts with `contents` (oldest first).
    #[must_use]
    pub fn with_contents(self, contents: Vec<MemoryContent>) -> Self {
        self.set_contents(contents);
        self
    }

    /// A copy of every entry, oldest first.
    #[must_use]
    pub fn contents(&self) -> Vec<MemoryContent> {
        self.lock().clone()
    }

    /// Replaces every entry.
    pub fn set_contents(&self, contents: Vec<MemoryContent>) {
        *self.lock() = contents;
    }

    /// Appends one entry.
    pub fn push(&self, content: MemoryContent) {
        self.lock().push(content);
    }

    /// Removes every entry.
    pub fn clear_now(&self) {
        self.lock().clear();
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there is no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<MemoryContent>> {
        self.contents.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Memory for ListMemory {
    fn name(&self) -> &str {
        &self.name
    }

    fn add(&self, content: MemoryContent) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.push(content);
            Ok(())
        })
    }

    fn query<'a>(&'a self, _query: &'a str) -> BoxFuture<'a, Result<Vec<MemoryContent>>> {
        Box::pin(async move { Ok(self.contents()) })
    }

    fn clear(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.clear_now();
            Ok(())
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn keeps_chronological_order_and_clears() {
        tokio::time::timeout(Duration::from_secs(10), async {
            let memory: Arc<dyn Memory> = Arc::new(ListMemory::new());
            assert_eq!(memory.name(), DEFAULT_NAME);
            assert_eq!(memory.context_text().await.unwrap(), None);
            for i in 0..5 {
                memory
                    .add(MemoryContent::text(format!("m{i}")))
                    .await
                    .unwrap();
            }
            let texts: Vec<String> = memory
                .query("ignored")
                .await
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4"]);
            let context = memory.context_text().await.unwrap().unwrap();
            assert!(context.ends_with("4. m3\n5. m4\n"), "{context:?}");
            memory.clear().await.unwrap();
            assert!(memory.query("").await.unwrap().is_empty());
            memory.close().await.unwrap();
        })
        .await
        .unwrap();
    }

    #[test]
    fn contents_can_be_replaced() {
        let memory = ListMemory::with_name("n").with_contents(vec![MemoryContent::text("a")]);
        assert_eq!(memory.len(), 1);
        memory.set_contents(Vec::new());
        assert!(memory.is_empty());
    }
}
