import Foundation
import Metrics

/// The gateway's metrics: requests by route, status and code, latency by route, requests in
/// flight, and the broker link's state. Series are made on first use through the factory passed
/// in (`prometheus()` for `/metrics`, the no-op one for tools).
public final class GatewayMetrics: @unchecked Sendable {
    private let factory: any MetricsFactory
    private let inFlight: Meter
    private let connected: Meter
    private let blocked: Meter
    private let reconnects: Counter
    private let lateReplies: Counter

    private let lock = NSLock()
    // Guarded by `lock`:
    private var requests: [String: Counter] = [:]
    private var durations: [String: Timer] = [:]

    public init(factory: any MetricsFactory) {
        self.factory = factory
        inFlight = Meter(label: "clipq_gateway_requests_in_flight", dimensions: [], factory: factory)
        connected = Meter(label: "clipq_gateway_broker_connected", dimensions: [], factory: factory)
        blocked = Meter(label: "clipq_gateway_broker_blocked", dimensions: [], factory: factory)
        reconnects = Counter(label: "clipq_gateway_broker_reconnects_total", dimensions: [], factory: factory)
        lateReplies = Counter(label: "clipq_gateway_late_replies_total", dimensions: [], factory: factory)
        connected.set(0)
        blocked.set(0)
        inFlight.set(0)
    }

    public static var disabled: GatewayMetrics { GatewayMetrics(factory: NOOPMetricsHandler.instance) }

    func started() { inFlight.increment() }

    /// A request on `route` was answered with `status` (and `code`, for errors) after `duration`.
    func answered(route: String, status: Int, code: String, duration: Duration) {
        inFlight.decrement()
        let key = "\(route) \(status) \(code)"
        let (counter, timer) = lock.withLock { () -> (Counter, Timer) in
            let counter = requests[key] ?? Counter(
                label: "clipq_gateway_requests_total",
                dimensions: [("route", route), ("status", String(status)), ("code", code)], factory: factory)
            requests[key] = counter
            let timer = durations[route] ?? Timer(
                label: "clipq_gateway_request_duration_seconds", dimensions: [("route", route)], factory: factory)
            durations[route] = timer
            return (counter, timer)
        }
        counter.increment()
        timer.record(duration: duration)
    }

    /// What the broker link reported.
    public func record(_ event: QueueLink.LinkEvent) {
        switch event {
        case .connected:
            connected.set(1)
            blocked.set(0)
        case .connectionLost:
            connected.set(0)
            blocked.set(0)
            reconnects.increment()
        case .blocked: blocked.set(1)
        case .unblocked: blocked.set(0)
        case .lateReply: lateReplies.increment()
        }
    }
}
