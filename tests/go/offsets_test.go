package interop

// Consumer offsets: what a group commits (UPDATE_CONSUMER_OFFSET on shutdown) is where the next member
// of the group resumes (QUERY_CONSUMER_OFFSET), and where a brand-new group starts.

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// sendRound sends n messages (round robin over the queues) and returns their msgIds.
func sendRound(t *testing.T, p rocketmq.Producer, topic, label string, n int) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for i := 0; i < n; i++ {
		r, err := p.SendSync(ctx(t, 10*time.Second), primitive.NewMessage(topic, []byte(fmt.Sprintf("%s %d", label, i))))
		if err != nil || r.Status != primitive.SendOK {
			t.Fatalf("send %s %d: %v %v", label, i, err, r)
		}
		ids[r.MsgID] = true
	}
	return ids
}

// TestCommittedOffsetResume: a consumer reads 8 messages and shuts down (committing its offsets); a new
// member of the same group then gets exactly the 8 sent afterwards, none of the first 8 again.
func TestCommittedOffsetResume(t *testing.T) {
	topic, _ := createTopic(t)
	group := uniqueName(t, "cg")
	p := newProducer(t)
	first := sendRound(t, p, topic, "first", 2*queueCount)

	c1 := &recorder{}
	pc := startPushConsumer(t, group, topic, "*", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		c1.add(msgs...)
		return consumer.ConsumeSuccess, nil
	}, consumer.WithInstance("first-"+group))
	waitFor(t, deliveryTimeout, "first round", func() (bool, string) {
		return len(c1.byMsgID()) == len(first), fmt.Sprintf("%d of %d", len(c1.byMsgID()), len(first))
	})
	// The client moves its offset store after the listener returns, in the listener's goroutine, and
	// Shutdown persists only what the store holds by then (it marks the queues dropped first, so a
	// later move is skipped). Wait until the client itself holds offset 2 on every queue: what it
	// commits is then known, and the check below is about the broker.
	waitFor(t, deliveryTimeout, "the first member's own offsets", func() (bool, string) {
		offs := clientOffsets(t, pc)
		done := len(offs) == queueCount
		for _, o := range offs {
			done = done && o == 2
		}
		return done, fmt.Sprintf("offsets by queue %v", offs)
	})
	if err := pc.Shutdown(); err != nil { // persists the offsets of its queues
		t.Fatalf("shutdown: %v", err)
	}

	second := sendRound(t, p, topic, "second", 2*queueCount)
	c2 := startConsumer(t, group, topic, "*", consumer.WithInstance("second-"+group))
	waitFor(t, deliveryTimeout, "second round", func() (bool, string) {
		n := 0
		for id := range c2.byMsgID() {
			if second[id] {
				n++
			}
		}
		return n == len(second), fmt.Sprintf("%d of %d of the second round", n, len(second))
	})
	for _, m := range c2.all() {
		if first[m.MsgId] {
			t.Errorf("message %s (%q, queue %d offset %d) was consumed and committed by the first member, yet delivered again",
				m.MsgId, m.Body, m.Queue.QueueId, m.QueueOffset)
		}
		if m.QueueOffset < 2 {
			t.Errorf("the second member read queue %d from offset %d; the group had committed 2", m.Queue.QueueId, m.QueueOffset)
		}
	}
}

// TestNewGroupFromLastOffset: a new group with CONSUME_FROM_LAST_OFFSET on a queue that still starts
// at offset 0 reads it from the beginning (the Java broker answers QUERY_CONSUMER_OFFSET with 0 there
// instead of "not found", so the client does not ask for the max offset).
func TestNewGroupFromLastOffset(t *testing.T) {
	topic, _ := createTopic(t)
	p := newProducer(t)
	before := sendRound(t, p, topic, "before", queueCount)
	rec := startConsumer(t, uniqueName(t, "cg"), topic, "*", consumer.WithConsumeFromWhere(consumer.ConsumeFromLastOffset))
	after := sendRound(t, p, topic, "after", queueCount)
	waitFor(t, deliveryTimeout, "messages sent before and after the group started", func() (bool, string) {
		got := rec.byMsgID()
		nb, na := 0, 0
		for id := range got {
			if before[id] {
				nb++
			}
			if after[id] {
				na++
			}
		}
		return nb == len(before) && na == len(after),
			fmt.Sprintf("%d of %d sent before, %d of %d sent after", nb, len(before), na, len(after))
	})
	if rec.count() != len(before)+len(after) {
		t.Errorf("received %d deliveries for %d messages", rec.count(), len(before)+len(after))
	}
}

// clientOffsets reads a push consumer's own offset store, queue id to offset, through the client's
// GetConsumerRunningInfo (what it answers the broker's GET_CONSUMER_RUNNING_INFO). The method returns a
// type from the client's internal package, which a test cannot name, hence reflection.
func clientOffsets(t *testing.T, c interface{}) map[int]int64 {
	t.Helper()
	m := reflect.ValueOf(c).MethodByName("GetConsumerRunningInfo")
	if !m.IsValid() {
		t.Fatalf("%T has no GetConsumerRunningInfo", c)
	}
	info := reflect.Indirect(m.Call([]reflect.Value{reflect.ValueOf(false)})[0])
	table := info.FieldByName("MQTable")
	out := map[int]int64{}
	iter := table.MapRange()
	for iter.Next() {
		mq := iter.Key().Interface().(primitive.MessageQueue)
		out[mq.QueueId] = iter.Value().FieldByName("CommitOffset").Int()
	}
	return out
}
