import Foundation
import MQTTBridge
import NIOCore
import NIOPosix
import Testing

/// The NIO MQTT client against a real mosquitto, with libmosquitto (``MQTTBridge``) and
/// `mosquitto_sub` as the independent peers on the other side.
@Suite("MQTT client on NIO", .serialized)
struct MQTTClientConnectionTests {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    private func connect(
        _ broker: TestBroker, _ adjust: (inout MQTTBridgeConfiguration) -> Void = { _ in },
        onMessage: @escaping @Sendable (MQTTMessage) -> Void = { _ in }
    ) async throws -> MQTTClientConnection {
        var configuration = broker.bridgeConfiguration(id: "nio-\(UUID().uuidString.prefix(8))")
        adjust(&configuration)
        return try await MQTTClientConnection.connect(
            to: MQTTBrokerAddress(host: "127.0.0.1", port: broker.port), configuration: configuration, group: Self.group, onMessage: onMessage)
    }

    private func record(_ counter: Counter) -> @Sendable (MQTTMessage) -> Void {
        { message in
            counter.record(MQTTMessageRecord(
                topic: message.topic, payload: message.payload, qos: message.qos,
                userProperties: Dictionary(message.properties.userProperties.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
                correlationData: message.properties.correlationData, expiry: message.properties.messageExpiryInterval,
                contentType: message.properties.contentType, responseTopic: message.properties.responseTopic))
        }
    }

    @Test("QoS 1 and QoS 0 publishes reach a libmosquitto subscriber with payload and MQTT 5 properties intact")
    func publishReachesLibmosquitto() async throws {
        let broker = try TestBroker()
        let subscriber = try await broker.connectedBridge()
        let received = Counter()
        try await subscriber.subscribe("t/#", handler: record(received))
        let client = try await connect(broker)
        #expect(client.connAck.accepted)

        let payload = (0..<4096).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let properties = MQTTProperties(
            messageExpiryInterval: 600, contentType: "application/octet-stream", correlationData: [1, 2, 3, 0, 255],
            responseTopic: "t-ack/x", userProperties: [.init("message-id", "m-1"), .init("content-encoding", "aes128gcm")])
        let ack = try await client.publish(topic: "t/a", payload: ByteBuffer(bytes: payload), properties: properties).get()
        #expect(ack.reasonCode == 0)
        _ = try await client.publish(topic: "t/b", payload: ByteBuffer(bytes: [9, 9]), qos: .atMostOnce).get()
        #expect(await eventually { received.count == 2 })

        let records = received.records.sorted { $0.topic < $1.topic }
        #expect(records[0].topic == "t/a" && records[0].payload == payload && records[0].qos == 1)
        #expect(records[0].userProperties == ["message-id": "m-1", "content-encoding": "aes128gcm"])
        #expect(records[0].correlationData == [1, 2, 3, 0, 255] && records[0].contentType == "application/octet-stream")
        #expect(records[0].responseTopic == "t-ack/x")
        #expect((records[0].expiry ?? 0) > 590 && (records[0].expiry ?? 0) <= 600)
        #expect(records[1].topic == "t/b" && records[1].payload == [9, 9] && records[1].qos == 0)
        // No subscriber on this topic: MQTT 5 says so in the PUBACK, and it is still a success.
        #expect(try await client.publish(topic: "nobody/here", payload: ByteBuffer(bytes: [1])).get().reasonCode == 0x10)
        await client.close()
        await subscriber.shutdown()
    }

    @Test("an independent client (mosquitto_sub) sees the same bytes and properties")
    func independentSubscriber() async throws {
        let broker = try TestBroker()
        let client = try await connect(broker)
        let sub = Process()
        sub.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_sub")
        sub.arguments = ["-h", "127.0.0.1", "-p", "\(broker.port)", "-V", "mqttv5", "-q", "1", "-t", "x/y", "-C", "1", "-F", "%t|%x|%E|%P|%D|%C"]
        let output = Pipe()
        sub.standardOutput = output
        try sub.run()
        try await Task.sleep(for: .milliseconds(300))  // let it subscribe
        _ = try await client.publish(topic: "x/y", payload: ByteBuffer(bytes: [0xDE, 0xAD, 0xBE, 0xEF]), properties: MQTTProperties(
            messageExpiryInterval: 30, contentType: "ct", correlationData: Array("cid".utf8), userProperties: [.init("k", "v")])).get()
        sub.waitUntilExit()
        let line = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        #expect(fields.count == 6, "\(line)")
        if fields.count == 6 {
            #expect(fields[0] == "x/y" && fields[1] == "deadbeef")
            #expect(Int(fields[2]) ?? 0 > 0 && Int(fields[2]) ?? 99 <= 30)
            #expect(fields[3] == "k:v" && fields[4] == "cid" && fields[5] == "ct")
        }
        await client.close()
    }

    @Test("a subscription receives libmosquitto's messages with their properties, and QoS 1 messages are acknowledged")
    func subscribeAndAcknowledge() async throws {
        // The broker sends at most 5 unacknowledged QoS 1 messages: all 50 arrive only if each is acknowledged.
        let broker = try TestBroker(extraConfig: "max_inflight_messages 5")
        let received = Counter()
        let client = try await connect(broker, onMessage: record(received))
        #expect(try await client.subscribe("in/#", qos: .atLeastOnce) == 1)
        let publisher = try await broker.connectedBridge()
        for index in 0..<50 {
            try await publisher.publish(topic: "in/\(index)", payload: Array("m\(index)".utf8), properties: MQTTProperties(
                correlationData: [UInt8(index)], responseTopic: "r/\(index)", userProperties: [.init("message-id", "id-\(index)")]))
        }
        #expect(await eventually { received.count == 50 })
        let records = received.records
        #expect(Set(records.map(\.topic)) == Set((0..<50).map { "in/\($0)" }))
        let seventh = records.first { $0.topic == "in/7" }
        #expect(seventh?.payload == Array("m7".utf8) && seventh?.qos == 1 && seventh?.correlationData == [7])
        #expect(seventh?.userProperties == ["message-id": "id-7"] && seventh?.responseTopic == "r/7")
        // An invalid filter is refused before it is sent (a broker disconnects a client that sends one).
        for filter in ["bad/#/x", "bad/a+", "", "bad#"] {
            await #expect(throws: MQTTBridgeError.invalidTopic(filter)) { try await client.subscribe(filter, qos: .atLeastOnce) }
        }
        #expect(try await client.publish(topic: "in/after", payload: ByteBuffer(bytes: [1])).get().reasonCode == 0)
        #expect(await eventually { received.count == 51 })
        await publisher.shutdown()
        await client.close()
    }

    @Test("the broker's Receive Maximum bounds what is in flight; a batch beyond it is sent as PUBACKs free slots")
    func receiveMaximum() async throws {
        let broker = try TestBroker(extraConfig: "max_inflight_messages 5")
        let subscriber = try await broker.connectedBridge()
        let received = Counter()
        try await subscriber.subscribe("w/#") { _ in received.increment() }
        let client = try await connect(broker)
        #expect(client.connAck.properties.receiveMaximum == 5)
        let batch = (0..<300).map { MQTTBatchMessage(topic: "w/\($0)", properties: MQTTProperties(userProperties: [.init("n", "\($0)")])) }
        let results = try await client.publish(batch: batch, payload: ByteBuffer(bytes: Array(repeating: 1, count: 1000))).get()
        #expect(results.count == 300)
        #expect(results.allSatisfy { if case .success(let ack) = $0 { ack.reasonCode == 0 } else { false } })
        #expect(await eventually { received.count == 300 })
        await client.close()
        await subscriber.shutdown()
    }

    @Test("a refusal by the broker is the publish's error: not authorized by its ACL, larger than its maximum packet size")
    func refusals() async throws {
        let broker = try TestBroker(extraConfig: "max_packet_size 2000", acl: "topic readwrite allowed/#")
        let client = try await connect(broker)
        #expect(client.connAck.properties.maximumPacketSize == 2000)
        await #expect(throws: MQTTBridgeError.rejected(reasonCode: 0x87, reason: "Not authorized")) {
            try await client.publish(topic: "denied/x", payload: ByteBuffer(bytes: [1])).get()
        }
        await #expect(throws: MQTTBridgeError.packetTooLarge) {
            try await client.publish(topic: "allowed/big", payload: ByteBuffer(bytes: Array(repeating: 0, count: 4096))).get()
        }
        await #expect(throws: MQTTBridgeError.invalidTopic("allowed/+")) {
            try await client.publish(topic: "allowed/+", payload: ByteBuffer(bytes: [1])).get()
        }
        // Nothing of that broke the connection.
        #expect(try await client.publish(topic: "allowed/x", payload: ByteBuffer(bytes: [1])).get().reasonCode <= 0x10)
        await client.close()
    }

    @Test("wrong credentials are refused in the CONNACK; right ones connect")
    func credentials() async throws {
        let passwords = FileManager.default.temporaryDirectory.appendingPathComponent("pw-\(UUID().uuidString)").path
        try run("/usr/bin/mosquitto_passwd", ["-b", "-c", passwords, "gateway", "right-password"])
        defer { try? FileManager.default.removeItem(atPath: passwords) }
        let broker = try TestBroker(extraConfig: "password_file \(passwords)\nallow_anonymous false")
        for version in [MQTTBridgeConfiguration.ProtocolVersion.v5, .v311] {
            do {
                _ = try await connect(broker) {
                    $0.protocolVersion = version
                    $0.username = "gateway"
                    $0.password = "wrong-password"
                }
                Issue.record("connected with a wrong password")
            } catch let error as MQTTBridgeError {
                guard case .rejected(let code, _) = error else {
                    Issue.record("\(error)")
                    continue
                }
                #expect(version == .v5 ? code == 0x86 || code == 0x87 : code == 4 || code == 5, "\(error)")
            }
        }
        let client = try await connect(broker) {
            $0.username = "gateway"
            $0.password = "right-password"
        }
        #expect(try await client.publish(topic: "x", payload: ByteBuffer(bytes: [1])).get().reasonCode <= 0x10)
        await client.close()
    }

    @Test("MQTT 3.1.1: publishes carry topic and payload, and are acknowledged")
    func v311() async throws {
        let broker = try TestBroker()
        let subscriber = try await broker.connectedBridge()
        let received = Counter()
        try await subscriber.subscribe("old/#", handler: record(received))
        let client = try await connect(broker) { $0.protocolVersion = .v311 }
        let ack = try await client.publish(
            topic: "old/a", payload: ByteBuffer(bytes: [1, 2, 3]), properties: MQTTProperties(userProperties: [.init("dropped", "on 3.1.1")])).get()
        #expect(ack.reasonCode == 0)
        #expect(await eventually { received.count == 1 })
        #expect(received.records.first?.payload == [1, 2, 3] && received.records.first?.userProperties == [:])
        await client.close()
        await subscriber.shutdown()
    }

    @Test("a broker that vanishes: publishes in flight fail as connection lost, later ones as not sent")
    func brokerVanishes() async throws {
        let broker = try TestBroker()
        let client = try await connect(broker)
        broker.pause()
        let inFlight = client.publish(topic: "a/b", payload: ByteBuffer(bytes: [1]))
        try await Task.sleep(for: .milliseconds(100))
        broker.kill()
        await #expect(throws: MQTTBridgeError.connectionLost) { try await inFlight.get() }
        try await client.channel.closeFuture.get()
        // Not sent: the same promise as a publish refused while a bridge is down (a 503 upstream).
        do {
            _ = try await client.publish(topic: "a/b", payload: ByteBuffer(bytes: [1])).get()
            Issue.record("a publish on a closed connection succeeded")
        } catch let error as MQTTBridgeError {
            guard case .brokerUnavailable = error else {
                Issue.record("\(error)")
                return
            }
        }
    }
}
