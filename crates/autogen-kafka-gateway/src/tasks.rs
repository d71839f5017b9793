//! The tasks a gateway knows, in memory: its own, and (with a task topic) those of the other replicas, read from
//! the topic. At most a configured number are kept, the oldest finished ones dropped first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::wire::{Message, RpcError, Task, TaskState, TaskStatus, now};

/// How long after its deadline a task another gateway runs may still be working: past that, its gateway stopped
/// before it ended, and the task reads `TASK_STATE_FAILED`.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(10);

/// The tasks this gateway knows.
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
    owner: Owner,
}

/// Who runs a task.
#[derive(Debug, Clone)]
enum Owner {
    /// This gateway: the token cancels its call.
    Here(CancellationToken),
    /// Another gateway (or this one before a restart), which must end it by `deadline`.
    Elsewhere {
        gateway: String,
        deadline: SystemTime,
    },
}

/// A task another gateway runs, as read from the task topic.
#[derive(Debug, Clone)]
pub(crate) struct Foreign {
    /// The task.
    pub(crate) task: Task,
    /// The gateway that runs it.
    pub(crate) gateway: String,
    /// When its call's deadline passes.
    pub(crate) deadline: SystemTime,
}

/// What cancelling a task takes.
#[derive(Debug)]
pub(crate) enum Cancel {
    /// This gateway runs it: its call was cancelled.
    Here(watch::Receiver<Task>),
    /// Gateway `gateway` runs it: it must be asked.
    Elsewhere {
        gateway: String,
        changes: watch::Receiver<Task>,
    },
}

impl Entry {
    /// The task as a client sees it at `at`: a task of another gateway still unfinished long after its deadline
    /// failed (its gateway stopped).
    fn view(&self, at: SystemTime) -> Task {
        let task = self.task.borrow().clone();
        match &self.owner {
            Owner::Elsewhere { gateway, deadline }
                if !task.status.state.is_terminal() && at > *deadline + STALE_AFTER =>
            {
                stale(task, gateway)
            }
            _ => task,
        }
    }

    fn is_finished(&self, at: SystemTime) -> bool {
        self.view(at).status.state.is_terminal()
    }
}

/// `task` failed because `gateway` stopped before it ended.
fn stale(mut task: Task, gateway: &str) -> Task {
    let text = format!(
        "the gateway that ran this task ({gateway}) stopped before it ended; the agent may or may not have handled it"
    );
    let message = Message::agent_text(&text, &task.context_id, &task.id);
    task.status = TaskStatus {
        state: TaskState::Failed,
        message: Some(message),
        timestamp: now(),
    };
    task
}

impl Inner {
    /// Drops finished tasks, oldest first, until there is room for one more; with `force`, the oldest task of
    /// another gateway goes when none finished. Returns the ids dropped, or `false` when no room could be made.
    fn make_room(&mut self, capacity: usize, force: bool, dropped: &mut Vec<String>) -> bool {
        let at = SystemTime::now();
        while self.tasks.len() >= capacity {
            let finished = self
                .order
                .iter()
                .position(|id| self.tasks.get(id).is_none_or(|entry| entry.is_finished(at)));
            let foreign = || {
                self.order.iter().position(|id| {
                    self.tasks
                        .get(id)
                        .is_some_and(|entry| matches!(entry.owner, Owner::Elsewhere { .. }))
                })
            };
            let Some(position) = finished.or_else(|| force.then(foreign).flatten()) else {
                return false;
            };
            if let Some(id) = self.order.remove(position)
                && self.tasks.remove(&id).is_some()
            {
                dropped.push(id);
            }
        }
        true
    }

    fn add(&mut self, id: String, entry: Entry) {
        self.order.push_back(id.clone());
        self.tasks.insert(id, entry);
    }
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

    /// Adds `task`, run here; returns the token that cancels it, a receiver of its changes, and the ids of the
    /// finished tasks dropped to make room (oldest first). With every kept task still running, the new one is
    /// refused.
    pub(crate) fn insert(
        &self,
        task: Task,
    ) -> Result<(CancellationToken, watch::Receiver<Task>, Vec<String>), RpcError> {
        let mut inner = self.inner();
        let mut dropped = Vec::new();
        if !inner.make_room(self.capacity, false, &mut dropped) {
            return Err(RpcError::new(
                RpcError::INTERNAL,
                format!(
                    "the gateway runs {} tasks already; try again later",
                    self.capacity
                ),
            ));
        }
        let cancel = CancellationToken::new();
        let id = task.id.clone();
        let (task, changes) = watch::channel(task);
        inner.add(
            id,
            Entry {
                task,
                owner: Owner::Here(cancel.clone()),
            },
        );
        Ok((cancel, changes, dropped))
    }

    /// Takes in a task another gateway runs, as it is now (a later record replaces an earlier one). A task this
    /// gateway runs is left alone. Returns the ids of the finished tasks dropped to make room.
    pub(crate) fn apply(&self, foreign: Foreign) -> Vec<String> {
        let mut inner = self.inner();
        let owner = Owner::Elsewhere {
            gateway: foreign.gateway,
            deadline: foreign.deadline,
        };
        if let Some(entry) = inner.tasks.get_mut(&foreign.task.id) {
            if matches!(entry.owner, Owner::Here(_)) {
                return Vec::new();
            }
            entry.owner = owner;
            entry.task.send_replace(foreign.task);
            return Vec::new();
        }
        let mut dropped = Vec::new();
        inner.make_room(self.capacity, true, &mut dropped);
        let id = foreign.task.id.clone();
        let (task, _) = watch::channel(foreign.task);
        inner.add(id, Entry { task, owner });
        dropped
    }

