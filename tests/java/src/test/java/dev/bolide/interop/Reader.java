package dev.bolide.interop;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;

/** Reads what a topic holds, independent of any push consumer: a lite pull consumer assigned to queues. */
final class Reader {
    private Reader() {}

    /** Reads `count` messages from the start of `queues` (all queues of `topic` when null). */
    static List<MessageExt> readFromStart(String topic, Collection<MessageQueue> queues, int count) throws Exception {
        // A fresh group that starts from the first offset, and no seek: seek(mq, 0) races the pull task that
        // assign() already started (the task can take the seek offset, be cancelled, and leave the new task
        // at the queue's last offset: a whole queue unread; apache/rocketmq#1495 is one of these races).
        DefaultLitePullConsumer c = Env.litePull(Env.unique("Reader"));
        c.setAutoCommit(false);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.start();
        try {
            Collection<MessageQueue> mqs = queues != null ? queues : c.fetchMessageQueues(topic);
            c.assign(mqs);
            // Distinct by (queue, offset): a retried pull can deliver a message twice, and counting the repeat
            // would end the read before another queue was read at all. A timeout names what was read.
            java.util.Map<String, MessageExt> got = new java.util.LinkedHashMap<>();
            Env.awaitTrue(() -> count + " messages from " + topic + " (got " + got.size() + ": " + got.keySet() + ")", 15_000, () -> {
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
