import Foundation
@testable import MQTTBridge
import Testing

/// ``MQTTBridge/publish(batch:payload:qos:retain:)`` against a real mosquitto: every message
/// with its own topic and properties, a result per message in order, failures confined to their
/// message, and the window slots all returned.
@Suite("MQTTBridge batch publish", .serialized)
struct BatchPublishTests {
    @Test("1,000 messages to 1,000 topics through a window of 48: each arrives once with its own properties")
    func distinctTopics() async throws {
        let broker = try TestBroker()
        // A window smaller than a chunk: chunks shrink to fit it.
        let publisher = try await broker.connectedBridge { $0.maxInflight = 48 }
        let subscriber = try await broker.connectedBridge()
        let received = Counter()
        try await subscriber.subscribe("b/#") { message in
            received.record(MQTTMessageRecord(
                topic: message.topic, payload: message.payload, qos: message.qos,
                userProperties: Dictionary(message.properties.userProperties.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
                correlationData: message.properties.correlationData, expiry: message.properties.messageExpiryInterval,
                responseTopic: message.properties.responseTopic))
        }
        let payload = (0..<4096).map { UInt8(truncatingIfNeeded: $0 * 13) }
        let batch = (0..<1000).map { index in
            MQTTBatchMessage(topic: "b/\(index)", properties: MQTTProperties(
                messageExpiryInterval: 60, correlationData: Array("id-\(index)".utf8), responseTopic: "ack/\(index)",
                userProperties: [.init("message-id", "id-\(index)")]))
        }
        let results = await publisher.publish(batch: batch, payload: payload)
        #expect(results.count == 1000)
        #expect(results.allSatisfy { if case .success(let ack) = $0 { ack.reasonCode == 0 } else { false } })
        #expect(await eventually { received.count == 1000 })
        try await Task.sleep(for: .milliseconds(200))
        let records = received.records
        #expect(records.count == 1000, "each message exactly once")
        #expect(Set(records.map(\.topic)) == Set(batch.map(\.topic)))
        for record in records {
            let index = record.topic.dropFirst(2)
            #expect(record.payload == payload && record.qos == 1)
            #expect(record.userProperties["message-id"] == "id-\(index)")
            #expect(record.correlationData == Array("id-\(index)".utf8))
            #expect(record.responseTopic == "ack/\(index)")
        }
        #expect(publisher.statistics.inFlight == 0)
        #expect(publisher.statistics.published == 1000)
        await publisher.shutdown()
        await subscriber.shutdown()
    }

    @Test("an invalid topic and a denied one fail alone; the rest are sent and every slot comes back")
    func failuresStayWithTheirMessage() async throws {
        let broker = try TestBroker(acl: "topic readwrite ok/#")
        let publisher = try await broker.connectedBridge { $0.maxInflight = 16 }
        var batch = (0..<200).map { MQTTBatchMessage(topic: "ok/\($0)") }
        batch[7] = MQTTBatchMessage(topic: "ok/#")
        batch[150] = MQTTBatchMessage(topic: "denied/150")
        let results = await publisher.publish(batch: batch, payload: [1, 2, 3])
        for (index, result) in results.enumerated() {
            switch (index, result) {
            case (7, .failure(let error)): #expect(error == .invalidTopic("ok/#"))
            case (150, .failure(let error)): #expect(error == .rejected(reasonCode: 0x87, reason: "Not authorized"))
            case (7, _), (150, _): Issue.record("message \(index): \(result)")
            case (_, .failure(let error)): Issue.record("message \(index) failed: \(error)")
            case (_, .success): break
            }
        }
        // All 16 slots are free again: 16 single publishes go out at once.
        #expect(publisher.statistics.inFlight == 0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<16 { group.addTask { try await publisher.publish(topic: "ok/single/\(index)", payload: [1]) } }
            try await group.waitForAll()
        }
        await publisher.shutdown()
    }

    @Test("while the broker is down the whole batch fails at once as brokerUnavailable; nothing is sent")
    func brokerDown() async throws {
        let broker = try TestBroker()
        let publisher = try await broker.connectedBridge()
        broker.kill()
        #expect(await eventually { !publisher.isConnected })
        let results = await publisher.publish(batch: (0..<100).map { MQTTBatchMessage(topic: "t/\($0)") }, payload: [1])
        #expect(results.count == 100)
        #expect(results.allSatisfy { if case .failure(.brokerUnavailable) = $0 { true } else { false } })
        await publisher.shutdown()
    }

    @Test("broker paused then killed mid-batch: what was sent fails as connectionLost, what waited is not sent, none succeeds")
    func connectionLostMidBatch() async throws {
        let broker = try TestBroker()
        let publisher = try await broker.connectedBridge { $0.maxInflight = 100 }
        try await publisher.publish(topic: "p/warmup", payload: [0])
        broker.pause()                         // connected, but no PUBACK will come
        let outcome = Task { await publisher.publish(batch: (0..<500).map { MQTTBatchMessage(topic: "p/\($0)") }, payload: [1, 2, 3]) }
        // Four chunks of 25 (a chunk is at most a quarter of the window) fill it; the rest wait.
        #expect(await eventually { publisher.statistics.inFlight == 100 })
        broker.kill()
        let results = await outcome.value
        #expect(results.count == 500)
        #expect(!results.contains { if case .success = $0 { true } else { false } })
        let lost = results.filter { if case .failure(.connectionLost) = $0 { true } else { false } }.count
        #expect(lost == 100, "the 100 in flight may have reached the broker")
        for case .failure(let error) in results where error != .connectionLost {
            #expect({ if case .brokerUnavailable = error { true } else { false } }(), "not sent: \(error)")
        }
        #expect(publisher.statistics.inFlight == 0)
        await publisher.shutdown(deadline: .milliseconds(100))
    }

    @Test("an empty batch returns at once")
    func empty() async throws {
        let broker = try TestBroker()
        let publisher = try await broker.connectedBridge()
        #expect(await publisher.publish(batch: [], payload: [1]).isEmpty)
        await publisher.shutdown()
    }
}
