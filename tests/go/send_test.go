package interop

// Send modes (sync, async, oneway, batch) and what arrives: every SendResult field checked against the
// broker's answer and against what a push consumer then receives (same msgId, offset msgId, queue,
// queue offset, body, keys, tags, properties).

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
)

const sendCount = 12

// sent is one message and the SendResult the client reported for it.
type sent struct {
	msg *primitive.Message
	res *primitive.SendResult
}

func testMessage(topic, mode string, i int) *primitive.Message {
	m := primitive.NewMessage(topic, []byte(fmt.Sprintf("%s body %d", mode, i)))
	m.WithTag(fmt.Sprintf("Tag%d", i%3))
	m.WithKeys([]string{fmt.Sprintf("%s-key-%d", mode, i), "shared key"})
	m.WithProperty("seq", fmt.Sprint(i))
	return m
}

// checkResult checks the fields of one SendResult of a single (non-batch) message.
func checkResult(t *testing.T, topic, brokerName string, s sent) {
	t.Helper()
	r := s.res
	if r.Status != primitive.SendOK {
		t.Fatalf("send status %d, want SendOK: %v", r.Status, r)
	}
	uniq := s.msg.GetProperty(primitive.PropertyUniqueClientMessageIdKeyIndex)
	if !uniqKeyRe.MatchString(uniq) || r.MsgID != uniq {
		t.Fatalf("SendResult.MsgID %q, want the message's UNIQ_KEY %q (32 hex digits)", r.MsgID, uniq)
	}
	checkOffsetMsgID(t, r.OffsetMsgID)
	if r.MessageQueue == nil || r.MessageQueue.Topic != topic || r.MessageQueue.BrokerName != brokerName ||
		r.MessageQueue.QueueId < 0 || r.MessageQueue.QueueId >= queueCount {
		t.Fatalf("SendResult queue %v, want one of the %d queues of %s on %s", r.MessageQueue, queueCount, topic, brokerName)
	}
	if r.QueueOffset < 0 {
		t.Fatalf("SendResult queue offset %d", r.QueueOffset)
	}
}

// checkQueueOffsets checks that, per queue, the results' queue offsets are exactly 0..n-1 (a fresh topic)
// and, when inOrder, that they were handed out in send order; commit-log offsets are all distinct and
// grow with the queue offset.
func checkQueueOffsets(t *testing.T, all []sent, inOrder bool) {
	t.Helper()
	perQueue := map[int][]sent{}
	for _, s := range all {
		perQueue[s.res.MessageQueue.QueueId] = append(perQueue[s.res.MessageQueue.QueueId], s)
	}
	seenPhys := map[int64]bool{}
	for q, list := range perQueue {
		if !inOrder {
			sort.Slice(list, func(i, j int) bool { return list[i].res.QueueOffset < list[j].res.QueueOffset })
		}
		var lastPhys int64 = -1
		for i, s := range list {
			if s.res.QueueOffset != int64(i) {
				t.Fatalf("queue %d: message %d got queue offset %d, want %d (offsets of a fresh queue are 0,1,2...)",
					q, i, s.res.QueueOffset, i)
			}
			phys := checkOffsetMsgID(t, s.res.OffsetMsgID)
			if seenPhys[phys] {
				t.Fatalf("commit-log offset %d (offset msgId %s) handed out twice", phys, s.res.OffsetMsgID)
			}
			seenPhys[phys] = true
			if phys <= lastPhys {
				t.Fatalf("queue %d: commit-log offset %d after %d: not growing with the queue offset", q, phys, lastPhys)
			}
			lastPhys = phys
		}
	}
}

