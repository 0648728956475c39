package interop

// Request-reply (RPC) messaging, RocketMQ 4.6+: a Go producer's Request (sync) and RequestAsync (callback)
// answered by a Go push consumer that sends the reply with an ordinary producer's SendSync. The request
// carries CORRELATION_ID, REPLY_TO_CLIENT and TTL; the broker stores it with CLUSTER added; the reply goes
// to `<CLUSTER>_REPLY_TOPIC` by SEND_REPLY_MESSAGE (324, the Go client's only reply code) and the broker
// pushes it to the requesting client over that client's connection (PUSH_REPLY_MESSAGE_TO_CLIENT, 326).

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// How long a requester waits for its reply; a round trip takes milliseconds.
const requestTimeout = 15 * time.Second

// replyMessage builds the reply to a consumed request. Not consumer.CreateReplyMessage: in client-go
// v2.1.2 it calls UnmarshalProperties(body) on the new message and never sets its Body, so the reply
// would arrive empty (with the body parsed as properties). This is what it means to do, and what the
// Java client's MessageUtil.createReplyMessage does: topic <CLUSTER>_REPLY_TOPIC, MSG_TYPE=reply (which
// makes the producer send it with SEND_REPLY_MESSAGE), CORRELATION_ID, REPLY_TO_CLIENT and TTL copied.
func replyMessage(req *primitive.MessageExt, body []byte) (*primitive.Message, error) {
	cluster := req.GetProperty(primitive.PropertyCluster)
	if cluster == "" {
		return nil, fmt.Errorf("request %s has no %s property (the broker adds it): %v",
			req.MsgId, primitive.PropertyCluster, req.GetProperties())
	}
	m := primitive.NewMessage(cluster+"_REPLY_TOPIC", body)
	m.WithProperty(primitive.PropertyMsgType, "reply")
	for _, k := range []string{primitive.PropertyCorrelationID, primitive.PropertyMessageReplyToClient, primitive.PropertyMessageTTL} {
		m.WithProperty(k, req.GetProperty(k))
	}
	return m, nil
}

// replier is a push consumer that answers every request with "reply:" + its body, sent by its own
// producer (own client instance: the reply reaches the broker on another connection than the request).
type replier struct {
	mu       sync.Mutex
	requests map[string]*primitive.MessageExt // by body
	results  map[string]*primitive.SendResult // the reply's SendResult, by request body
	errs     []string
}

func (r *replier) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	bodies := make([]string, 0, len(r.requests))
	for b := range r.requests {
		bodies = append(bodies, b)
	}
	return fmt.Sprintf("requests seen %v, reply errors %v", bodies, r.errs)
}

func (r *replier) request(body string) *primitive.MessageExt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[body]
}

// startRequesterAndReplier starts the requester and the replying consumer of topic, and waits until the
// consumer owns all its queues.
//
// The requester shares its client instance (instance name, so client id and connection) with the
// consumer. client-go v2.1.2 heartbeats before a request only when the NameServer has no route for the
// topic (prepareSendRequest asks the NameServer; the Java client checks its own route table), and a new
// client's first periodic heartbeat (1 s after start, then every 30 s) goes to no broker while it knows
// no route yet. A requester on a client of its own is then unknown to the broker for up to 30 s, and
// the broker refuses to push its replies ("channel of <id> not found"): the Java broker does the same.
// The consumer's Start heartbeats synchronously once it has its routes, and that heartbeat carries the
// requester's producer group too.
func startRequesterAndReplier(t *testing.T, topic string) (rocketmq.Producer, *replier) {
	t.Helper()
	instance := uniqueName(t, "client")
	requester := newProducer(t, producer.WithInstanceName(instance))
	sender := newProducer(t, producer.WithInstanceName(uniqueName(t, "replier")))
	r := &replier{requests: map[string]*primitive.MessageExt{}, results: map[string]*primitive.SendResult{}}
	alloc := &allocations{topic: topic, mine: map[string][]int{}, cids: map[string][]string{}}
	startPushConsumer(t, uniqueName(t, "cg"), topic, "*", func(ctx context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range msgs {
			body := string(m.Body)
			r.mu.Lock()
			r.requests[body] = m
			r.mu.Unlock()
			reply, err := replyMessage(m, []byte("reply:"+body))
			var res *primitive.SendResult
			if err == nil {
				res, err = sender.SendSync(context.Background(), reply)
			}
			r.mu.Lock()
			if err != nil {
				r.errs = append(r.errs, fmt.Sprintf("%s: %v", body, err))
			} else {
				r.results[body] = res
			}
			r.mu.Unlock()
		}
		return consumer.ConsumeSuccess, nil
	}, consumer.WithInstance(instance), consumer.WithStrategy(alloc.strategy))
	waitFor(t, deliveryTimeout, "the replying consumer to own all queues", func() (bool, string) { return alloc.settled(1) })
	return requester, r
}

