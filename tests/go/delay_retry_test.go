package interop

// Delayed messages and consumer retries, both driven by the broker's delay levels (brokerSettings:
// level 1 = 1 s, level 2 = 3 s, every later level 1 s).
//   - msg.WithDelayTimeLevel: a message is delivered not before its level's delay, to its own topic and
//     queue, with its msgId and body; a level past the last one is capped (delivered, not refused); once due
//     it is filtered by TAG and SQL92 like any other; delivered, it carries the level it waited as DELAY.
//   - ConsumeRetryLater: the push consumer sends the message back (CONSUMER_SEND_MSG_BACK, 36); it is
//     delivered again through %RETRY%<group>, under its real topic and msgId, ReconsumeTimes raised by one
//     each time, each after the retry level's delay (3 + times: 1 s here). With WithMaxReconsumeTimes(2)
//     the third failure puts it in %DLQ%<group> (ReconsumeTimes 3, RETRY_TOPIC = the real topic), where
//     another group consumes it and the failing group never sees it again.
//   - The listener choosing the next delay (ConsumeConcurrentlyContext.DelayLevelWhenNextConsume = 2):
//     the retry waits that level's delay (3 s) instead of the default.
//   - Orderly consumers past WithMaxReconsumeTimes: the client sends the message back with level -1, straight
//     to the DLQ, and the queue goes on.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

func TestDelayTimeLevels(t *testing.T) {
	topic, _ := createTopic(t)
	arr := &arrivals{}
	startPushConsumer(t, uniqueName(t, "cg"), topic, "", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		arr.add(msgs...)
		return consumer.ConsumeSuccess, nil
	})
	p := newProducer(t)

	type sent struct {
		level int
		at    time.Time
		res   *primitive.SendResult
	}
	var all []sent
	for _, level := range []int{2, 1, 0, 99} {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("delay level %d", level)))
		if level > 0 {
			m.WithDelayTimeLevel(level)
		}
		at := time.Now()
		r, err := p.SendSync(ctx(t, 10*time.Second), m)
		if err != nil || r.Status != primitive.SendOK {
			t.Fatalf("send level %d: %v %v", level, err, r)
		}
		all = append(all, sent{level, at, r})
	}
	waitFor(t, 30*time.Second, "every delayed message", func() (bool, string) {
		var missing []int
		for _, s := range all {
			if len(arr.of(s.res.MsgID)) == 0 {
				missing = append(missing, s.level)
			}
		}
		return len(missing) == 0, fmt.Sprintf("levels not delivered yet: %v", missing)
	})
	for _, s := range all {
		got := arr.of(s.res.MsgID)
		if len(got) != 1 {
			t.Errorf("level %d: delivered %d times", s.level, len(got))
		}
		a := got[0]
		var want time.Duration
		if s.level > 0 {
			want = delayOf(t, s.level)
		}
		took := a.at.Sub(s.at)
		t.Logf("level %d: delivered %v after the send (delay %v)", s.level, took, want)
		if took < want {
			t.Errorf("level %d: delivered %v after the send, before its delay %v", s.level, took, want)
		}
		m := a.msg
		if m.Topic != topic || m.Queue.QueueId != s.res.MessageQueue.QueueId || string(m.Body) != fmt.Sprintf("delay level %d", s.level) {
			t.Errorf("level %d: delivered as topic %q queue %d body %q; sent to %q queue %d",
				s.level, m.Topic, m.Queue.QueueId, m.Body, topic, s.res.MessageQueue.QueueId)
		}
	}
}

