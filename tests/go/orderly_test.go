package interop

// Orderly: a queue selector puts every order on one queue; an orderly push consumer (queues locked at
// the broker with LOCK_BATCH_MQ) gets each queue's messages one at a time, in offset order, and a
// SuspendCurrentQueueAMoment answer redelivers the same message before anything after it.

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// orderSelector sends the message of order k to queue k mod len(queues) (the order id is its sharding key).
type orderSelector struct{}

func (orderSelector) Select(m *primitive.Message, mqs []*primitive.MessageQueue, _ string) *primitive.MessageQueue {
	k, err := strconv.Atoi(m.GetShardingKey())
	if err != nil {
		return nil
	}
	for _, mq := range mqs {
		if mq.QueueId == k%len(mqs) {
			return mq
		}
	}
	return nil
}

var _ producer.QueueSelector = orderSelector{}

func TestOrderly(t *testing.T) {
	const orders, steps = 8, 8
	const suspendOrder, suspendStep = 3, 2
	topic, mqs := createTopic(t)

	p := newProducer(t, producer.WithQueueSelector(orderSelector{}))
	offsetOf := map[[2]int]int64{} // (order, step) -> queue offset
	nextOffset := map[int]int64{}
	for step := 0; step < steps; step++ { // steps of different orders interleave on the wire
		for order := 0; order < orders; order++ {
			m := primitive.NewMessage(topic, []byte(fmt.Sprintf("order %d step %d", order, step)))
			m.WithShardingKey(strconv.Itoa(order))
			m.WithProperty("order", strconv.Itoa(order))
			m.WithProperty("step", strconv.Itoa(step))
			r, err := p.SendSync(ctx(t, 10*time.Second), m)
			if err != nil || r.Status != primitive.SendOK {
				t.Fatalf("send order %d step %d: %v %v", order, step, err, r)
			}
			q := order % len(mqs)
			if r.MessageQueue.QueueId != q {
				t.Fatalf("order %d went to queue %d, the selector chose %d", order, r.MessageQueue.QueueId, q)
			}
			if r.QueueOffset != nextOffset[q] {
				t.Fatalf("queue %d: offset %d, want %d (sync sends to one queue get consecutive offsets)", q, r.QueueOffset, nextOffset[q])
			}
			nextOffset[q]++
			offsetOf[[2]int{order, step}] = r.QueueOffset
		}
	}

	type delivery struct {
		order, step int
		offset      int64
		suspended   bool
	}
	var (
		mu        sync.Mutex
		perQueue  = map[int][]delivery{}
		inFlight  [queueCount]int32
		overlap   int32
		suspended int32
		done      int
	)
	startPushConsumer(t, uniqueName(t, "cg"), topic, "*", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		if len(msgs) == 0 {
			return consumer.ConsumeSuccess, nil
		}
		q := msgs[0].Queue.QueueId
		if atomic.AddInt32(&inFlight[q], 1) != 1 {
			atomic.AddInt32(&overlap, 1) // two callbacks at once on one queue: orderly broken
		}
		defer atomic.AddInt32(&inFlight[q], -1)
		result := consumer.ConsumeSuccess
		mu.Lock()
		defer mu.Unlock()
		var ds []delivery
		for _, m := range msgs {
			order, _ := strconv.Atoi(m.GetProperty("order"))
			step, _ := strconv.Atoi(m.GetProperty("step"))
			if m.Queue.QueueId != q {
				t.Errorf("one orderly callback got queues %d and %d", q, m.Queue.QueueId)
			}
			if order == suspendOrder && step == suspendStep && atomic.CompareAndSwapInt32(&suspended, 0, 1) {
				result = consumer.SuspendCurrentQueueAMoment
			}
			ds = append(ds, delivery{order, step, m.QueueOffset, false})
		}
		for i := range ds {
			ds[i].suspended = result == consumer.SuspendCurrentQueueAMoment
		}
		perQueue[q] = append(perQueue[q], ds...)
		if result == consumer.ConsumeSuccess {
			done += len(ds)
		}
		return result, nil
	},
		consumer.WithConsumerOrder(true),
		consumer.WithConsumeMessageBatchMaxSize(1),
		consumer.WithSuspendCurrentQueueTimeMillis(100*time.Millisecond))

	waitFor(t, deliveryTimeout, "orderly consumption", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return done >= orders*steps, fmt.Sprintf("%d of %d consumed", done, orders*steps)
	})

	mu.Lock()
	defer mu.Unlock()
	if n := atomic.LoadInt32(&overlap); n != 0 {
		t.Errorf("%d times two callbacks ran at once on one queue", n)
	}
	if atomic.LoadInt32(&suspended) != 1 {
		t.Fatalf("the message to suspend (order %d step %d) never arrived", suspendOrder, suspendStep)
	}
	for q := 0; q < queueCount; q++ {
		ds := perQueue[q]
		// What was acknowledged must be the queue, once, in offset order; a suspended message must be
		// the very next one delivered again.
		var next int64
		lastStep := map[int]int{}
		for i, d := range ds {
			if d.offset != next {
				t.Fatalf("queue %d delivery %d: offset %d, want %d (deliveries %v)", q, i, d.offset, next, ds)
			}
			if d.order%queueCount != q {
				t.Errorf("queue %d delivered order %d", q, d.order)
			}
			if d.offset != offsetOf[[2]int{d.order, d.step}] {
				t.Errorf("queue %d offset %d carries order %d step %d, which was stored at offset %d",
					q, d.offset, d.order, d.step, offsetOf[[2]int{d.order, d.step}])
			}
			if d.suspended {
				continue // the same offset must come next
			}
			if s, ok := lastStep[d.order]; ok && d.step != s+1 || !ok && d.step != 0 {
				t.Errorf("order %d: step %d after step %d", d.order, d.step, lastStep[d.order])
			}
			lastStep[d.order] = d.step
			next++
		}
		if next != nextOffset[q] {
			t.Errorf("queue %d: %d messages consumed, %d sent", q, next, nextOffset[q])
		}
	}
	t.Logf("suspended message (order %d step %d) redelivered in place", suspendOrder, suspendStep)
}
