package interop

// Message trace (RIP-6) with the Go client's producer.WithTrace and consumer.WithTrace: the client sends
// trace records of its own to RMQ_SYS_TRACE_TOPIC (a Pub record after a send, which the client only writes
// when the send response carries TRACE_ON and MSG_REGION; SubBefore and SubAfter records around each
// consume), keyed by the message's msgId (what `mqadmin queryMsgTraceById` looks up). The test reads the
// trace topic back with a plain consumer and checks each record names the traced message: its topic,
// msgId, offset msgId, tags, keys, the producer and consumer groups, success.
// Bolide creates the trace topic at start (trace_topic_enable, default on); the reference run sets
// traceTopicEnable=true (RocketMQ 5 refuses to create a system topic through UPDATE_AND_CREATE_TOPIC).

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

const traceTopic = "RMQ_SYS_TRACE_TOPIC"

// traceRecords collects the records (fields split on \x01) of every trace message read, with the keys of
// the trace message that carried them.
type traceRecords struct {
	mu   sync.Mutex
	recs []traceRecord
}

type traceRecord struct {
	fields []string
	keys   []string
}

func (r *traceRecords) add(msgs ...*primitive.MessageExt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		for _, rec := range strings.Split(string(m.Body), "\x02") {
			if rec == "" {
				continue
			}
			r.recs = append(r.recs, traceRecord{strings.Split(rec, "\x01"), strings.Fields(m.GetKeys())})
		}
	}
}

// of returns the records of type typ naming msgID in field idx.
func (r *traceRecords) of(typ string, idx int, msgID string) []traceRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []traceRecord
	for _, rec := range r.recs {
		if len(rec.fields) > idx && rec.fields[0] == typ && rec.fields[idx] == msgID {
			out = append(out, rec)
		}
	}
	return out
}

func TestMessageTrace(t *testing.T) {
	topic, _ := createTopic(t)
	pgroup, cgroup := uniqueName(t, "pg"), uniqueName(t, "cg")
	cfg := func(group string) *primitive.TraceConfig {
		return &primitive.TraceConfig{GroupName: group, NamesrvAddrs: []string{namesrvAddr}}
	}
	rec := startConsumer(t, cgroup, topic, "", consumer.WithTrace(cfg(cgroup)))
	p := newProducer(t, producer.WithGroupName(pgroup), producer.WithTrace(cfg(pgroup)))

	m := primitive.NewMessage(topic, []byte("traced body"))
	m.WithTag("TagT")
	m.WithKeys([]string{"trace-key"})
	r, err := p.SendSync(ctx(t, 10*time.Second), m)
	if err != nil || r.Status != primitive.SendOK {
		t.Fatalf("send: %v %v", err, r)
	}
	if r.RegionID == "" || !r.TraceOn {
		t.Fatalf("send response: region %q, traceOn %v; without both the client writes no Pub trace", r.RegionID, r.TraceOn)
	}
	waitFor(t, deliveryTimeout, "the traced message", func() (bool, string) {
		return rec.byMsgID()[r.MsgID] != nil, fmt.Sprintf("%d received", rec.count())
	})

	traces := &traceRecords{}
	startPushConsumer(t, uniqueName(t, "tracecg"), traceTopic, "", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		traces.add(msgs...)
		return consumer.ConsumeSuccess, nil
	})
	// Pub: msgId in field 5; SubBefore: msgId in field 5; SubAfter: msgId in field 2.
	waitFor(t, 30*time.Second, "Pub, SubBefore and SubAfter records of "+r.MsgID, func() (bool, string) {
		p, b, a := traces.of("Pub", 5, r.MsgID), traces.of("SubBefore", 5, r.MsgID), traces.of("SubAfter", 2, r.MsgID)
		return len(p) > 0 && len(b) > 0 && len(a) > 0, fmt.Sprintf("%d Pub, %d SubBefore, %d SubAfter records", len(p), len(b), len(a))
	})

	checkKeys := func(what string, rec traceRecord) {
		for _, k := range rec.keys {
			if k == r.MsgID {
				return
			}
		}
		t.Errorf("%s record: its trace message's keys %q do not name the msgId %s", what, rec.keys, r.MsgID)
	}
	pub := traces.of("Pub", 5, r.MsgID)
	if len(pub) != 1 {
		t.Errorf("%d Pub records, want 1", len(pub))
	}
	f := pub[0].fields
	// Pub: type, time, region, group, topic, msgId, tags, keys, storeHost, bodyLength, cost, msgType,
	// offsetMsgId, success, clientHost.
	if len(f) < 15 || f[2] != r.RegionID || f[3] != pgroup || f[4] != topic || f[6] != "TagT" || f[7] != "trace-key" ||
		f[8] != brokerAddr || f[9] != fmt.Sprint(len("traced body")) || f[12] != r.OffsetMsgID || f[13] != "true" {
		t.Errorf("Pub record %q: want region %s, group %s, topic %s, tags TagT, keys trace-key, store host %s, body length %d, offset msgId %s, success true",
			f, r.RegionID, pgroup, topic, brokerAddr, len("traced body"), r.OffsetMsgID)
	}
	checkKeys("Pub", pub[0])
	before := traces.of("SubBefore", 5, r.MsgID)
	// SubBefore: type, time, region, group, requestId, msgId, retryTimes, keys, clientHost.
	if f := before[0].fields; len(f) < 9 || f[3] != cgroup || f[6] != "0" || f[7] != "trace-key" {
		t.Errorf("SubBefore record %q: want group %s, retry times 0, keys trace-key", f, cgroup)
	}
	checkKeys("SubBefore", before[0])
	after := traces.of("SubAfter", 2, r.MsgID)
	// SubAfter: type, requestId, msgId, cost, success, keys, contextCode, time, group.
	if f := after[0].fields; len(f) < 9 || f[1] != before[0].fields[4] || f[4] != "true" || f[5] != "trace-key" || f[8] != cgroup {
		t.Errorf("SubAfter record %q: want the SubBefore's request id %s, success true, keys trace-key, group %s", f, before[0].fields[4], cgroup)
	}
	checkKeys("SubAfter", after[0])
}
