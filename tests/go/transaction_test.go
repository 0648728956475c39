package interop

// Transactional messages with the Go client's rocketmq.NewTransactionProducer: a half message (TRAN_MSG)
// is invisible to consumers until END_TRANSACTION commits it; a rollback discards it; a local state of
// UNKNOWN leaves the decision to the broker, which asks the producer (CHECK_TRANSACTION_STATE, 39, with
// the half message: real topic, body, properties, UNIQ_KEY) and applies the listener's answer (END_TRANSACTION
// fromTransactionCheck); a check answered UNKNOWN is asked again. Only committed messages reach a
// consumer, each once, with the producer's msgId and body; resolved halves are never checked.
// brokerSettings make the first check come about a second after the send (transactionTimeOut,
// transactionCheckInterval).

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// The plan of a transactional message (its "plan" property): what the local transaction answers, then
// what each check answers (the last answer repeats).
var txnPlans = map[string][]primitive.LocalTransactionState{
	"commit":                 {primitive.CommitMessageState},
	"rollback":               {primitive.RollbackMessageState},
	"unknown-commit":         {primitive.UnknowState, primitive.CommitMessageState},
	"unknown-rollback":       {primitive.UnknowState, primitive.RollbackMessageState},
	"unknown-unknown-commit": {primitive.UnknowState, primitive.UnknowState, primitive.CommitMessageState},
}

type txnCheck struct {
	at    time.Time
	topic string
	txnID string // MessageExt.TransactionId: the client sets it from the checked message's UNIQ_KEY
	body  string
	plan  string
}

// txnListener answers by plan and records every check.
type txnListener struct {
	t      *testing.T
	mu     sync.Mutex
	checks []txnCheck
}

func (l *txnListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	plan, ok := txnPlans[m.GetProperty("plan")]
	if !ok {
		l.t.Errorf("local transaction of a message without a known plan: %v", m)
		return primitive.RollbackMessageState
	}
	return plan[0]
}

func (l *txnListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	name := m.GetProperty("plan")
	l.mu.Lock()
	l.checks = append(l.checks, txnCheck{time.Now(), m.Topic, m.TransactionId, string(m.Body), name})
	n := 0
	for _, c := range l.checks {
		if c.txnID == m.TransactionId {
			n++
		}
	}
	l.mu.Unlock()
	plan, ok := txnPlans[name]
	if !ok {
		return primitive.UnknowState // not ours; recorded, and the test fails on it
	}
	if n >= len(plan) {
		n = len(plan) - 1
	}
	return plan[n]
}

func (l *txnListener) checksOf(id string) []txnCheck {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []txnCheck
	for _, c := range l.checks {
		if c.txnID == id {
			out = append(out, c)
		}
	}
	return out
}

func (l *txnListener) allChecks() []txnCheck {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]txnCheck(nil), l.checks...)
}

