package interop

// Push consumers: two consumers of one group share the queues (clustering), and tag expressions select
// what a group receives.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// allocations records the queues each consumer's rebalance last gave itself for one topic, and the
// consumer ids (from the broker's GET_CONSUMER_LIST_BY_GROUP) it divided them among.
type allocations struct {
	topic string
	mu    sync.Mutex
	mine  map[string][]int    // client id -> queue ids
	cids  map[string][]string // client id -> the group as that client last saw it
}

// strategy wraps AllocateByAveragely to record its answers.
func (a *allocations) strategy(group, cid string, mqAll []*primitive.MessageQueue, cidAll []string) []*primitive.MessageQueue {
	res := consumer.AllocateByAveragely(group, cid, mqAll, cidAll)
	if len(mqAll) == 0 || mqAll[0].Topic != a.topic {
		return res // the group's retry topic
	}
	ids := make([]int, 0, len(res))
	for _, mq := range res {
		ids = append(ids, mq.QueueId)
	}
	sort.Ints(ids)
	a.mu.Lock()
	a.mine[cid] = ids
	a.cids[cid] = append([]string(nil), cidAll...)
	a.mu.Unlock()
	return res
}

// settled: n clients, each saw all n in the group, and their shares split the queues exactly.
func (a *allocations) settled(n int) (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	desc := fmt.Sprintf("allocations %v, groups seen %v", a.mine, a.cids)
	if len(a.mine) != n {
		return false, desc
	}
	owner := map[int]string{}
	for cid, qs := range a.mine {
		if len(a.cids[cid]) != n {
			return false, desc
		}
		for _, q := range qs {
			if _, dup := owner[q]; dup {
				return false, desc
			}
			owner[q] = cid
		}
	}
	return len(owner) == queueCount, desc
}

func (a *allocations) owners() map[int]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	owner := map[int]string{}
	for cid, qs := range a.mine {
		for _, q := range qs {
			owner[q] = cid
		}
	}
	return owner
}

// TestClusteringTwoConsumers: two consumers in one group (clustering) split the queues between them;
// every message is delivered once, by the consumer that owns its queue, and both take a share.
func TestClusteringTwoConsumers(t *testing.T) {
	topic, _ := createTopic(t)
	group := uniqueName(t, "cg")
	alloc := &allocations{topic: topic, mine: map[string][]int{}, cids: map[string][]string{}}

	type delivery struct {
		cid string
		msg *primitive.MessageExt
	}
	var mu sync.Mutex
	var got []delivery
	cidOf := map[string]string{} // instance name -> client id, learned from the strategy
	for _, inst := range []string{"c1", "c2"} {
		inst := inst
		startPushConsumer(t, group, topic, "*", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			mu.Lock()
			for _, m := range msgs {
				got = append(got, delivery{inst, m})
			}
			mu.Unlock()
			return consumer.ConsumeSuccess, nil
		},
			consumer.WithInstance(inst+"-"+group),
			consumer.WithStrategy(func(g, cid string, mqAll []*primitive.MessageQueue, cidAll []string) []*primitive.MessageQueue {
				mu.Lock()
				cidOf[inst] = cid
				mu.Unlock()
				return alloc.strategy(g, cid, mqAll, cidAll)
			}))
	}
	// Both clients rebalance on start and again when the broker notifies them of the other one
	// (NOTIFY_CONSUMER_IDS_CHANGED); the periodic rebalance (20 s) is not needed.
	waitFor(t, deliveryTimeout, "both consumers to share the queues", func() (bool, string) { return alloc.settled(2) })
	owner := alloc.owners()

	p := newProducer(t)
	const n = 40
	sentQueue := map[string]int{}
	for i := 0; i < n; i++ {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("clustering %d", i)))
		r, err := p.SendSync(ctx(t, 10*time.Second), m)
		if err != nil || r.Status != primitive.SendOK {
			t.Fatalf("send %d: %v %v", i, err, r)
		}
		sentQueue[r.MsgID] = r.MessageQueue.QueueId
	}
	waitFor(t, deliveryTimeout, "all messages", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		seen := map[string]bool{}
		for _, d := range got {
			seen[d.msg.MsgId] = true
		}
		return len(seen) == n, fmt.Sprintf("%d of %d distinct messages received", len(seen), n)
	})

	mu.Lock()
	defer mu.Unlock()
	perConsumer := map[string]int{}
	seen := map[string]string{}
	for _, d := range got {
		q, ok := sentQueue[d.msg.MsgId]
		if !ok {
			t.Fatalf("%s received %s, which was not sent", d.cid, d.msg.MsgId)
		}
		if prev, dup := seen[d.msg.MsgId]; dup {
			t.Errorf("message %s (queue %d) delivered twice: to %s and to %s", d.msg.MsgId, q, prev, d.cid)
		}
		seen[d.msg.MsgId] = d.cid
		if d.msg.Queue.QueueId != q {
			t.Errorf("message %s consumed from queue %d, sent to queue %d", d.msg.MsgId, d.msg.Queue.QueueId, q)
		}
		if owner[q] != cidOf[d.cid] {
			t.Errorf("message %s of queue %d consumed by %s (%s), but the queue belongs to %s",
				d.msg.MsgId, q, d.cid, cidOf[d.cid], owner[q])
		}
		perConsumer[d.cid]++
	}
	if perConsumer["c1"] == 0 || perConsumer["c2"] == 0 {
		t.Errorf("messages per consumer %v: both must take a share", perConsumer)
	}
	t.Logf("queue owners %v, messages per consumer %v", owner, perConsumer)
}

