package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.TreeSet;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Tag expressions: the broker filters by tag hash code, the client by the tag string. */
class TagTest {
    @AfterEach
    void close() {
        Env.closeAll();
    }

    static MessageListenerConcurrently into(Set<String> got) {
        return (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                synchronized (got) {
                    got.add(m.getTags() + ":" + new String(m.getBody(), StandardCharsets.UTF_8));
                }
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        };
    }

    @Test
    void tagExpressions() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JTags");
        Env.createTopic(p, topic, 4);
        String[] tags = {"TagA", "TagB", "TagC", null};
        Set<String> all = new TreeSet<>();
        Set<String> aOrB = new TreeSet<>();
        for (int i = 0; i < 16; i++) {
            String tag = tags[i % tags.length];
            Message m = new Message(topic, ("t" + i).getBytes(StandardCharsets.UTF_8));
            if (tag != null) {
                m.setTags(tag);
            }
            p.send(m);
            all.add(tag + ":t" + i);
            if ("TagA".equals(tag) || "TagB".equals(tag)) {
                aOrB.add(tag + ":t" + i);
            }
        }
        Set<String> gotAB = new TreeSet<>();
        Set<String> gotAll = new TreeSet<>();
        Set<String> gotC = new TreeSet<>();
        DefaultMQPushConsumer cAB = Env.pushConsumer(Env.unique("CGTagAB"), topic, "TagA || TagB", false,
            ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, into(gotAB));
        DefaultMQPushConsumer cAll = Env.pushConsumer(Env.unique("CGTagAll"), topic, "*", false,
            ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, into(gotAll));
        DefaultMQPushConsumer cC = Env.pushConsumer(Env.unique("CGTagC"), topic, "TagC", false,
            ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, into(gotC));
        cAB.start();
        cAll.start();
        cC.start();
        Env.awaitTrue(() -> "'*' consumer got all 16 (" + sizeOf(gotAll) + ")", 15_000, () -> sizeOf(gotAll) >= 16);
        Env.awaitTrue(() -> "'TagA || TagB' consumer got 8 (" + sizeOf(gotAB) + ")", 15_000, () -> sizeOf(gotAB) >= 8);
        Env.awaitTrue("'TagC' consumer got 4", 15_000, () -> sizeOf(gotC) >= 4);
        Env.quiet(300);
        assertEquals(all, snapshot(gotAll));
        assertEquals(aOrB, snapshot(gotAB));
        assertEquals(4, snapshot(gotC).size());
        for (String s : snapshot(gotC)) {
            assertEquals("TagC", s.split(":")[0], "TagC consumer got " + s);
        }
    }

    static int sizeOf(Set<String> s) {
        synchronized (s) {
            return s.size();
        }
    }

    static Set<String> snapshot(Set<String> s) {
        synchronized (s) {
            return new TreeSet<>(s);
        }
    }
}