// newTransactionProducer starts a transaction producer with its own instance name: the Go client routes
// CHECK_TRANSACTION_STATE to the producer that created the process's shared client of an instance name,
// and a plain producer of the same (default) instance would drop the checks.
func newTransactionProducer(t *testing.T, l primitive.TransactionListener, group string) rocketmq.TransactionProducer {
	t.Helper()
	p, err := rocketmq.NewTransactionProducer(l,
		producer.WithNameServer([]string{namesrvAddr}),
		producer.WithGroupName(group),
		producer.WithInstanceName("txn-"+group),
		producer.WithRetry(2))
	if err != nil {
		t.Fatalf("new transaction producer: %v", err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("start transaction producer: %v", err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

func TestTransactionCommitRollbackAndCheckBack(t *testing.T) {
	topic, _ := createTopic(t)
	rec := startConsumer(t, uniqueName(t, "cg"), topic, "")
	l := &txnListener{t: t}
	p := newTransactionProducer(t, l, uniqueName(t, "txpg"))

	names := make([]string, 0, len(txnPlans))
	for name := range txnPlans {
		names = append(names, name)
	}
	sort.Strings(names)
	ids := map[string]string{}       // plan -> msgId
	sentAt := map[string]time.Time{} // plan -> when sent
	for _, name := range names {
		m := primitive.NewMessage(topic, []byte("txn body "+name))
		m.WithProperty("plan", name)
		m.WithKeys([]string{"txn-" + name})
		sentAt[name] = time.Now()
		r, err := p.SendMessageInTransaction(ctx(t, 10*time.Second), m)
		if err != nil {
			t.Fatalf("send %s: %v", name, err)
		}
		if r.Status != primitive.SendOK || r.State != txnPlans[name][0] {
			t.Fatalf("send %s: status %d, local state %d; want SEND_OK and %d", name, r.Status, r.State, txnPlans[name][0])
		}
		if !uniqKeyRe.MatchString(r.MsgID) {
			t.Fatalf("send %s: msgId %q is no UNIQ_KEY", name, r.MsgID)
		}
		checkOffsetMsgID(t, r.OffsetMsgID)
		ids[name] = r.MsgID
	}
	committed := []string{"commit", "unknown-commit", "unknown-unknown-commit"}

	// The unknowns are resolved by checks: wait for every committed message, then for the rolled back
	// one's check, and then a few more check intervals for anything that should not come.
	waitFor(t, 40*time.Second, "the committed messages", func() (bool, string) {
		got := rec.byMsgID()
		n := 0
		for _, name := range committed {
			if got[ids[name]] != nil {
				n++
			}
		}
		return n == len(committed), fmt.Sprintf("%d of %d committed messages consumed; checks so far %+v", n, len(committed), l.allChecks())
	})
	waitFor(t, 30*time.Second, "the check of unknown-rollback", func() (bool, string) {
		return len(l.checksOf(ids["unknown-rollback"])) > 0, fmt.Sprintf("checks %+v", l.allChecks())
	})
	time.Sleep(3 * time.Second)

	// What reached the consumer: exactly the committed ones, once, intact.
	got := rec.all()
	want := map[string]string{}
	for _, name := range committed {
		want[ids[name]] = name
	}
	seen := map[string]int{}
	for _, m := range got {
		name, ok := want[m.MsgId]
		if !ok {
			t.Errorf("consumed %s (plan %q, body %q): not a committed message", m.MsgId, m.GetProperty("plan"), m.Body)
			continue
		}
		seen[m.MsgId]++
		if m.Topic != topic || string(m.Body) != "txn body "+name || m.GetProperty("plan") != name || m.GetKeys() != "txn-"+name {
			t.Errorf("committed %s arrived as topic %q body %q plan %q keys %q", name, m.Topic, m.Body, m.GetProperty("plan"), m.GetKeys())
		}
		if m.ReconsumeTimes != 0 {
			t.Errorf("committed %s: reconsumeTimes %d", name, m.ReconsumeTimes)
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("committed %s (%s) consumed %d times", want[id], id, n)
		}
	}

	// The checks: only the unknowns, with the half message as sent, not before transactionTimeOut.
	for _, name := range names {
		cs := l.checksOf(ids[name])
		wantMin := len(txnPlans[name]) - 1
		if wantMin == 0 && len(cs) > 0 {
			t.Errorf("%s was resolved by the producer but checked %d times: %+v", name, len(cs), cs)
		}
		if len(cs) < wantMin {
			t.Errorf("%s: %d checks, want at least %d", name, len(cs), wantMin)
		}
		for _, c := range cs {
			if c.topic != topic || c.body != "txn body "+name || c.plan != name {
				t.Errorf("%s: the check carried topic %q body %q plan %q", name, c.topic, c.body, c.plan)
			}
			if c.at.Sub(sentAt[name]) < time.Second {
				t.Errorf("%s: checked %v after the send, before transactionTimeOut (1 s)", name, c.at.Sub(sentAt[name]))
			}
		}
		if name == "unknown-unknown-commit" && len(cs) >= 2 {
			t.Logf("%s: checks %v and %v after the send", name, cs[0].at.Sub(sentAt[name]), cs[1].at.Sub(sentAt[name]))
		}
	}
	known := map[string]bool{}
	for _, id := range ids {
		known[id] = true
	}
	for _, c := range l.allChecks() {
		if !known[c.txnID] {
			t.Errorf("check of a message this test did not send: %+v", c)
		}
	}
}

// fixedListener answers every local transaction with exec and every check with check, and records the
// checks.
type fixedListener struct {
	exec, check primitive.LocalTransactionState
	mu          sync.Mutex
	checks      []string // TransactionId of each check
}

func (l *fixedListener) ExecuteLocalTransaction(*primitive.Message) primitive.LocalTransactionState {
	return l.exec
}

func (l *fixedListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	l.mu.Lock()
	l.checks = append(l.checks, m.TransactionId)
	l.mu.Unlock()
	return l.check
}

func (l *fixedListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.checks)
}

// TestTransactionCheckedByAnotherProducerOfTheGroup: the producer that sent a half message (local state
// UNKNOWN) is gone; the broker asks another live producer of the same group, whose answer (COMMIT)
// delivers the message. The first producer's listener would only ever answer UNKNOWN, so the delivery
// proves the second one was asked.
func TestTransactionCheckedByAnotherProducerOfTheGroup(t *testing.T) {
	topic, _ := createTopic(t)
	rec := startConsumer(t, uniqueName(t, "cg"), topic, "")
	group := uniqueName(t, "txpg")
	first := &fixedListener{exec: primitive.UnknowState, check: primitive.UnknowState}
	p1, err := rocketmq.NewTransactionProducer(first, producer.WithNameServer([]string{namesrvAddr}),
		producer.WithGroupName(group), producer.WithInstanceName("txn-first-"+group), producer.WithRetry(2))
	if err != nil {
		t.Fatalf("new transaction producer: %v", err)
	}
	if err := p1.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	m := primitive.NewMessage(topic, []byte("checked by the second producer"))
	r, err := p1.SendMessageInTransaction(ctx(t, 10*time.Second), m)
	if err != nil || r.Status != primitive.SendOK || r.State != primitive.UnknowState {
		t.Fatalf("send: %v %+v", err, r)
	}
	if err := p1.Shutdown(); err != nil {
		t.Fatalf("shutdown of the first producer: %v", err)
	}
	second := &fixedListener{exec: primitive.CommitMessageState, check: primitive.CommitMessageState}
	p2, err := rocketmq.NewTransactionProducer(second, producer.WithNameServer([]string{namesrvAddr}),
		producer.WithGroupName(group), producer.WithInstanceName("txn-second-"+group), producer.WithRetry(2))
	if err != nil {
		t.Fatalf("new transaction producer: %v", err)
	}
	if err := p2.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = p2.Shutdown() })
	// The Go client sends heartbeats only to the brokers of the routes it knows, so a producer that has
	// sent nothing is unknown to the broker: the second one sends (and commits) a message of its own.
	r2, err := p2.SendMessageInTransaction(ctx(t, 10*time.Second), primitive.NewMessage(topic, []byte("the second producer's own")))
	if err != nil || r2.Status != primitive.SendOK || r2.State != primitive.CommitMessageState {
		t.Fatalf("send from the second producer: %v %+v", err, r2)
	}
	waitFor(t, 40*time.Second, "the message committed by the second producer's check", func() (bool, string) {
		return rec.byMsgID()[r.MsgID] != nil, fmt.Sprintf("checks: first producer %d, second %d; %d consumed", first.count(), second.count(), rec.count())
	})
	time.Sleep(2 * time.Second) // a second delivery would follow a second commit
	got := rec.byMsgID()
	if len(got) != 2 || rec.count() != 2 || got[r.MsgID] == nil || got[r2.MsgID] == nil {
		t.Fatalf("consumed %d messages (%d distinct); want the checked one and the second producer's own, once each", rec.count(), len(got))
	}
	if m := got[r.MsgID]; string(m.Body) != "checked by the second producer" || m.Topic != topic {
		t.Errorf("the checked message arrived as topic %q body %q", m.Topic, m.Body)
	}
	second.mu.Lock()
	defer second.mu.Unlock()
	for _, id := range second.checks {
		if id != r.MsgID {
			t.Errorf("the second producer was asked about %q, want %q", id, r.MsgID)
		}
	}
}
