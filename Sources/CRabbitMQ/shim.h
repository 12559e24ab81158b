// rabbitmq-c 0.11 (librabbitmq-dev): AMQP 0-9-1 client, TCP and TLS sockets.
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
