//! The schedule step of the owner-side put path: decides whether a message is delivered now or
//! parked until later (delay levels and RocketMQ 5 timer messages), and where it is parked.
//!
//! Every put on a shard goes through `Broker::encode_put` (`processors/send.rs`): client sends,
//! the scheduler's re-puts, send-back (retry) puts. That function calls [`Broker::schedule_step`]
//! once, after the properties are final and before the record is encoded, so that a `%RETRY%` put
//! with a `DELAY` property is delayed exactly like a client's. The transaction step (half messages)
//! is a separate step beside it; this one leaves PREPARED and ROLLBACK messages alone.
//!
//! A parked message is stored on the owner shard of its real queue, in a shard-local parking queue:
//! `SCHEDULE_TOPIC_XXXX` queue `level - 1` for delay levels (as the Java broker), `rmq_sys_wheel_timer`
//! queue 0 for timers. Its consume-queue tags-code slot holds the delivery time (ms), and the
//! properties `REAL_TOPIC` / `REAL_QID` name where it goes when due (`TIMER_OUT_MS` too for
//! timers). The per-shard scheduler (`services/scheduler.rs`) re-puts it there. Parking queues are
//! the one exception to "a queue has exactly one owning shard": every shard has its own, nothing
//! routes to them (clients may not send to them; see `state::topics::is_send_forbidden`).
//!
//! Decision table ([`schedule_decision`], one row per arm; the Java broker's order, J4
//! `CommitLog.asyncPutMessage`, J5 `HookUtils.handleScheduleMessage`):
//!
//! | # | transaction type    | DELAY | parked already (parking topic or TIMER_OUT_MS) | timer property | decision |
//! |---|---------------------|-------|------------------------------------------------|----------------|----------|
//! | 1 | PREPARED / ROLLBACK | -     | -                                              | -              | now (the transaction step owns it) |
//! | 2 | none / COMMIT       | > 0   | -                                              | -              | park at level min(DELAY, levels), due now + its delay; timer properties removed |
//! | 3 | none / COMMIT       | ≤ 0   | yes                                            | -              | now (a re-put of a due message) |
//! | 4 | none / COMMIT       | ≤ 0   | no                                             | none           | now |
//! | 5 | none / COMMIT       | ≤ 0   | no                                             | unparsable, or due more than `timer_max_delay_sec` ahead | refuse: MESSAGE_ILLEGAL |
//! | 6 | none / COMMIT       | ≤ 0   | no                                             | due at or before now | now (stored as a normal message) |
//! | 7 | none / COMMIT       | ≤ 0   | no                                             | due later      | park on the timer queue, due then |
//!
//! A timer's due time is TIMER_DELAY_SEC, else TIMER_DELAY_MS (both from now), else TIMER_DELIVER_MS
//! (absolute), as in Java; unlike Java it is not rounded down to a second (Bolide's precision is
//! milliseconds). "now" is never below the latest due time the scheduler already delivered, so a
//! new timer can never fall behind the scheduler's delivery watermark.

use crate::message::properties::{keys, Properties};
use crate::message::sys_flag;

/// RocketMQ's delay-level parking topic; queue `level - 1`.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// RocketMQ 5's timer parking topic; queue 0.
pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";

/// Whether a topic is one of the parking topics.
pub fn is_parking_topic(topic: &str) -> bool {
    topic == SCHEDULE_TOPIC || topic == TIMER_TOPIC
}

/// What the schedule step decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Store on the message's own topic and queue.
    Now,
    /// Store on a parking queue until `due_ms`.
    Park {
        topic: &'static str,
        queue_id: u32,
        due_ms: i64,
    },
}

/// Why a message was refused (row 5): the client sees MESSAGE_ILLEGAL with Java's remark.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timer message illegal, the delay time should not be bigger than the max delay {max_delay_ms}ms; or if set del msg, the delay time should be bigger than the current time")]
pub struct TimerIllegal {
    pub max_delay_ms: i64,
}

/// The facts [`schedule_decision`] decides on.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleFacts<'a> {
    pub sys_flag: i32,
    pub topic: &'a str,
    /// The DELAY property as sent (unparsable counts as 0, no delay).
    pub delay_level: i32,
    pub timer_out_set: bool,
    pub timer_delay_sec: Option<&'a str>,
    pub timer_delay_ms: Option<&'a str>,
    pub timer_deliver_ms: Option<&'a str>,
    pub now_ms: i64,
    /// Delay of each level, level 1 first.
    pub levels_ms: &'a [u64],
    pub timer_max_delay_ms: i64,
}

