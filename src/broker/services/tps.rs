//! Message rates for operators (GET_BROKER_RUNTIME_INFO, `mqadmin clusterList`): every
//! [`TPS_INTERVAL_MS`] a shard turns the growth of its message counters into rates, and at each UTC
//! day boundary it marks the counters, so "today" and "yesterday" totals are differences of marks
//! (the Java broker marks local midnight; a process that started today has its start as today's
//! mark and yesterday's).
//!
//! The arithmetic is [`TpsSample::advance`], a pure function of (previous sample, counters, time).

use std::rc::Rc;
use std::time::Duration;

use super::tick;
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::net::StopSignal;

/// How often rates are recomputed.
pub const TPS_INTERVAL_MS: u64 = 10_000;
const DAY_MS: i64 = 86_400_000;

/// A shard's rates and day marks (messages in = stored by sends, out = returned by pulls).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TpsSample {
    pub at_ms: i64,
    pub in_total: u64,
    pub out_total: u64,
    pub put_tps: f64,
    pub get_tps: f64,
    /// The UTC day (`ms / 86_400_000`) the marks below belong to.
    pub day: i64,
    pub in_today_morning: u64,
    pub out_today_morning: u64,
    pub in_yesterday_morning: u64,
    pub out_yesterday_morning: u64,
}

impl TpsSample {
    /// The sample after `self` given the counters now. The first sample (at_ms 0) sets the marks.
    pub fn advance(&self, in_total: u64, out_total: u64, now_ms: i64) -> TpsSample {
        let day = now_ms.div_euclid(DAY_MS);
        if self.at_ms == 0 {
            return TpsSample {
                at_ms: now_ms,
                in_total,
                out_total,
                day,
                ..Default::default()
            };
        }
        let secs = (now_ms - self.at_ms).max(1) as f64 / 1000.0;
        let mut next = TpsSample {
            at_ms: now_ms,
            in_total,
            out_total,
            put_tps: in_total.saturating_sub(self.in_total) as f64 / secs,
            get_tps: out_total.saturating_sub(self.out_total) as f64 / secs,
            ..*self
        };
        if day != self.day {
            next.day = day;
            // Skipped days (a sleeping machine) leave yesterday's mark at the last one we saw.
            next.in_yesterday_morning = if day == self.day + 1 {
                self.in_today_morning
            } else {
                in_total
            };
            next.out_yesterday_morning = if day == self.day + 1 {
                self.out_today_morning
            } else {
                out_total
            };
            next.in_today_morning = in_total;
            next.out_today_morning = out_total;
        }
        next
    }
}

/// The service loop. See the module comment.
pub async fn run(broker: Rc<Broker>, stop: StopSignal) {
    loop {
        let m = &broker.metrics;
        let s = broker
            .tps
            .get()
            .advance(m.messages_in.get(), m.messages_out.get(), now_ms());
        broker.tps.set(s);
        if !tick(Duration::from_millis(TPS_INTERVAL_MS), &stop).await {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_day_marks() {
        let t0 = 5 * DAY_MS + 1000;
        let s = TpsSample::default().advance(100, 10, t0);
        assert_eq!((s.put_tps, s.in_today_morning, s.day), (0.0, 0, 5));
        let s = s.advance(200, 30, t0 + 10_000);
        assert_eq!((s.put_tps, s.get_tps), (10.0, 2.0));
        // Next day: today's mark is the counter now, yesterday's the previous today mark (0).
        let s = s.advance(300, 40, 6 * DAY_MS + 5);
        assert_eq!(
            (s.day, s.in_today_morning, s.in_yesterday_morning),
            (6, 300, 0)
        );
        let s = s.advance(350, 40, 7 * DAY_MS + 5);
        assert_eq!((s.in_today_morning, s.in_yesterday_morning), (350, 300));
        // Two days skipped: both marks are now.
        let s = s.advance(400, 50, 10 * DAY_MS);
        assert_eq!((s.in_today_morning, s.in_yesterday_morning), (400, 400));
        // Counters never go back, but a bad clock must not make rates negative or infinite.
        let s = s.advance(400, 50, 10 * DAY_MS);
        assert_eq!((s.put_tps, s.get_tps), (0.0, 0.0));
    }
}