    /// Forgets task `id` (another gateway dropped it), unless this gateway runs it and it has not ended.
    pub(crate) fn remove(&self, id: &str) {
        let mut inner = self.inner();
        let running_here = inner.tasks.get(id).is_some_and(|entry| {
            matches!(entry.owner, Owner::Here(_)) && !entry.task.borrow().status.state.is_terminal()
        });
        if running_here || inner.tasks.remove(id).is_none() {
            return;
        }
        inner.order.retain(|kept| kept != id);
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
        let at = SystemTime::now();
        self.inner().tasks.get(id).map(|entry| entry.view(at))
    }

    /// Cancels task `id` if this gateway runs it, or names the gateway that does.
    pub(crate) fn cancel(&self, id: &str) -> Result<Cancel, RpcError> {
        let inner = self.inner();
        let entry = inner.tasks.get(id).ok_or_else(|| not_found(id))?;
        let state = entry.view(SystemTime::now()).status.state;
        if state.is_terminal() {
            return Err(RpcError::new(
                RpcError::TASK_NOT_CANCELABLE,
                format!("task {id} ended already ({state:?})"),
            ));
        }
        match &entry.owner {
            Owner::Here(cancel) => {
                cancel.cancel();
                Ok(Cancel::Here(entry.task.subscribe()))
            }
            Owner::Elsewhere { gateway, .. } => Ok(Cancel::Elsewhere {
                gateway: gateway.clone(),
                changes: entry.task.subscribe(),
            }),
        }
    }

    /// Cancels task `id` if this gateway runs it and it has not ended (another gateway asked); whether this
    /// gateway runs it.
    pub(crate) fn cancel_here(&self, id: &str) -> bool {
        let inner = self.inner();
        let Some(Entry {
            owner: Owner::Here(cancel),
            task,
        }) = inner.tasks.get(id)
        else {
            return false;
        };
        if !task.borrow().status.state.is_terminal() {
            cancel.cancel();
            tracing::info!(
                task_id = id,
                "A2A task cancelled at another gateway's request"
            );
        }
        true
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
        let at = SystemTime::now();
        let inner = self.inner();
        let matching: Vec<Task> = inner
            .order
            .iter()
            .rev()
            .filter_map(|id| inner.tasks.get(id).map(|entry| entry.view(at)))
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
        let (_, mut first, _) = store
            .insert(task("a", "c"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        store
            .insert(task("b", "c"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(store.insert(task("c", "c")).is_err(), "both still run");
        finish(&store, "a");
        assert!(first.borrow_and_update().status.state.is_terminal());
        let (_, _, dropped) = store
            .insert(task("c", "c"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(dropped, ["a"], "the finished one made room");
        assert!(store.get("a").is_none());
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
        assert!(matches!(store.cancel("b"), Ok(Cancel::Here(_))));

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

    fn foreign(id: &str, state: TaskState, deadline: SystemTime) -> Foreign {
        let mut task = task(id, "x");
        task.status.state = state;
        Foreign {
            task,
            gateway: "other".into(),
            deadline,
        }
    }

    #[test]
    fn another_gateways_task_follows_its_records_and_fails_once_long_past_its_deadline() {
        let store = TaskStore::new(10);
        let later = SystemTime::now() + Duration::from_secs(60);
        assert!(
            store
                .apply(foreign("f", TaskState::Working, later))
                .is_empty()
        );
        let Ok(Cancel::Elsewhere { gateway, .. }) = store.cancel("f") else {
            panic!("another gateway runs f");
        };
        assert_eq!(gateway, "other");
        assert!(!store.cancel_here("f"), "not this gateway's task");
        store.apply(foreign("f", TaskState::Completed, later));
        assert_eq!(
            store.get("f").map(|t| t.status.state),
            Some(TaskState::Completed)
        );

        // Its gateway stopped: working long past the deadline reads failed, and cannot be cancelled.
        let past = SystemTime::now() - STALE_AFTER - Duration::from_secs(1);
        store.apply(foreign("g", TaskState::Working, past));
        let stale = store.get("g").unwrap_or_else(|| panic!("g is known"));
        assert_eq!(stale.status.state, TaskState::Failed);
        assert!(stale.status.message.is_some_and(|m| {
            m.parts[0]
                .text
                .as_deref()
                .is_some_and(|t| t.contains("other"))
        }));
        assert_eq!(
            store.list(None, Some(TaskState::Failed), 0, 10).1,
            1,
            "lists show it failed too"
        );
        assert_eq!(
            store.cancel("g").err().map(|e| e.code),
            Some(RpcError::TASK_NOT_CANCELABLE)
        );

        store.remove("f");
        assert!(store.get("f").is_none(), "a tombstone forgets a task");
    }

    #[test]
    fn records_never_override_this_gateways_own_task_and_a_full_store_drops_the_oldest_foreign_one()
    {
        let store = TaskStore::new(2);
        let later = SystemTime::now() + Duration::from_secs(60);
        store
            .insert(task("own", "x"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        store.apply(foreign("own", TaskState::Completed, later));
        assert_eq!(
            store.get("own").map(|t| t.status.state),
            Some(TaskState::Working)
        );
        store.remove("own");
        assert!(store.get("own").is_some(), "a running own task stays");
        assert!(store.cancel_here("own"));

        store.apply(foreign("f1", TaskState::Working, later));
        let dropped = store.apply(foreign("f2", TaskState::Working, later));
        assert_eq!(dropped, ["f1"], "room is made even when nothing finished");
        assert!(store.get("own").is_some());
    }
}
