import ArgumentParser
import ClipAMQP
import Foundation

/// Where the broker is and what the queues are called, shared by every command that talks
/// to RabbitMQ. Credentials come from the environment or a file, so they stay out of the
/// process list; nothing prints them (AMQPURL hides the password).
struct BrokerOptions: ParsableArguments {
    @Option(help: "Broker URL, amqp:// or amqps:// (prefer env CLIPQ_AMQP_URL or --amqp-url-file: flags are visible in ps).")
    var amqpURL: String?

    @Option(help: "A file holding the broker URL (e.g. a mounted secret). Env CLIPQ_AMQP_URL_FILE.")
    var amqpURLFile: String?

    @Option(help: "CA certificate for amqps:// (PEM). Env CLIPQ_AMQP_CA.")
    var amqpCA: String?

    @Option(help: "Client certificate for amqps:// (PEM). Env CLIPQ_AMQP_CERT.")
    var amqpCert: String?

    @Option(help: "Client key for amqps:// (PEM). Env CLIPQ_AMQP_KEY.")
    var amqpKey: String?

    @Option(help: "Request queue (interactive traffic). Env CLIPQ_QUEUE.")
    var queue: String = env("CLIPQ_QUEUE") ?? "clipq.requests"

    @Option(help: "Bulk request queue, served where interactive requests leave room (default clipq.bulk; QUEUE.bulk beside another --queue). Env CLIPQ_BULK_QUEUE.")
    var bulkQueue: String? = env("CLIPQ_BULK_QUEUE")

    @Option(help: "Dead-letter exchange. Env CLIPQ_DLX.")
    var deadLetterExchange: String = env("CLIPQ_DLX") ?? "clipq.dlx"

    @Option(help: "Dead-letter queue. Env CLIPQ_DEAD_QUEUE.")
    var deadLetterQueue: String = env("CLIPQ_DEAD_QUEUE") ?? "clipq.dead"

    @Option(help: "Deliveries of one request before the broker dead-letters it. Env CLIPQ_DELIVERY_LIMIT.")
    var deliveryLimit: Int = env("CLIPQ_DELIVERY_LIMIT").flatMap(Int.init) ?? 5

    var topology: Topology {
        Topology(requestQueue: queue, bulkQueue: bulkQueue, deadLetterExchange: deadLetterExchange, deadLetterQueue: deadLetterQueue,
                 deliveryLimit: deliveryLimit)
    }

    func settings(connectionName: String) throws -> AMQPSettings {
        var text = amqpURL ?? env("CLIPQ_AMQP_URL")
        if let file = amqpURLFile ?? env("CLIPQ_AMQP_URL_FILE") {
            text = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let url = try AMQPURL(text ?? "amqp://guest:guest@localhost:5672/")
        return AMQPSettings(
            url: url, caCertificate: amqpCA ?? env("CLIPQ_AMQP_CA"), clientCertificate: amqpCert ?? env("CLIPQ_AMQP_CERT"),
            clientKey: amqpKey ?? env("CLIPQ_AMQP_KEY"), connectionName: connectionName)
    }

    func connect(_ name: String) throws -> AMQPConnection {
        try AMQPConnection(try settings(connectionName: name))
    }
}

func env(_ name: String) -> String? {
    ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
}

extension TrafficLane: ExpressibleByArgument {}
