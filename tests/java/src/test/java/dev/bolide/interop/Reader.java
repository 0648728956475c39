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
            List<MessageExt> got = new ArrayList<>();
            Env.awaitTrue(() -> count + " messages from " + topic + " (got " + got.size() + ")", 15_000, () -> {
                got.addAll(c.poll(200));
                return got.size() >= count;
            });
            return got;
        } finally {
            c.shutdown();
        }
    }
}
