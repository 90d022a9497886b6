//! An ordered parallel map under a memory budget: workers process items in any order,
//! one consumer receives the results in item order, and the bytes held by claimed but
//! not yet consumed items stay under a cap.
//!
//! Packing needs all three: compression on every core, entries written in sorted order
//! (a reorder buffer), and bounded memory however large the payload (a budget). Workers
//! claim items strictly in order, each charging its expected cost, so the item the
//! consumer waits for is always claimed before any later one; and an item is admitted
//! over the cap when nothing else is held. Hence no deadlock, and the reorder buffer
//! never holds more than the cap.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// A result that keeps memory until it is consumed.
pub trait Held {
    fn held_bytes(&self) -> u64;
}

impl<T: Held, E> Held for Result<T, E> {
    fn held_bytes(&self) -> u64 {
        self.as_ref().map_or(0, Held::held_bytes)
    }
}

/// What a worker does: set up its own state once, then map item indexes to results.
pub struct Work<'a, S, R> {
    pub threads: usize,
    /// Cap on the bytes charged by claimed items and held by unconsumed results.
    pub budget: u64,
    /// Bytes item `i` may need while it is processed (its charge until it is done).
    pub cost: &'a (dyn Fn(usize) -> u64 + Sync),
    pub init: &'a (dyn Fn() -> S + Sync),
    pub work: &'a (dyn Fn(&mut S, usize) -> R + Sync),
}

struct State<R> {
    next: usize,
    charged: u64,
    done: BTreeMap<usize, R>,
    stop: bool,
    worker_panicked: bool,
}

struct Shared<R> {
    state: Mutex<State<R>>,
    /// Workers wait here for budget.
    budget_freed: Condvar,
    /// The consumer waits here for the next result.
    item_done: Condvar,
}

impl<R> Shared<R> {
    fn lock(&self) -> MutexGuard<'_, State<R>> {
        // A panicking worker is reported through `worker_panicked`; the state stays usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Run `work` over items `0..count` on `work.threads` threads (at least one), handing
/// each result to `consume` in index order on the calling thread. Stops at the first
/// error `consume` returns, and returns it.
pub fn ordered_map<S, R: Held + Send, E>(
    count: usize,
    work: &Work<'_, S, R>,
    consume: &mut dyn FnMut(usize, R) -> Result<(), E>,
) -> Result<(), E> {
    let shared = Shared {
        state: Mutex::new(State {
            next: 0,
            charged: 0,
            done: BTreeMap::new(),
            stop: false,
            worker_panicked: false,
        }),
        budget_freed: Condvar::new(),
        item_done: Condvar::new(),
    };
    let threads = work.threads.clamp(1, count.max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| worker(&shared, count, work));
        }
        let _stop = StopOnDrop(&shared);
        consumer(&shared, count, consume)
        // If a worker panicked, the scope re-raises its panic here after joining.
    })
}

fn worker<S, R: Held>(shared: &Shared<R>, count: usize, work: &Work<'_, S, R>) {
    let _panic_guard = ReportPanic(shared);
    let mut state_of_worker = (work.init)();
    loop {
        let (index, cost) = {
            let mut state = shared.lock();
            loop {
                if state.stop || state.next >= count {
                    return;
                }
                let (index, cost) = (state.next, (work.cost)(state.next));
                if state.charged == 0 || state.charged + cost <= work.budget {
                    state.next += 1;
                    state.charged += cost;
                    break (index, cost);
                }
                state = shared
                    .budget_freed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let result = (work.work)(&mut state_of_worker, index);
        let mut state = shared.lock();
        state.charged = state.charged - cost + result.held_bytes();
        state.done.insert(index, result);
        shared.item_done.notify_one();
        shared.budget_freed.notify_all();
    }
}

fn consumer<R: Held, E>(
    shared: &Shared<R>,
    count: usize,
    consume: &mut dyn FnMut(usize, R) -> Result<(), E>,
) -> Result<(), E> {
    for index in 0..count {
        let result = {
            let mut state = shared.lock();
            loop {
                if let Some(result) = state.done.remove(&index) {
                    break result;
                }
                if state.worker_panicked {
                    // The scope re-raises the worker's panic; this value is never seen.
                    return Ok(());
                }
                state = shared
                    .item_done
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let held = result.held_bytes();
        let outcome = consume(index, result);
        shared.lock().charged -= held;
        shared.budget_freed.notify_all();
        outcome?;
    }
    Ok(())
}

/// Tells the workers to stop when the consumer returns, whether done or failed.
struct StopOnDrop<'a, R>(&'a Shared<R>);

impl<R> Drop for StopOnDrop<'_, R> {
    fn drop(&mut self) {
        self.0.lock().stop = true;
        self.0.budget_freed.notify_all();
    }
}

/// Wakes the consumer if a worker panics, so that the panic reaches the caller instead
/// of leaving the consumer waiting for an item that will never come.
struct ReportPanic<'a, R>(&'a Shared<R>);

impl<R> Drop for ReportPanic<'_, R> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut state = self.0.lock();
            state.worker_panicked = true;
            state.stop = true;
            self.0.item_done.notify_all();
            self.0.budget_freed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A result holding `.0` bytes.
    struct Bytes(u64);

    impl Held for Bytes {
        fn held_bytes(&self) -> u64 {
            self.0
        }
    }

    #[test]
    fn results_arrive_in_order_and_the_budget_holds() {
        let sizes: Vec<u64> = (0..500).map(|i| (i * 7919) % 100 + 1).collect();
        let live = AtomicU64::new(0);
        let peak = AtomicU64::new(0);
        let work = Work {
            threads: 4,
            budget: 300,
            cost: &|i| sizes[i],
            init: &|| (),
            work: &|_, i| {
                let now = live.fetch_add(sizes[i], Ordering::SeqCst) + sizes[i];
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::yield_now();
                Bytes(sizes[i])
            },
        };
        let mut seen = Vec::new();
        ordered_map::<_, _, ()>(sizes.len(), &work, &mut |i, r| {
            seen.push(i);
            live.fetch_sub(r.0, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 300, "{peak:?}");
    }

    #[test]
    fn an_item_over_the_budget_still_goes_through_alone() {
        let work = Work {
            threads: 3,
            budget: 10,
            cost: &|i| if i == 2 { 50 } else { 4 },
            init: &|| (),
            work: &|_, i| Bytes(if i == 2 { 50 } else { 4 }),
        };
        let mut count = 0;
        ordered_map::<_, _, ()>(6, &work, &mut |_, _| {
            count += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(count, 6);
    }

    #[test]
    fn the_first_error_stops_everything() {
        let work = Work {
            threads: 2,
            budget: 1 << 20,
            cost: &|_| 1,
            init: &|| (),
            work: &|_, i| if i == 10 { Err(i) } else { Ok(Bytes(1)) },
        };
        let mut consumed = 0;
        let result = ordered_map(1000, &work, &mut |_, r| {
            consumed += 1;
            r.map(|_| ())
        });
        assert_eq!(result, Err(10));
        assert_eq!(consumed, 11);
    }

    #[test]
    fn nothing_to_do_is_fine() {
        let work = Work {
            threads: 0,
            budget: 0,
            cost: &|_| 1,
            init: &|| (),
            work: &|_, _| Bytes(0),
        };
        ordered_map::<_, _, ()>(0, &work, &mut |_, _| unreachable!()).unwrap();
    }
}