// TestDelayedMessagesAreFiltered: delayed messages, once due, are filtered like any other: a TAG group and
// a SQL92 group receive only the delayed messages they select, not before the delay.
func TestDelayedMessagesAreFiltered(t *testing.T) {
	topic, _ := createTopic(t)
	tagged, sql := &arrivals{}, &arrivals{}
	record := func(a *arrivals) func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		return func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			a.add(msgs...)
			return consumer.ConsumeSuccess, nil
		}
	}
	startPushConsumer(t, uniqueName(t, "cg_tag"), topic, "TagA", record(tagged))
	startSelectorConsumer(t, uniqueName(t, "cg_sql"), topic, consumer.MessageSelector{Type: consumer.SQL92, Expression: "color = 'red'"}, record(sql))
	everything := startConsumer(t, uniqueName(t, "cg_all"), topic, "*")

	p := newProducer(t)
	type sent struct {
		tag, color string
		at         time.Time
		id         string
	}
	var all []sent
	for _, tag := range []string{"TagA", "TagB"} {
		for _, color := range []string{"red", "blue"} {
			m := primitive.NewMessage(topic, []byte("delayed "+tag+" "+color))
			m.WithTag(tag)
			m.WithProperty("color", color)
			m.WithDelayTimeLevel(1)
			at := time.Now()
			r, err := p.SendSync(ctx(t, 10*time.Second), m)
			if err != nil || r.Status != primitive.SendOK {
				t.Fatalf("send: %v %v", err, r)
			}
			all = append(all, sent{tag, color, at, r.MsgID})
		}
	}
	waitFor(t, 30*time.Second, "every delayed message to the '*' group", func() (bool, string) {
		return everything.count() >= len(all), fmt.Sprintf("%d of %d", everything.count(), len(all))
	})
	time.Sleep(500 * time.Millisecond)
	check := func(name string, a *arrivals, selects func(s sent) bool) {
		want := 0
		for _, s := range all {
			got := a.of(s.id)
			if !selects(s) {
				if len(got) > 0 {
					t.Errorf("%s group received %s/%s, which it does not select", name, s.tag, s.color)
				}
				continue
			}
			want++
			if len(got) != 1 {
				t.Errorf("%s group received %s/%s %d times, want 1", name, s.tag, s.color, len(got))
				continue
			}
			if d := got[0].at.Sub(s.at); d < delayOf(t, 1) {
				t.Errorf("%s group received %s/%s %v after the send, before the delay %v", name, s.tag, s.color, d, delayOf(t, 1))
			}
		}
		if n := len(a.all()); n != want {
			t.Errorf("%s group received %d messages, want %d", name, n, want)
		}
	}
	check("TagA", tagged, func(s sent) bool { return s.tag == "TagA" })
	check("color = 'red'", sql, func(s sent) bool { return s.color == "red" })
}

// TestDelayPropertyOnDeliveredMessages: a delivered delayed message carries the level it waited as its DELAY
// property (a level past the last one: the last one, 18), and so does a retry (the level the broker chose,
// 3 for a first retry). The reference broker keeps DELAY so; docs/compat-java.md says Bolide keeps the parked
// properties and, on a send-back's copy, DELAY.
func TestDelayPropertyOnDeliveredMessages(t *testing.T) {
	topic, _ := createTopic(t)
	group := uniqueName(t, "cg")
	createRetryTopic(t, group)
	arr := &arrivals{}
	startPushConsumer(t, group, topic, "", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		arr.add(msgs...)
		if string(msgs[0].Body) == "retried" && msgs[0].ReconsumeTimes == 0 {
			return consumer.ConsumeRetryLater, nil
		}
		return consumer.ConsumeSuccess, nil
	})
	p := newProducer(t)
	want := map[string]string{} // msgId -> DELAY of its last delivery
	var ids []string
	for _, c := range []struct {
		body  string
		level int
		delay string
	}{{"level 1", 1, "1"}, {"level 99", 99, "18"}, {"retried", 0, "3"}} {
		m := primitive.NewMessage(topic, []byte(c.body))
		if c.level > 0 {
			m.WithDelayTimeLevel(c.level)
		}
		r, err := p.SendSync(ctx(t, 10*time.Second), m)
		if err != nil || r.Status != primitive.SendOK {
			t.Fatalf("send %s: %v %v", c.body, err, r)
		}
		want[r.MsgID] = c.delay
		ids = append(ids, r.MsgID)
	}
	waitFor(t, 30*time.Second, "the delayed messages and the retry", func() (bool, string) {
		n := 0
		for _, id := range ids {
			if k := len(arr.of(id)); k > 0 && (id != ids[2] || k > 1) {
				n++
			}
		}
		return n == len(ids), fmt.Sprintf("%d of %d", n, len(ids))
	})
	for _, id := range ids {
		got := arr.of(id)
		m := got[len(got)-1].msg
		if d := m.GetProperty("DELAY"); d != want[id] {
			t.Errorf("%q delivered (reconsumeTimes %d) with DELAY %q, want %q (the reference keeps the level it waited)",
				m.Body, got[len(got)-1].times, d, want[id])
		}
	}
}

