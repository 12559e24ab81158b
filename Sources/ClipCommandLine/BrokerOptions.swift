import ArgumentParser
import ClipAMQP
import Foundation

/// Where the broker is and which request queue to use, shared by every command that talks to
/// RabbitMQ. Credentials come from the environment or a file, so they stay out of the process
/// list; nothing prints them (AMQPURL hides the password).
public struct BrokerOptions: ParsableArguments {
    public init() {}

    @Option(help: "Broker URL, amqp:// or amqps:// (prefer env CLIPQ_AMQP_URL or --amqp-url-file: flags are visible in ps).")
    public var amqpURL: String?

    @Option(help: "A file holding the broker URL (e.g. a mounted secret). Env CLIPQ_AMQP_URL_FILE.")
    public var amqpURLFile: String?

    @Option(help: "CA certificate for amqps:// (PEM). Env CLIPQ_AMQP_CA.")
    public var amqpCA: String?

    @Option(help: "Client certificate for amqps:// (PEM). Env CLIPQ_AMQP_CERT.")
    public var amqpCert: String?

    @Option(help: "Client key for amqps:// (PEM). Env CLIPQ_AMQP_KEY.")
    public var amqpKey: String?

    @Option(help: "Request queue (interactive traffic). Env CLIPQ_QUEUE.")
    public var queue: String = env("CLIPQ_QUEUE") ?? "clipq.requests"

    @Option(help: "Bulk request queue, served where interactive requests leave room (default clipq.bulk; QUEUE.bulk beside another --queue). Env CLIPQ_BULK_QUEUE.")
    public var bulkQueue: String? = env("CLIPQ_BULK_QUEUE")

    /// The queue of `lane`, as the worker's topology names it.
    public func queue(for lane: TrafficLane) -> String {
        Topology(requestQueue: queue, bulkQueue: bulkQueue).queue(for: lane)
    }

    public func settings(connectionName: String) throws -> AMQPSettings {
        var text = amqpURL ?? env("CLIPQ_AMQP_URL")
        if let file = amqpURLFile ?? env("CLIPQ_AMQP_URL_FILE") {
            text = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let url = try AMQPURL(text ?? "amqp://guest:guest@localhost:5672/")
        return AMQPSettings(
            url: url, caCertificate: amqpCA ?? env("CLIPQ_AMQP_CA"), clientCertificate: amqpCert ?? env("CLIPQ_AMQP_CERT"),
            clientKey: amqpKey ?? env("CLIPQ_AMQP_KEY"), connectionName: connectionName)
    }

    public func connect(_ name: String) throws -> AMQPConnection {
        try AMQPConnection(try settings(connectionName: name))
    }
}

/// The dead-letter queue, for the commands that read it (dlq, queue) and the worker that fills it.
public struct DeadLetterQueueOptions: ParsableArguments {
    public init() {}

    @Option(help: "Dead-letter queue. Env CLIPQ_DEAD_QUEUE.")
    public var deadLetterQueue: String = env("CLIPQ_DEAD_QUEUE") ?? "clipq.dead"
}

/// What only the worker declares: the dead-letter exchange and queue, and the delivery limit.
public struct TopologyOptions: ParsableArguments {
    public init() {}

    @Option(help: "Dead-letter exchange. Env CLIPQ_DLX.")
    public var deadLetterExchange: String = env("CLIPQ_DLX") ?? "clipq.dlx"

    @OptionGroup public var deadLetters: DeadLetterQueueOptions

    @Option(help: "Deliveries of one request before the broker dead-letters it. Env CLIPQ_DELIVERY_LIMIT.")
    public var deliveryLimit: Int = env("CLIPQ_DELIVERY_LIMIT").flatMap(Int.init) ?? 5

    public func topology(requestQueue: String, bulkQueue: String? = nil) -> Topology {
        Topology(requestQueue: requestQueue, bulkQueue: bulkQueue, deadLetterExchange: deadLetterExchange,
                 deadLetterQueue: deadLetters.deadLetterQueue, deliveryLimit: deliveryLimit)
    }
}

extension DeadLetterQueueOptions {
    /// The queues the operator tools read and write; the exchange and the delivery limit are the
    /// worker's to declare, and these tools never declare anything.
    public func topology(requestQueue: String, bulkQueue: String? = nil) -> Topology {
        Topology(requestQueue: requestQueue, bulkQueue: bulkQueue, deadLetterQueue: deadLetterQueue)
    }
}

public func env(_ name: String) -> String? {
    ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
}

extension TrafficLane: ExpressibleByArgument {}
