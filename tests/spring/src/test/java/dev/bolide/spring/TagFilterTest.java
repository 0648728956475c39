package dev.bolide.spring;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.MessageExt;
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
 * Scenario 2a: tags. RocketMQTemplate sends to "topic:TagA", "topic:TagB", "topic:TagC" and "topic" (no tag);
 * a listener with selectorExpression "TagA || TagC" gets exactly the TagA and TagC messages. One queue, and a
 * TagC message sent last: when it was consumed, everything sent before it was pulled (and filtered).
 */
@SpringBootTest(classes = TagFilterTest.App.class)
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class TagFilterTest {
    @Configuration
    @EnableAutoConfiguration
    @Import({ClientTuning.class, TagListener.class})
    static class App {}

    @RocketMQMessageListener(topic = "${test.topic}", consumerGroup = "${test.group}", selectorExpression = "TagA || TagC")
    static class TagListener implements RocketMQListener<MessageExt> {
        /** body -> tags of each delivery */
        final Map<String, String> got = new ConcurrentHashMap<>();
        final AtomicInteger deliveries = new AtomicInteger();

        @Override
        public void onMessage(MessageExt m) {
            deliveries.incrementAndGet();
            got.put(new String(m.getBody(), java.nio.charset.StandardCharsets.UTF_8), String.valueOf(m.getTags()));
        }
    }

    @DynamicPropertySource
    static void names(DynamicPropertyRegistry registry) {
        Interop.names(registry, "Tag", 1);
    }

    @Autowired RocketMQTemplate template;
    @Autowired TagListener listener;
    @Autowired ApplicationContext ctx;
    @Value("${test.topic}") String topic;

    @Test
    void tagSelectorDeliversOnlyTagAAndTagC() throws Exception {
        Interop.awaitSubscribed(ctx, topic, 1);
        Map<String, String> expected = new TreeMap<>();
        for (int i = 0; i < 4; i++) {
            for (String tag : new String[] {"TagA", "TagB", "TagC", ""}) {
                String body = "tag-" + (tag.isEmpty() ? "none" : tag) + "-" + i;
                SendResult r = template.syncSend(tag.isEmpty() ? topic : topic + ":" + tag, body);
                assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "syncSend " + body + ": " + r);
                if (tag.equals("TagA") || tag.equals("TagC")) {
                    expected.put(body, tag);
                }
            }
        }
        SendResult last = template.syncSend(topic + ":TagC", "tag-last");
        assertEquals(SendStatus.SEND_OK, last.getSendStatus());
        expected.put("tag-last", "TagC");

        Interop.awaitTrue(() -> "all TagA/TagC messages (got " + new TreeMap<>(listener.got) + ")", 30_000,
            () -> listener.got.keySet().containsAll(expected.keySet()));
        Interop.quiet();
        assertEquals(expected, new TreeMap<>(listener.got), "only TagA and TagC, with their tags");
        assertEquals(expected.size(), listener.deliveries.get(), "each delivered once");
    }
}
