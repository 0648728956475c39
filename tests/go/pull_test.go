package interop

// The Go client's pull consumer (rocketmq.NewPullConsumer, v2.1.2's lite-pull style consumer).
//   - PullFrom(queue, offset, n): PULL_MESSAGE from an explicit offset returns the queue's messages in
//     order from there (queue offsets, bodies, msgIds as sent), at most n, with the next offset and the
//     queue's min/max; past the end, OFFSET_ILLEGAL with the end as the next offset; UpdateOffset + PersistOffset commit an offset (UPDATE_CONSUMER_OFFSET) that a second
//     member of the group reads back with CurrentOffset (QUERY_CONSUMER_OFFSET).
//   - PullFrom with a SQL92 subscription: the broker returns only the matching messages, and the next
//     offset past the ones it skipped.
//   - Poll + ACK: the consumer's own rebalance pulls every queue; Poll hands over each message once and ACK
//     (ConsumeSuccess) commits it, so a push consumer of the same group started afterwards receives only what
//     was sent after.

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

func newPullConsumer(t *testing.T, group, topic, instance string, opts ...consumer.Option) rocketmq.PullConsumer {
	t.Helper()
	return newSelectorPullConsumer(t, group, topic, instance, consumer.MessageSelector{}, opts...)
}

func newSelectorPullConsumer(t *testing.T, group, topic, instance string, sel consumer.MessageSelector, opts ...consumer.Option) rocketmq.PullConsumer {
	t.Helper()
	c, err := rocketmq.NewPullConsumer(append([]consumer.Option{
		consumer.WithNameServer([]string{namesrvAddr}),
		consumer.WithGroupName(group),
		consumer.WithInstance(instance),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset)}, opts...)...)
	if err != nil {
		t.Fatalf("new pull consumer: %v", err)
	}
	if err := c.Subscribe(topic, sel); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("start pull consumer (group %s, topic %s): %v", group, topic, err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return c
}

func TestPullConsumerPullFromAndOffsets(t *testing.T) {
	topic, mqs := createTopic(t)
	p := newProducer(t, producer.WithQueueSelector(producer.NewManualQueueSelector()))
	const perQueue = 3
	sent := map[int][]string{} // queue -> msgIds in offset order
	for i := 0; i < perQueue; i++ {
		for _, mq := range mqs {
			m := primitive.NewMessage(topic, []byte(fmt.Sprintf("pull q%d #%d", mq.QueueId, i)))
			m.Queue = mq
			r, err := p.SendSync(ctx(t, 10*time.Second), m)
			if err != nil || r.Status != primitive.SendOK || r.MessageQueue.QueueId != mq.QueueId || r.QueueOffset != int64(i) {
				t.Fatalf("send to queue %d: %v %v", mq.QueueId, err, r)
			}
			sent[mq.QueueId] = append(sent[mq.QueueId], r.MsgID)
		}
	}

	group := uniqueName(t, "cg")
	var mu sync.Mutex
	allocated := 0
	c := newPullConsumer(t, group, topic, "pull1-"+group, consumer.WithStrategy(
		func(g, cid string, mqAll []*primitive.MessageQueue, cidAll []string) []*primitive.MessageQueue {
			res := consumer.AllocateByAveragely(g, cid, mqAll, cidAll)
			if len(mqAll) > 0 && mqAll[0].Topic == topic {
				mu.Lock()
				allocated = len(res)
				mu.Unlock()
			}
			return res
		}))
	for _, mq := range mqs {
		res, err := c.PullFrom(ctx(t, 10*time.Second), mq, 0, 32)
		if err != nil {
			t.Fatalf("PullFrom queue %d offset 0: %v", mq.QueueId, err)
		}
		got := res.GetMessageExts()
		if res.Status != primitive.PullFound || len(got) != perQueue || res.NextBeginOffset != perQueue ||
			res.MinOffset != 0 || res.MaxOffset != perQueue {
			t.Fatalf("PullFrom queue %d offset 0: status %d, %d messages, next %d, min %d, max %d; want FOUND, %d, %d, 0, %d",
				mq.QueueId, res.Status, len(got), res.NextBeginOffset, res.MinOffset, res.MaxOffset, perQueue, perQueue, perQueue)
		}
		for i, m := range got {
			if m.MsgId != sent[mq.QueueId][i] || m.QueueOffset != int64(i) || m.Queue.QueueId != mq.QueueId ||
				string(m.Body) != fmt.Sprintf("pull q%d #%d", mq.QueueId, i) {
				t.Errorf("queue %d message %d: msgId %s offset %d queue %d body %q; want %s at %d",
					mq.QueueId, i, m.MsgId, m.QueueOffset, m.Queue.QueueId, m.Body, sent[mq.QueueId][i], i)
			}
		}
		// Past the end: OFFSET_ILLEGAL (PULL_OFFSET_MOVED), the next offset the queue's end.
		res, err = c.PullFrom(ctx(t, 10*time.Second), mq, 100, 1)
		if err != nil || res.Status != primitive.PullOffsetIllegal || len(res.GetMessageExts()) != 0 || res.NextBeginOffset != perQueue ||
			res.MaxOffset != perQueue {
			t.Fatalf("PullFrom queue %d offset 100: %v, status %d next %d max %d, %d messages; want OFFSET_ILLEGAL, next and max %d",
				mq.QueueId, err, res.Status, res.NextBeginOffset, res.MaxOffset, len(res.GetMessageExts()), perQueue)
		}
		// From the middle, at most one.
		res, err = c.PullFrom(ctx(t, 10*time.Second), mq, 1, 1)
		if err != nil || res.Status != primitive.PullFound || len(res.GetMessageExts()) != 1 || res.NextBeginOffset != 2 ||
			res.GetMessageExts()[0].MsgId != sent[mq.QueueId][1] {
			t.Fatalf("PullFrom queue %d offset 1 max 1: %v %+v", mq.QueueId, err, res)
		}
	}

	// Commit offset 2 of queue 0 and 1 of queue 3; another member of the group reads them from the broker.
	commit := map[int]int64{0: 2, 3: 1}
	for q, off := range commit {
		if err := c.UpdateOffset(mqs[q], off); err != nil {
			t.Fatalf("UpdateOffset queue %d: %v", q, err)
		}
		if cur, _ := c.CurrentOffset(mqs[q]); cur != off {
			t.Fatalf("CurrentOffset queue %d after UpdateOffset(%d): %d", q, off, cur)
		}
	}
	// PersistOffset commits the queues the consumer's rebalance gave it: all of them, once it ran.
	waitFor(t, deliveryTimeout, "the pull consumer's rebalance", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return allocated == queueCount, fmt.Sprintf("%d queues allocated", allocated)
	})
	if err := c.PersistOffset(ctx(t, 5*time.Second), topic); err != nil {
		t.Fatalf("PersistOffset: %v", err)
	}
	c2 := newPullConsumer(t, group, topic, "pull2-"+group)
	waitFor(t, 5*time.Second, "the committed offsets", func() (bool, string) {
		var desc []string
		ok := true
		for q, off := range commit {
			cur, err := c2.CurrentOffset(mqs[q])
			desc = append(desc, fmt.Sprintf("queue %d: %d (%v)", q, cur, err))
			ok = ok && cur == off
		}
		sort.Strings(desc)
		return ok, fmt.Sprint(desc)
	})
}

