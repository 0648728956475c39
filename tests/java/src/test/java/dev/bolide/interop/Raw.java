package dev.bolide.interop;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.rocketmq.remoting.netty.NettyClientConfig;
import org.apache.rocketmq.remoting.netty.NettyRemotingClient;
import org.apache.rocketmq.remoting.protocol.RemotingCommand;

/**
 * Raw remoting requests through the client's own transport, for answers the client API hides (it checks topic
 * names and sizes before sending, and turns route failures into its own exceptions). Request headers are set
 * as ext fields by name: their classes moved packages between 4.9 and 5.x.
 */
final class Raw {
    static final int SEND_MESSAGE = 10;
    static final int UPDATE_AND_CREATE_TOPIC = 17;
    static final int GET_ROUTEINFO_BY_TOPIC = 105;

    static final int PERM_READ = 4;
    static final int PERM_WRITE = 2;

    static final int SUCCESS = 0;
    static final int SYSTEM_ERROR = 1;
    static final int MESSAGE_ILLEGAL = 13;
    static final int NO_PERMISSION = 16;
    static final int TOPIC_NOT_EXIST = 17;
    /** 5.x ResponseCode.INVALID_PARAMETER. */
    static final int INVALID_PARAMETER = 29;

    private static Raw shared;

    private final NettyRemotingClient client;

    /** One client for the JVM: starting and stopping a NettyRemotingClient costs seconds with 5.x. */
    static synchronized Raw shared() {
        if (shared == null) {
            shared = new Raw();
        }
        return shared;
    }

    private Raw() {
        client = new NettyRemotingClient(new NettyClientConfig());
        client.start();
    }

    RemotingCommand request(String addr, int code, Map<String, String> ext, byte[] body) throws Exception {
        RemotingCommand cmd = RemotingCommand.createRequestCommand(code, null);
        ext.forEach(cmd::addExtField);
        cmd.setBody(body);
        return client.invokeSync(addr, cmd, 5000);
    }

    /** SEND_MESSAGE (v1 header names) of one message to queue 0. */
    RemotingCommand send(String addr, String topic, byte[] body) throws Exception {
        return request(addr, SEND_MESSAGE, Map.ofEntries(
            Map.entry("producerGroup", "RawPG"),
            Map.entry("topic", topic),
            Map.entry("defaultTopic", "TBW102"),
            Map.entry("defaultTopicQueueNums", "4"),
            Map.entry("queueId", "0"),
            Map.entry("sysFlag", "0"),
            Map.entry("bornTimestamp", Long.toString(System.currentTimeMillis())),
            Map.entry("flag", "0"),
            Map.entry("properties", "UNIQ_KEY\u0001" + Env.unique("RAW") + "\u0002"),
            Map.entry("reconsumeTimes", "0"),
            Map.entry("unitMode", "false"),
            Map.entry("batch", "false")), body);
    }

    /** UPDATE_AND_CREATE_TOPIC on one broker: creates or overwrites the topic's queue counts and permission. */
    void createTopic(String brokerAddr, String topic, int queues, int perm) throws Exception {
        RemotingCommand r = request(brokerAddr, UPDATE_AND_CREATE_TOPIC, Map.of(
            "topic", topic,
            "defaultTopic", "TBW102",
            "readQueueNums", Integer.toString(queues),
            "writeQueueNums", Integer.toString(queues),
            "perm", Integer.toString(perm),
            "topicFilterType", "SINGLE_TAG",
            "topicSysFlag", "0",
            "order", "false"), null);
        if (r.getCode() != SUCCESS) {
            throw new IllegalStateException("create topic " + topic + " on " + brokerAddr + ": " + describe(r));
        }
    }

    static String describe(RemotingCommand r) {
        return "code=" + r.getCode() + " remark=" + r.getRemark() + " ext=" + r.getExtFields()
            + (r.getBody() != null ? " body=" + new String(r.getBody(), StandardCharsets.UTF_8) : "");
    }
}
