package dev.bolide.spring;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.apache.rocketmq.spring.annotation.RocketMQMessageListener;
import org.apache.rocketmq.spring.core.RocketMQReplyListener;
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
 * Scenario 6: request-reply. rocketMQTemplate.sendAndReceive(topic, payload, String.class, timeout) (the
 * client's request(): the message carries REPLY_TO_CLIENT and CORRELATION_ID) answered by a
 * @RocketMQMessageListener bean implementing RocketMQReplyListener&lt;String, String&gt; (the container sends
 * the reply with SEND_REPLY_MESSAGE, and the broker pushes it to the requester, PUSH_REPLY_MESSAGE_TO_CLIENT).
 */
@SpringBootTest(classes = RequestReplyTest.App.class)
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class RequestReplyTest {
    static final int QUEUES = 2;

    @Configuration
    @EnableAutoConfiguration
    @Import({ClientTuning.class, Replier.class})
    static class App {}

    @RocketMQMessageListener(topic = "${test.topic}", consumerGroup = "${test.group}")
    static class Replier implements RocketMQReplyListener<String, String> {
        final Queue<String> requests = new ConcurrentLinkedQueue<>();

        @Override
        public String onMessage(String request) {
            requests.add(request);
            return "reply to " + request + " 回复";
        }
    }

    @DynamicPropertySource
    static void names(DynamicPropertyRegistry registry) {
        Interop.names(registry, "Reply", QUEUES);
    }

    @Autowired RocketMQTemplate template;
    @Autowired Replier replier;
    @Autowired ApplicationContext ctx;
    @Value("${test.topic}") String topic;

    @Test
    void sendAndReceiveGetsReplyFromReplyListener() {
        Interop.awaitSubscribed(ctx, topic, QUEUES);
        for (int i = 0; i < 3; i++) {
            String request = "ping-" + i;
            String reply = template.sendAndReceive(topic, request, String.class, 15_000);
            assertEquals("reply to " + request + " 回复", reply, "reply to " + request + " (requests seen by the "
                + "listener: " + replier.requests + ")");
        }
        assertEquals(3, replier.requests.size(), "requests seen: " + replier.requests);
    }
}
