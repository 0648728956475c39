package interop

// Broadcasting consumers (consumer.WithConsumerModel(consumer.BroadCasting)) and where a new consumer
// starts (WithConsumeFromWhere).
//   - Two consumers of one broadcasting group each receive every message once (clustering would split
//     them).
//   - In broadcasting mode the client keeps offsets in a local file, so a new consumer starts where it
//     says: CONSUME_FROM_FIRST_OFFSET reads everything stored, CONSUME_FROM_LAST_OFFSET only what comes
//     after it started (QUERY max offset), CONSUME_FROM_TIMESTAMP (WithConsumeTimestamp) the messages
//     stored at or after the given second (SEARCH_OFFSET_BY_TIMESTAMP, 29): everything for an hour ago,
//     only what comes later for an hour ahead. (In clustering mode a new
//     group on queues that still start at 0 reads from 0 whatever it asks, on both brokers: offsets_test.go.)

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

func TestBroadcastingEveryConsumerGetsEverything(t *testing.T) {
	topic, _ := createTopic(t)
	group := uniqueName(t, "cg")
	recs := map[string]*recorder{}
	for _, inst := range []string{"b1", "b2"} {
		rec := &recorder{}
		recs[inst] = rec
		startPushConsumer(t, group, topic, "", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			rec.add(msgs...)
			return consumer.ConsumeSuccess, nil
		}, consumer.WithConsumerModel(consumer.BroadCasting), consumer.WithInstance(inst+"-"+group))
	}
	p := newProducer(t)
	const n = 24
	sent := map[string]string{}
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("broadcast %d", i)
		r, err := p.SendSync(ctx(t, 10*time.Second), primitive.NewMessage(topic, []byte(body)))
		if err != nil || r.Status != primitive.SendOK {
			t.Fatalf("send %d: %v %v", i, err, r)
		}
		sent[r.MsgID] = body
	}
	for inst, rec := range recs {
		rec := rec
		waitFor(t, deliveryTimeout, inst+" to receive every message", func() (bool, string) {
			return len(rec.byMsgID()) >= n, fmt.Sprintf("%d of %d", len(rec.byMsgID()), n)
		})
	}
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show
	for inst, rec := range recs {
		got := rec.all()
		if len(got) != n {
			t.Errorf("%s received %d messages, want %d (each once)", inst, len(got), n)
		}
		for _, m := range got {
			if body, ok := sent[m.MsgId]; !ok || string(m.Body) != body {
				t.Errorf("%s received %s body %q: not sent so", inst, m.MsgId, m.Body)
			}
		}
	}
}

func TestBroadcastingConsumeFromWhere(t *testing.T) {
	topic, _ := createTopic(t)
	p := newProducer(t)
	var mu sync.Mutex
	batchOf := map[string]string{} // msgId -> batch
	send := func(batch string, i int) {
		r, err := p.SendSync(ctx(t, 10*time.Second), primitive.NewMessage(topic, []byte(fmt.Sprintf("%s %d", batch, i))))
		if err != nil || r.Status != primitive.SendOK {
			t.Fatalf("send %s %d: %v %v", batch, i, err, r)
		}
		mu.Lock()
		batchOf[r.MsgID] = batch
		mu.Unlock()
	}
	// Batch A, then B from the next whole second on: the timestamp consumer asks for that second.
	for i := 0; i < 8; i++ {
		send("A", i)
	}
	from := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(from) + 20*time.Millisecond)
	for i := 0; i < 8; i++ {
		send("B", i)
	}

	recs := map[string]*recorder{}
	for name, opts := range map[string][]consumer.Option{
		"first": {consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset)},
		"last":  {consumer.WithConsumeFromWhere(consumer.ConsumeFromLastOffset)},
		// The client parses the timestamp (yyyyMMddHHmmss) as UTC.
		"timestamp": {consumer.WithConsumeFromWhere(consumer.ConsumeFromTimestamp),
			consumer.WithConsumeTimestamp(from.UTC().Format("20060102150405"))},
		// Before everything stored: all of it; after everything: only what comes later (the queue's end).
		"past": {consumer.WithConsumeFromWhere(consumer.ConsumeFromTimestamp),
			consumer.WithConsumeTimestamp(from.Add(-time.Hour).UTC().Format("20060102150405"))},
		"future": {consumer.WithConsumeFromWhere(consumer.ConsumeFromTimestamp),
			consumer.WithConsumeTimestamp(from.Add(time.Hour).UTC().Format("20060102150405"))},
	} {
		group := uniqueName(t, "cg_"+name)
		rec := &recorder{}
		recs[name] = rec
		startPushConsumer(t, group, topic, "", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			rec.add(msgs...)
			return consumer.ConsumeSuccess, nil
		}, append([]consumer.Option{consumer.WithConsumerModel(consumer.BroadCasting)}, opts...)...)
	}
	count := func(rec *recorder) map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for _, m := range rec.all() {
			out[batchOf[m.MsgId]]++
		}
		return out
	}
	waitFor(t, deliveryTimeout, "the first, timestamp and past consumers to read what was stored", func() (bool, string) {
		f, ts, past := count(recs["first"]), count(recs["timestamp"]), count(recs["past"])
		return f["A"] == 8 && f["B"] == 8 && ts["B"] == 8 && past["A"] == 8 && past["B"] == 8,
			fmt.Sprintf("first %v, timestamp %v, past %v", f, ts, past)
	})
	// The "last" and "future" consumers start at the end once their rebalance ran: send C until both see one.
	c := 0
	waitFor(t, deliveryTimeout, "the last-offset and future-timestamp consumers to receive a new message", func() (bool, string) {
		send("C", c)
		c++
		time.Sleep(200 * time.Millisecond)
		l, fu := count(recs["last"]), count(recs["future"])
		return l["C"] > 0 && fu["C"] > 0, fmt.Sprintf("last %v, future %v after %d sends of batch C", l, fu, c)
	})
	waitFor(t, deliveryTimeout, "every consumer to receive batch C", func() (bool, string) {
		f, ts, past := count(recs["first"]), count(recs["timestamp"]), count(recs["past"])
		return f["C"] == c && ts["C"] == c && past["C"] == c, fmt.Sprintf("first %v, timestamp %v, past %v, %d sent in C", f, ts, past, c)
	})
	time.Sleep(300 * time.Millisecond)
	for _, name := range []string{"first", "past"} {
		if got := count(recs[name]); got["A"] != 8 || got["B"] != 8 || got["C"] != c || len(got) != 3 {
			t.Errorf("%s received %v, want A 8, B 8, C %d", name, got, c)
		}
	}
	if ts := count(recs["timestamp"]); ts["A"] != 0 || ts["B"] != 8 || ts["C"] != c || len(ts) != 2 {
		t.Errorf("CONSUME_FROM_TIMESTAMP %s received %v, want B 8, C %d (nothing stored before the timestamp)", from.UTC().Format(time.RFC3339), ts, c)
	}
	for _, name := range []string{"last", "future"} {
		if got := count(recs[name]); got["A"] != 0 || got["B"] != 0 || got["C"] == 0 || got["C"] > c || len(got) != 1 {
			t.Errorf("%s received %v, want only batch C (what came after it started)", name, got)
		}
	}
}
