//! Row-by-row tests of the edge's rules and the bookkeeping of [`super::ConnState`] and budgets.

use super::*;

fn limits() -> ConnLimits {
    ConnLimits {
        inflight_max: 8,
        frame_max_bytes: 16 << 20,
        shard_connections_max: 4,
        shard_frame_buffer_bytes_max: 32 << 20,
        peer_frame_buffer_bytes_max: 16 << 20,
        frame_timeout_ms: 1_000,
        outbound_bytes_max: 1 << 20,
        shard_outbound_bytes_max: 4 << 20,
        outbound_stall_timeout_ms: 2_000,
        idle_timeout_ms: 3_000,
    }
}

#[test]
fn the_table_row_by_row() {
    let l = limits();
    let row = |p| {
        let r = rule(p, &l);
        (r.restart, r.limit_ms, r.reason)
    };
    use CloseReason as C;
    use Restart as R;
    assert_eq!(row(Phase::Idle), (R::MarkOrWrite, Some(3_000), C::Idle));
    assert_eq!(row(Phase::Frame), (R::Mark, Some(1_000), C::FrameTimeout));
    assert_eq!(
        row(Phase::WaitBudget),
        (R::Mark, Some(1_000), C::BudgetTimeout)
    );
    assert_eq!(
        row(Phase::WaitOutbound),
        (R::MarkOrWriteOrEmpty, Some(2_000), C::OutboundStalled)
    );
    assert_eq!(
        row(Phase::Draining),
        (R::MarkOrWriteOrEmpty, Some(2_000), C::OutboundStalled)
    );
    assert_eq!(rule(Phase::WaitInflight, &l).limit_ms, None);
    let never_idle = ConnLimits {
        idle_timeout_ms: 0,
        ..l
    };
    assert_eq!(rule(Phase::Idle, &never_idle).limit_ms, None);
}

#[test]
fn a_frame_that_does_not_complete_times_out_however_it_trickles() {
    let l = limits();
    let c = state(0);
    c.set_phase(Phase::Frame);
    assert_eq!(c.sweep(0, &l), None, "entering the phase starts the clock");
    // Bytes of the same frame arriving change nothing the sweeper sees; writes do not help.
    c.wrote(100, 0);
    assert_eq!(c.sweep(999, &l), None);
    assert_eq!(c.sweep(1_000, &l), Some(CloseReason::FrameTimeout));
    // A whole frame restarts the clock.
    c.frame_done();
    assert_eq!(c.sweep(1_500, &l), None);
    assert_eq!(c.sweep(2_499, &l), None);
    assert_eq!(c.sweep(2_500, &l), Some(CloseReason::FrameTimeout));
}

#[test]
fn budget_wait_has_its_own_clock() {
    let l = limits();
    let c = state(0);
    c.set_phase(Phase::Frame);
    c.sweep(0, &l);
    c.set_phase(Phase::WaitBudget);
    assert_eq!(c.sweep(900, &l), None, "phase change restarts");
    assert_eq!(c.sweep(1_900, &l), Some(CloseReason::BudgetTimeout));
    c.set_phase(Phase::Frame);
    assert_eq!(c.sweep(1_950, &l), None, "granted: the frame clock starts");
    assert_eq!(c.sweep(2_950, &l), Some(CloseReason::FrameTimeout));
}

#[test]
fn outbound_stall_needs_queued_bytes_and_no_progress() {
    let l = limits();
    let c = state(0);
    c.add_queued(5 << 20);
    c.set_phase(Phase::WaitOutbound);
    assert_eq!(c.sweep(0, &l), None);
    assert_eq!(c.sweep(1_999, &l), None);
    c.wrote(4096, 4096);
    assert_eq!(c.sweep(2_500, &l), None, "progress restarts the clock");
    assert_eq!(c.sweep(4_499, &l), None);
    assert_eq!(c.sweep(4_500, &l), Some(CloseReason::OutboundStalled));
    // Idle but over the outbound cap: judged as WaitOutbound.
    let i = state(0);
    i.add_queued(2 << 20);
    assert_eq!(i.sweep(0, &l), None);
    assert_eq!(i.sweep(2_000, &l), Some(CloseReason::OutboundStalled));
    // Draining with nothing queued (a parked long poll) never stalls.
    let d = state(0);
    d.set_phase(Phase::Draining);
    for t in [0, 5_000, 50_000] {
        assert_eq!(d.sweep(t, &l), None);
    }
}

#[test]
fn idle_counts_writes_as_activity_and_inflight_never_times_out() {
    let l = limits();
    let c = state(0);
    assert_eq!(c.sweep(2_000, &l), None);
    c.wrote(10, 10);
    assert_eq!(c.sweep(4_000, &l), None, "a write restarts idle");
    assert_eq!(c.sweep(6_999, &l), None);
    assert_eq!(c.sweep(7_000, &l), Some(CloseReason::Idle));
    let w = state(0);
    w.set_phase(Phase::WaitInflight);
    assert_eq!(w.sweep(0, &l), None);
    assert_eq!(w.sweep(1_000_000, &l), None);
}