// TestTagExpressions: groups subscribed with "TagA || TagC", "TagB" and "*" each receive exactly the
// messages their expression selects (untagged messages only with "*").
func TestTagExpressions(t *testing.T) {
	topic, mqs := createTopic(t)
	subs := map[string]string{"ac": "TagA || TagC", "b": "TagB", "all": "*"}
	recs := map[string]*recorder{}
	for name, expr := range subs {
		recs[name] = startConsumer(t, uniqueName(t, "cg_"+name), topic, expr)
	}

	p := newProducer(t, producer.WithQueueSelector(producer.NewManualQueueSelector()))
	tags := []string{"TagA", "TagB", "TagC", "", "TagD"}
	want := map[string]map[string]string{"ac": {}, "b": {}, "all": {}} // group -> msgId -> tag
	// Every queue gets every tag, twice, interleaved: the broker must skip the others within a queue.
	for round := 0; round < 2; round++ {
		for _, mq := range mqs {
			for _, tag := range tags {
				m := primitive.NewMessage(topic, []byte(fmt.Sprintf("tag %q round %d queue %d", tag, round, mq.QueueId)))
				if tag != "" {
					m.WithTag(tag)
				}
				m.Queue = mq
				r, err := p.SendSync(ctx(t, 10*time.Second), m)
				if err != nil || r.Status != primitive.SendOK {
					t.Fatalf("send: %v %v", err, r)
				}
				if r.MessageQueue.QueueId != mq.QueueId {
					t.Fatalf("sent to queue %d, the manual selector asked for %d", r.MessageQueue.QueueId, mq.QueueId)
				}
				want["all"][r.MsgID] = tag
				switch tag {
				case "TagA", "TagC":
					want["ac"][r.MsgID] = tag
				case "TagB":
					want["b"][r.MsgID] = tag
				}
			}
		}
	}

	for name, rec := range recs {
		name, rec := name, rec
		waitFor(t, deliveryTimeout, "group "+name, func() (bool, string) {
			return rec.count() >= len(want[name]), fmt.Sprintf("%d of %d received", rec.count(), len(want[name]))
		})
	}
	// The "*" group received everything, so every filtered message was pulled past by now; give stray
	// deliveries of the filtered groups a short moment to show up before checking there are none.
	time.Sleep(300 * time.Millisecond)
	for name, rec := range recs {
		got := rec.all()
		var wrong []string
		for _, m := range got {
			tag, ok := want[name][m.MsgId]
			if !ok || m.GetTags() != tag {
				wrong = append(wrong, fmt.Sprintf("%s(tag %q)", m.MsgId, m.GetTags()))
			}
		}
		if len(wrong) > 0 || len(got) != len(want[name]) {
			t.Errorf("group %q (%s): received %d, want %d; not selected by the expression: %s",
				name, subs[name], len(got), len(want[name]), strings.Join(wrong, " "))
		}
	}
}
