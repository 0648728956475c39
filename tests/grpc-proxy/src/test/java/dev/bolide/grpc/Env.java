package dev.bolide.grpc;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.rocketmq.client.apis.ClientConfiguration;
import org.apache.rocketmq.client.apis.ClientServiceProvider;
import org.apache.rocketmq.client.apis.consumer.FilterExpression;
import org.apache.rocketmq.client.apis.consumer.FilterExpressionType;
import org.apache.rocketmq.client.apis.consumer.SimpleConsumer;
import org.apache.rocketmq.client.apis.message.MessageView;
import org.apache.rocketmq.client.apis.producer.Producer;

/**
 * What every scenario shares: the proxy's endpoint and the run's names (system properties set by
 * scripts/test-grpc-proxy.sh through the pom), the client configuration and small helpers.
 *
 * Names: topic "GP_<run>_<name>" and group "GPG_<run>_<name>", created by the script (proxy/Setup.java)
 * before the proxy starts: a scenario's topic type (message.type) and its group's consumeMessageOrderly are
 * part of what is tested, so they are not left to auto-creation. Each attempt of a scenario (Surefire reruns
 * a failed one) marks its message bodies with a fresh nonce and ignores (acks) anything else.
 */
final class Env {
    static final ClientServiceProvider P = ClientServiceProvider.loadService();
    static final String ENDPOINT = System.getProperty("grpc.endpoint", "");
    static final String RUN = System.getProperty("grpc.run", "");
    static final String KIND = System.getProperty("broker.kind", "unknown");

    private Env() {}

    static ClientConfiguration config() {
        if (ENDPOINT.isEmpty() || RUN.isEmpty()) {
            fail("no proxy endpoint or run name: run through scripts/test-grpc-proxy.sh, or pass -Dgrpc.endpoint=HOST:PORT"
                + " -Dgrpc.run=RUN (topics and groups of that run must exist, see tests/grpc-proxy/README.md)");
        }
        return ClientConfiguration.newBuilder().setEndpoints(ENDPOINT).enableSsl(false)
            .setRequestTimeout(Duration.ofSeconds(10)).build();
    }

    static String topic(String name) {
        return "GP_" + RUN + "_" + name;
    }

    static String group(String name) {
        return "GPG_" + RUN + "_" + name;
    }

    /** A marker unique to one attempt of one scenario. */
    static String nonce() {
        return UUID.randomUUID().toString().substring(0, 8);
    }

    static void log(String who, String fmt, Object... a) {
        System.out.printf("%tT.%<tL [%s %s] %s%n", System.currentTimeMillis(), KIND, who, String.format(fmt, a));
    }

    static String body(MessageView m) {
        return StandardCharsets.UTF_8.decode(m.getBody().duplicate()).toString();
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static Producer producer(String... topics) throws Exception {
        return P.newProducerBuilder().setClientConfiguration(config()).setTopics(topics).build();
    }

    /** A SimpleConsumer of one topic with a TAG expression; awaitDuration = how long one receive long-polls. */
    static SimpleConsumer simple(String group, String topic, String tagExpr, Duration await) throws Exception {
        return P.newSimpleConsumerBuilder().setClientConfiguration(config()).setConsumerGroup(group)
            .setAwaitDuration(await)
            .setSubscriptionExpressions(Map.of(topic, new FilterExpression(tagExpr, FilterExpressionType.TAG)))
            .build();
    }

    /**
     * One receive that acks and returns nothing: the first pop of a new group fixes where the group starts, so
     * consumers receive once before their scenario sends (messages sent later are then all ahead of it).
     */
    static void settle(String who, SimpleConsumer c) {
        try {
            for (MessageView m : c.receive(16, Duration.ofSeconds(10))) {
                log(who, "settle: acking leftover %s", body(m));
                c.ack(m);
            }
        } catch (Exception e) {
            log(who, "settle: %s", e);
        }
    }

    /** receive() that treats a failed long poll as an empty answer (logged), so that loops keep their deadline. */
    static List<MessageView> receive(String who, SimpleConsumer c, int max, Duration invisible) {
        try {
            return c.receive(max, invisible);
        } catch (Exception e) {
            log(who, "receive failed: %s", e);
            try {
                Thread.sleep(500);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            }
            return new ArrayList<>();
        }
    }
}
