package interop

// Everything v2.1.2's admin API offers (admin.NewAdmin): CreateTopic (UPDATE_AND_CREATE_TOPIC, 17) with
// queue counts, FetchAllTopicList (GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 206), FetchPublishMessageQueues
// (the NameServer's route), DeleteTopic (DELETE_TOPIC_IN_BROKER, 215, then DELETE_TOPIC_IN_NAMESRV, 216)
// and GetAllSubscriptionGroup (GET_ALL_SUBSCRIPTIONGROUP_CONFIG, 201): each answer matches what was done.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

func topicListed(t *testing.T, topic string) (bool, error) {
	list, err := adminClient.FetchAllTopicList(ctx(t, 5*time.Second))
	if err != nil {
		return false, err
	}
	for _, tp := range list.TopicList {
		if tp == topic {
			return true, nil
		}
	}
	return false, nil
}

// freshAdmin is an admin client with no cached routes (the client keeps the routes it fetched).
func freshAdmin(t *testing.T) admin.Admin {
	t.Helper()
	a, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver([]string{namesrvAddr})))
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func TestAdminCreateListDeleteTopic(t *testing.T) {
	topic := uniqueName(t, "topic")
	if ok, err := topicListed(t, topic); err != nil || ok {
		t.Fatalf("before creating: listed %v, err %v", ok, err)
	}
	if err := adminClient.CreateTopic(ctx(t, 10*time.Second), admin.WithTopicCreate(topic), admin.WithBrokerAddrCreate(brokerAddr),
		admin.WithReadQueueNums(3), admin.WithWriteQueueNums(3)); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	waitFor(t, 10*time.Second, topic+" in the topic list", func() (bool, string) {
		ok, err := topicListed(t, topic)
		return ok, fmt.Sprintf("listed %v, err %v", ok, err)
	})
	mqs, err := freshAdmin(t).FetchPublishMessageQueues(ctx(t, 5*time.Second), topic)
	if err != nil || len(mqs) != 3 {
		t.Fatalf("publish queues of %s: %v, err %v; want 3", topic, mqs, err)
	}
	ids := map[int]bool{}
	for _, mq := range mqs {
		if mq.Topic != topic || mq.BrokerName == "" {
			t.Errorf("queue %+v", mq)
		}
		ids[mq.QueueId] = true
	}
	if !ids[0] || !ids[1] || !ids[2] {
		t.Errorf("queue ids %v, want 0 1 2", ids)
	}

	// The topic works: a message sent is consumed.
	p := newProducer(t)
	r, err := p.SendSync(ctx(t, 10*time.Second), primitive.NewMessage(topic, []byte("admin topic")))
	if err != nil || r.Status != primitive.SendOK {
		t.Fatalf("send: %v %v", err, r)
	}

	if err := adminClient.DeleteTopic(ctx(t, 10*time.Second), admin.WithTopicDelete(topic), admin.WithBrokerAddrDelete(brokerAddr)); err != nil {
		t.Fatalf("delete %s: %v", topic, err)
	}
	waitFor(t, 10*time.Second, topic+" gone from the topic list", func() (bool, string) {
		ok, err := topicListed(t, topic)
		return err == nil && !ok, fmt.Sprintf("listed %v, err %v", ok, err)
	})
	waitFor(t, 10*time.Second, "no route for "+topic, func() (bool, string) {
		mqs, err := freshAdmin(t).FetchPublishMessageQueues(ctx(t, 5*time.Second), topic)
		return err != nil || len(mqs) == 0, fmt.Sprintf("queues %v, err %v", mqs, err)
	})
}

func TestAdminGetAllSubscriptionGroup(t *testing.T) {
	topic, _ := createTopic(t)
	group := uniqueName(t, "cg")
	startPushConsumer(t, group, topic, "", func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		return consumer.ConsumeSuccess, nil
	})
	// The broker creates the group's subscription config on its first heartbeat (autoCreateSubscriptionGroup).
	var cfg admin.SubscriptionGroupConfig
	waitFor(t, 10*time.Second, "group "+group+" in the broker's subscription groups", func() (bool, string) {
		w, err := adminClient.GetAllSubscriptionGroup(ctx(t, 5*time.Second), brokerAddr, 3*time.Second)
		if err != nil {
			return false, fmt.Sprintf("err %v", err)
		}
		c, ok := w.SubscriptionGroupTable[group]
		cfg = c
		return ok, fmt.Sprintf("%d groups, data version %+v", len(w.SubscriptionGroupTable), w.DataVersion)
	})
	// RocketMQ's defaults for an auto-created group.
	if cfg.GroupName != group || !cfg.ConsumeEnable || !cfg.ConsumeBroadcastEnable || cfg.RetryMaxTimes != 16 || cfg.RetryQueueNums != 1 ||
		cfg.BrokerId != 0 || !cfg.NotifyConsumerIdsChangedEnable {
		t.Errorf("config of %s: %+v; want its name, consumeEnable, consumeBroadcastEnable, retryMaxTimes 16, retryQueueNums 1, brokerId 0, notifyConsumerIdsChangedEnable", group, cfg)
	}
}
