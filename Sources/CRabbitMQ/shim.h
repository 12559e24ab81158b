// rabbitmq-c 0.11 (librabbitmq-dev): AMQP 0-9-1 client, TCP and TLS sockets.
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>

// amqp_login_with_properties is variadic (its SASL arguments), which Swift cannot call:
// this is the same call with PLAIN's two arguments spelled out.
static inline amqp_rpc_reply_t CRabbitMQ_login_plain(
    amqp_connection_state_t state, const char *vhost, int channel_max, int frame_max, int heartbeat,
    const amqp_table_t *client_properties, const char *user, const char *password) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, client_properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}
