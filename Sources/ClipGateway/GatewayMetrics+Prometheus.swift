import Foundation
import Prometheus

extension GatewayMetrics {
    /// Metrics on a registry of their own, and that registry, whose text `/metrics` serves.
    public static func prometheus() -> (GatewayMetrics, PrometheusCollectorRegistry) {
        let registry = PrometheusCollectorRegistry()
        func seconds(_ value: Double) -> Duration { .nanoseconds(Int64((value * 1e9).rounded())) }
        var factory = PrometheusMetricsFactory(registry: registry)
        // From the gateway's own overhead (~1 ms) to a request that waits out a long timeout.
        factory.defaultDurationHistogramBuckets = [
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
        ].map(seconds)
        return (GatewayMetrics(factory: factory), registry)
    }
}
