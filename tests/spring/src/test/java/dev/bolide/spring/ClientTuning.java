package dev.bolide.spring;

import org.apache.rocketmq.spring.support.DefaultRocketMQListenerContainer;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;

/**
 * The one client setting the suite changes (every test application imports this): listener consumers send
 * their heartbeat every second instead of every 30 s (property {@code test.consumer.heartbeat-ms}, default 1000;
 * 0 keeps the client's default).
 *
 * <p>Why: the 5.x client (5.3.0 with starter 2.3.1) bumps a subscription's version on its first rebalance
 * and announces it by a heartbeat, which it skips when another heartbeat holds its lock ("lock heartBeat, but
 * failed" in rocketmq_client.log). The Java broker then answers every pull with SUBSCRIPTION_NOT_LATEST (25)
 * until the next periodic heartbeat: the listener receives nothing for up to 30 s ("the subscription is not
 * latest" in the client log). Bolide does not check subVersion (docs/compat-java.md). The same setting is
 * what tests/java does (Env.pushConsumer). An application can do the same in
 * RocketMQPushConsumerLifecycleListener.prepareStart.
 */
@Configuration
class ClientTuning {
    @Bean
    static BeanPostProcessor listenerHeartbeat(Environment env) {
        long ms = Long.parseLong(env.getProperty("test.consumer.heartbeat-ms", "1000"));
        return new BeanPostProcessor() {
            @Override
            public Object postProcessAfterInitialization(Object bean, String name) {
                // After the container's afterPropertiesSet (which builds its DefaultMQPushConsumer), before the
                // starter starts it.
                if (ms > 0 && bean instanceof DefaultRocketMQListenerContainer c && c.getConsumer() != null) {
                    c.getConsumer().setHeartbeatBrokerInterval((int) ms);
                }
                return bean;
            }
        };
    }
}
