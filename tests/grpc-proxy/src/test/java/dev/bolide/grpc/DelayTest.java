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
 * Delay messages (topic message.type=DELAY, deliveryTimestamp): each arrives at or after its time. Bounds are
 * generous: up to 1.1 s early (the Java broker's timer wheel has a 1 s precision) and 30 s late.
 */
class DelayTest {
    static final String W = "DelayTest";

    @Test
    @Timeout(120)
    void messagesArriveAtOrAfterTheirDeliveryTimestamp() throws Exception {
        String topic = topic("delay"), n = nonce();
        try (SimpleConsumer c = simple(group("delay"), topic, "*", Duration.ofSeconds(3));
             Producer p = producer(topic)) {
            settle(W, c);
            Map<String, Long> due = new TreeMap<>();
            long now = System.currentTimeMillis();
            for (long d : new long[] {4_000, 8_000}) {
                String b = n + ":" + d;
                due.put(b, now + d);
                p.send(P.newMessageBuilder().setTopic(topic).setTag("D").setKeys("d-" + n + "-" + d)
                    .setDeliveryTimestamp(now + d).setBody(bytes(b)).build());
            }
            log(W, "2 sent, due in 4 s and 8 s");
            Map<String, Long> got = new TreeMap<>();
            long deadline = now + 8_000 + 30_000;
            while (got.size() < due.size() && System.currentTimeMillis() < deadline) {
                for (MessageView m : receive(W, c, 4, Duration.ofSeconds(20))) {
                    String b = body(m);
                    c.ack(m);
                    if (due.containsKey(b) && !got.containsKey(b)) {
                        got.put(b, System.currentTimeMillis() - due.get(b));
                        log(W, "%s arrived %d ms after its delivery time", b, got.get(b));
                    }
                }
            }
            assertEquals(due.keySet(), got.keySet(), "received (ms after their delivery time): " + got);
            for (Map.Entry<String, Long> e : got.entrySet()) {
                assertTrue(e.getValue() >= -1_100, e.getKey() + " arrived " + (-e.getValue()) + " ms before its delivery time");
                assertTrue(e.getValue() <= 30_000, e.getKey() + " arrived " + e.getValue() + " ms after its delivery time");
            }
        }
    }
}
