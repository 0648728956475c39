package interop

// SQL92 subscriptions (consumer.MessageSelector{Type: consumer.SQL92}): the broker evaluates the
// expression on each message's user properties (and TAGS) and delivers only what matches. The Go client
// does not filter SQL92 itself, so what arrives is the broker's choice. Numeric comparisons, BETWEEN,
// string equality, IN, IS NULL / IS NOT NULL, AND / OR / NOT and TAGS; a message without the property
// matches neither `a > 5` nor `NOT (a > 5)` (SQL's unknown), only `a IS NULL`.
// Bolide serves SQL92 by default; the reference broker needs enablePropertyFilter=true
// (scripts/rocketmq-ref.sh sets it).

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

type sqlMsg struct {
	a     int // -1: no property a
	color string
	tag   string
}

func TestSQL92Filter(t *testing.T) {
	topic, _ := createTopic(t)
	exprs := map[string]struct {
		sql   string
		match func(m sqlMsg) bool
	}{
		"gt_and_eq": {"a > 5 AND color = 'red'", func(m sqlMsg) bool { return m.a > 5 && m.color == "red" }},
		"between_or_in": {"(a BETWEEN 1 AND 3) OR color IN ('blue', 'green')",
			func(m sqlMsg) bool { return (m.a >= 1 && m.a <= 3) || m.color == "blue" || m.color == "green" }},
		"not_gt":  {"NOT (a > 5)", func(m sqlMsg) bool { return m.a >= 0 && m.a <= 5 }},
		"is_null": {"a IS NULL", func(m sqlMsg) bool { return m.a < 0 }},
		"tags":    {"TAGS = 'TagS' AND color IS NOT NULL", func(m sqlMsg) bool { return m.tag == "TagS" && m.color != "" }},
	}
	recs := map[string]*recorder{}
	for name, e := range exprs {
		rec := &recorder{}
		recs[name] = rec
		startSelectorConsumer(t, uniqueName(t, "cg_"+name), topic, consumer.MessageSelector{Type: consumer.SQL92, Expression: e.sql},
			func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
				rec.add(msgs...)
				return consumer.ConsumeSuccess, nil
			})
	}
	// Everything as well, to know when all were pulled past.
	everything := startConsumer(t, uniqueName(t, "cg_all"), topic, "*")

	var msgs []sqlMsg
	for _, a := range []int{-1, 0, 2, 5, 6, 10} {
		for _, color := range []string{"", "red", "blue"} {
			for _, tag := range []string{"", "TagS", "TagX"} {
				msgs = append(msgs, sqlMsg{a, color, tag})
			}
		}
	}
	p := newProducer(t)
	byID := map[string]sqlMsg{}
	for i, sm := range msgs {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("sql %d %+v", i, sm)))
		if sm.a >= 0 {
			m.WithProperty("a", strconv.Itoa(sm.a))
		}
		if sm.color != "" {
			m.WithProperty("color", sm.color)
		}
		if sm.tag != "" {
			m.WithTag(sm.tag)
		}
		r, err := p.SendSync(ctx(t, 10*time.Second), m)
		if err != nil || r.Status != primitive.SendOK {
			t.Fatalf("send %+v: %v %v", sm, err, r)
		}
		byID[r.MsgID] = sm
	}
	want := map[string]map[string]bool{}
	for name, e := range exprs {
		want[name] = map[string]bool{}
		for id, sm := range byID {
			if e.match(sm) {
				want[name][id] = true
			}
		}
		if len(want[name]) == 0 || len(want[name]) == len(byID) {
			t.Fatalf("expression %q selects %d of %d: the test needs it to select some", e.sql, len(want[name]), len(byID))
		}
	}
	waitFor(t, deliveryTimeout, "every message to the '*' group", func() (bool, string) {
		return everything.count() >= len(byID), fmt.Sprintf("%d of %d", everything.count(), len(byID))
	})
	for name, rec := range recs {
		rec, n := rec, len(want[name])
		waitFor(t, deliveryTimeout, "group "+name, func() (bool, string) {
			return rec.count() >= n, fmt.Sprintf("%d of %d", rec.count(), n)
		})
	}
	time.Sleep(500 * time.Millisecond) // room for deliveries the expression does not select
	for name, rec := range recs {
		got := map[string]int{}
		for _, m := range rec.all() {
			got[m.MsgId]++
		}
		var extra, missing []string
		for id, c := range got {
			if !want[name][id] || c != 1 {
				extra = append(extra, fmt.Sprintf("%+v x%d", byID[id], c))
			}
		}
		for id := range want[name] {
			if got[id] == 0 {
				missing = append(missing, fmt.Sprintf("%+v", byID[id]))
			}
		}
		sort.Strings(extra)
		sort.Strings(missing)
		if len(extra) > 0 || len(missing) > 0 {
			t.Errorf("%q: received %d, want %d; not selected (or twice): %s; missing: %s", exprs[name].sql, len(rec.all()), len(want[name]),
				strings.Join(extra, ", "), strings.Join(missing, ", "))
		}
	}
}
