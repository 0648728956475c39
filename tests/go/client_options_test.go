package interop

// Client options a user reaches for that the other files do not cover:
//   - producer.WithQueueSelector(producer.NewHashQueueSelector()): every message of a sharding key goes to
//     the queue the key hashes to (fnv32a mod the queue count), and is consumed from that queue in order.
//   - WithNamespace on producer and consumer: the client prefixes topic and group with "<ns>%"; sends,
//     deliveries and a retry (through %RETRY%<ns>%<group>) work on such names.
//   - consumer.WithConsumeMessageBatchMaxSize: the listener gets up to that many messages at once (and
//     more than one when a backlog is there), every message once.

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

func TestHashQueueSelectorKeepsAKeyOnOneQueue(t *testing.T) {
	topic, _ := createTopic(t)
	rec := startConsumer(t, uniqueName(t, "cg"), topic, "")
	p := newProducer(t, producer.WithQueueSelector(producer.NewHashQueueSelector()))
	keys := []string{"order-1", "order-2", "order-3", "order-4", "order-5", "order-6", "order-7", "order-8"}
	wantQueue := map[string]int{}
	queuesUsed := map[int]bool{}
	for _, k := range keys {
		h := fnv.New32a()
		h.Write([]byte(k))
		q := int(h.Sum32()) % queueCount
		if q < 0 {
			q = -q
		}
		wantQueue[k] = q
		queuesUsed[q] = true
	}
	if len(queuesUsed) < 2 {
		t.Fatalf("the keys hash to %d queue(s): the test needs at least 2", len(queuesUsed))
	}
	const perKey = 5
	sent := map[string]string{} // msgId -> key
	for i := 0; i < perKey; i++ {
		for _, k := range keys {
			m := primitive.NewMessage(topic, []byte(fmt.Sprintf("%s step %d", k, i)))
			m.WithShardingKey(k)
			r, err := p.SendSync(ctx(t, 10*time.Second), m)
			if err != nil || r.Status != primitive.SendOK {
				t.Fatalf("send %s %d: %v %v", k, i, err, r)
			}
			if r.MessageQueue.QueueId != wantQueue[k] {
				t.Fatalf("key %s sent to queue %d, it hashes to %d", k, r.MessageQueue.QueueId, wantQueue[k])
			}
			sent[r.MsgID] = k
		}
	}
	waitFor(t, deliveryTimeout, "every message", func() (bool, string) {
		return len(rec.byMsgID()) >= len(sent), fmt.Sprintf("%d of %d", len(rec.byMsgID()), len(sent))
	})
	// Per key: every message from the key's queue, at queue offsets rising in the order sent.
	byOffset := rec.all()
	for _, m := range byOffset {
		k, ok := sent[m.MsgId]
		if !ok {
			t.Fatalf("received %s, not sent", m.MsgId)
		}
		if m.Queue.QueueId != wantQueue[k] || m.GetShardingKey() != k {
			t.Errorf("%s (key %s) consumed from queue %d with sharding key %q, want queue %d", m.MsgId, k, m.Queue.QueueId, m.GetShardingKey(), wantQueue[k])
		}
	}
	offsets := map[string][]int64{}
	for i := 0; i < perKey; i++ {
		for _, m := range byOffset {
			if k := sent[m.MsgId]; string(m.Body) == fmt.Sprintf("%s step %d", k, i) {
				offsets[k] = append(offsets[k], m.QueueOffset)
			}
		}
	}
	for k, offs := range offsets {
		for i := 1; i < len(offs); i++ {
			if offs[i] <= offs[i-1] {
				t.Errorf("key %s: queue offsets %v do not follow the send order", k, offs)
				break
			}
		}
	}
}

func TestNamespacedProducerAndConsumer(t *testing.T) {
	const ns = "gons"
	base := uniqueName(t, "topic")
	group := uniqueName(t, "cg")
	full := ns + "%" + base
	for _, tp := range []struct {
		name string
		n    int
	}{{full, queueCount}, {"%RETRY%" + ns + "%" + group, 1}} {
		if err := adminClient.CreateTopic(ctx(t, 10*time.Second), admin.WithTopicCreate(tp.name), admin.WithBrokerAddrCreate(brokerAddr),
			admin.WithReadQueueNums(tp.n), admin.WithWriteQueueNums(tp.n)); err != nil {
			t.Fatalf("create %s: %v", tp.name, err)
		}
		name := tp.name
		waitFor(t, 10*time.Second, "route of "+name, func() (bool, string) {
			mqs, err := adminClient.FetchPublishMessageQueues(ctx(t, 3*time.Second), name)
			return err == nil && len(mqs) > 0, fmt.Sprintf("queues %v, err %v", mqs, err)
		})
	}
	arr := &arrivals{}
	startPushConsumer(t, group, base, "", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		arr.add(msgs...)
		if msgs[0].ReconsumeTimes == 0 {
			return consumer.ConsumeRetryLater, nil
		}
		return consumer.ConsumeSuccess, nil
	}, consumer.WithNamespace(ns))
	p := newProducer(t, producer.WithNamespace(ns))
	r, err := p.SendSync(ctx(t, 10*time.Second), primitive.NewMessage(base, []byte("namespaced")))
	if err != nil || r.Status != primitive.SendOK {
		t.Fatalf("send: %v %v", err, r)
	}
	if r.MessageQueue.Topic != full {
		t.Errorf("sent to %q, want %q", r.MessageQueue.Topic, full)
	}
	waitFor(t, 30*time.Second, "the delivery and its retry", func() (bool, string) {
		return len(arr.of(r.MsgID)) >= 2, fmt.Sprintf("%d deliveries", len(arr.of(r.MsgID)))
	})
	for i, a := range arr.of(r.MsgID) {
		if a.msg.Topic != full || string(a.msg.Body) != "namespaced" || a.times != int32(i) {
			t.Errorf("delivery %d: topic %q body %q reconsumeTimes %d; want %q", i, a.msg.Topic, a.msg.Body, a.times, full)
		}
	}
}