// checkConsumedRequest: the consumer got the request with the requester's properties and the broker's CLUSTER.
func checkConsumedRequest(t *testing.T, sent *primitive.Message, got *primitive.MessageExt) {
	t.Helper()
	for _, k := range []string{primitive.PropertyCorrelationID, primitive.PropertyMessageReplyToClient, primitive.PropertyMessageTTL} {
		if sent.GetProperty(k) == "" || got.GetProperty(k) != sent.GetProperty(k) {
			t.Errorf("consumed request: property %s = %q, the requester sent %q", k, got.GetProperty(k), sent.GetProperty(k))
		}
	}
	if got.GetProperty(primitive.PropertyCluster) == "" {
		t.Errorf("consumed request has no %s property (the broker adds it): %v", primitive.PropertyCluster, got.GetProperties())
	}
}

// TestRequestReply: Request returns the reply a consumer sent, matched by CORRELATION_ID, from the
// cluster's reply topic; the reply is also stored there (queue 0, the reply topic has one queue).
func TestRequestReply(t *testing.T) {
	topic, _ := createTopic(t)
	requester, r := startRequesterAndReplier(t, topic)

	req := primitive.NewMessage(topic, []byte("ping"))
	reply, err := requester.Request(ctx(t, requestTimeout+5*time.Second), requestTimeout, req)
	if err != nil {
		t.Fatalf("Request: %v; replier: %v", err, r)
	}
	if reply == nil {
		t.Fatalf("Request returned no reply and no error; replier: %v", r)
	}
	if string(reply.Body) != "reply:ping" {
		t.Errorf("reply body %q, want %q", reply.Body, "reply:ping")
	}
	corr := req.GetProperty(primitive.PropertyCorrelationID)
	if corr == "" || reply.GetProperty(primitive.PropertyCorrelationID) != corr {
		t.Errorf("reply CORRELATION_ID %q, the request's %q", reply.GetProperty(primitive.PropertyCorrelationID), corr)
	}
	got := r.request("ping")
	if got == nil {
		t.Fatalf("the consumer did not record the request; replier: %v", r)
	}
	checkConsumedRequest(t, req, got)
	replyTopic := got.GetProperty(primitive.PropertyCluster) + "_REPLY_TOPIC"
	if reply.Topic != replyTopic {
		t.Errorf("reply topic %q, want %q", reply.Topic, replyTopic)
	}

	// The replier's SendResult: the broker pushed the reply, then stored it in the reply topic's queue.
	var res *primitive.SendResult
	waitFor(t, 10*time.Second, "the replier's SendResult", func() (bool, string) {
		r.mu.Lock()
		res = r.results["ping"]
		r.mu.Unlock()
		return res != nil, r.String()
	})
	if res.Status != primitive.SendOK || res.MessageQueue == nil || res.MessageQueue.Topic != replyTopic || res.MessageQueue.QueueId != 0 {
		t.Errorf("reply SendResult %v: want SendOK on queue 0 of %s", res, replyTopic)
	}
	mqs, err := adminClient.FetchPublishMessageQueues(ctx(t, 5*time.Second), replyTopic)
	if err != nil || len(mqs) != 1 {
		t.Errorf("route of %s: %v, %v; want one queue", replyTopic, mqs, err)
	}
}

// TestRequestAsync: 20 RequestAsync calls in flight; every callback gets its own request's reply (matched
// by body and CORRELATION_ID).
func TestRequestAsync(t *testing.T) {
	topic, _ := createTopic(t)
	requester, r := startRequesterAndReplier(t, topic)

	const n = 20
	type answer struct {
		body, corr string
		err        error
	}
	// client-go v2.1.2 runs a callback twice per reply: once when the reply arrives, and again from the
	// eviction hook of its pending-request cache when it then deletes the entry (same reply, no error).
	// Repeats are allowed here as long as they carry the same reply; room for them all in the channel.
	answers := make(chan answer, 4*n)
	sent := map[string]*primitive.Message{}
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("async-%d", i)
		req := primitive.NewMessage(topic, []byte(body))
		sent[body] = req
		err := requester.RequestAsync(ctx(t, requestTimeout+5*time.Second), requestTimeout,
			func(_ context.Context, reply *primitive.Message, err error) {
				if err != nil || reply == nil {
					answers <- answer{body: body, err: fmt.Errorf("request %s: reply %v, error %v", body, reply, err)}
					return
				}
				if string(reply.Body) != "reply:"+body {
					answers <- answer{body: body, err: fmt.Errorf("request %s answered with %q", body, reply.Body)}
					return
				}
				answers <- answer{body: body, corr: reply.GetProperty(primitive.PropertyCorrelationID)}
			}, req)
		if err != nil {
			t.Fatalf("RequestAsync %s: %v", body, err)
		}
	}
	got := map[string]bool{}
	deadline := time.After(requestTimeout + 5*time.Second)
	for len(got) < n {
		select {
		case a := <-answers:
			if a.err != nil {
				t.Fatalf("%v; replier: %v", a.err, r)
			}
			if want := sent[a.body].GetProperty(primitive.PropertyCorrelationID); a.corr != want {
				t.Errorf("reply to %s: CORRELATION_ID %q, the request's %q", a.body, a.corr, want)
			}
			got[a.body] = true
		case <-deadline:
			t.Fatalf("%d of %d requests answered after %v: %v; replier: %v", len(got), n, requestTimeout+5*time.Second, got, r)
		}
	}
	for body, req := range sent {
		m := r.request(body)
		if m == nil {
			t.Errorf("the consumer did not record %s", body)
			continue
		}
		checkConsumedRequest(t, req, m)
	}
}
