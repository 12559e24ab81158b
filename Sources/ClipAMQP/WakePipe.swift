import Foundation

/// How other threads wake a thread that owns a broker connection out of poll(): a pipe whose
/// write end anyone pokes. `wait` returns when the connection has input, the pipe was poked, or
/// the timeout passed.
public final class WakePipe: @unchecked Sendable {
    private let readEnd: Int32
    private let writeEnd: Int32

    public init() {
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        (readEnd, writeEnd) = (fds[0], fds[1])
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    /// Wakes the waiting thread (from any thread).
    public func wake() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// Waits for input on `connection` or a wake, at most `milliseconds`; then forgets the wakes.
    public func wait(for connection: AMQPConnection, timeout milliseconds: Int32) {
        if connection.hasBufferedInput { return }
        var fds = [
            pollfd(fd: connection.socketDescriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0),
        ]
        _ = poll(&fds, 2, milliseconds)
        var drain = [UInt8](repeating: 0, count: 64)
        while read(readEnd, &drain, drain.count) > 0 {}
    }
}
