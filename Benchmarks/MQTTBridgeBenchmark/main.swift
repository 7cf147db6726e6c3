// Publishes COUNT messages of SIZE bytes, QoS 1, with CONCURRENCY publishers (tasks) awaiting
// their PUBACKs, and prints "acked N in S s cpu C s" (C: this process's user + system CPU over
// the publishing). With `distinct`, message i goes to TOPIC/i, as a list fan-out publishes one
// copy per member topic; with `batch`, the same distinct topics in one batch (the path a list push
// takes; CONCURRENCY is the window). Every message carries a push's MQTT 5 properties (message
// id, accepted-at, content-encoding, expiry, response topic, correlation data).
//
// CLIENT picks what publishes: `bridge` (MQTTBridge, what Pushgate uses: window, timeouts,
// reconnects; the default) or `connection` (a bare MQTTClientConnection, the NIO MQTT client
// under it: one connection on one event loop, nothing else).
//
//   pushgate-mqtt-bench HOST PORT TOPIC COUNT SIZE CONCURRENCY [single|distinct|batch] [bridge|connection]
//
// scripts/bench-mqtt.sh runs it beside the C ceiling (Benchmarks/c/mqtt_ceiling.c).
import Foundation
import Logging
import MQTTBridge
import NIOCore
import NIOPosix
import Synchronization

let arguments = CommandLine.arguments
let shapes = ["single", "distinct", "batch"]
let clients = ["bridge", "connection"]
guard (7...9).contains(arguments.count), let port = Int(arguments[2]), let count = Int(arguments[4]),
      let size = Int(arguments[5]), let concurrency = Int(arguments[6]),
      arguments.count < 8 || shapes.contains(arguments[7]), arguments.count < 9 || clients.contains(arguments[8])
else {
    FileHandle.standardError.write(Data("usage: pushgate-mqtt-bench HOST PORT TOPIC COUNT SIZE CONCURRENCY [single|distinct|batch] [bridge|connection]\n".utf8))
    exit(2)
}
let topic = arguments[3]
let shape = arguments.count >= 8 ? arguments[7] : "single"
let client = arguments.count >= 9 ? arguments[8] : "bridge"
let distinct = shape != "single"
let batch = shape == "batch"

var configuration = MQTTBridgeConfiguration(host: arguments[1], port: port, clientID: "bridge-bench")
configuration.maxInflight = max(concurrency, 1)
var logger = Logger(label: "bench")
logger.logLevel = .warning

/// A push's properties for message `index`, as MQTTDelivery builds them.
func properties(_ index: Int) -> MQTTProperties {
    let id = "bench-\(index)-0123456789abcdef"
    return MQTTProperties(
        messageExpiryInterval: 3600, correlationData: Array(id.utf8), responseTopic: "\(topic)-ack/\(index)",
        userProperties: [.init("message-id", id), .init("accepted-at", "2026-12-02T22:00:00.000Z"), .init("content-encoding", "aes128gcm")])
}

/// Hands out message numbers to the publishers.
final class Ticket: Sendable {
    let next = Atomic<Int>(0)
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Runs `publish` for every message index from `concurrency` tasks; the number acknowledged.
@Sendable func concurrently(count: Int, concurrency: Int, _ publish: @escaping @Sendable (Int) async throws -> Void) async throws -> Int {
    let ticket = Ticket()
    return try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<concurrency {
            group.addTask {
                var mine = 0
                while case let index = ticket.next.add(1, ordering: .relaxed).oldValue, index < count {
                    try await publish(index)
                    mine += 1
                }
                return mine
            }
        }
        var total = 0
        for try await published in group { total += published }
        return total
    }
}

let topics = (0..<count).map { distinct ? "\(topic)/\($0)" : topic }
let payloadBytes = [UInt8](repeating: 0x5A, count: size)
/// The payload as Pushgate hands it to the bridge: a view of the request body's buffer.
let payloadView = ByteBuffer(bytes: payloadBytes).readableBytesView
let messages = (0..<count).map { MQTTBatchMessage(topic: topics[$0], properties: properties($0)) }

func measure(_ run: @Sendable () async throws -> Int) async throws -> (Int, Double, Double) {
    let cpu = cpuSeconds()
    let start = ContinuousClock.now
    let acked = try await run()
    let elapsed = ContinuousClock.now - start
    return (acked, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, cpuSeconds() - cpu)
}

let acked: Int
let seconds: Double
let cpu: Double
if client == "connection" {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let connection = try await MQTTClientConnection.connect(to: MQTTBrokerAddress(host: arguments[1], port: port), configuration: configuration, group: group)
    let payload = ByteBuffer(bytes: payloadBytes)
    (acked, seconds, cpu) = try await measure {
        if batch {
            let results = try await connection.publish(batch: messages, payload: payload).get()
            return results.filter { if case .success = $0 { true } else { false } }.count
        }
        return try await concurrently(count: count, concurrency: concurrency) { index in
            _ = try await connection.publish(topic: messages[index].topic, payload: payload, properties: messages[index].properties).get()
        }
    }
    await connection.close()
    try await group.shutdownGracefully()
} else {
    let bridge = MQTTBridge(configuration: configuration, logger: logger)
    (acked, seconds, cpu) = try await bridge.withRunning { bridge in
        try await bridge.waitUntilConnected()
        return try await measure {
            if batch {
                let results = await bridge.publish(batch: messages, payload: payloadView)
                return results.filter { if case .success = $0 { true } else { false } }.count
            }
            return try await concurrently(count: count, concurrency: concurrency) { index in
                try await bridge.publish(topic: messages[index].topic, payload: payloadView, properties: messages[index].properties)
            }
        }
    }
}
print(String(format: "acked %d in %.6f s cpu %.6f s", acked, seconds, cpu))
exit(acked == count ? 0 : 1)
