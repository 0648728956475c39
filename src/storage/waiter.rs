//! Single-executor wake-up primitives: [`OffsetWatch`] (wait until a monotonic offset reaches a target;
//! used for the written and durable offsets, so group commit wakes every append its flush covered) and
//! [`Notify`] (wake one background task).
//!
//! Invariants: a watched value never decreases; waking is by value, so a spurious poll is harmless.
//! Rejected: glommio channels per waiter (an allocation and a channel per append); a `Vec` of wakers
//! scanned on each advance is cheap at the few hundred concurrent appends a shard has.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A monotonic value (an offset or a counter) that tasks can wait on.
pub struct OffsetWatch<T> {
    value: Cell<T>,
    /// Set when waiters must give up (store failed or closed).
    broken: Cell<bool>,
    waiters: RefCell<Vec<(T, Waker)>>,
}

impl<T: Copy + Ord> OffsetWatch<T> {
    pub fn new(v: T) -> OffsetWatch<T> {
        OffsetWatch {
            value: Cell::new(v),
            broken: Cell::new(false),
            waiters: RefCell::new(Vec::new()),
        }
    }

    pub fn get(&self) -> T {
        self.value.get()
    }

    /// Raises the value and wakes every waiter whose target it reached.
    pub fn advance(&self, v: T) {
        assert!(v >= self.value.get(), "offset watch moved backwards");
        self.value.set(v);
        let mut ready = Vec::new();
        self.waiters.borrow_mut().retain(|(t, w)| {
            if *t <= v {
                ready.push(w.clone());
                false
            } else {
                true
            }
        });
        for w in ready {
            w.wake();
        }
    }

    /// Wakes every waiter; `wait` then resolves `false` until [`OffsetWatch::repair`].
    pub fn break_all(&self) {
        self.broken.set(true);
        let ws = std::mem::take(&mut *self.waiters.borrow_mut());
        for (_, w) in ws {
            w.wake();
        }
    }

    pub fn repair(&self) {
        self.broken.set(false);
    }

    /// Resolves `true` once the value is at least `target`, `false` if broken first.
    pub fn wait(&self, target: T) -> WaitOffset<'_, T> {
        WaitOffset {
            watch: self,
            target,
        }
    }
}

pub struct WaitOffset<'a, T> {
    watch: &'a OffsetWatch<T>,
    target: T,
}

impl<T: Copy + Ord> Future for WaitOffset<'_, T> {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        if self.watch.value.get() >= self.target {
            return Poll::Ready(true);
        }
        if self.watch.broken.get() {
            return Poll::Ready(false);
        }
        self.watch
            .waiters
            .borrow_mut()
            .push((self.target, cx.waker().clone()));
        Poll::Pending
    }
}

/// A level-triggered wake-up flag for one background task.
#[derive(Default)]
pub struct Notify {
    set: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Notify {
    pub fn notify(&self) {
        self.set.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Resolves once notified (consuming the notification).
    pub fn notified(&self) -> Notified<'_> {
        Notified { n: self }
    }
}

pub struct Notified<'a> {
    n: &'a Notify,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.n.set.replace(false) {
            return Poll::Ready(());
        }
        *self.n.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}
