package dev.bolide.grpc;

import static dev.bolide.grpc.Env.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.apis.consumer.ConsumeResult;
import org.apache.rocketmq.client.apis.consumer.FilterExpression;
import org.apache.rocketmq.client.apis.consumer.FilterExpressionType;
import org.apache.rocketmq.client.apis.consumer.PushConsumer;
import org.apache.rocketmq.client.apis.producer.Producer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** PushConsumer: every message is consumed once; the one whose first consumption fails comes back and succeeds. */
class PushConsumerTest {
    static final String W = "PushConsumerTest";

    @Test
    @Timeout(150)
    void failedMessageIsRedelivered() throws Exception {
        String topic = topic("push"), n = nonce(), failing = n + ":3";
        Map<String, Integer> ok = new ConcurrentHashMap<>();
        Map<String, Integer> attempts = new ConcurrentHashMap<>();
        Map<String, Integer> redeliveryAttempt = new ConcurrentHashMap<>();
        PushConsumer pc = P.newPushConsumerBuilder().setClientConfiguration(config()).setConsumerGroup(group("push"))
            .setSubscriptionExpressions(Map.of(topic, new FilterExpression("*", FilterExpressionType.TAG)))
            .setConsumptionThreadCount(4)
            .setMessageListener(m -> {
                String b = body(m);
                if (!b.startsWith(n + ":")) return ConsumeResult.SUCCESS;
                int a = attempts.merge(b, 1, Integer::sum);
                if (b.equals(failing) && a == 1) {
                    log(W, "failing %s once (delivery attempt %d)", b, m.getDeliveryAttempt());
                    return ConsumeResult.FAILURE;
                }
                if (b.equals(failing)) {
                    redeliveryAttempt.put(b, m.getDeliveryAttempt());
                    log(W, "%s back, delivery attempt %d", b, m.getDeliveryAttempt());
                }
                ok.merge(b, 1, Integer::sum);
                return ConsumeResult.SUCCESS;
            }).build();
        try (Producer p = producer(topic)) {
            Thread.sleep(2000); // let the consumer's first receive settle the group's start offset
            for (int i = 0; i < 10; i++) {
                p.send(P.newMessageBuilder().setTopic(topic).setTag("TagP").setKeys("p-" + n + "-" + i)
                    .setBody(bytes(n + ":" + i)).build());
            }
            log(W, "10 sent");
            long deadline = System.currentTimeMillis() + 90_000;
            while (ok.size() < 10 && System.currentTimeMillis() < deadline) Thread.sleep(200);
            Thread.sleep(3000); // duplicates, if any, show up now
            Map<String, Integer> okSorted = new TreeMap<>(ok);
            assertEquals(10, ok.size(), "consumed successfully: " + okSorted + ", attempts " + new TreeMap<>(attempts));
            assertTrue(ok.values().stream().allMatch(v -> v == 1), "each message should succeed once: " + okSorted);
            assertEquals(2, attempts.get(failing), "consumption attempts of the failed message");
            assertTrue(redeliveryAttempt.getOrDefault(failing, 0) >= 2,
                "the redelivery should say delivery attempt >= 2: " + redeliveryAttempt);
        } finally {
            pc.close();
        }
    }
}
