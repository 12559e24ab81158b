import Foundation

/// A process's resident memory from /proc/PID/status (`self` when `pid` is nil), in bytes: VmRSS
/// now and VmHWM, its peak. Nil where there is no such file (the process is gone, or not Linux).
public func residentMemory(pid: Int32? = nil) -> (current: Int, peak: Int)? {
    let path = "/proc/\(pid.map(String.init) ?? "self")/status"
    guard let status = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    func field(_ name: String) -> Int {
        let line = status.split(separator: "\n").first { $0.hasPrefix(name) }
        return (line.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0) * 1024
    }
    return (field("VmRSS:"), field("VmHWM:"))
}
