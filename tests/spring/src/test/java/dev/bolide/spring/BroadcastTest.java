package dev.bolide.spring;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.spring.annotation.MessageModel;
import org.apache.rocketmq.spring.annotation.RocketMQMessageListener;
import org.apache.rocketmq.spring.core.RocketMQListener;
import org.apache.rocketmq.spring.core.RocketMQTemplate;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.context.ApplicationContext;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.test.annotation.DirtiesContext;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Scenario 7: messageModel = BROADCASTING. Two listener containers of the same group and topic in one
 * application each get every message once. A broadcasting consumer without a local offset starts at the
 * queue's end, so the test sends only after both own all queues.
 *
 * <p>Each container names its own instanceName: the client turns the default "DEFAULT" into pid#nanotime only
 * for CLUSTERING consumers, so two BROADCASTING containers of one group would share one client instance, and
 * the second fails to start ("The consumer group[...] has been created before, specify another name please").
 */
@SpringBootTest(classes = BroadcastTest.App.class)
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class BroadcastTest {
    static final int QUEUES = 4;
    static final int COUNT = 20;

    @Configuration
    @EnableAutoConfiguration
    @Import({ClientTuning.class, First.class, Second.class})
    static class App {}

    abstract static class Recorder implements RocketMQListener<String> {
        final Map<String, AtomicInteger> got = new ConcurrentHashMap<>();

        @Override
        public void onMessage(String body) {
            got.computeIfAbsent(body, k -> new AtomicInteger()).incrementAndGet();
        }

        Map<String, Integer> snapshot() {
            Map<String, Integer> m = new TreeMap<>();
            got.forEach((k, v) -> m.put(k, v.get()));
            return m;
        }
    }

    @RocketMQMessageListener(topic = "${test.topic}", consumerGroup = "${test.group}", messageModel = MessageModel.BROADCASTING,
        instanceName = "bcast-first")
    static class First extends Recorder implements RocketMQListener<String> {}

    @RocketMQMessageListener(topic = "${test.topic}", consumerGroup = "${test.group}", messageModel = MessageModel.BROADCASTING,
        instanceName = "bcast-second")
    static class Second extends Recorder implements RocketMQListener<String> {}

    @DynamicPropertySource
    static void names(DynamicPropertyRegistry registry) {
        Interop.names(registry, "Bcast", QUEUES);
    }

    @Autowired RocketMQTemplate template;
    @Autowired First first;
    @Autowired Second second;
    @Autowired ApplicationContext ctx;
    @Value("${test.topic}") String topic;

    @Test
    void broadcastingTwoContainersOfOneGroupEachGetEveryMessage() throws Exception {
        Interop.awaitSubscribed(ctx, topic, QUEUES);
        Map<String, Integer> expected = new TreeMap<>();
        for (int i = 0; i < COUNT; i++) {
            SendResult r = template.syncSend(topic, "bcast-" + i);
            assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "syncSend bcast-" + i + ": " + r);
            expected.put("bcast-" + i, 1);
        }
        Set<String> all = new TreeSet<>(expected.keySet());
        Interop.awaitTrue(() -> "every message at both containers (first " + first.snapshot().keySet() + ", second "
            + second.snapshot().keySet() + ")", 30_000,
            () -> first.got.keySet().containsAll(all) && second.got.keySet().containsAll(all));
        Interop.quiet();
        assertEquals(expected, first.snapshot(), "first container: every message once");
        assertEquals(expected, second.snapshot(), "second container: every message once");
    }
}
