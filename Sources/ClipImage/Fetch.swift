import ClipSchema
import CCurl
#if canImport(Glibc)
import Glibc
#endif

/// How an image URL is fetched. Defaults follow the issue: 20 MB, 5 redirects, 3 attempts.
public struct FetchSettings: Equatable, Sendable {
    public var connectTimeout: Duration = .seconds(5)
    /// Per attempt; the request's deadline shortens it further.
    public var totalTimeout: Duration = .seconds(20)
    /// Refused as soon as the body (or its Content-Length) passes it, not after download.
    public var maxBytes: Int = 20_000_000
    public var maxRedirects: Int = 5
    public var maxAttempts: Int = 3
    /// Longer URLs are refused: libcurl refuses those over 8 MB itself, as a failed setup call
    /// that would otherwise read as the worker's fault (`internal`).
    public var maxURLBytes: Int = 65536
    /// First retry waits this long, each later one twice the one before.
    public var backoff: Duration = .milliseconds(200)
    public var addressPolicy = AddressPolicy()
    /// curl's CURLOPT_RESOLVE entries ("host:port:address"): names pinned to addresses without
    /// DNS. Tests use it to play a DNS that answers with a private address.
    public var pinnedHosts: [String] = []

    public init() {}
}

/// curl_global_init is not thread-safe: run it once, lazily, before the first handle (Swift
/// initializes globals exactly once, under a lock).
private let curlGlobalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

/// Downloads `url` with retries for transient failures, all inside `deadline`. Safe to call
/// from several threads at once: each attempt has its own easy handle.
public func fetchImageBytes(_ url: String, settings: FetchSettings, deadline: ContinuousClock.Instant? = nil)
    throws(ImageError) -> [UInt8]
{
    guard curlGlobalInit == CURLE_OK else { throw ImageError(.internal, "curl_global_init failed") }
    guard url.utf8.count <= settings.maxURLBytes else {
        throw ImageError(.urlNotAllowed, "a URL of \(url.utf8.count) bytes is over the limit of \(settings.maxURLBytes)")
    }
    var wait = settings.backoff
    var attempt = 1
    while true {
        switch fetchOnce(url, settings: settings, deadline: deadline) {
        case .success(let bytes):
            return bytes
        case .failure(let failure):
            // Out of attempts or of time: the last failure says more than "deadline".
            let outOfTime = deadline.map { ContinuousClock.now + wait >= $0 } ?? false
            guard failure.transient, attempt < settings.maxAttempts, !outOfTime else { throw failure.error }
            sleepFor(wait)
            wait *= 2
            attempt += 1
        }
    }
}

struct FetchFailure: Error {
    var error: ImageError
    /// Worth another attempt: 5xx, 408, 429, timeouts, dropped connections.
    var transient: Bool
}

/// What the C callbacks share with the Swift side of one transfer.
private final class Transfer {
    let policy: AddressPolicy
    let maxBytes: Int
    var body: [UInt8] = []
    var overflowed = false
    var refusedAddress: IPAddress?
    var unknownFamily = false

    init(policy: AddressPolicy, maxBytes: Int) {
        self.policy = policy
        self.maxBytes = maxBytes
    }
}

private func fetchOnce(_ url: String, settings: FetchSettings, deadline: ContinuousClock.Instant?)
    -> Result<[UInt8], FetchFailure>
{
    var timeout = settings.totalTimeout
    if let deadline {
        let left = deadline - ContinuousClock.now
        guard left > .zero else {
            return .failure(FetchFailure(error: ImageError(.deadlineExceeded, "deadline passed before fetching \(url)"), transient: false))
        }
        timeout = min(timeout, left)
    }
    let limitedByDeadline = timeout < settings.totalTimeout

    guard let handle = curl_easy_init() else {
        return .failure(FetchFailure(error: ImageError(.internal, "curl_easy_init failed"), transient: false))
    }
    defer { curl_easy_cleanup(handle) }
    var pins: UnsafeMutablePointer<curl_slist>? = nil
    for pin in settings.pinnedHosts { pins = curl_slist_append(pins, pin) }
    defer { curl_slist_free_all(pins) }

    let transfer = Transfer(policy: settings.addressPolicy, maxBytes: settings.maxBytes)
    let context = Unmanaged.passUnretained(transfer).toOpaque()
    let setupCodes: [CURLcode] = [
        CCurl_setopt_string(handle, CURLOPT_URL, url),
        CCurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1),  // threads: no SIGALRM for DNS timeouts
        CCurl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"),
        CCurl_setopt_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"),
        CCurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 1),
        CCurl_setopt_long(handle, CURLOPT_MAXREDIRS, settings.maxRedirects),
        // An environment proxy would make the guard see the proxy's address, not the target's.
        CCurl_setopt_string(handle, CURLOPT_PROXY, ""),
        CCurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, milliseconds(settings.connectTimeout)),
        CCurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, max(1, milliseconds(timeout))),
        CCurl_setopt_off(handle, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(settings.maxBytes)),
        CCurl_setopt_string(handle, CURLOPT_USERAGENT, "clipq"),
        CCurl_setopt_slist(handle, CURLOPT_RESOLVE, pins),
        CCurl_setopt_write(handle, CURLOPT_WRITEFUNCTION, writeBody),
        CCurl_setopt_ptr(handle, CURLOPT_WRITEDATA, context),
        CCurl_setopt_opensocket(handle, CURLOPT_OPENSOCKETFUNCTION, openCheckedSocket),
        CCurl_setopt_ptr(handle, CURLOPT_OPENSOCKETDATA, context),
    ]
    if let bad = setupCodes.first(where: { $0 != CURLE_OK }) {
        return .failure(FetchFailure(error: ImageError(.internal, "curl setup: \(curlMessage(bad))"), transient: false))
    }

    let code = withExtendedLifetime(transfer) { curl_easy_perform(handle) }
    var status = 0
    _ = CCurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
    if code == CURLE_OK && (200...299).contains(status) { return .success(transfer.body) }
    var failure = classifyFetch(code: code, status: status, url: url, refused: transfer.refusedAddress,
                                unknownFamily: transfer.unknownFamily, overflowed: transfer.overflowed,
                                maxBytes: settings.maxBytes)
    if code == CURLE_OPERATION_TIMEDOUT && limitedByDeadline {
        failure = FetchFailure(error: ImageError(.deadlineExceeded, "deadline passed while fetching \(url)"), transient: false)
    }
    return .failure(failure)
}

