//! The gateway's tasks, in memory: at most a configured number, the oldest finished ones dropped first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::wire::{RpcError, Task, TaskState};

/// The tasks this gateway started.
#[derive(Debug)]
pub(crate) struct TaskStore {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    tasks: HashMap<String, Entry>,
    /// Task ids, oldest first.
    order: VecDeque<String>,
}

#[derive(Debug)]
struct Entry {
    /// The task as it is now; receivers see every change.
    task: watch::Sender<Task>,
    cancel: CancellationToken,
}

impl TaskStore {
    /// A store of at most `capacity` tasks.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `task`; returns the token that cancels it and a receiver of its changes. Finished
    /// tasks beyond the capacity are dropped, oldest first; with every kept task still running, the new one is
    /// refused.
    pub(crate) fn insert(
        &self,
        task: Task,
    ) -> Result<(CancellationToken, watch::Receiver<Task>), RpcError> {
        let mut inner = self.inner();
        while inner.tasks.len() >= self.capacity {
            let Some(position) = inner.order.iter().position(|id| {
                inner
                    .tasks
                    .get(id)
                    .is_none_or(|entry| entry.task.borrow().status.state.is_terminal())
            }) else {
                return Err(RpcError::new(
                    RpcError::INTERNAL,
                    format!(
                        "the gateway runs {} tasks already; try again later",
                        self.capacity
                    ),
                ));
            };
            if let Some(id) = inner.order.remove(position) {
                inner.tasks.remove(&id);
            }
        }
        let cancel = CancellationToken::new();
        let id = task.id.clone();
        let (task, changes) = watch::channel(task);
        inner.order.push_back(id.clone());
        inner.tasks.insert(
            id,
            Entry {
                task,
                cancel: cancel.clone(),
            },
        );
        Ok((cancel, changes))
    }

    /// Changes task `id` with `change`, telling its receivers. A task that ended already does not change any more.
    pub(crate) fn update(&self, id: &str, change: impl FnOnce(&mut Task)) {
        let inner = self.inner();
        let Some(entry) = inner.tasks.get(id) else {
            return;
        };
        entry.task.send_if_modified(|task| {
            if task.status.state.is_terminal() {
                return false;
            }
            change(task);
            true
        });
    }

    /// Task `id` as it is now.
    pub(crate) fn get(&self, id: &str) -> Option<Task> {
        self.inner()
            .tasks
            .get(id)
            .map(|entry| entry.task.borrow().clone())
    }

    /// Cancels task `id`; returns a receiver of its changes.
    pub(crate) fn cancel(&self, id: &str) -> Result<watch::Receiver<Task>, RpcError> {
        let inner = self.inner();
        let entry = inner.tasks.get(id).ok_or_else(|| not_found(id))?;
        let state = entry.task.borrow().status.state;
        if state.is_terminal() {
            return Err(RpcError::new(
                RpcError::TASK_NOT_CANCELABLE,
                format!("task {id} ended already ({state:?})"),
            ));
        }
        entry.cancel.cancel();
        Ok(entry.task.subscribe())
    }

    /// The tasks of `context` (all when `None`) in `state` (any when `None`), newest first: the page of `size`
    /// from `offset`, and how many match in all.
    pub(crate) fn list(
        &self,
        context: Option<&str>,
        state: Option<TaskState>,
        offset: usize,
        size: usize,
    ) -> (Vec<Task>, usize) {
        let inner = self.inner();
        let matching: Vec<Task> = inner
            .order
            .iter()
            .rev()
            .filter_map(|id| inner.tasks.get(id).map(|entry| entry.task.borrow().clone()))
            .filter(|task| context.is_none_or(|c| task.context_id == c))
            .filter(|task| state.is_none_or(|s| task.status.state == s))
            .collect();
        let total = matching.len();
        let page = matching.into_iter().skip(offset).take(size).collect();
        (page, total)
    }
}

/// The error for an unknown task id.
pub(crate) fn not_found(id: &str) -> RpcError {
    RpcError::new(RpcError::TASK_NOT_FOUND, format!("no task {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{TaskStatus, now};

    fn task(id: &str, context: &str) -> Task {
        Task {
            id: id.into(),
            context_id: context.into(),
            status: TaskStatus {
                state: TaskState::Working,
                message: None,
                timestamp: now(),
            },
            artifacts: Vec::new(),
            history: Vec::new(),
            metadata: None,
        }
    }

    fn finish(store: &TaskStore, id: &str) {
        store.update(id, |t| t.status.state = TaskState::Completed);
    }

    #[test]
    fn finished_tasks_make_room_oldest_first_and_running_ones_are_kept() {
        let store = TaskStore::new(2);
        let (_, mut first) = store
            .insert(task("a", "c"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        store
            .insert(task("b", "c"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(store.insert(task("c", "c")).is_err(), "both still run");
        finish(&store, "a");
        assert!(first.borrow_and_update().status.state.is_terminal());
        store
            .insert(task("c", "c"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(store.get("a").is_none(), "the finished one made room");
        assert!(store.get("b").is_some());
    }

    #[test]
    fn a_finished_task_cannot_be_cancelled_or_changed_and_lists_page_newest_first() {
        let store = TaskStore::new(10);
        for (id, context) in [("a", "x"), ("b", "y"), ("c", "x")] {
            store
                .insert(task(id, context))
                .unwrap_or_else(|e| panic!("{e:?}"));
        }
        finish(&store, "a");
        let refused = store.cancel("a").err().map(|e| e.code);
        assert_eq!(refused, Some(RpcError::TASK_NOT_CANCELABLE));
        store.update("a", |t| t.status.state = TaskState::Working);
        assert_eq!(
            store.get("a").map(|t| t.status.state),
            Some(TaskState::Completed)
        );
        assert_eq!(
            store.cancel("nope").err().map(|e| e.code),
            Some(RpcError::TASK_NOT_FOUND)
        );
        assert!(store.cancel("b").is_ok());

        let (page, total) = store.list(Some("x"), None, 0, 10);
        assert_eq!(total, 2);
        assert_eq!(
            page.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["c", "a"]
        );
        let (page, total) = store.list(None, Some(TaskState::Completed), 0, 10);
        assert_eq!((page.len(), total), (1, 1));
        let (page, total) = store.list(None, None, 1, 1);
        assert_eq!((page[0].id.as_str(), total), ("b", 3));
    }
}
