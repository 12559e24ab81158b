import ClipAMQP
import ClipClient
import ClipTestSupport
import Foundation
import XCTest

/// amqps:// against a broker that requires TLS with client certificates: the worker and the
/// client connect with the CA and their certificate; a wrong CA, a wrong host name or no client
/// certificate is refused.
final class TLSTests: XCTestCase {
    private static let setup: Result<(broker: TestBroker, port: Int, files: URL), Error> = Result {
        let files = FileManager.default.temporaryDirectory.appendingPathComponent("clipq-tls-\(getpid())")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        let script = """
            set -e
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=clipq-test-ca
            openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=other-ca
            for who in server client; do
              openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr -subj /CN=localhost
              printf 'subjectAltName=DNS:localhost\\n' > $who.ext
              openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $who.pem -days 2 -extfile $who.ext
            done
            chmod 644 *.key
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        process.currentDirectoryURL = files
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestBrokerError(message: "openssl failed to make test certificates") }
        let port = try TestBroker.freePort()
        let broker = try TestBroker(extraConfig: """
            listeners.ssl.default = 127.0.0.1:\(port)
            ssl_options.cacertfile = \(files.path)/ca.pem
            ssl_options.certfile = \(files.path)/server.pem
            ssl_options.keyfile = \(files.path)/server.key
            ssl_options.verify = verify_peer
            ssl_options.fail_if_no_peer_cert = true
            """)
        return (broker, port, files)
    }

    private func settings(host: String = "localhost", ca: String = "ca.pem", clientCertificate: Bool = true) throws -> AMQPSettings {
        let (_, port, files) = try Self.setup.get()
        return AMQPSettings(
            url: try AMQPURL("amqps://guest:guest@\(host):\(port)/"), connectTimeout: .seconds(5),
            caCertificate: files.appendingPathComponent(ca).path,
            clientCertificate: clientCertificate ? files.appendingPathComponent("client.pem").path : nil,
            clientKey: clientCertificate ? files.appendingPathComponent("client.key").path : nil)
    }

    func testMutualTLSConnectsAndCarriesConfirmedMessages() throws {
        let connection = try AMQPConnection(try settings())
        let queue = try connection.declareQueue("", durable: false, exclusive: true, autoDelete: true).name
        try connection.enableConfirms()
        let sequence = try connection.publish(routingKey: queue, body: [1, 2, 3])
        var acked = false
        for _ in 0..<100 where !acked {
            if case .acked(let s, _)? = try connection.nextEvent(timeout: .milliseconds(50)), s >= sequence { acked = true }
        }
        XCTAssertTrue(acked)
    }

    func testAWrongCAAWrongHostNameAndNoClientCertificateAreRefused() throws {
        XCTAssertThrowsError(try AMQPConnection(try settings(ca: "other-ca.pem")), "a broker certificate from an unknown CA")
        XCTAssertThrowsError(try AMQPConnection(try settings(host: "127.0.0.1")), "a certificate for another host name")
        XCTAssertThrowsError(try AMQPConnection(try settings(clientCertificate: false)), "no client certificate")
    }

    func testAWorkerAndAClientOverAMQPS() throws {
        let (broker, port, files) = try Self.setup.get()
        let unique = UInt32.random(in: 0...UInt32.max)
        let topology = Topology(requestQueue: "req.tls.\(unique)", deadLetterExchange: "dlx.tls.\(unique)", deadLetterQueue: "dead.tls.\(unique)")
        let worker = try WorkerProcess(broker: broker, topology: topology, environment: [
            "CLIPQ_AMQP_URL": "amqps://guest:guest@localhost:\(port)/", "CLIPQ_AMQP_CA": files.appendingPathComponent("ca.pem").path,
            "CLIPQ_AMQP_CERT": files.appendingPathComponent("client.pem").path,
            "CLIPQ_AMQP_KEY": files.appendingPathComponent("client.key").path,
        ])
        let client = try ClipClient(settings: try settings(), queue: topology.requestQueue)
        guard case .embeddings(let rows) = try client.embed(texts: ["over TLS"], timeout: .seconds(30)) else {
            return XCTFail("expected embeddings")
        }
        XCTAssertEqual(rows.first?.textFeatures?.count, 16)
        XCTAssertFalse(worker.log.joined().contains("guest:guest"), "the password must not be logged")
        XCTAssertEqual(worker.terminate(), 0)
    }
}