/// Maps one attempt's outcome to the contract's codes.
func classifyFetch(code: CURLcode, status: Int, url: String, refused: IPAddress? = nil, unknownFamily: Bool = false,
                   overflowed: Bool = false, maxBytes: Int = 0) -> FetchFailure
{
    func fail(_ c: ErrorCode, _ message: String, transient: Bool = false) -> FetchFailure {
        FetchFailure(error: ImageError(c, message), transient: transient)
    }
    if let refused {
        return fail(.urlNotAllowed, "\(url) leads to \(refused), a private or reserved address")
    }
    if unknownFamily { return fail(.urlNotAllowed, "\(url) leads to a non-IP address") }
    if overflowed || code == CURLE_FILESIZE_EXCEEDED {
        return fail(.imageTooLarge, "\(url) sent more than \(maxBytes) bytes")
    }
    switch code {
    case CURLE_OK:
        let transient = status >= 500 || status == 408 || status == 429
        return fail(.imageFetchFailed, "HTTP \(status) from \(url)", transient: transient)
    case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
        return fail(.urlNotAllowed, "\(url): \(curlMessage(code)) (only http and https URLs are fetched)")
    case CURLE_OPERATION_TIMEDOUT, CURLE_COULDNT_CONNECT, CURLE_SEND_ERROR, CURLE_RECV_ERROR,
         CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE:
        return fail(.imageFetchFailed, "\(url): \(curlMessage(code))", transient: true)
    case CURLE_OUT_OF_MEMORY, CURLE_FAILED_INIT, CURLE_BAD_FUNCTION_ARGUMENT, CURLE_UNKNOWN_OPTION, CURLE_NOT_BUILT_IN:
        return fail(.internal, "libcurl: \(curlMessage(code))")
    default:
        return fail(.imageFetchFailed, "\(url): \(curlMessage(code))")
    }
}

private func curlMessage(_ code: CURLcode) -> String { String(cString: curl_easy_strerror(code)) }

private func milliseconds(_ d: Duration) -> Int {
    let (seconds, attoseconds) = d.components
    return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
}

private func sleepFor(_ d: Duration) {
    let ms = milliseconds(d)
    var request = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

/// Appends a chunk, or stops the transfer (by returning less than was offered) once the body
/// would pass the cap: memory never holds more than maxBytes of one response.
private let writeBody: curl_write_callback = { data, size, count, context in
    guard let data, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    guard transfer.body.count + length <= transfer.maxBytes else {
        transfer.overflowed = true
        return 0
    }
    data.withMemoryRebound(to: UInt8.self, capacity: length) {
        transfer.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
    }
    return length
}

/// curl calls this for every connection it opens, with the resolved address it will connect to:
/// refusing here means no packet ever reaches a refused host, whatever DNS or a redirect said.
private let openCheckedSocket: curl_opensocket_callback = { context, _, address in
    guard let context, let address else { return -1 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let offset = MemoryLayout<curl_sockaddr>.offset(of: \curl_sockaddr.addr) ?? 0
    let socketAddress = (UnsafeMutableRawPointer(address) + offset).assumingMemoryBound(to: sockaddr.self)
    guard let peer = IPAddress(UnsafePointer(socketAddress), length: Int(address.pointee.addrlen)) else {
        transfer.unknownFamily = true
        return -1  // CURL_SOCKET_BAD
    }
    guard transfer.policy.allows(peer) else {
        transfer.refusedAddress = peer
        return -1
    }
    return socket(address.pointee.family, address.pointee.socktype, address.pointee.protocol)
}
