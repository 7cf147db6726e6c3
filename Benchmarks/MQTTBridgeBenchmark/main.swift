// Publishes COUNT messages of SIZE bytes, QoS 1, through MQTTBridge with CONCURRENCY
// publishers (tasks) awaiting their PUBACKs, and prints "acked N in S s". With `distinct`, message
// i goes to TOPIC/i, as a list fan-out publishes one copy per member topic; with `batch`, the same
// distinct topics in one `publish(batch:)` (the path a list push takes; CONCURRENCY is the window).
//
//   pushgate-mqtt-bench HOST PORT TOPIC COUNT SIZE CONCURRENCY [distinct|batch]
//
// scripts/bench-mqtt.sh runs it beside the C ceiling (Benchmarks/c/mqtt_ceiling.c).
import Foundation
import Logging
import MQTTBridge
import Synchronization

let arguments = CommandLine.arguments
guard arguments.count == 7 || (arguments.count == 8 && ["distinct", "batch"].contains(arguments[7])), let port = Int(arguments[2]), let count = Int(arguments[4]),
      let size = Int(arguments[5]), let concurrency = Int(arguments[6])
else {
    FileHandle.standardError.write(Data("usage: pushgate-mqtt-bench HOST PORT TOPIC COUNT SIZE CONCURRENCY [distinct|batch]\n".utf8))
    exit(2)
}
let topic = arguments[3]
let distinct = arguments.count == 8
let batch = arguments.count == 8 && arguments[7] == "batch"

var configuration = MQTTBridgeConfiguration(host: arguments[1], port: port, clientID: "bridge-bench")
configuration.maxInflight = max(concurrency, 1)
var logger = Logger(label: "bench")
logger.logLevel = .warning
let bridge = MQTTBridge(configuration: configuration, logger: logger)

/// Hands out message numbers to the publishers.
final class Ticket: Sendable {
    let next = Atomic<Int>(0)
}

func publishAll(bridge: MQTTBridge, topic: String, distinct: Bool, count: Int, size: Int, concurrency: Int) async throws -> Int {
    let topics = distinct ? (0..<count).map { "\(topic)/\($0)" } : []
    let payload = [UInt8](repeating: 0x5A, count: size)
    if batch {
        let results = await bridge.publish(batch: topics.map { MQTTBatchMessage(topic: $0) }, payload: payload)
        return results.filter { if case .success = $0 { true } else { false } }.count
    }
    let ticket = Ticket()
    return try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<concurrency {
            group.addTask {
                var mine = 0
                while case let index = ticket.next.add(1, ordering: .relaxed).oldValue, index < count {
                    try await bridge.publish(topic: distinct ? topics[index] : topic, payload: payload)
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

let (acked, seconds) = try await bridge.withRunning { bridge in
    try await bridge.waitUntilConnected()
    let start = ContinuousClock.now
    let acked = try await publishAll(bridge: bridge, topic: topic, distinct: distinct, count: count, size: size, concurrency: concurrency)
    let elapsed = ContinuousClock.now - start
    return (acked, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}
print(String(format: "acked %d in %.6f s", acked, seconds))
exit(acked == count ? 0 : 1)
