package dev.bolide.interop;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;

/** Reads what a topic holds, independent of any push consumer: a lite pull consumer assigned to queues. */
final class Reader {
    private Reader() {}

    /** Reads `count` messages from the start of `queues` (all queues of `topic` when null). */
    static List<MessageExt> readFromStart(String topic, Collection<MessageQueue> queues, int count) throws Exception {
        DefaultLitePullConsumer c = Env.litePull(Env.unique("Reader"));
        c.setAutoCommit(false);
        c.start();
        try {
            Collection<MessageQueue> mqs = queues != null ? queues : c.fetchMessageQueues(topic);
            c.assign(mqs);
            for (MessageQueue mq : mqs) {
                c.seek(mq, 0);
            }
            // Distinct by (queue, offset): a pull that raced the seeks can deliver a queue's start twice, and
            // counting the repeat would end the read before another queue was read at all.
            java.util.Map<String, MessageExt> got = new java.util.LinkedHashMap<>();
            Env.awaitTrue(() -> count + " messages from " + topic + " (got " + got.size() + ")", 15_000, () -> {
                for (MessageExt m : c.poll(200)) {
                    got.putIfAbsent(m.getQueueId() + "@" + m.getQueueOffset(), m);
                }
                return got.size() >= count;
            });
            return new ArrayList<>(got.values());
        } finally {
            c.shutdown();
        }
    }
}