func TestPullConsumerPollAndAck(t *testing.T) {
	topic, _ := createTopic(t)
	p := newProducer(t)
	const n = 20
	sent := map[string]bool{}
	for i := 0; i < n; i++ {
		r, err := p.SendSync(ctx(t, 10*time.Second), primitive.NewMessage(topic, []byte(fmt.Sprintf("poll %d", i))))
		if err != nil || r.Status != primitive.SendOK {
			t.Fatalf("send %d: %v %v", i, err, r)
		}
		sent[r.MsgID] = true
	}
	group := uniqueName(t, "cg")
	c := newPullConsumer(t, group, topic, "poll-"+group)
	got := map[string]int{}
	deadline := time.Now().Add(deliveryTimeout)
	for len(got) < n && time.Now().Before(deadline) {
		cr, err := c.Poll(context.Background(), time.Second)
		if consumer.IsNoNewMsgError(err) {
			continue
		}
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		for _, m := range cr.GetMsgList() {
			got[m.MsgId]++
			if !sent[m.MsgId] {
				t.Errorf("polled %s (%q), which was not sent", m.MsgId, m.Body)
			}
		}
		c.ACK(context.Background(), cr, consumer.ConsumeSuccess)
	}
	if len(got) != n {
		t.Fatalf("polled %d of %d messages", len(got), n)
	}
	for id, k := range got {
		if k != 1 {
			t.Errorf("polled %s %d times", id, k)
		}
	}
	// Shutdown persists the acked offsets; the group then goes on after them.
	if err := c.Shutdown(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	rec := startConsumer(t, group, topic, "")
	r, err := p.SendSync(ctx(t, 10*time.Second), primitive.NewMessage(topic, []byte("after the pull consumer")))
	if err != nil || r.Status != primitive.SendOK {
		t.Fatalf("send: %v %v", err, r)
	}
	waitFor(t, deliveryTimeout, "the new message", func() (bool, string) {
		return rec.byMsgID()[r.MsgID] != nil, fmt.Sprintf("%d received", rec.count())
	})
	time.Sleep(300 * time.Millisecond)
	if k := rec.count(); k != 1 {
		t.Errorf("the push consumer of the group received %d messages, want only the one sent after the acks", k)
	}
}

func TestPullConsumerPullFromWithSQL92(t *testing.T) {
	topic, mqs := createTopic(t)
	p := newProducer(t, producer.WithQueueSelector(producer.NewManualQueueSelector()))
	var want []string
	const n = 10
	for i := 0; i < n; i++ {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("sql pull %d", i)))
		m.WithProperty("n", fmt.Sprint(i))
		m.Queue = mqs[2]
		r, err := p.SendSync(ctx(t, 10*time.Second), m)
		if err != nil || r.Status != primitive.SendOK {
			t.Fatalf("send %d: %v %v", i, err, r)
		}
		if i%3 == 0 {
			want = append(want, r.MsgID)
		}
	}
	group := uniqueName(t, "cg")
	c := newSelectorPullConsumer(t, group, topic, "sqlpull-"+group, consumer.MessageSelector{Type: consumer.SQL92, Expression: "n IN ('0', '3', '6', '9')"})
	var got []string
	offset := int64(0)
	for offset < n {
		res, err := c.PullFrom(ctx(t, 10*time.Second), mqs[2], offset, 32)
		if err != nil {
			t.Fatalf("PullFrom offset %d: %v", offset, err)
		}
		if res.NextBeginOffset <= offset {
			t.Fatalf("PullFrom offset %d: next offset %d, status %d", offset, res.NextBeginOffset, res.Status)
		}
		for _, m := range res.GetMessageExts() {
			got = append(got, m.MsgId)
			if v := m.GetProperty("n"); v != "0" && v != "3" && v != "6" && v != "9" {
				t.Errorf("pulled n=%s (%q), which the expression does not select", v, m.Body)
			}
		}
		offset = res.NextBeginOffset
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pulled %v, want %v (n = 0, 3, 6, 9 in order)", got, want)
	}
}
