package dev.bolide.spring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
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
 * Scenario 1: RocketMQTemplate.syncSend / asyncSend / sendOneWay of a POJO (JSON by the starter's Jackson
 * converter), consumed by a @RocketMQMessageListener bean implementing RocketMQListener&lt;Order&gt;.
 */
@SpringBootTest(classes = SendPojoTest.App.class)
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class SendPojoTest {
    static final int QUEUES = 4;
    static final int EACH = 10;

    @Configuration
    @EnableAutoConfiguration
    @Import({ClientTuning.class, OrderListener.class})
    static class App {}

    @RocketMQMessageListener(topic = "${test.topic}", consumerGroup = "${test.group}")
    static class OrderListener implements RocketMQListener<Order> {
        final Map<String, Queue<Order>> got = new ConcurrentHashMap<>();

        @Override
        public void onMessage(Order order) {
            got.computeIfAbsent(order.getId(), k -> new ConcurrentLinkedQueue<>()).add(order);
        }
    }

    @DynamicPropertySource
    static void names(DynamicPropertyRegistry registry) {
        Interop.names(registry, "Pojo", QUEUES);
    }

    @Autowired RocketMQTemplate template;
    @Autowired OrderListener listener;
    @Autowired ApplicationContext ctx;
    @Value("${test.topic}") String topic;

    @Test
    void syncAsyncOneWayPojoEachConsumedOnceIntact() throws Exception {
        Interop.awaitSubscribed(ctx, topic, QUEUES);
        Map<String, Order> sent = new TreeMap<>();
        Queue<SendResult> asyncOk = new ConcurrentLinkedQueue<>();
        Queue<Throwable> asyncFailed = new ConcurrentLinkedQueue<>();
        List<SendResult> syncResults = new ArrayList<>();
        for (int i = 0; i < EACH; i++) {
            Order s = new Order("sync-" + i, "syncSend", i);
            sent.put(s.getId(), s);
            syncResults.add(template.syncSend(topic, s));

            Order a = new Order("async-" + i, "asyncSend", i);
            sent.put(a.getId(), a);
            template.asyncSend(topic, a, new SendCallback() {
                @Override
                public void onSuccess(SendResult r) {
                    asyncOk.add(r);
                }

                @Override
                public void onException(Throwable e) {
                    asyncFailed.add(e);
                }
            });

            Order o = new Order("oneway-" + i, "sendOneWay", i);
            sent.put(o.getId(), o);
            template.sendOneWay(topic, o);
        }
        for (SendResult r : syncResults) {
            assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "syncSend result " + r);
            assertTrue(r.getMsgId() != null && !r.getMsgId().isEmpty(), "syncSend gives a message id: " + r);
        }
        Interop.awaitTrue(() -> "the " + EACH + " asyncSend callbacks (ok " + asyncOk.size() + ", failed "
            + asyncFailed + ")", 20_000, () -> asyncOk.size() + asyncFailed.size() == EACH);
        assertTrue(asyncFailed.isEmpty(), "asyncSend failures: " + asyncFailed);
        for (SendResult r : asyncOk) {
            assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "asyncSend result " + r);
        }

        Interop.awaitTrue(() -> "all " + sent.size() + " orders consumed (missing "
            + sent.keySet().stream().filter(k -> !listener.got.containsKey(k)).toList() + ")",
            30_000, () -> listener.got.keySet().containsAll(sent.keySet()));
        Interop.quiet();
        assertEquals(sent.keySet(), new TreeMap<>(listener.got).keySet(), "nothing else consumed");
        for (Map.Entry<String, Order> e : sent.entrySet()) {
            List<Order> copies = new ArrayList<>(listener.got.get(e.getKey()));
            assertEquals(1, copies.size(), e.getKey() + " consumed once: " + copies);
            assertEquals(e.getValue(), copies.get(0), "payload of " + e.getKey() + " intact");
        }
    }
}
