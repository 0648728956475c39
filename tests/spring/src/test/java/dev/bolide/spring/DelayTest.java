package dev.bolide.spring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.spring.annotation.RocketMQMessageListener;
import org.apache.rocketmq.spring.core.RocketMQListener;
import org.apache.rocketmq.spring.core.RocketMQTemplate;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.context.ApplicationContext;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.test.annotation.DirtiesContext;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Scenario 4: syncSend(destination, message, timeout, delayLevel) with level 2 (5 s in the default
 * messageDelayLevel table "1s 5s 10s ..."): not delivered before ~4 s, delivered after, on the topic it was
 * sent to. A message without delay sent first shows that the listener is live (it arrives at once).
 */
@SpringBootTest(classes = DelayTest.App.class)
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class DelayTest {
    static final Logger LOG = LoggerFactory.getLogger(DelayTest.class);
    static final int QUEUES = 2;

    @Configuration
    @EnableAutoConfiguration
    @Import({ClientTuning.class, DelayListener.class})
    static class App {}

    @RocketMQMessageListener(topic = "${test.topic}", consumerGroup = "${test.group}")
    static class DelayListener implements RocketMQListener<MessageExt> {
        /** body -> (arrival nanoTime, message) */
        final Map<String, Long> at = new ConcurrentHashMap<>();
        final Map<String, MessageExt> msgs = new ConcurrentHashMap<>();

        @Override
        public void onMessage(MessageExt m) {
            String body = new String(m.getBody(), StandardCharsets.UTF_8);
            at.putIfAbsent(body, System.nanoTime());
            msgs.putIfAbsent(body, m);
        }
    }

    @DynamicPropertySource
    static void names(DynamicPropertyRegistry registry) {
        Interop.names(registry, "Delay", QUEUES);
    }

    @Autowired RocketMQTemplate template;
    @Autowired DelayListener listener;
    @Autowired ApplicationContext ctx;
    @Value("${test.topic}") String topic;

    @Test
    void delayLevel2DeliveredAfterFiveSecondsNotBefore() throws Exception {
        Interop.awaitSubscribed(ctx, topic, QUEUES);
        long t0 = System.nanoTime();
        SendResult now = template.syncSend(topic, MessageBuilder.withPayload("now").build(), 5000);
        assertEquals(SendStatus.SEND_OK, now.getSendStatus(), "syncSend without delay: " + now);
        Interop.awaitTrue("the message without delay", 15_000, () -> listener.at.containsKey("now"));
        long nowMs = (listener.at.get("now") - t0) / 1_000_000;

        long t1 = System.nanoTime();
        SendResult r = template.syncSend(topic, MessageBuilder.withPayload("delayed").build(), 5000, 2);
        assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "syncSend with delayLevel 2: " + r);
        Interop.awaitTrue("the delayed message (level 2 = 5 s)", 30_000, () -> listener.at.containsKey("delayed"));
        long delayedMs = (listener.at.get("delayed") - t1) / 1_000_000;
        LOG.info("[{}] no delay: consumed after {} ms; delayLevel 2: consumed after {} ms", Interop.KIND, nowMs, delayedMs);
        assertTrue(delayedMs >= 4000, "delayLevel 2 (5 s) consumed after only " + delayedMs + " ms");
        MessageExt m = listener.msgs.get("delayed");
        assertEquals(topic, m.getTopic(), "delivered on the topic it was sent to");
    }
}
