import Foundation
import Prometheus

extension WorkerMetrics {
    /// Metrics on a registry of their own, and that registry, whose text `/metrics` serves.
    public static func prometheus() -> (WorkerMetrics, PrometheusCollectorRegistry) {
        let registry = PrometheusCollectorRegistry()
        // Whole nanoseconds, so that the bucket bounds print as written ("0.00001", not "0.0000099...").
        func seconds(_ value: Double) -> Duration { .nanoseconds(Int64((value * 1e9).rounded())) }
        var factory = PrometheusMetricsFactory(registry: registry)
        // From a tokenized caption (~10 µs) to a batch of 8 full-size images on 2 cores (~20 s).
        factory.defaultDurationHistogramBuckets = [
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
        ].map(seconds)
        factory.durationHistogramBuckets["clipq_tokenize_seconds"] = [
            0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01,
        ].map(seconds)
        factory.valueHistogramBuckets["clipq_batch_size"] = [1, 2, 4, 8, 16, 32, 64, 128, 256]
        return (WorkerMetrics(factory: factory), registry)
    }
}
