package interop

// Concurrent load: several goroutines sending at once (sync and async) to one topic that two consumers
// of one group share. Nothing is lost or duplicated and no queue offset is handed out twice or skipped.

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

func TestConcurrentLoad(t *testing.T) {
	const senders, perSender, async = 4, 150, 200
	const total = senders*perSender + async
	topic, _ := createTopic(t)
	group := uniqueName(t, "cg")
	alloc := &allocations{topic: topic, mine: map[string][]int{}, cids: map[string][]string{}}

	var mu sync.Mutex
	received := map[string]int{} // msgId -> deliveries
	byConsumer := map[string]int{}
	for _, inst := range []string{"l1", "l2"} {
		inst := inst
		startPushConsumer(t, group, topic, "*", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			mu.Lock()
			for _, m := range msgs {
				received[m.MsgId]++
				byConsumer[inst]++
			}
			mu.Unlock()
			return consumer.ConsumeSuccess, nil
		}, consumer.WithInstance(inst+"-"+group), consumer.WithStrategy(alloc.strategy))
	}
	waitFor(t, deliveryTimeout, "both consumers to share the queues", func() (bool, string) { return alloc.settled(2) })

	p := newProducer(t)
	results := make(chan *primitive.SendResult, total)
	errs := make(chan error, total)
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		s := s
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perSender; i++ {
				m := primitive.NewMessage(topic, []byte(fmt.Sprintf("sender %d message %d", s, i)))
				r, err := p.SendSync(context.Background(), m)
				if err != nil {
					errs <- fmt.Errorf("sender %d message %d: %v", s, i, err)
					continue
				}
				results <- r
			}
		}()
	}
	for i := 0; i < async; i++ {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("async message %d", i)))
		err := p.SendAsync(context.Background(), func(_ context.Context, r *primitive.SendResult, err error) {
			if err != nil || r == nil {
				errs <- fmt.Errorf("async: %v", err)
				return
			}
			results <- r
		}, m)
		if err != nil {
			t.Fatalf("async send %d: %v", i, err)
		}
	}
	wg.Wait()

	sentIDs := map[string]bool{}
	offsets := map[int][]int64{}
	deadline := time.After(deliveryTimeout)
	for len(sentIDs) < total {
		select {
		case r := <-results:
			if r.Status != primitive.SendOK {
				t.Fatalf("send status %d: %v", r.Status, r)
			}
			if sentIDs[r.MsgID] {
				t.Fatalf("msgId %s reported twice", r.MsgID)
			}
			sentIDs[r.MsgID] = true
			offsets[r.MessageQueue.QueueId] = append(offsets[r.MessageQueue.QueueId], r.QueueOffset)
		case err := <-errs:
			t.Fatal(err)
		case <-deadline:
			t.Fatalf("%d of %d sends answered after %v", len(sentIDs), total, deliveryTimeout)
		}
	}
	for q, offs := range offsets {
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		for i, o := range offs {
			if o != int64(i) {
				t.Fatalf("queue %d: the %d-th smallest offset handed out is %d (a hole or a clash)", q, i, o)
			}
		}
	}

	waitFor(t, deliveryTimeout, "all messages consumed", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(received) >= total, fmt.Sprintf("%d of %d distinct messages consumed", len(received), total)
	})
	mu.Lock()
	defer mu.Unlock()
	for id, n := range received {
		if !sentIDs[id] {
			t.Errorf("consumed %s, which no send reported", id)
		}
		if n != 1 {
			t.Errorf("message %s delivered %d times", id, n)
		}
	}
	if byConsumer["l1"] == 0 || byConsumer["l2"] == 0 {
		t.Errorf("deliveries per consumer %v: both must take a share", byConsumer)
	}
}