func TestConsumeMessageBatchMaxSize(t *testing.T) {
	topic, _ := createTopic(t)
	p := newProducer(t)
	const n, maxBatch = 64, 8
	sent := map[string]bool{}
	for i := 0; i < n; i++ {
		r, err := p.SendSync(ctx(t, 10*time.Second), primitive.NewMessage(topic, []byte(fmt.Sprintf("batch %d", i))))
		if err != nil || r.Status != primitive.SendOK {
			t.Fatalf("send %d: %v %v", i, err, r)
		}
		sent[r.MsgID] = true
	}
	var mu sync.Mutex
	var sizes []int
	rec := &recorder{}
	startPushConsumer(t, uniqueName(t, "cg"), topic, "", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		sizes = append(sizes, len(msgs))
		mu.Unlock()
		rec.add(msgs...)
		return consumer.ConsumeSuccess, nil
	}, consumer.WithConsumeMessageBatchMaxSize(maxBatch))
	waitFor(t, deliveryTimeout, "every message", func() (bool, string) {
		return len(rec.byMsgID()) >= n, fmt.Sprintf("%d of %d", len(rec.byMsgID()), n)
	})
	time.Sleep(300 * time.Millisecond)
	if got := rec.count(); got != n {
		t.Errorf("received %d messages, want %d (each once)", got, n)
	}
	for id := range rec.byMsgID() {
		if !sent[id] {
			t.Errorf("received %s, not sent", id)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	biggest := 0
	for _, s := range sizes {
		if s > maxBatch {
			t.Errorf("a listener call got %d messages, more than the batch size %d", s, maxBatch)
		}
		if s > biggest {
			biggest = s
		}
	}
	if biggest < 2 {
		t.Errorf("listener batches %v: with a backlog of %d, some call should get more than one", sizes, n)
	}
}

// TestAutoCreateTopicWithDefaultTopicQueueNums: a producer with WithDefaultTopicQueueNums(2) sending a
// batch to a topic that does not exist yet (SEND_BATCH_MESSAGE with defaultTopic TBW102 and
// defaultTopicQueueNums 2) makes the broker create it with 2 queues; later sends and the consumer use them.
// A batch, because v2.1.2 writes a single send's header with defaultTopicQueueNums fixed at 4 whatever the
// option says (SendMessageRequestHeader.Encode); the batch header (V2) carries the option.
func TestAutoCreateTopicWithDefaultTopicQueueNums(t *testing.T) {
	topic := uniqueName(t, "auto")
	p := newProducer(t, producer.WithDefaultTopicQueueNums(2))
	sent := map[string]bool{}
	var batch []*primitive.Message
	for i := 0; i < 4; i++ {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("auto batch %d", i)))
		m.WithProperty(primitive.PropertyUniqueClientMessageIdKeyIndex, fmt.Sprintf("%032X", i+1))
		batch = append(batch, m)
		sent[fmt.Sprintf("%032X", i+1)] = true
	}
	r, err := p.SendSync(ctx(t, 10*time.Second), batch...)
	if err != nil || r.Status != primitive.SendOK {
		t.Fatalf("batch to the new topic: %v %v", err, r)
	}
	var mqs []*primitive.MessageQueue
	waitFor(t, 10*time.Second, "route of the auto-created topic", func() (bool, string) {
		mqs, err = freshAdmin(t).FetchPublishMessageQueues(ctx(t, 3*time.Second), topic)
		return err == nil && len(mqs) == 2, fmt.Sprintf("queues %v, err %v", mqs, err)
	})
	rec := startConsumer(t, uniqueName(t, "cg"), topic, "")
	waitFor(t, deliveryTimeout, "every message", func() (bool, string) {
		return len(rec.byMsgID()) >= len(sent), fmt.Sprintf("%d of %d", len(rec.byMsgID()), len(sent))
	})
	for id := range rec.byMsgID() {
		if !sent[id] {
			t.Errorf("received %s, not sent", id)
		}
	}
}
