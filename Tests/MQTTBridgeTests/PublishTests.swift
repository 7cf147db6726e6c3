import Foundation
import MQTTBridge
import Testing

/// Publish and subscribe against a real mosquitto.
@Suite("MQTTBridge publish and subscribe", .serialized)
struct PublishTests {
    @Test("QoS 1 and QoS 0 reach a subscriber with payload and MQTT 5 properties intact")
    func roundTrip() async throws {
        let broker = try TestBroker()
        let publisher = try await broker.connectedBridge()
        let subscriber = try await broker.connectedBridge()
        let received = Counter()
        try await subscriber.subscribe("t/#") { message in
            received.record(MQTTMessageRecord(
                topic: message.topic, payload: message.payload, qos: message.qos,
                userProperties: Dictionary(message.properties.userProperties.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
                correlationData: message.properties.correlationData, expiry: message.properties.messageExpiryInterval,
                contentType: message.properties.contentType, responseTopic: message.properties.responseTopic))
        }
        let payload = (0..<4096).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let properties = MQTTProperties(
            messageExpiryInterval: 600, contentType: "application/octet-stream", correlationData: [1, 2, 3, 0, 255],
            responseTopic: "t-ack/x", userProperties: [.init("message-id", "m-1"), .init("content-encoding", "aes128gcm")])
        let ack = try await publisher.publish(topic: "t/a", payload: payload, qos: .atLeastOnce, properties: properties)
        #expect(ack.reasonCode == 0)
        try await publisher.publish(topic: "t/b", payload: [9, 9], qos: .atMostOnce)
        #expect(await eventually { received.count == 2 })

        let records = received.records.sorted { $0.topic < $1.topic }
        #expect(records[0].topic == "t/a" && records[0].payload == payload && records[0].qos == 1)
        #expect(records[0].userProperties == ["message-id": "m-1", "content-encoding": "aes128gcm"])
        #expect(records[0].correlationData == [1, 2, 3, 0, 255])
        #expect(records[0].contentType == "application/octet-stream")
        #expect(records[0].responseTopic == "t-ack/x")
        // The broker forwards the remaining expiry, at most what was sent.
        #expect((records[0].expiry ?? 0) > 590 && (records[0].expiry ?? 0) <= 600)
        #expect(records[1].topic == "t/b" && records[1].payload == [9, 9] && records[1].qos == 0)
        await publisher.shutdown()
        await subscriber.shutdown()
    }

    @Test("an independent client (mosquitto_sub) sees the same bytes and properties")
    func independentSubscriber() async throws {
        let broker = try TestBroker()
        let publisher = try await broker.connectedBridge()
        let sub = Process()
        sub.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_sub")
        sub.arguments = ["-h", "127.0.0.1", "-p", "\(broker.port)", "-V", "mqttv5", "-q", "1", "-t", "x/y", "-C", "1",
                         "-F", "%t|%x|%E|%P|%D|%C"]
        let output = Pipe()
        sub.standardOutput = output
        try sub.run()
        try await Task.sleep(for: .milliseconds(300))  // let it subscribe
        try await publisher.publish(topic: "x/y", payload: [0xDE, 0xAD, 0xBE, 0xEF], properties: MQTTProperties(
            messageExpiryInterval: 30, contentType: "ct", correlationData: Array("cid".utf8), userProperties: [.init("k", "v")]))
        sub.waitUntilExit()
        let line = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        #expect(fields.count == 6, "\(line)")
        #expect(fields[0] == "x/y")
        #expect(fields[1] == "deadbeef")
        #expect((Int(fields[2]) ?? 0) > 25)
        #expect(fields[3] == "k:v")
        #expect(fields[4] == "cid")
        #expect(fields[5] == "ct")
        await publisher.shutdown()
    }

    @Test("10,000 QoS 1 publishes in flight at once: all acknowledged, none lost")
    func manyInFlight() async throws {
        let broker = try TestBroker()
        let publisher = try await broker.connectedBridge()
        let subscriber = try await broker.connectedBridge()
        let received = Counter()
        try await subscriber.subscribe("load/#") { _ in received.increment() }
        let payload = [UInt8](repeating: 0x5A, count: 1024)
        let total = 10_000
        let acknowledged = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<total {
                group.addTask {
                    try await publisher.publish(topic: "load/\(index % 16)", payload: payload)
                    return 1
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(acknowledged == total)
        #expect(await eventually(timeout: .seconds(30)) { received.count == total })
        #expect(received.count == total)
        #expect(publisher.statistics.published == total)
        #expect(publisher.statistics.inFlight == 0)
        await publisher.shutdown()
        await subscriber.shutdown()
    }

    @Test("MQTT 3.1.1: the payload arrives, properties are not sent")
    func mqtt311() async throws {
        let broker = try TestBroker()
        let publisher = try await broker.connectedBridge { $0.protocolVersion = .v311 }
        let subscriber = try await broker.connectedBridge()
        let received = Counter()
        try await subscriber.subscribe("old/#") { message in
            received.record(MQTTMessageRecord(topic: message.topic, payload: message.payload, qos: message.qos, userProperties: [:],
                                              correlationData: message.properties.correlationData, expiry: message.properties.messageExpiryInterval))
        }
        try await publisher.publish(topic: "old/1", payload: [1, 2, 3], properties: MQTTProperties(messageExpiryInterval: 60, correlationData: [7]))
        #expect(await eventually { received.count == 1 })
        #expect(received.records.first?.payload == [1, 2, 3])
        #expect(received.records.first?.correlationData == nil)
        #expect(received.records.first?.expiry == nil)
        await publisher.shutdown()
        await subscriber.shutdown()
    }

    @Test("invalid topics and filters are refused before anything is sent")
    func invalidTopics() async throws {
        let broker = try TestBroker()
        let bridge = try await broker.connectedBridge()
        await #expect(throws: MQTTBridgeError.invalidTopic("a/#")) { try await bridge.publish(topic: "a/#", payload: [1]) }
        await #expect(throws: MQTTBridgeError.invalidTopic("a/+")) { try await bridge.publish(topic: "a/+", payload: [1]) }
        await #expect(throws: MQTTBridgeError.invalidTopic("a/#/b")) { try await bridge.subscribe("a/#/b") { _ in } }
        #expect(bridge.isConnected)
        await bridge.shutdown()
    }
}