/// The decision table (module docs), one row per arm.
pub fn schedule_decision(f: &ScheduleFacts<'_>) -> Result<Schedule, TimerIllegal> {
    let tx = f.sys_flag & sys_flag::TRANSACTION_MASK;
    if tx == sys_flag::TRANSACTION_PREPARED || tx == sys_flag::TRANSACTION_ROLLBACK {
        return Ok(Schedule::Now); // 1
    }
    if f.delay_level > 0 && !f.levels_ms.is_empty() {
        let level = (f.delay_level as usize).min(f.levels_ms.len()); // 2
        let delay = i64::try_from(f.levels_ms[level - 1]).unwrap_or(i64::MAX);
        return Ok(Schedule::Park {
            topic: SCHEDULE_TOPIC,
            queue_id: level as u32 - 1,
            due_ms: f.now_ms.saturating_add(delay),
        });
    }
    if is_parking_topic(f.topic) || f.timer_out_set {
        return Ok(Schedule::Now); // 3
    }
    let illegal = TimerIllegal {
        max_delay_ms: f.timer_max_delay_ms,
    };
    let parse = |v: &str| v.trim().parse::<i64>().map_err(|_| illegal.clone());
    let due_ms = if let Some(s) = f.timer_delay_sec {
        f.now_ms
            .checked_add(parse(s)?.checked_mul(1000).ok_or(illegal.clone())?)
            .ok_or(illegal.clone())?
    } else if let Some(ms) = f.timer_delay_ms {
        f.now_ms.checked_add(parse(ms)?).ok_or(illegal.clone())?
    } else if let Some(at) = f.timer_deliver_ms {
        parse(at)?
    } else {
        return Ok(Schedule::Now); // 4
    };
    if due_ms <= f.now_ms {
        return Ok(Schedule::Now); // 6
    }
    if due_ms - f.now_ms > f.timer_max_delay_ms {
        return Err(illegal); // 5
    }
    Ok(Schedule::Park {
        topic: TIMER_TOPIC,
        queue_id: 0,
        due_ms,
    }) // 7
}

/// Applies a decision to the properties: a parked message remembers where it goes (REAL_TOPIC,
/// REAL_QID; TIMER_OUT_MS for timers); a delay-level message drops the timer properties, and its
/// DELAY names the level it waits in (a level past the last is the last, as Java rewrites it).
pub fn mark_parked(
    props: &mut Properties,
    decision: Schedule,
    real_topic: &str,
    real_queue_id: u32,
) {
    let Schedule::Park {
        topic,
        queue_id,
        due_ms,
    } = decision
    else {
        return;
    };
    if topic == SCHEDULE_TOPIC {
        props.remove(keys::TIMER_DELIVER_MS);
        props.remove(keys::TIMER_DELAY_SEC);
        props.remove(keys::TIMER_DELAY_MS);
        let level = (queue_id + 1).to_string();
        if props.get(keys::DELAY) != Some(level.as_str()) {
            props.set(keys::DELAY, &level);
        }
    } else {
        props.set(keys::TIMER_OUT_MS, &due_ms.to_string());
    }
    props.set(keys::REAL_TOPIC, real_topic);
    props.set(keys::REAL_QID, &real_queue_id.to_string());
}

/// Whether `props` holds a property [`schedule_decision`] can park on (DELAY or a timer property).
/// Without one every row decides now, whatever the transaction type, topic or TIMER_OUT_MS: one
/// pass over the list, where the full step reads the clock and looks five keys up.
pub fn has_schedule_property(props: &Properties) -> bool {
    props.entries.iter().any(|(k, _)| {
        matches!(
            k,
            keys::DELAY | keys::TIMER_DELAY_SEC | keys::TIMER_DELAY_MS | keys::TIMER_DELIVER_MS
        )
    })
}

