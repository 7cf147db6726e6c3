import Foundation
import MQTTBridge

/// A real mosquitto started for one test on a free 127.0.0.1 port, stopped by PID.
final class TestBroker: @unchecked Sendable {
    let port: Int
    let directory: URL
    private let extraConfig: String
    private var process: Process?

    /// Starts a broker; `extraConfig` is appended to the generated mosquitto.conf (a listener line
    /// for `port` is always written first, so per-listener options can follow). With `acl`, an
    /// ACL file of those lines (e.g. `topic readwrite allowed/#`) is written beside it and used.
    init(extraConfig: String = "", acl: String? = nil, port: Int? = nil) throws {
        self.port = try port ?? TestBroker.freePort()
        self.directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pushgate-broker-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var extraConfig = extraConfig
        if let acl {
            let path = directory.appendingPathComponent("acl").path
            try (acl + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            extraConfig += "\nacl_file \(path)"
        }
        self.extraConfig = extraConfig
        try start()
    }

    deinit { kill() }

    var configPath: String { directory.appendingPathComponent("mosquitto.conf").path }
    var logPath: String { directory.appendingPathComponent("mosquitto.log").path }

    func start() throws {
        let config = """
            listener \(port) 127.0.0.1
            allow_anonymous true
            max_inflight_messages 65535
            max_queued_messages 1000000
            persistence false
            log_dest file \(logPath)
            log_type error
            log_type warning
            \(extraConfig)

            """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/mosquitto")
        process.arguments = ["-c", configPath]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(10)
        while !TestBroker.isListening(port) {
            guard process.isRunning, Date() < deadline else {
                let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                throw TestBrokerError(description: "mosquitto did not start on port \(port): \(log)")
            }
            usleep(20_000)
        }
    }

    /// SIGKILL: the broker vanishes without a DISCONNECT, as in a crash.
    func kill() {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// SIGSTOP / SIGCONT: the TCP connection stays up but the broker answers nothing.
    func pause() { if let process { Foundation.kill(process.processIdentifier, SIGSTOP) } }
    func resume() { if let process { Foundation.kill(process.processIdentifier, SIGCONT) } }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestBrokerError(description: "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func isListening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

struct TestBrokerError: Error, CustomStringConvertible {
    var description: String
}

/// Runs a command and returns its standard output; throws on a non-zero exit.
@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw TestBrokerError(description: "\(executable) \(arguments.joined(separator: " ")) failed: \(text)")
    }
    return text
}

/// A counter tests share with libmosquitto's network thread.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    private var items: [MQTTMessageRecord] = []

    func increment() { lock.withLock { value += 1 } }
    var count: Int { lock.withLock { value } }
    func record(_ item: MQTTMessageRecord) { lock.withLock { items.append(item); value += 1 } }
    var records: [MQTTMessageRecord] { lock.withLock { items } }
}

struct MQTTMessageRecord: Sendable {
    var topic: String
    var payload: [UInt8]
    var qos: Int
    var userProperties: [String: String]
    var correlationData: [UInt8]?
    var expiry: UInt32?
    var contentType: String?
    var responseTopic: String?
}

/// Polls `condition` until true or `timeout`.
func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

extension TestBroker {
    /// A bridge configuration for this broker: a fresh client id (or `id`), quick reconnects.
    func bridgeConfiguration(id: String = "bridge-\(UUID().uuidString.prefix(8))") -> MQTTBridgeConfiguration {
        var configuration = MQTTBridgeConfiguration(host: "127.0.0.1", port: port, clientID: id)
        configuration.reconnectInitialDelayMilliseconds = 20
        configuration.reconnectMaxDelayMilliseconds = 200
        return configuration
    }

    /// A running bridge to this broker (its configuration `adjust`ed), once connected; the test
    /// ends it with `shutdown()`.
    func connectedBridge(_ adjust: (inout MQTTBridgeConfiguration) -> Void = { _ in }) async throws -> MQTTBridge {
        var configuration = bridgeConfiguration()
        adjust(&configuration)
        let bridge = MQTTBridge.running(configuration)
        try await bridge.waitUntilConnected()
        return bridge
    }
}

extension MQTTBridge {
    /// A bridge whose ``MQTTBridge/run()`` is under way; a test ends it with `shutdown()`
    /// (which makes `run()` return).
    static func running(_ configuration: MQTTBridgeConfiguration) -> MQTTBridge {
        let bridge = MQTTBridge(configuration: configuration)
        Task { try await bridge.run() }
        return bridge
    }
}
