import Foundation

/// oneDNN runs on libgomp's threads, which by default spin for a while after each call; the
/// attention softmax and OpenBLAS run on other threads right after, and the spinning ones starve
/// them (measured: bf16 0.83 images/s spinning, 0.94 passive). libgomp reads OMP_WAIT_POLICY once,
/// when it loads, before any Swift code runs: so clipq (and clipq-bench) sets it and runs itself again, once.
/// A policy already set (by the user or by this re-run) is left alone.
public func waitPassivelyInOpenMP() {
    guard getenv("OMP_WAIT_POLICY") == nil else { return }
    setenv("OMP_WAIT_POLICY", "passive", 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // Only returns if the exec failed: libgomp's default then, slower but correct.
}
