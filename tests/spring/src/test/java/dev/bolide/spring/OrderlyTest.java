package dev.bolide.spring;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.spring.annotation.ConsumeMode;
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
 * Scenario 3: syncSendOrderly(topic, payload, hashKey) puts each key's messages on one queue (the template's
 * SelectMessageQueueByHash); a ConsumeMode.ORDERLY listener (queues locked at the broker, LOCK_BATCH_MQ)
 * consumes each key's messages in the order sent. The listener dawdles a little so that a consumer that did
 * not serialise a queue would show it.
 */
@SpringBootTest(classes = OrderlyTest.App.class)
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class OrderlyTest {
    static final int QUEUES = 4;
    static final int KEYS = 6;
    static final int PER_KEY = 15;

    @Configuration
    @EnableAutoConfiguration
    @Import({ClientTuning.class, OrderlyListener.class})
    static class App {}

    @RocketMQMessageListener(topic = "${test.topic}", consumerGroup = "${test.group}", consumeMode = ConsumeMode.ORDERLY)
    static class OrderlyListener implements RocketMQListener<String> {
        final Map<String, List<Integer>> got = new ConcurrentHashMap<>();
        final AtomicInteger total = new AtomicInteger();

        @Override
        public void onMessage(String body) {
            String[] kv = body.split(":");
            try {
                Thread.sleep(ThreadLocalRandom.current().nextInt(3));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            List<Integer> l = got.computeIfAbsent(kv[0], k -> java.util.Collections.synchronizedList(new ArrayList<>()));
            l.add(Integer.parseInt(kv[1]));
            total.incrementAndGet();
        }
    }

    @DynamicPropertySource
    static void names(DynamicPropertyRegistry registry) {
        Interop.names(registry, "Orderly", QUEUES);
    }

    @Autowired RocketMQTemplate template;
    @Autowired OrderlyListener listener;
    @Autowired ApplicationContext ctx;
    @Value("${test.topic}") String topic;

    @Test
    void syncSendOrderlyKeepsPerKeyOrderForOrderlyListener() throws Exception {
        Interop.awaitSubscribed(ctx, topic, QUEUES);
        Map<String, MessageQueue> queueOfKey = new HashMap<>();
        for (int seq = 0; seq < PER_KEY; seq++) {
            for (int k = 0; k < KEYS; k++) {
                String key = "order-" + k;
                SendResult r = template.syncSendOrderly(topic, key + ":" + seq, key);
                assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "syncSendOrderly " + key + ":" + seq + ": " + r);
                MessageQueue first = queueOfKey.putIfAbsent(key, r.getMessageQueue());
                if (first != null) {
                    assertEquals(first, r.getMessageQueue(), "all messages of " + key + " on one queue");
                }
            }
        }
        Interop.awaitTrue(() -> "all " + KEYS * PER_KEY + " messages (got " + listener.total.get() + ")", 30_000,
            () -> listener.total.get() >= KEYS * PER_KEY);
        Interop.quiet();
        List<Integer> inOrder = IntStream.range(0, PER_KEY).boxed().collect(Collectors.toList());
        Map<String, List<Integer>> got = new TreeMap<>();
        listener.got.forEach((k, v) -> got.put(k, new ArrayList<>(v)));
        assertEquals(KEYS, got.size(), "keys consumed: " + got.keySet());
        for (Map.Entry<String, List<Integer>> e : got.entrySet()) {
            assertEquals(inOrder, e.getValue(), "order of " + e.getKey() + " (on " + queueOfKey.get(e.getKey()) + ")");
        }
    }
}