// checkSame checks that a consumed message carries what was sent.
func checkSame(t *testing.T, want *primitive.Message, got *primitive.MessageExt) {
	t.Helper()
	if got.Topic != want.Topic {
		t.Errorf("topic %q, want %q", got.Topic, want.Topic)
	}
	if !bytes.Equal(got.Body, want.Body) {
		t.Errorf("body (%d bytes) differs from the sent one (%d bytes)", len(got.Body), len(want.Body))
	}
	if got.Flag != want.Flag {
		t.Errorf("flag %d, want %d", got.Flag, want.Flag)
	}
	if got.GetTags() != want.GetTags() || got.GetKeys() != want.GetKeys() {
		t.Errorf("tags %q keys %q, want tags %q keys %q", got.GetTags(), got.GetKeys(), want.GetTags(), want.GetKeys())
	}
	gp := got.GetProperties()
	for k, v := range want.GetProperties() {
		if gp[k] != v {
			t.Errorf("property %q = %q, want %q", k, gp[k], v)
		}
	}
	if got.ReconsumeTimes != 0 {
		t.Errorf("reconsume times %d on a first delivery", got.ReconsumeTimes)
	}
	if got.StoreHost != brokerAddr {
		t.Errorf("store host %s, want %s", got.StoreHost, brokerAddr)
	}
	if got.StoreTimestamp < got.BornTimestamp-1000 || got.StoreTimestamp > time.Now().UnixMilli()+1000 {
		t.Errorf("store timestamp %d, born %d, now %d", got.StoreTimestamp, got.BornTimestamp, time.Now().UnixMilli())
	}
}

// checkDelivered consumes the topic from the first offset and checks that every sent message arrives
// once, with the msgId, offset msgId, queue and queue offset of its SendResult.
func checkDelivered(t *testing.T, topic string, all []sent) {
	t.Helper()
	rec := startConsumer(t, uniqueName(t, "cg"), topic, "*")
	waitFor(t, deliveryTimeout, "deliveries", func() (bool, string) {
		n := rec.count()
		return n >= len(all), fmt.Sprintf("%d of %d received", n, len(all))
	})
	got := rec.byMsgID()
	if rec.count() != len(all) || len(got) != len(all) {
		t.Fatalf("received %d messages (%d distinct), sent %d", rec.count(), len(got), len(all))
	}
	for _, s := range all {
		m := got[s.res.MsgID]
		if m == nil {
			t.Fatalf("message %s (%s) not received", s.res.MsgID, s.msg.Body)
		}
		if m.OffsetMsgId != s.res.OffsetMsgID || m.Queue.QueueId != s.res.MessageQueue.QueueId ||
			m.QueueOffset != s.res.QueueOffset {
			t.Errorf("message %s: consumed at queue %d offset %d offset msgId %s; SendResult said queue %d offset %d offset msgId %s",
				s.res.MsgID, m.Queue.QueueId, m.QueueOffset, m.OffsetMsgId,
				s.res.MessageQueue.QueueId, s.res.QueueOffset, s.res.OffsetMsgID)
		}
		checkSame(t, s.msg, m)
	}
}

func TestSendSync(t *testing.T) {
	topic, mqs := createTopic(t)
	p := newProducer(t)
	var all []sent
	perQueue := map[int]int{}
	for i := 0; i < sendCount; i++ {
		m := testMessage(topic, "sync", i)
		r, err := p.SendSync(ctx(t, 10*time.Second), m)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		s := sent{m, r}
		checkResult(t, topic, mqs[0].BrokerName, s)
		perQueue[r.MessageQueue.QueueId]++
		all = append(all, s)
	}
	// The default selector is round robin over the routed queues: all four take messages.
	if len(perQueue) != queueCount {
		t.Fatalf("messages per queue %v: want all %d queues used", perQueue, queueCount)
	}
	checkQueueOffsets(t, all, true)
	checkDelivered(t, topic, all)
}

func TestSendAsync(t *testing.T) {
	topic, mqs := createTopic(t)
	p := newProducer(t)
	type outcome struct {
		i   int
		res *primitive.SendResult
		err error
	}
	done := make(chan outcome, sendCount)
	msgs := make([]*primitive.Message, sendCount)
	for i := range msgs {
		i := i
		msgs[i] = testMessage(topic, "async", i)
		err := p.SendAsync(context.Background(), func(_ context.Context, r *primitive.SendResult, err error) {
			done <- outcome{i, r, err}
		}, msgs[i])
		if err != nil {
			t.Fatalf("send async %d: %v", i, err)
		}
	}
	all := make([]sent, 0, sendCount)
	deadline := time.After(deliveryTimeout)
	for len(all) < sendCount {
		select {
		case o := <-done:
			if o.err != nil || o.res == nil {
				t.Fatalf("async send %d: callback with error %v, result %v", o.i, o.err, o.res)
			}
			s := sent{msgs[o.i], o.res}
			checkResult(t, topic, mqs[0].BrokerName, s)
			all = append(all, s)
		case <-deadline:
			t.Fatalf("%d of %d async callbacks after %v", len(all), sendCount, deliveryTimeout)
		}
	}
	checkQueueOffsets(t, all, false)
	checkDelivered(t, topic, all)
}