impl super::Broker {
    /// The schedule step (module docs): decides for one message about to be put on `topic` /
    /// `queue_id`, and marks a parked one's properties. The caller stores it where the decision says.
    pub(crate) fn schedule_step(
        &self,
        topic: &str,
        queue_id: u32,
        sys_flag: i32,
        props: &mut Properties,
    ) -> Result<Schedule, TimerIllegal> {
        if !has_schedule_property(props) {
            // Rows 1, 3 and 4 without looking further (no clock read): the common send.
            return Ok(Schedule::Now);
        }
        let now_ms = crate::clock::now_ms().max(self.scheduler.delivered_up_to_ms());
        let facts = ScheduleFacts {
            sys_flag,
            topic,
            delay_level: props
                .get(keys::DELAY)
                .and_then(|d| d.trim().parse().ok())
                .unwrap_or(0),
            timer_out_set: props.get(keys::TIMER_OUT_MS).is_some(),
            timer_delay_sec: props.get(keys::TIMER_DELAY_SEC),
            timer_delay_ms: props.get(keys::TIMER_DELAY_MS),
            timer_deliver_ms: props.get(keys::TIMER_DELIVER_MS),
            now_ms,
            levels_ms: &self.cfg.message_delay_level_ms,
            timer_max_delay_ms: i64::try_from(self.cfg.timer_max_delay_sec.saturating_mul(1000))
                .unwrap_or(i64::MAX),
        };
        let decision = schedule_decision(&facts)?;
        mark_parked(props, decision, topic, queue_id);
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVELS: &[u64] = &[1_000, 5_000, 10_000];

    fn facts() -> ScheduleFacts<'static> {
        ScheduleFacts {
            sys_flag: 0,
            topic: "T",
            delay_level: 0,
            timer_out_set: false,
            timer_delay_sec: None,
            timer_delay_ms: None,
            timer_deliver_ms: None,
            now_ms: 1_000_000,
            levels_ms: LEVELS,
            timer_max_delay_ms: 60_000,
        }
    }

    fn park(topic: &'static str, queue_id: u32, due_ms: i64) -> Result<Schedule, TimerIllegal> {
        Ok(Schedule::Park {
            topic,
            queue_id,
            due_ms,
        })
    }

    #[test]
    fn without_a_schedule_property_every_row_decides_now() {
        // The shortcut in `Broker::schedule_step`: no DELAY and no timer property means now, for
        // every transaction type, topic and TIMER_OUT_MS; any one of the four keys takes the table.
        let plain = Properties::parse(
            "KEYS\u{1}k\u{2}TAGS\u{1}t\u{2}TIMER_OUT_MS\u{1}5\u{2}TRAN_MSG\u{1}true",
        );
        assert!(!has_schedule_property(&plain));
        for flag in [
            0,
            sys_flag::TRANSACTION_PREPARED,
            sys_flag::TRANSACTION_COMMIT,
            sys_flag::TRANSACTION_ROLLBACK,
        ] {
            for topic in ["T", SCHEDULE_TOPIC, TIMER_TOPIC] {
                for timer_out_set in [false, true] {
                    let f = ScheduleFacts {
                        sys_flag: flag,
                        topic,
                        timer_out_set,
                        ..facts()
                    };
                    assert_eq!(schedule_decision(&f), Ok(Schedule::Now));
                }
            }
        }
        for key in [
            keys::DELAY,
            keys::TIMER_DELAY_SEC,
            keys::TIMER_DELAY_MS,
            keys::TIMER_DELIVER_MS,
        ] {
            let mut p = plain.clone();
            p.set(key, "1");
            assert!(has_schedule_property(&p), "{key}");
        }
    }

    #[test]
    fn row1_half_and_rollback_messages_are_left_to_the_transaction_step() {
        for flag in [
            sys_flag::TRANSACTION_PREPARED,
            sys_flag::TRANSACTION_ROLLBACK,
        ] {
            let f = ScheduleFacts {
                sys_flag: flag,
                delay_level: 2,
                ..facts()
            };
            assert_eq!(schedule_decision(&f), Ok(Schedule::Now));
        }
        let committed = ScheduleFacts {
            sys_flag: sys_flag::TRANSACTION_COMMIT,
            delay_level: 2,
            ..facts()
        };
        assert_eq!(
            schedule_decision(&committed),
            park(SCHEDULE_TOPIC, 1, 1_005_000)
        );
    }

    #[test]
    fn row2_delay_levels_park_and_clamp_to_the_last_level() {
        let f = |level| ScheduleFacts {
            delay_level: level,
            timer_delay_ms: Some("5"),
            ..facts()
        };
        assert_eq!(schedule_decision(&f(1)), park(SCHEDULE_TOPIC, 0, 1_001_000));
        assert_eq!(schedule_decision(&f(3)), park(SCHEDULE_TOPIC, 2, 1_010_000));
        assert_eq!(
            schedule_decision(&f(99)),
            park(SCHEDULE_TOPIC, 2, 1_010_000),
            "above the last level: the last level (Java clamps)"
        );
        // DELAY wins over TIMER_OUT_MS too: a retried message that was a timer is delayed again.
        let retried = ScheduleFacts {
            delay_level: 1,
            timer_out_set: true,
            ..facts()
        };
        assert_eq!(
            schedule_decision(&retried),
            park(SCHEDULE_TOPIC, 0, 1_001_000)
        );
    }

