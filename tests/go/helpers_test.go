package interop

// Helpers shared by the tests: unique names, topic creation through the Go admin client, producers and
// push consumers that are always shut down, a recorder of what a consumer received, and polling with a
// deadline (no fixed sleeps: a test waits exactly as long as the broker needs, up to its deadline).

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

const (
	queueCount = 4
	// How long a test waits for deliveries; the happy path takes well under a second.
	deliveryTimeout = 20 * time.Second
)

var (
	nameSeq   int64
	notNameRe = regexp.MustCompile(`[^A-Za-z0-9_-]`)
)

// uniqueName gives a topic/group name unique in this run and readable in broker logs.
func uniqueName(t *testing.T, kind string) string {
	n := atomic.AddInt64(&nameSeq, 1)
	base := notNameRe.ReplaceAllString(strings.TrimPrefix(t.Name(), "Test"), "_")
	return fmt.Sprintf("go_%s_%s_%d_%d", base, kind, time.Now().UnixNano()%1_000_000, n)
}

// createTopic creates a topic with queueCount read/write queues on the broker (UPDATE_AND_CREATE_TOPIC
// from the Go admin client) and waits until the NameServer routes it. Returns the routed queues.
func createTopic(t *testing.T, opts ...admin.OptionCreate) (string, []*primitive.MessageQueue) {
	t.Helper()
	topic := uniqueName(t, "topic")
	all := append([]admin.OptionCreate{
		admin.WithTopicCreate(topic),
		admin.WithBrokerAddrCreate(brokerAddr),
		admin.WithReadQueueNums(queueCount),
		admin.WithWriteQueueNums(queueCount),
	}, opts...)
	if err := adminClient.CreateTopic(ctx(t, 10*time.Second), all...); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	var mqs []*primitive.MessageQueue
	waitFor(t, 10*time.Second, "route of "+topic, func() (bool, string) {
		var err error
		mqs, err = adminClient.FetchPublishMessageQueues(ctx(t, 3*time.Second), topic)
		return err == nil && len(mqs) == queueCount, fmt.Sprintf("queues %v, err %v", mqs, err)
	})
	sort.Slice(mqs, func(i, j int) bool { return mqs[i].QueueId < mqs[j].QueueId })
	for i, mq := range mqs {
		if mq.Topic != topic || mq.QueueId != i || mq.BrokerName == "" {
			t.Fatalf("route of %s: queue %d is %+v", topic, i, mq)
		}
	}
	return topic, mqs
}

// waitFor polls cond every 10 ms until it holds; after d the test fails with cond's last description.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, desc := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", d, what, desc)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newProducer(t *testing.T, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	all := append([]producer.Option{
		producer.WithNameServer([]string{namesrvAddr}),
		producer.WithGroupName(uniqueName(t, "pg")),
		producer.WithRetry(2),
	}, opts...)
	p, err := rocketmq.NewProducer(all...)
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("start producer: %v", err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

// recorder keeps every message a consumer callback saw, in arrival order.
type recorder struct {
	mu   sync.Mutex
	msgs []*primitive.MessageExt
}

func (r *recorder) add(msgs ...*primitive.MessageExt) {
	r.mu.Lock()
	r.msgs = append(r.msgs, msgs...)
	r.mu.Unlock()
}

func (r *recorder) all() []*primitive.MessageExt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*primitive.MessageExt(nil), r.msgs...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// byMsgID indexes the recorded messages by MsgId (the client's UNIQ_KEY, or the offset id without one).
func (r *recorder) byMsgID() map[string]*primitive.MessageExt {
	out := map[string]*primitive.MessageExt{}
	for _, m := range r.all() {
		out[m.MsgId] = m
	}
	return out
}

// startConsumer starts a clustering push consumer reading topic from the first offset and recording
// everything it receives. The listener answers ConsumeSuccess.
func startConsumer(t *testing.T, group, topic, expr string, opts ...consumer.Option) *recorder {
	t.Helper()
	rec := &recorder{}
	startPushConsumer(t, group, topic, expr, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		rec.add(msgs...)
		return consumer.ConsumeSuccess, nil
	}, opts...)
	return rec
}

