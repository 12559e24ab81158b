import ClipAMQP
import ClipSchema

extension Topology {
    /// Queues and an exchange of the test's own, so that tests sharing the broker never see
    /// each other's messages.
    static func unique(_ label: String, deliveryLimit: Int = 3) -> Topology {
        let unique = "\(label.filter(\.isLetter).suffix(24)).\(UInt32.random(in: 0...UInt32.max))"
        return Topology(requestQueue: "req.\(unique)", deadLetterExchange: "dlx.\(unique)", deadLetterQueue: "dead.\(unique)",
                        deliveryLimit: deliveryLimit)
    }
}

/// A request body whose rows are (image, text) cells, as `input_data` carries them.
func requestBody(_ rows: [(String, String)]) -> [UInt8] {
    RequestEncoder.encode(rows.map { EmbeddingRequest.Row(image: $0.0, text: $0.1) })
}