    #[test]
    fn row3_already_parked_messages_go_through() {
        let f = ScheduleFacts {
            timer_out_set: true,
            timer_delay_ms: Some("5000"),
            ..facts()
        };
        assert_eq!(schedule_decision(&f), Ok(Schedule::Now));
        let f = ScheduleFacts {
            topic: TIMER_TOPIC,
            timer_delay_ms: Some("5000"),
            ..facts()
        };
        assert_eq!(schedule_decision(&f), Ok(Schedule::Now));
    }

    #[test]
    fn row4_plain_messages_go_through() {
        assert_eq!(schedule_decision(&facts()), Ok(Schedule::Now));
        let f = ScheduleFacts {
            delay_level: -1,
            ..facts()
        };
        assert_eq!(schedule_decision(&f), Ok(Schedule::Now));
    }

    #[test]
    fn row5_bad_or_too_far_timers_are_refused() {
        let illegal = Err(TimerIllegal {
            max_delay_ms: 60_000,
        });
        for f in [
            ScheduleFacts {
                timer_delay_ms: Some("soon"),
                ..facts()
            },
            ScheduleFacts {
                timer_delay_sec: Some("61"),
                ..facts()
            },
            ScheduleFacts {
                timer_delay_sec: Some("9223372036854775807"),
                ..facts()
            },
            ScheduleFacts {
                timer_deliver_ms: Some("1060001"),
                ..facts()
            },
        ] {
            assert_eq!(schedule_decision(&f), illegal, "{f:?}");
        }
        let at_max = ScheduleFacts {
            timer_delay_sec: Some("60"),
            ..facts()
        };
        assert_eq!(schedule_decision(&at_max), park(TIMER_TOPIC, 0, 1_060_000));
    }

    #[test]
    fn row6_timers_due_already_go_through() {
        for f in [
            ScheduleFacts {
                timer_deliver_ms: Some("1000000"),
                ..facts()
            },
            ScheduleFacts {
                timer_delay_ms: Some("0"),
                ..facts()
            },
            ScheduleFacts {
                timer_delay_sec: Some("-5"),
                ..facts()
            },
        ] {
            assert_eq!(schedule_decision(&f), Ok(Schedule::Now), "{f:?}");
        }
    }

    #[test]
    fn row7_timers_park_on_the_timer_queue_in_java_precedence() {
        let f = ScheduleFacts {
            timer_delay_sec: Some("2"),
            timer_delay_ms: Some("7"),
            timer_deliver_ms: Some("1"),
            ..facts()
        };
        assert_eq!(schedule_decision(&f), park(TIMER_TOPIC, 0, 1_002_000));
        let f = ScheduleFacts {
            timer_delay_ms: Some("7"),
            timer_deliver_ms: Some("1"),
            ..facts()
        };
        assert_eq!(schedule_decision(&f), park(TIMER_TOPIC, 0, 1_000_007));
        let f = ScheduleFacts {
            timer_deliver_ms: Some("1000123"),
            ..facts()
        };
        assert_eq!(schedule_decision(&f), park(TIMER_TOPIC, 0, 1_000_123));
    }

    #[test]
    fn parked_messages_remember_their_destination() {
        let mut p = Properties::parse("");
        p.set(keys::DELAY, "2");
        p.set(keys::TIMER_DELAY_MS, "10");
        let d = park(SCHEDULE_TOPIC, 1, 5).unwrap();
        mark_parked(&mut p, d, "T", 3);
        assert_eq!(p.get(keys::REAL_TOPIC), Some("T"));
        assert_eq!(p.get(keys::REAL_QID), Some("3"));
        assert_eq!(p.get(keys::TIMER_DELAY_MS), None);
        assert_eq!(p.get(keys::DELAY), Some("2"), "kept, also on the re-put");
        // A level past the last waits in the last, and says so (Java's `setDelayTimeLevel`).
        let mut p = Properties::parse("");
        p.set(keys::DELAY, "99");
        mark_parked(&mut p, park(SCHEDULE_TOPIC, 17, 5).unwrap(), "T", 0);
        assert_eq!(p.get(keys::DELAY), Some("18"));
        let mut p = Properties::parse("");
        mark_parked(&mut p, park(TIMER_TOPIC, 0, 77).unwrap(), "T", 0);
        assert_eq!(p.get(keys::TIMER_OUT_MS), Some("77"));
        let mut p = Properties::parse("");
        mark_parked(&mut p, Schedule::Now, "T", 0);
        assert_eq!(p, Properties::default());
    }
}
