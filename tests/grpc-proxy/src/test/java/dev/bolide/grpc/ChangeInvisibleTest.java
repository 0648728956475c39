package dev.bolide.grpc;

import static dev.bolide.grpc.Env.*;
import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import org.apache.rocketmq.client.apis.consumer.SimpleConsumer;
import org.apache.rocketmq.client.apis.message.MessageView;
import org.apache.rocketmq.client.apis.producer.Producer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * changeInvisibleDuration: a message received with a 60 s invisible duration, then changed to 2 s, comes back
 * (same message id, delivery attempt 2) long before the 60 s would have passed; acked then, it stays gone.
 */
class ChangeInvisibleTest {
    static final String W = "ChangeInvisibleTest";

    MessageView await(SimpleConsumer c, String want, long ms) throws Exception {
        long deadline = System.currentTimeMillis() + ms;
        while (System.currentTimeMillis() < deadline) {
            MessageView hit = null;
            for (MessageView m : receive(W, c, 4, Duration.ofSeconds(60))) {
                if (hit == null && body(m).equals(want)) hit = m;
                else c.ack(m);
            }
            if (hit != null) return hit;
        }
        return null;
    }

    @Test
    @Timeout(120)
    void changedInvisibleDurationBringsTheMessageBack() throws Exception {
        String topic = topic("civ"), n = nonce(), b = n + ":civ";
        try (SimpleConsumer c = simple(group("civ"), topic, "*", Duration.ofSeconds(3));
             Producer p = producer(topic)) {
            settle(W, c);
            p.send(P.newMessageBuilder().setTopic(topic).setTag("TagA").setKeys("civ-" + n).setBody(bytes(b)).build());
            MessageView first = await(c, b, 30_000);
            assertNotNull(first, "the message was not received within 30 s");
            log(W, "got %s attempt %d (invisible 60 s); changeInvisibleDuration(2 s)", first.getMessageId(), first.getDeliveryAttempt());
            long t0 = System.currentTimeMillis();
            c.changeInvisibleDuration(first, Duration.ofSeconds(2));
            MessageView again = await(c, b, 40_000);
            long dt = System.currentTimeMillis() - t0;
            assertNotNull(again, "the message did not come back within 40 s of changeInvisibleDuration(2 s)");
            log(W, "back after %d ms, attempt %d", dt, again.getDeliveryAttempt());
            assertEquals(first.getMessageId().toString(), again.getMessageId().toString(), "message id");
            assertTrue(again.getDeliveryAttempt() >= 2, "delivery attempt of the redelivery: " + again.getDeliveryAttempt());
            assertTrue(dt >= 1_000, "came back after " + dt + " ms, before the 2 s invisible duration");
            c.ack(again);
            MessageView third = await(c, b, 6_000);
            assertNull(third, "came back again after its ack");
        }
    }
}