fn state(now_ms: u64) -> ConnState {
    ConnState::new(now_ms, Rc::default(), &limits())
}

#[test]
fn overflow_table_row_by_row() {
    assert!(!overflows(false, true, true));
    assert!(!overflows(false, false, false));
    assert!(!overflows(true, false, true));
    assert!(!overflows(true, true, false));
    assert!(overflows(true, true, true));
}

#[test]
fn an_answer_that_overflows_the_shard_closes_the_connection_that_does_not_read() {
    let l = limits();
    let shard = Rc::new(Cell::new(0));
    let reader = ConnState::new(0, shard.clone(), &l);
    let deaf = ConnState::new(0, shard.clone(), &l);
    reader.add_queued(2 << 20);
    deaf.add_queued(2 << 20);
    deaf.add_queued(1 << 10);
    assert_eq!(
        deaf.kill.get(),
        None,
        "shard over, but nothing was queued at the last sweep: an idle peer just got answers"
    );
    reader.sweep(100, &l);
    deaf.sweep(100, &l);
    // Both had answers queued when the sweeper looked; only the reader wrote since.
    reader.wrote(100, 100);
    reader.add_queued(1 << 10);
    assert_eq!(reader.kill.get(), None, "it read since the last sweep");
    deaf.add_queued(1 << 10);
    assert_eq!(deaf.kill.get(), Some(CloseReason::OutboundOverflow));
    // Next sweep: the reader stopped reading too.
    reader.sweep(200, &l);
    reader.add_queued(1 << 10);
    assert_eq!(reader.kill.get(), Some(CloseReason::OutboundOverflow));
    // Ending a connection gives its queued bytes back to the shard.
    deaf.sub_queued(deaf.queued());
    reader.sub_queued(reader.queued());
    assert_eq!(shard.get(), 0);
}

#[test]
fn overflow_victims_largest_first_until_it_fits() {
    let stuck = [(0, 3 << 20), (1, 10 << 20), (2, 5 << 20)];
    assert_eq!(
        overflow_victims(20 << 20, 30 << 20, &stuck),
        Vec::<usize>::new()
    );
    assert_eq!(
        overflow_victims(20 << 20, 20 << 20, &stuck),
        Vec::<usize>::new()
    );
    assert_eq!(overflow_victims(20 << 20, 12 << 20, &stuck), vec![1]);
    assert_eq!(overflow_victims(20 << 20, 6 << 20, &stuck), vec![1, 2]);
    assert_eq!(overflow_victims(20 << 20, 0, &stuck), vec![1, 2, 0]);
    assert_eq!(overflow_victims(20 << 20, 0, &[]), Vec::<usize>::new());
}

#[test]
fn one_address_holds_at_most_its_share_and_leaves_with_its_last_connection() {
    glommio::LocalExecutor::default().run(async {
        let (_stop_tx, stop) = flume::bounded::<()>(1);
        let edge = Edge::new(ShardId(0), limits(), stop);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let (a1, sa1) = edge.admit(a).unwrap();
        let (_, sa2) = edge.admit(a).unwrap();
        let (_, sb) = edge.admit(b).unwrap();
        let mb = 1 << 20;
        // Address a: a share of 16 MiB of the shard's 32, over both its connections.
        let g1 = edge.try_budget(&sa1, 10 * mb).unwrap();
        assert!(
            edge.try_budget(&sa2, 10 * mb).is_none(),
            "a's share is spent"
        );
        let g2 = edge.try_budget(&sa2, 6 * mb).unwrap();
        // Address b still gets the rest of the shard.
        let g3 = edge.try_budget(&sb, 16 * mb).unwrap();
        assert!(edge.try_budget(&sb, 1).is_none(), "the shard is spent");
        assert_eq!(edge.metrics().budget_in_use_bytes, 32 * mb as u64);
        drop((g1, g2, g3));
        assert_eq!(edge.metrics().budget_in_use_bytes, 0);
        assert_eq!(edge.peers.borrow().len(), 2);
        edge.release(a1.id, CloseReason::Peer);
        assert_eq!(edge.peers.borrow()[&a].1, 1);
        // The cap: 4 connections per shard in these limits.
        let _ = edge.admit(b).unwrap();
        let _ = edge.admit(b).unwrap();
        assert!(edge.admit(b).is_none());
        let m = edge.metrics();
        assert_eq!((m.accepted, m.open, m.refused_conn_cap), (5, 4, 1));
    });
}

#[test]
fn first_kill_reason_wins() {
    let c = state(0);
    c.kill(CloseReason::FrameTimeout);
    c.kill(CloseReason::Idle);
    assert_eq!(c.kill.get(), Some(CloseReason::FrameTimeout));
}
