package dev.bolide.grpc;

import static dev.bolide.grpc.Env.*;
import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.*;
import org.apache.rocketmq.client.apis.consumer.SimpleConsumer;
import org.apache.rocketmq.client.apis.message.MessageView;
import org.apache.rocketmq.client.apis.producer.Producer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * SimpleConsumer with a tag filter: it gets every TagA message once and no TagB message; an acked message
 * does not come back after its invisible duration has passed.
 */
class SimpleConsumerTest {
    static final String W = "SimpleConsumerTest";
    static final Duration INVISIBLE = Duration.ofSeconds(5);

    @Test
    @Timeout(120)
    void tagFilterAndAckDeliverEveryMessageOnce() throws Exception {
        String topic = topic("simple"), n = nonce();
        try (SimpleConsumer c = simple(group("simple"), topic, "TagA", Duration.ofSeconds(3));
             Producer p = producer(topic)) {
            settle(W, c);
            Set<String> wantA = new TreeSet<>();
            for (int i = 0; i < 20; i++) {
                String tag = i % 4 == 3 ? "TagB" : "TagA", b = n + ":" + tag + ":" + i;
                p.send(P.newMessageBuilder().setTopic(topic).setTag(tag).setKeys("k-" + n + "-" + i).setBody(bytes(b)).build());
                if (tag.equals("TagA")) wantA.add(b);
            }
            log(W, "sent %d TagA and %d TagB", wantA.size(), 20 - wantA.size());

            Map<String, Integer> got = new TreeMap<>();
            List<String> leaked = new ArrayList<>();
            long deadline = System.currentTimeMillis() + 60_000;
            while (got.size() < wantA.size() && System.currentTimeMillis() < deadline) {
                for (MessageView m : receive(W, c, 8, INVISIBLE)) {
                    String b = body(m);
                    c.ack(m);
                    if (!b.startsWith(n + ":")) continue;
                    if (!"TagA".equals(m.getTag().orElse(null))) leaked.add(b);
                    got.merge(b, 1, Integer::sum);
                }
            }
            log(W, "received %d TagA messages, acked each; now watching for redeliveries", got.size());
            // Longer than the invisible duration: an acked message must not become visible again.
            long quiet = System.currentTimeMillis() + INVISIBLE.toMillis() + 4_000;
            while (System.currentTimeMillis() < quiet) {
                for (MessageView m : receive(W, c, 8, INVISIBLE)) {
                    String b = body(m);
                    c.ack(m);
                    if (b.startsWith(n + ":")) got.merge(b, 1, Integer::sum);
                }
            }
            assertTrue(leaked.isEmpty(), "the TagA consumer got other tags: " + leaked);
            assertEquals(wantA, got.keySet(), "every TagA message should arrive (and nothing else)");
            Map<String, Integer> dups = new TreeMap<>(got);
            dups.values().removeIf(v -> v == 1);
            assertTrue(dups.isEmpty(), "acked messages came again: " + dups);
        }
    }
}