func startPushConsumer(t *testing.T, group, topic, expr string,
	f func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error), opts ...consumer.Option) rocketmq.PushConsumer {
	t.Helper()
	sel := consumer.MessageSelector{}
	if expr != "" {
		sel = consumer.MessageSelector{Type: consumer.TAG, Expression: expr}
	}
	return startSelectorConsumer(t, group, topic, sel, f, opts...)
}

// startSelectorConsumer starts a push consumer (clustering, first offset, unless opts say otherwise)
// subscribed to topic with any selector (TAG or SQL92).
func startSelectorConsumer(t *testing.T, group, topic string, sel consumer.MessageSelector,
	f func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error), opts ...consumer.Option) rocketmq.PushConsumer {
	t.Helper()
	all := append([]consumer.Option{
		consumer.WithNameServer([]string{namesrvAddr}),
		consumer.WithGroupName(group),
		consumer.WithConsumerModel(consumer.Clustering),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	}, opts...)
	c, err := rocketmq.NewPushConsumer(all...)
	if err != nil {
		t.Fatalf("new push consumer: %v", err)
	}
	if err := c.Subscribe(topic, sel, f); err != nil {
		t.Fatalf("subscribe %s: %v", topic, err)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("start push consumer (group %s, topic %s): %v", group, topic, err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return c
}

// checkOffsetMsgID checks that an offset msgId (what SEND_MESSAGE answers in `msgId`) is 32 hex digits
// naming the broker's store address, and returns the commit-log offset it carries.
func checkOffsetMsgID(t *testing.T, id string) int64 {
	t.Helper()
	if !regexp.MustCompile(`^[0-9A-F]{32}$`).MatchString(id) {
		t.Fatalf("offset msgId %q: want 32 upper-case hex digits", id)
	}
	mid, err := primitive.UnmarshalMsgID([]byte(id))
	if err != nil {
		t.Fatalf("offset msgId %q: %v", id, err)
	}
	if got := fmt.Sprintf("%s:%d", mid.Addr, mid.Port); got != brokerAddr {
		t.Fatalf("offset msgId %q names store host %s, want the broker %s", id, got, brokerAddr)
	}
	return mid.Offset
}

// The Go client writes the prefix of its UNIQ_KEY in upper and the counter part in lower case.
var uniqKeyRe = regexp.MustCompile(`^[0-9A-Fa-f]{32}$`)

// delayOf is how long delay level l (1-based) waits under brokerSettings' messageDelayLevel; levels past
// the last one are the last one (both brokers cap them).
func delayOf(t *testing.T, l int) time.Duration {
	t.Helper()
	levels := strings.Fields(delayLevelsConf)
	if l > len(levels) {
		l = len(levels)
	}
	d, err := time.ParseDuration(levels[l-1])
	if err != nil {
		t.Fatalf("delay level %d %q: %v", l, levels[l-1], err)
	}
	return d
}

// arrival is a message a consumer received and when; arrivals records them in arrival order.
type arrival struct {
	at  time.Time
	msg *primitive.MessageExt
	// The message's ReconsumeTimes when it arrived: the client raises it in place on a message it hands
	// the listener again (orderly consumers).
	times int32
}

type arrivals struct {
	mu   sync.Mutex
	list []arrival
}

func (a *arrivals) add(msgs ...*primitive.MessageExt) {
	now := time.Now()
	a.mu.Lock()
	for _, m := range msgs {
		a.list = append(a.list, arrival{now, m, m.ReconsumeTimes})
	}
	a.mu.Unlock()
}

func (a *arrivals) all() []arrival {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]arrival(nil), a.list...)
}

// of returns the arrivals of one msgId, in order.
func (a *arrivals) of(id string) []arrival {
	var out []arrival
	for _, x := range a.all() {
		if x.msg.MsgId == id {
			out = append(out, x)
		}
	}
	return out
}
