package dev.bolide.spring;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.spring.annotation.RocketMQMessageListener;
import org.apache.rocketmq.spring.annotation.SelectorType;
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
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.test.annotation.DirtiesContext;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Scenario 2b: SQL92. Messages carry the user property "a" (a Spring message header: the starter copies
 * headers into user properties); a listener with selectorType SQL92 and "a BETWEEN 1 AND 3" gets only those
 * with a in 1..3 (the broker filters, the client does not re-check SQL). Needs enablePropertyFilter on the
 * Java broker. One queue and an a=2 message sent last, as in TagFilterTest.
 */
@SpringBootTest(classes = SqlFilterTest.App.class)
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class SqlFilterTest {
    @Configuration
    @EnableAutoConfiguration
    @Import({ClientTuning.class, SqlListener.class})
    static class App {}

    @RocketMQMessageListener(topic = "${test.topic}", consumerGroup = "${test.group}",
        selectorType = SelectorType.SQL92, selectorExpression = "a BETWEEN 1 AND 3")
    static class SqlListener implements RocketMQListener<MessageExt> {
        /** body -> property a */
        final Map<String, String> got = new ConcurrentHashMap<>();
        final AtomicInteger deliveries = new AtomicInteger();

        @Override
        public void onMessage(MessageExt m) {
            deliveries.incrementAndGet();
            got.put(new String(m.getBody(), StandardCharsets.UTF_8), String.valueOf(m.getUserProperty("a")));
        }
    }

    @DynamicPropertySource
    static void names(DynamicPropertyRegistry registry) {
        Interop.names(registry, "Sql", 1);
    }

    @Autowired RocketMQTemplate template;
    @Autowired SqlListener listener;
    @Autowired ApplicationContext ctx;
    @Value("${test.topic}") String topic;

    @Test
    void sql92SelectorOnHeaderPropertyDeliversOnlyMatches() throws Exception {
        Interop.awaitSubscribed(ctx, topic, 1);
        Map<String, String> expected = new TreeMap<>();
        for (int round = 0; round < 2; round++) {
            for (int a = 0; a <= 5; a++) {
                String body = "sql-a" + a + "-" + round;
                SendResult r = template.syncSend(topic, MessageBuilder.withPayload(body).setHeader("a", a).build());
                assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "syncSend " + body + ": " + r);
                if (a >= 1 && a <= 3) {
                    expected.put(body, Integer.toString(a));
                }
            }
            // No property "a" at all: the expression is not true for it.
            String body = "sql-none-" + round;
            SendResult r = template.syncSend(topic, MessageBuilder.withPayload(body).setHeader("b", 2).build());
            assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "syncSend " + body + ": " + r);
        }
        SendResult last = template.syncSend(topic, MessageBuilder.withPayload("sql-last").setHeader("a", 2).build());
        assertEquals(SendStatus.SEND_OK, last.getSendStatus());
        expected.put("sql-last", "2");

        Interop.awaitTrue(() -> "all messages with a in 1..3 (got " + new TreeMap<>(listener.got) + ")", 30_000,
            () -> listener.got.keySet().containsAll(expected.keySet()));
        Interop.quiet();
        assertEquals(expected, new TreeMap<>(listener.got), "only a BETWEEN 1 AND 3");
        assertEquals(expected.size(), listener.deliveries.get(), "each delivered once");
    }
}
