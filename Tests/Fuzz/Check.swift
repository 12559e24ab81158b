// Shared by the harnesses: precondition's message is compiled out at -O, and a finding
// should say what broke.
#if canImport(Glibc)
import Glibc
#endif

func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    guard !condition() else { return }
    let line = Array("fuzz check failed: \(message())\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    abort()
}
