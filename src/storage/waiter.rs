//! Single-executor wake-up primitives: [`OffsetWatch`] (wait until a monotonic offset reaches a target;
//! used for the written and durable offsets, so group commit wakes every append its flush covered) and
//! [`Notify`] (wake one background task).
//!
//! Invariants: a watched value never decreases; waking is by value, so a spurious poll is harmless.
//! Waiters sit in a min-heap by target, each future registered once (a re-poll with the same waker
//! adds nothing), so an advance costs O(k log n) for the k waiters it wakes. The first version kept
//! a `Vec` scanned whole on every advance, and every re-poll pushed another entry: under a backlog of
//! thousands of appends in flight (an open-loop load falling behind) each write completion scanned
//! them all, and the shard slowed down exactly when it most needed to catch up.
//! Rejected: glommio channels per waiter (an allocation and a channel per append).

use std::cell::{Cell, RefCell};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A task waiting for `target`; ordered by target only.
struct Waiter<T> {
    target: T,
    waker: Waker,
}

impl<T: Ord> PartialEq for Waiter<T> {
    fn eq(&self, other: &Self) -> bool {
        self.target == other.target
    }
}
impl<T: Ord> Eq for Waiter<T> {}
impl<T: Ord> PartialOrd for Waiter<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T: Ord> Ord for Waiter<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.target.cmp(&other.target)
    }
}

/// A monotonic value (an offset or a counter) that tasks can wait on.
pub struct OffsetWatch<T> {
    value: Cell<T>,
    /// Set when waiters must give up (store failed or closed).
    broken: Cell<bool>,
    waiters: RefCell<BinaryHeap<Reverse<Waiter<T>>>>,
    /// Wakers taken out of the heap by an advance, woken after the heap is released (reused).
    ready: RefCell<Vec<Waker>>,
}

impl<T: Copy + Ord> OffsetWatch<T> {
    pub fn new(v: T) -> OffsetWatch<T> {
        OffsetWatch {
            value: Cell::new(v),
            broken: Cell::new(false),
            waiters: RefCell::new(BinaryHeap::new()),
            ready: RefCell::new(Vec::new()),
        }
    }

    pub fn get(&self) -> T {
        self.value.get()
    }

    /// Tasks waiting (a test and metrics figure).
    pub fn waiting(&self) -> usize {
        self.waiters.borrow().len()
    }

    /// Raises the value and wakes every waiter whose target it reached.
    pub fn advance(&self, v: T) {
        assert!(v >= self.value.get(), "offset watch moved backwards");
        self.value.set(v);
        let mut ready = std::mem::take(&mut *self.ready.borrow_mut());
        {
            let mut heap = self.waiters.borrow_mut();
            while heap.peek().is_some_and(|w| w.0.target <= v) {
                if let Some(Reverse(w)) = heap.pop() {
                    ready.push(w.waker);
                }
            }
        }
        for w in ready.drain(..) {
            w.wake();
        }
        *self.ready.borrow_mut() = ready;
    }

    /// Wakes every waiter; `wait` then resolves `false` until [`OffsetWatch::repair`].
    pub fn break_all(&self) {
        self.broken.set(true);
        let ws = std::mem::take(&mut *self.waiters.borrow_mut());
        for Reverse(w) in ws {
            w.waker.wake();
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
            registered: None,
        }
    }
}

pub struct WaitOffset<'a, T> {
    watch: &'a OffsetWatch<T>,
    target: T,
    /// The waker this future put in the heap. Its entry leaves the heap only when the target is
    /// reached or the watch breaks, and both make the next poll ready, so a pending re-poll with
    /// the same waker needs no new entry.
    registered: Option<Waker>,
}

// Nothing in a `WaitOffset` points into itself.
impl<T> Unpin for WaitOffset<'_, T> {}

impl<T: Copy + Ord> Future for WaitOffset<'_, T> {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        if self.watch.value.get() >= self.target {
            return Poll::Ready(true);
        }
        if self.watch.broken.get() {
            return Poll::Ready(false);
        }
        if self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        let waker = cx.waker().clone();
        self.watch.waiters.borrow_mut().push(Reverse(Waiter {
            target: self.target,
            waker: waker.clone(),
        }));
        self.registered = Some(waker);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, AtomicOrdering::Relaxed);
        }
    }

    fn poll_once(f: &mut Pin<&mut WaitOffset<'_, u64>>, waker: &Waker) -> Poll<bool> {
        f.as_mut().poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn an_advance_wakes_exactly_the_waiters_it_reached_in_any_registration_order() {
        let w = OffsetWatch::new(0u64);
        let counts: Vec<Arc<Count>> = (0..5)
            .map(|_| Arc::new(Count(AtomicUsize::new(0))))
            .collect();
        let wakers: Vec<Waker> = counts.iter().map(|c| Waker::from(c.clone())).collect();
        let targets = [30u64, 10, 50, 20, 40];
        let mut futs: Vec<_> = targets.iter().map(|&t| Box::pin(w.wait(t))).collect();
        for (f, k) in futs.iter_mut().zip(&wakers) {
            assert_eq!(poll_once(&mut f.as_mut(), k), Poll::Pending);
        }
        assert_eq!(w.waiting(), 5);
        w.advance(25);
        let woken: Vec<usize> = counts
            .iter()
            .map(|c| c.0.load(AtomicOrdering::Relaxed))
            .collect();
        assert_eq!(woken, vec![0, 1, 0, 1, 0]);
        assert_eq!(w.waiting(), 3);
        assert_eq!(
            poll_once(&mut futs[1].as_mut(), &wakers[1]),
            Poll::Ready(true)
        );
        w.advance(50);
        assert_eq!(w.waiting(), 0);
        assert!(counts
            .iter()
            .all(|c| c.0.load(AtomicOrdering::Relaxed) == 1));
    }

    #[test]
    fn a_pending_repoll_with_the_same_waker_registers_once() {
        let w = OffsetWatch::new(0u64);
        let c = Arc::new(Count(AtomicUsize::new(0)));
        let k = Waker::from(c.clone());
        let mut f = Box::pin(w.wait(10));
        for _ in 0..100 {
            assert_eq!(poll_once(&mut f.as_mut(), &k), Poll::Pending);
        }
        assert_eq!(w.waiting(), 1);
        // A different waker (the task moved) registers again; both entries go at the advance.
        let c2 = Arc::new(Count(AtomicUsize::new(0)));
        let k2 = Waker::from(c2.clone());
        assert_eq!(poll_once(&mut f.as_mut(), &k2), Poll::Pending);
        assert_eq!(w.waiting(), 2);
        w.advance(10);
        assert_eq!(w.waiting(), 0);
        assert_eq!(poll_once(&mut f.as_mut(), &k2), Poll::Ready(true));
    }

    #[test]
    fn break_all_resolves_waiters_false_until_repaired() {
        let w = OffsetWatch::new(0u64);
        let c = Arc::new(Count(AtomicUsize::new(0)));
        let k = Waker::from(c.clone());
        let mut f = Box::pin(w.wait(10));
        assert_eq!(poll_once(&mut f.as_mut(), &k), Poll::Pending);
        w.break_all();
        assert_eq!(c.0.load(AtomicOrdering::Relaxed), 1);
        assert_eq!(poll_once(&mut f.as_mut(), &k), Poll::Ready(false));
        w.repair();
        let mut g = Box::pin(w.wait(10));
        assert_eq!(poll_once(&mut g.as_mut(), &k), Poll::Pending);
        w.advance(10);
        assert_eq!(poll_once(&mut g.as_mut(), &k), Poll::Ready(true));
    }
}