func TestSendOneway(t *testing.T) {
	topic, _ := createTopic(t)
	p := newProducer(t)
	byUniq := map[string]*primitive.Message{}
	for i := 0; i < sendCount; i++ {
		m := testMessage(topic, "oneway", i)
		if err := p.SendOneWay(ctx(t, 10*time.Second), m); err != nil {
			t.Fatalf("oneway %d: %v", i, err)
		}
		byUniq[m.GetProperty(primitive.PropertyUniqueClientMessageIdKeyIndex)] = m
	}
	rec := startConsumer(t, uniqueName(t, "cg"), topic, "*")
	waitFor(t, deliveryTimeout, "oneway messages", func() (bool, string) {
		return rec.count() >= sendCount, fmt.Sprintf("%d of %d received", rec.count(), sendCount)
	})
	got := rec.all()
	if len(got) != sendCount {
		t.Fatalf("received %d, sent %d", len(got), sendCount)
	}
	offsets := map[int][]int64{}
	for _, m := range got {
		want := byUniq[m.MsgId]
		if want == nil {
			t.Fatalf("received %s (%q), which was not sent or arrived twice", m.MsgId, m.Body)
		}
		delete(byUniq, m.MsgId)
		checkSame(t, want, m)
		checkOffsetMsgID(t, m.OffsetMsgId)
		offsets[m.Queue.QueueId] = append(offsets[m.Queue.QueueId], m.QueueOffset)
	}
	for q, offs := range offsets {
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		for i, o := range offs {
			if o != int64(i) {
				t.Fatalf("queue %d holds offsets %v, want 0..%d", q, offs, len(offs)-1)
			}
		}
	}
}

func TestSendBatch(t *testing.T) {
	topic, mqs := createTopic(t)
	p := newProducer(t)
	const n = 10
	msgs := make([]*primitive.Message, n)
	for i := range msgs {
		msgs[i] = testMessage(topic, "batch", i)
		// The Go client gives batch members no UNIQ_KEY of its own: set one to find them again.
		msgs[i].WithProperty(primitive.PropertyUniqueClientMessageIdKeyIndex, primitive.CreateUniqID())
	}
	r, err := p.SendSync(ctx(t, 10*time.Second), msgs...) // one SEND_BATCH_MESSAGE (320)
	if err != nil {
		t.Fatalf("batch send: %v", err)
	}
	if r.Status != primitive.SendOK {
		t.Fatalf("batch status %d: %v", r.Status, r)
	}
	if r.MessageQueue == nil || r.MessageQueue.Topic != topic || r.MessageQueue.BrokerName != mqs[0].BrokerName {
		t.Fatalf("batch queue %v", r.MessageQueue)
	}
	if r.QueueOffset != 0 {
		t.Fatalf("batch queue offset %d, want 0 (first message of a fresh queue)", r.QueueOffset)
	}
	// The broker answers one offset msgId per stored message, comma-joined, in batch order.
	ids := strings.Split(r.OffsetMsgID, ",")
	if len(ids) != n {
		t.Fatalf("batch offset msgId %q: %d ids, want %d", r.OffsetMsgID, len(ids), n)
	}
	var last int64 = -1
	for _, id := range ids {
		phys := checkOffsetMsgID(t, id)
		if phys <= last {
			t.Fatalf("batch offset msgIds %v: commit-log offsets not growing", ids)
		}
		last = phys
	}

	rec := startConsumer(t, uniqueName(t, "cg"), topic, "*")
	waitFor(t, deliveryTimeout, "batch members", func() (bool, string) {
		return rec.count() >= n, fmt.Sprintf("%d of %d received", rec.count(), n)
	})
	got := rec.byMsgID()
	if rec.count() != n || len(got) != n {
		t.Fatalf("received %d (%d distinct), sent a batch of %d", rec.count(), len(got), n)
	}
	for i, want := range msgs {
		m := got[want.GetProperty(primitive.PropertyUniqueClientMessageIdKeyIndex)]
		if m == nil {
			t.Fatalf("batch member %d not received", i)
		}
		if m.Queue.QueueId != r.MessageQueue.QueueId || m.QueueOffset != int64(i) || m.OffsetMsgId != ids[i] {
			t.Errorf("batch member %d consumed at queue %d offset %d id %s; want queue %d offset %d id %s",
				i, m.Queue.QueueId, m.QueueOffset, m.OffsetMsgId, r.MessageQueue.QueueId, i, ids[i])
		}
		checkSame(t, want, m)
	}
}

