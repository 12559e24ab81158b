import ArgumentParser
import ClipAMQP
import Foundation

/// Where the broker is and which request queue to use, shared by every command that talks to
/// RabbitMQ. Credentials come from the environment or a file, so they stay out of the process
/// list; nothing prints them (AMQPURL hides the password).
public struct BrokerOptions: ParsableArguments {
    public init() {}

    @Option(help: ArgumentHelp(
        "Broker URL, amqp:// or amqps:// (prefer env CLIPQ_AMQP_URL or --amqp-url-file: flags are visible in ps).",
        discussion: "Repeat it (or separate URLs by commas) to name every node of a cluster: connections go to them in random order, the next on failure."))
    public var amqpURL: [String] = []

    @Option(help: "A file holding the broker URL, or one URL per line for a cluster (e.g. a mounted secret). Env CLIPQ_AMQP_URL_FILE.")
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
        var texts = amqpURL.isEmpty ? env("CLIPQ_AMQP_URL").map { [$0] } ?? [] : amqpURL
        if let file = amqpURLFile ?? env("CLIPQ_AMQP_URL_FILE") {
            texts = [try String(contentsOfFile: file, encoding: .utf8)]
        }
        let urls = try Self.urls(in: texts.isEmpty ? ["amqp://guest:guest@localhost:5672/"] : texts)
        return try AMQPSettings(
            urls: urls, caCertificate: amqpCA ?? env("CLIPQ_AMQP_CA"), clientCertificate: amqpCert ?? env("CLIPQ_AMQP_CERT"),
            clientKey: amqpKey ?? env("CLIPQ_AMQP_KEY"), connectionName: connectionName)
    }

    /// The URLs in `texts`, each of which may list several separated by commas or line breaks
    /// (a comma cannot occur in an AMQP URL's host, and credentials percent-encode it).
    static func urls(in texts: [String]) throws(AMQPError) -> [AMQPURL] {
        var urls: [AMQPURL] = []
        for text in texts {
            for part in text.split(whereSeparator: { $0 == "," || $0.isNewline }) {
                let trimmed = part.trimmingCharacters(in: .whitespaces)
                if !trimmed.isEmpty { urls.append(try AMQPURL(trimmed)) }
            }
        }
        guard !urls.isEmpty else { throw AMQPError(.invalidURL, "no broker URL given") }
        return urls
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

    @Option(help: "On a cluster: nodes holding a replica of each request queue, when the worker first declares it (default: the broker's, every node). Env CLIPQ_QUORUM_GROUP_SIZE.")
    public var quorumGroupSize: Int? = env("CLIPQ_QUORUM_GROUP_SIZE").flatMap(Int.init)

    @Option(help: "Dead-letter queue type: classic (one node) or quorum (replicated: use it on a cluster, where a classic queue's node going down stops workers from reconnecting). Env CLIPQ_DEAD_QUEUE_TYPE.")
    public var deadLetterQueueType: DeadLetterQueueType = env("CLIPQ_DEAD_QUEUE_TYPE").flatMap(DeadLetterQueueType.init) ?? .classic

    public func validate() throws {
        if let type = env("CLIPQ_DEAD_QUEUE_TYPE"), DeadLetterQueueType(rawValue: type) == nil {
            throw ValidationError("CLIPQ_DEAD_QUEUE_TYPE: expected classic or quorum, not \(type)")
        }
        if let quorumGroupSize, quorumGroupSize < 1 {
            throw ValidationError("--quorum-group-size: at least 1 (a replica on one node), not \(quorumGroupSize)")
        }
    }

    public func topology(requestQueue: String, bulkQueue: String? = nil) -> Topology {
        Topology(requestQueue: requestQueue, bulkQueue: bulkQueue, deadLetterExchange: deadLetterExchange,
                 deadLetterQueue: deadLetters.deadLetterQueue, deliveryLimit: deliveryLimit, quorumGroupSize: quorumGroupSize,
                 deadLetterQueueType: deadLetterQueueType)
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
extension DeadLetterQueueType: ExpressibleByArgument {}
