#if canImport(Glibc)
import Glibc
#endif

/// Which peer addresses a fetch may connect to. The check runs on the socket address curl is
/// about to connect to (CURLOPT_OPENSOCKETFUNCTION), for the first request and every redirect,
/// after DNS: a name that resolves, or later re-resolves, to a private address is caught there.
/// (CURLINFO_PRIMARY_IP would only tell us after the request had reached the host.)
public struct AddressPolicy: Equatable, Sendable {
    /// Lifts the guard entirely: for tests and private deployments.
    public var allowPrivateNetworks: Bool
    /// Numeric addresses let through even when private ("127.0.0.1", "::1"): a single internal
    /// image host, or a test server, without opening every private network.
    public var allowedAddresses: Set<String>

    public init(allowPrivateNetworks: Bool = false, allowedAddresses: Set<String> = []) {
        self.allowPrivateNetworks = allowPrivateNetworks
        self.allowedAddresses = allowedAddresses
    }

    public func allows(_ address: IPAddress) -> Bool {
        allowPrivateNetworks || address.isPublic || allowedAddresses.contains(address.description)
    }
}

/// An IPv4 or IPv6 address, as raw bytes in network order.
public enum IPAddress: Equatable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6([UInt8])

    /// Parses the numeric forms inet_pton accepts.
    public init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            self = .v6(withUnsafeBytes(of: v6) { Array($0) })
        } else {
            return nil
        }
    }

    /// Reads a sockaddr_in / sockaddr_in6; nil for other families (which are refused).
    init?(_ address: UnsafePointer<sockaddr>, length: Int) {
        switch Int32(address.pointee.sa_family) {
        case AF_INET where length >= MemoryLayout<sockaddr_in>.size:
            let raw = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
            self = .v4(UInt32(bigEndian: raw))
        case AF_INET6 where length >= MemoryLayout<sockaddr_in6>.size:
            let raw = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
            self = .v6(withUnsafeBytes(of: raw) { Array($0) })
        default:
            return nil
        }
    }

    /// Globally routable unicast: not loopback, private (RFC 1918, ULA), CGNAT, link-local,
    /// multicast, unspecified, broadcast, documentation/benchmark ranges, nor an IPv6 form that
    /// embeds a non-public IPv4 address (mapped, compatible, translated, NAT64, 6to4), nor a local-use
    /// NAT64 or Teredo tunnel address.
    public var isPublic: Bool {
        switch self {
        case .v4(let a):
            return isPublicV4(a)
        case .v6(let b):
            let embedded = UInt32(b[12]) << 24 | UInt32(b[13]) << 16 | UInt32(b[14]) << 8 | UInt32(b[15])
            if b[0..<10].allSatisfy({ $0 == 0 }) && ((b[10] == 0xFF && b[11] == 0xFF) || (b[10] == 0 && b[11] == 0)) {
                return isPublicV4(embedded)  // ::ffff:a.b.c.d, ::a.b.c.d (and ::, ::1)
            }
            if b[0..<8].allSatisfy({ $0 == 0 }) && b[8] == 0xFF && b[9] == 0xFF && b[10] == 0 && b[11] == 0 {
                return isPublicV4(embedded)  // ::ffff:0:a.b.c.d, SIIT's IPv4-translated form
            }
            if b[0...11] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0][...] { return isPublicV4(embedded) }  // 64:ff9b::/96
            // 64:ff9b:1::/48, local-use NAT64 (RFC 8215): a translator may put any IPv4 address anywhere in it.
            if b[0...5] == [0x00, 0x64, 0xFF, 0x9B, 0x00, 0x01][...] { return false }
            if b[0...3] == [0x20, 0x01, 0x00, 0x00][...] { return false }  // 2001::/32 Teredo: a tunnel to an IPv4 peer
            if b[0] == 0x20 && b[1] == 0x02 {  // 2002::/16 carries an IPv4 address in bits 16..48
                return isPublicV4(UInt32(b[2]) << 24 | UInt32(b[3]) << 16 | UInt32(b[4]) << 8 | UInt32(b[5]))
            }
            if b[0] == 0xFF { return false }  // multicast
            if b[0] & 0xFE == 0xFC { return false }  // fc00::/7 unique local
            if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return false }  // fe80::/10 link-local
            if b[0] == 0xFE && b[1] & 0xC0 == 0xC0 { return false }  // fec0::/10 site-local (deprecated)
            if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8 { return false }  // documentation
            if b[0] == 0x01 && b[1...7].allSatisfy({ $0 == 0 }) { return false }  // 100::/64 discard
            return true
        }
    }

    public var description: String {
        switch self {
        case .v4(let a):
            return "\(a >> 24).\(a >> 16 & 0xFF).\(a >> 8 & 0xFF).\(a & 0xFF)"
        case .v6(let b):
            var raw = in6_addr()
            withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: b) }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count)) != nil else { return "?" }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}

private func isPublicV4(_ a: UInt32) -> Bool {
    func inRange(_ base: UInt32, _ bits: UInt32) -> Bool { a >> (32 - bits) == base >> (32 - bits) }
    let blocked: [(UInt32, UInt32)] = [
        (0x0000_0000, 8),  // 0.0.0.0/8 "this network", unspecified
        (0x0A00_0000, 8),  // 10/8
        (0x6440_0000, 10),  // 100.64/10 carrier-grade NAT
        (0x7F00_0000, 8),  // 127/8 loopback
        (0xA9FE_0000, 16),  // 169.254/16 link-local (cloud metadata lives here)
        (0xAC10_0000, 12),  // 172.16/12
        (0xC000_0000, 24),  // 192.0.0/24 IETF protocol assignments
        (0xC000_0200, 24),  // 192.0.2/24 documentation
        (0xC0A8_0000, 16),  // 192.168/16
        (0xC612_0000, 15),  // 198.18/15 benchmarking
        (0xC633_6400, 24),  // 198.51.100/24 documentation
        (0xCB00_7100, 24),  // 203.0.113/24 documentation
        (0xE000_0000, 4),  // 224/4 multicast
        (0xF000_0000, 4),  // 240/4 reserved, and 255.255.255.255 broadcast
    ]
    return !blocked.contains { inRange($0.0, $0.1) }
}