func TestRetryLaterThenDeadLetterQueue(t *testing.T) {
	topic, _ := createTopic(t)
	group := uniqueName(t, "cg")
	createRetryTopic(t, group)
	arr := &arrivals{}
	startPushConsumer(t, group, topic, "", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		arr.add(msgs...)
		for _, m := range msgs {
			if strings.HasPrefix(string(m.Body), "fail") {
				return consumer.ConsumeRetryLater, nil
			}
		}
		return consumer.ConsumeSuccess, nil
	}, consumer.WithMaxReconsumeTimes(2))

	p := newProducer(t)
	send := func(body string) *primitive.SendResult {
		m := primitive.NewMessage(topic, []byte(body))
		m.WithTag("TagR")
		m.WithKeys([]string{"key-" + body})
		m.WithProperty("color", "red")
		r, err := p.SendSync(ctx(t, 10*time.Second), m)
		if err != nil || r.Status != primitive.SendOK {
			t.Fatalf("send %s: %v %v", body, err, r)
		}
		return r
	}
	start := time.Now()
	ok, bad := send("ok once"), send("fail always")

	waitFor(t, 40*time.Second, "three deliveries of the failing message", func() (bool, string) {
		got := arr.of(bad.MsgID)
		return len(got) >= 3, fmt.Sprintf("%d deliveries: %s", len(got), describeArrivals(got, start))
	})
	// The DLQ topic exists once the broker moved the message there; another group reads it.
	dlq := "%DLQ%" + group
	dlqArr := &arrivals{}
	waitFor(t, 20*time.Second, "the route of "+dlq, func() (bool, string) {
		mqs, err := adminClient.FetchPublishMessageQueues(ctx(t, 3*time.Second), dlq)
		return err == nil && len(mqs) > 0, fmt.Sprintf("queues %v, err %v", mqs, err)
	})
	startPushConsumer(t, uniqueName(t, "dlqcg"), dlq, "", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		dlqArr.add(msgs...)
		return consumer.ConsumeSuccess, nil
	})
	waitFor(t, 30*time.Second, "the failing message in "+dlq, func() (bool, string) {
		n := len(dlqArr.of(bad.MsgID))
		return n > 0, fmt.Sprintf("%d messages in the DLQ, none with msgId %s", len(dlqArr.all()), bad.MsgID)
	})
	t.Logf("deliveries %s; in the DLQ at +%v", describeArrivals(arr.of(bad.MsgID), start), dlqArr.of(bad.MsgID)[0].at.Sub(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // a fourth delivery to the failing group would come within a retry delay (1 s)

	if n := len(arr.of(ok.MsgID)); n != 1 {
		t.Errorf("the succeeding message was delivered %d times, want 1", n)
	}
	got := arr.of(bad.MsgID)
	if len(got) != 3 {
		t.Errorf("the failing message was delivered %d times to its group, want 3 (maxReconsumeTimes 2)", len(got))
	}
	for i, a := range got {
		m := a.msg
		if a.times != int32(i) {
			t.Errorf("delivery %d: reconsumeTimes %d, want %d", i, a.times, i)
		}
		if m.Topic != topic || string(m.Body) != "fail always" || m.GetTags() != "TagR" || m.GetKeys() != "key-fail always" || m.GetProperty("color") != "red" {
			t.Errorf("delivery %d: topic %q body %q tags %q keys %q color %q", i, m.Topic, m.Body, m.GetTags(), m.GetKeys(), m.GetProperty("color"))
		}
		if i > 0 {
			// Retry i is sent back with level 3 + (i-1).
			if gap, want := a.at.Sub(got[i-1].at), delayOf(t, 3+i-1); gap < want {
				t.Errorf("delivery %d came %v after delivery %d, before the retry delay %v", i, gap, i-1, want)
			}
		}
	}
	dl := dlqArr.of(bad.MsgID)
	if len(dl) != 1 {
		t.Errorf("%d copies of the failing message in the DLQ, want 1", len(dl))
	}
	if len(dlqArr.all()) != len(dl) {
		t.Errorf("the DLQ holds %d messages, want only the failing one", len(dlqArr.all()))
	}
	m := dl[0].msg
	if m.Topic != dlq || m.ReconsumeTimes != 3 || string(m.Body) != "fail always" || m.GetProperty("RETRY_TOPIC") != topic ||
		m.GetTags() != "TagR" || m.GetKeys() != "key-fail always" || m.GetProperty("color") != "red" {
		t.Errorf("DLQ copy: topic %q (want %q) reconsumeTimes %d (want 3) body %q RETRY_TOPIC %q tags %q keys %q color %q",
			m.Topic, dlq, m.ReconsumeTimes, m.Body, m.GetProperty("RETRY_TOPIC"), m.GetTags(), m.GetKeys(), m.GetProperty("color"))
	}
}

func TestRetryDelayLevelChosenByListener(t *testing.T) {
	topic, _ := createTopic(t)
	group := uniqueName(t, "cg")
	createRetryTopic(t, group)
	arr := &arrivals{}
	startPushConsumer(t, group, topic, "", func(c context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		arr.add(msgs...)
		if msgs[0].ReconsumeTimes == 0 {
			cc, ok := primitive.GetConcurrentlyCtx(c)
			if !ok {
				t.Errorf("no ConsumeConcurrentlyContext in the listener's context")
				return consumer.ConsumeRetryLater, nil
			}
			cc.DelayLevelWhenNextConsume = 2
			return consumer.ConsumeRetryLater, nil
		}
		return consumer.ConsumeSuccess, nil
	})
	p := newProducer(t)
	start := time.Now()
	r, err := p.SendSync(ctx(t, 10*time.Second), primitive.NewMessage(topic, []byte("retry at level 2")))
	if err != nil || r.Status != primitive.SendOK {
		t.Fatalf("send: %v %v", err, r)
	}
	waitFor(t, 30*time.Second, "the redelivery", func() (bool, string) {
		got := arr.of(r.MsgID)
		return len(got) >= 2, fmt.Sprintf("%d deliveries: %s", len(got), describeArrivals(got, start))
	})
	time.Sleep(1500 * time.Millisecond) // no third delivery: the second one succeeded
	got := arr.of(r.MsgID)
	if len(got) != 2 {
		t.Fatalf("delivered %d times, want 2", len(got))
	}
	gap, want := got[1].at.Sub(got[0].at), delayOf(t, 2)
	t.Logf("redelivered %v after the first delivery (level 2: %v; the default level 3 would be %v)", gap, want, delayOf(t, 3))
	if gap < want {
		t.Errorf("redelivered %v after the first delivery, before level 2's delay %v", gap, want)
	}
	if got[1].times != 1 || got[1].msg.Topic != topic || string(got[1].msg.Body) != "retry at level 2" {
		t.Errorf("redelivery: reconsumeTimes %d topic %q body %q", got[1].times, got[1].msg.Topic, got[1].msg.Body)
	}
}

// describeArrivals lists when (after start) each delivery came and its reconsumeTimes.
func describeArrivals(as []arrival, start time.Time) string {
	var parts []string
	for _, a := range as {
		parts = append(parts, fmt.Sprintf("+%v (reconsumeTimes %d, topic %s)", a.at.Sub(start).Round(time.Millisecond), a.times, a.msg.Topic))
	}
	return strings.Join(parts, ", ")
}

// createRetryTopic creates %RETRY%<group> (1 queue, as the brokers make it) before the group's first
// consumer starts. The Go client asks for the routes of its topics when it starts and then only every
// 30 s; both brokers create a new group's retry topic on its first heartbeat, which comes after that
// first route query, so without this a new group's first retry waits up to 30 s for the client to learn
// where to pull it (seen against the reference broker). A group that existed before has the topic.
func createRetryTopic(t *testing.T, group string) {
	t.Helper()
	topic := "%RETRY%" + group
	if err := adminClient.CreateTopic(ctx(t, 10*time.Second), admin.WithTopicCreate(topic),
		admin.WithBrokerAddrCreate(brokerAddr), admin.WithReadQueueNums(1), admin.WithWriteQueueNums(1)); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	waitFor(t, 10*time.Second, "route of "+topic, func() (bool, string) {
		mqs, err := adminClient.FetchPublishMessageQueues(ctx(t, 3*time.Second), topic)
		return err == nil && len(mqs) == 1, fmt.Sprintf("queues %v, err %v", mqs, err)
	})
}

// TestOrderlyMaxReconsumeTimesToDeadLetterQueue: an orderly consumer (WithConsumerOrder) with
// WithMaxReconsumeTimes(1) that keeps answering SuspendCurrentQueueAMoment gets the message in place
// (ReconsumeTimes counted by the client: 0, 1, 2), then the client sends it back with delay level -1
// (CONSUMER_SEND_MSG_BACK straight to the DLQ, to the address in the message's store host); the queue
// goes on with the next message, and the poisoned one is in %DLQ%<group>.
func TestOrderlyMaxReconsumeTimesToDeadLetterQueue(t *testing.T) {
	topic, mqs := createTopic(t)
	group := uniqueName(t, "cg")
	arr := &arrivals{}
	startPushConsumer(t, group, topic, "", func(c context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		arr.add(msgs...)
		for _, m := range msgs {
			if string(m.Body) == "poison" {
				if oc, ok := primitive.GetOrderlyCtx(c); ok {
					oc.SuspendCurrentQueueTimeMillis = 100
				}
				return consumer.SuspendCurrentQueueAMoment, nil
			}
		}
		return consumer.ConsumeSuccess, nil
	}, consumer.WithConsumerOrder(true), consumer.WithMaxReconsumeTimes(1))

	p := newProducer(t, producer.WithQueueSelector(producer.NewManualQueueSelector()))
	var ids []string
	for _, body := range []string{"poison", "next"} {
		m := primitive.NewMessage(topic, []byte(body))
		m.Queue = mqs[1]
		r, err := p.SendSync(ctx(t, 10*time.Second), m)
		if err != nil || r.Status != primitive.SendOK {
			t.Fatalf("send %s: %v %v", body, err, r)
		}
		ids = append(ids, r.MsgID)
	}
	poison, next := ids[0], ids[1]
	waitFor(t, 30*time.Second, "the message after the poisoned one", func() (bool, string) {
		return len(arr.of(next)) > 0, fmt.Sprintf("poison delivered %d times, next %d", len(arr.of(poison)), len(arr.of(next)))
	})
	got := arr.of(poison)
	if len(got) != 3 {
		t.Errorf("the poisoned message was delivered %d times, want 3 (reconsumeTimes 0, 1, 2 with maxReconsumeTimes 1)", len(got))
	}
	for i, a := range got {
		if a.times != int32(i) || a.msg.QueueOffset != 0 || a.msg.Queue.QueueId != 1 {
			t.Errorf("delivery %d: reconsumeTimes %d, queue %d offset %d; want %d, queue 1 offset 0", i, a.times, a.msg.Queue.QueueId, a.msg.QueueOffset, i)
		}
	}
	if n := arr.of(next); len(n) != 1 || !n[0].at.After(got[len(got)-1].at) {
		t.Errorf("the next message: %d deliveries; want 1, after the poisoned one's last", len(n))
	}

	dlq := "%DLQ%" + group
	waitFor(t, 20*time.Second, "the route of "+dlq, func() (bool, string) {
		mqs, err := adminClient.FetchPublishMessageQueues(ctx(t, 3*time.Second), dlq)
		return err == nil && len(mqs) > 0, fmt.Sprintf("queues %v, err %v", mqs, err)
	})
	dead := &arrivals{}
	startPushConsumer(t, uniqueName(t, "dlqcg"), dlq, "", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		dead.add(msgs...)
		return consumer.ConsumeSuccess, nil
	})
	waitFor(t, 30*time.Second, "the poisoned message in "+dlq, func() (bool, string) {
		return len(dead.of(poison)) > 0, fmt.Sprintf("%d messages in the DLQ", len(dead.all()))
	})
	time.Sleep(300 * time.Millisecond)
	if n := len(dead.all()); n != 1 {
		t.Errorf("the DLQ holds %d messages, want only the poisoned one", n)
	}
	m := dead.of(poison)[0].msg
	// The broker counts one send-back of the stored message (reconsumeTimes 0): the client's own count
	// (2) is not in the request.
	if m.Topic != dlq || m.MsgId != poison || string(m.Body) != "poison" || m.GetProperty("RETRY_TOPIC") != topic || m.ReconsumeTimes != 1 {
		t.Errorf("DLQ copy: topic %q msgId %s body %q RETRY_TOPIC %q reconsumeTimes %d; want %q, %s, poison, %q, 1",
			m.Topic, m.MsgId, m.Body, m.GetProperty("RETRY_TOPIC"), m.ReconsumeTimes, dlq, poison, topic)
	}
}