// TestMessageFieldsIntact: keys, tags, user properties (non-ASCII, long), flag, a binary body and a body
// the client compresses (over 4 KiB: COMPRESSED sys flag) all arrive as sent.
func TestMessageFieldsIntact(t *testing.T) {
	topic, mqs := createTopic(t)
	p := newProducer(t)
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	big := bytes.Repeat([]byte("compressible body of the Go interop suite. "), 2000) // ~86 KiB
	cases := []struct {
		name  string
		build func() *primitive.Message
	}{
		{"keys and tag", func() *primitive.Message {
			m := primitive.NewMessage(topic, []byte("keys"))
			m.WithKeys([]string{"order-1", "customer-7", "k3"})
			m.WithTag("TagKeys")
			return m
		}},
		{"user properties", func() *primitive.Message {
			m := primitive.NewMessage(topic, []byte("props"))
			m.WithProperties(map[string]string{
				"ascii":      "plain value",
				"unicode":    "héllo wörld 世界 🚀",
				"long":       strings.Repeat("v", 2000),
				"dotted.key": "x=y;z",
				"empty-ish":  " ",
			})
			m.WithTag("TagProps")
			return m
		}},
		{"flag", func() *primitive.Message {
			m := primitive.NewMessage(topic, []byte("flag"))
			m.Flag = 7
			return m
		}},
		{"binary body", func() *primitive.Message { return primitive.NewMessage(topic, binary) }},
		{"compressed body", func() *primitive.Message {
			m := primitive.NewMessage(topic, big)
			m.WithKeys([]string{"big"})
			return m
		}},
	}
	var all []sent
	for _, c := range cases {
		m := c.build()
		want := append([]byte(nil), m.Body...)
		r, err := p.SendSync(ctx(t, 10*time.Second), m)
		if err != nil {
			t.Fatalf("%s: send: %v", c.name, err)
		}
		if !bytes.Equal(m.Body, want) {
			t.Fatalf("%s: the client changed the body it was given", c.name)
		}
		s := sent{m, r}
		checkResult(t, topic, mqs[0].BrokerName, s)
		all = append(all, s)
	}
	if !all[len(all)-1].msg.Compress {
		t.Fatalf("the client did not compress the %d-byte body: the case tests nothing", len(big))
	}
	checkDelivered(t, topic, all)
}

// TestAutoCreateTopic: a send to a topic nobody created goes out on the TBW102 route (the client's
// default topic); the broker creates the topic with the client's defaultTopicQueueNums (4) queues and
// the NameServer routes it from then on.
func TestAutoCreateTopic(t *testing.T) {
	topic := uniqueName(t, "auto")
	p := newProducer(t)
	m := testMessage(topic, "auto", 0)
	r, err := p.SendSync(ctx(t, 10*time.Second), m)
	if err != nil {
		t.Fatalf("send to a new topic: %v", err)
	}
	var mqs []*primitive.MessageQueue
	waitFor(t, 10*time.Second, "route of the auto-created topic", func() (bool, string) {
		mqs, err = adminClient.FetchPublishMessageQueues(ctx(t, 3*time.Second), topic)
		return err == nil && len(mqs) == queueCount, fmt.Sprintf("queues %v, err %v", mqs, err)
	})
	s := sent{m, r}
	checkResult(t, topic, mqs[0].BrokerName, s)
	if r.QueueOffset != 0 {
		t.Fatalf("first message of a new topic at queue offset %d", r.QueueOffset)
	}
	checkDelivered(t, topic, []sent{s})
}
