package interop

// ACL 1.0 with the Go client's own signing (WithCredentials on the admin, producer and push consumer):
// a Bolide of the test's own with aclEnable and a plain_acl.yml. A signed admin creates the topic, a
// signed producer's sends are SEND_OK and a signed push consumer receives them; an unsigned producer, a
// wrong secret and an account denied the topic are refused with NO_PERMISSION and store nothing.
// Skipped against an external broker (INTEROP_NAMESRV): it needs a broker it starts with ACL on.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

const aclAccounts = `accounts:
  - accessKey: goAdmin01
    secretKey: goAdminSecret01
    admin: true
  - accessKey: goApp01
    secretKey: goAppSecret01
    defaultTopicPerm: PUB|SUB
    defaultGroupPerm: SUB
    topicPerms:
      - GoAclDenied=DENY
`

func creds(ak, sk string) primitive.Credentials {
	return primitive.Credentials{AccessKey: ak, SecretKey: sk}
}

func TestACLSignedClientsWorkOthersAreRefused(t *testing.T) {
	if os.Getenv("INTEROP_NAMESRV") != "" {
		t.Skip("needs a Bolide the suite starts with aclEnable; INTEROP_NAMESRV names an external broker")
	}
	dir, err := os.MkdirTemp(filepath.Dir(filepath.Dir(aclWorkHint())), "acl-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "plain_acl.yml")
	if err := os.WriteFile(file, []byte(aclAccounts), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := startBolide("--set", "aclEnable=true", "--set", "aclFile="+file)
	if err != nil {
		if b != nil {
			t.Log(b.logTail(40))
			b.stop()
		}
		t.Fatalf("start bolide with ACL: %v", err)
	}
	defer func() {
		if t.Failed() {
			t.Log(b.logTail(60))
		}
		b.stop()
		_ = os.RemoveAll(b.workDir)
	}()
	ns := []string{b.namesrv}

	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver(ns)),
		admin.WithCredentials(creds("goAdmin01", "goAdminSecret01")))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	topic := uniqueName(t, "topic")
	for _, tp := range []string{topic, "GoAclDenied"} {
		if err := adm.CreateTopic(ctx(t, 10*time.Second), admin.WithTopicCreate(tp),
			admin.WithBrokerAddrCreate(b.broker), admin.WithReadQueueNums(2), admin.WithWriteQueueNums(2)); err != nil {
			t.Fatalf("signed admin: create topic %s: %v", tp, err)
		}
	}

	send := func(p interface {
		SendSync(context.Context, ...*primitive.Message) (*primitive.SendResult, error)
	}, tp, body string) error {
		r, err := p.SendSync(ctx(t, 5*time.Second), primitive.NewMessage(tp, []byte(body)))
		if err == nil && r.Status != primitive.SendOK {
			err = fmt.Errorf("status %d", r.Status)
		}
		return err
	}
	// Each client its own instance: the Go client shares one remoting client (and its signing hook)
	// between producers of one instance name.
	signed := newProducer(t, producer.WithNameServer(ns), producer.WithRetry(0), producer.WithInstanceName("acl-signed"),
		producer.WithCredentials(creds("goApp01", "goAppSecret01")))
	const n = 5
	waitFor(t, 15*time.Second, "the route of "+topic, func() (bool, string) {
		err := send(signed, topic, "body-0")
		return err == nil, fmt.Sprint(err)
	})
	for i := 1; i < n; i++ {
		if err := send(signed, topic, fmt.Sprintf("body-%d", i)); err != nil {
			t.Fatalf("signed send %d: %v", i, err)
		}
	}

	refused := func(what string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: want a refusal saying %q, got %v", what, want, err)
		}
	}
	unsigned := newProducer(t, producer.WithNameServer(ns), producer.WithRetry(0), producer.WithInstanceName("acl-unsigned"))
	refused("unsigned send", send(unsigned, topic, "x"), "No accessKey")
	forged := newProducer(t, producer.WithNameServer(ns), producer.WithRetry(0), producer.WithInstanceName("acl-forged"),
		producer.WithCredentials(creds("goApp01", "guessedSecret")))
	refused("wrong secret", send(forged, topic, "x"), "Check signature failed for accessKey=goApp01")
	refused("denied topic", send(signed, "GoAclDenied", "x"), "No permission for topic:GoAclDenied")

	rec := &recorder{}
	startPushConsumer(t, uniqueName(t, "cg"), topic, "", func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		rec.add(msgs...)
		return consumer.ConsumeSuccess, nil
	}, consumer.WithNameServer(ns), consumer.WithInstance("acl-consumer"), consumer.WithCredentials(creds("goApp01", "goAppSecret01")))
	waitFor(t, 30*time.Second, "the signed consumer to receive every message", func() (bool, string) {
		return rec.count() >= n, fmt.Sprintf("%d of %d", rec.count(), n)
	})
	if got := rec.count(); got != n {
		t.Fatalf("signed consumer received %d messages, want %d (refused sends must store nothing)", got, n)
	}
}

// aclWorkHint is a path under the suite's work root (INTEROP_WORK_DIR or target/interop-go), so that
// the ACL file sits on the same real filesystem as the broker's data.
func aclWorkHint() string {
	root := os.Getenv("INTEROP_WORK_DIR")
	if root == "" {
		root = filepath.Join(repoRoot(), "target", "interop-go")
	}
	return filepath.Join(root, "x", "y")
}
