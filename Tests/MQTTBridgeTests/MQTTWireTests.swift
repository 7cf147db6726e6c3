import MQTTBridge
import NIOCore
import Testing

/// The MQTT control packet codec of the NIO client, byte for byte against the specification.
@Suite("MQTT wire codec")
struct MQTTWireTests {
    @Test("Variable Byte Integers at the boundaries of MQTT 5 §1.5.5 round-trip in the stated lengths")
    func variableByteIntegers() throws {
        let cases: [(Int, [UInt8])] = [
            (0, [0x00]), (127, [0x7F]), (128, [0x80, 0x01]), (16_383, [0xFF, 0x7F]), (16_384, [0x80, 0x80, 0x01]),
            (2_097_151, [0xFF, 0xFF, 0x7F]), (2_097_152, [0x80, 0x80, 0x80, 0x01]), (268_435_455, [0xFF, 0xFF, 0xFF, 0x7F]),
        ]
        for (value, bytes) in cases {
            var buffer = ByteBuffer()
            #expect(buffer.writeMQTTVariableByteInteger(value) == bytes.count)
            #expect(Array(buffer.readableBytesView) == bytes)
            #expect(ByteBuffer.mqttVariableByteIntegerLength(value) == bytes.count)
            #expect(try buffer.readMQTTVariableByteInteger("v") == value)
        }
        // A fifth continuation byte is malformed; a missing last byte is "not yet".
        let five = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(throws: MQTTWireError.malformedVariableByteInteger) { try five.getMQTTVariableByteInteger(at: 0) }
        #expect(try ByteBuffer(bytes: [0x80, 0x80]).getMQTTVariableByteInteger(at: 0) == nil)
    }

    @Test("CONNECT is written as MQTT 3.1.1 §3.1 and MQTT 5 §3.1 lay it out")
    func connect() throws {
        var v311 = MQTTConnectPacket(version: .v311, clientID: "a", keepAliveSeconds: 60, cleanStart: true)
        var buffer = ByteBuffer()
        try v311.write(into: &buffer)
        #expect(Array(buffer.readableBytesView) == [0x10, 13, 0, 4, 0x4D, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, 0, 1, 0x61])

        v311.username = "u"
        v311.password = "pw"
        buffer.clear()
        try v311.write(into: &buffer)
        #expect(Array(buffer.readableBytesView) == [0x10, 20, 0, 4, 0x4D, 0x51, 0x54, 0x54, 4, 0xC2, 0, 60, 0, 1, 0x61, 0, 1, 0x75, 0, 2, 0x70, 0x77])

        var v5 = MQTTConnectPacket(version: .v5, clientID: "pg", keepAliveSeconds: 30, cleanStart: false)
        v5.sessionExpiryInterval = 0xFFFF_FFFF
        v5.maximumPacketSize = 1 << 20
        buffer.clear()
        try v5.write(into: &buffer)
        #expect(Array(buffer.readableBytesView) == [
            0x10, 25, 0, 4, 0x4D, 0x51, 0x54, 0x54, 5, 0x00, 0, 30,
            10, 0x11, 0xFF, 0xFF, 0xFF, 0xFF, 0x27, 0x00, 0x10, 0x00, 0x00,
            0, 2, 0x70, 0x67,
        ])

        let bad = MQTTConnectPacket(version: .v5, clientID: "a\u{0}b", keepAliveSeconds: 30, cleanStart: true)
        #expect(throws: MQTTWireError.self) { try bad.write(into: &buffer) }
    }

    @Test("a PUBLISH written by the client reads back with topic, identifier, flags, properties and payload intact")
    func publishRoundTrip() throws {
        let properties = MQTTProperties(
            messageExpiryInterval: 600, contentType: "application/octet-stream", correlationData: [0, 1, 255],
            responseTopic: "ack/é", userProperties: [.init("message-id", "m-1"), .init("k", ""), .init("k", "twice")])
        let payload = (0..<300).map { UInt8(truncatingIfNeeded: $0) }
        for version in [MQTTBridgeConfiguration.ProtocolVersion.v5, .v311] {
            let header = MQTTPublishHeader(topic: "pushgate/s/x", packetID: 0xBEEF, retain: true, duplicate: true, properties: properties)
            var buffer = ByteBuffer()
            header.write(into: &buffer, payloadLength: payload.count, version: version)
            buffer.writeBytes(payload)
            #expect(buffer.readableBytes == header.packetSize(payloadLength: payload.count, version: version))
            #expect(buffer.getInteger(at: 0, as: UInt8.self) == 0x3B)  // PUBLISH, DUP, QoS 1, RETAIN
            let packet = try MQTTInboundPacket.read(from: &buffer, version: version, maximumPacketSize: 1 << 20)
            guard case .publish(let publish)? = packet else {
                Issue.record("not a publish: \(String(describing: packet))")
                return
            }
            #expect(publish.topic == "pushgate/s/x" && publish.packetID == 0xBEEF && publish.qos == .atLeastOnce)
            #expect(publish.retain && publish.duplicate && publish.payload == payload)
            #expect(publish.properties.messageProperties == (version == .v5 ? properties : MQTTProperties()))
            #expect(buffer.readableBytes == 0)
        }
        // QoS 0: no packet identifier, and the flags say so.
        var buffer = ByteBuffer()
        MQTTPublishHeader(topic: "t", packetID: nil).write(into: &buffer, payloadLength: 2, version: .v5)
        buffer.writeBytes([7, 8])
        #expect(Array(buffer.readableBytesView) == [0x30, 6, 0, 1, 0x74, 0, 7, 8])
    }

    @Test("a PUBLISH header refuses topics and properties MQTT cannot carry")
    func publishValidation() {
        for topic in ["", "a/+", "a/#", "a\u{0}"] {
            #expect(throws: MQTTWireError.self) { try MQTTPublishHeader(topic: topic, packetID: 1).validate() }
        }
        #expect(throws: MQTTWireError.self) {
            try MQTTPublishHeader(topic: "t", packetID: 1, properties: MQTTProperties(userProperties: [.init("a\u{0}", "v")])).validate()
        }
        #expect(throws: MQTTWireError.self) {
            try MQTTPublishHeader(topic: "t", packetID: 1, properties: MQTTProperties(correlationData: Array(repeating: 0, count: 65_536))).validate()
        }
        #expect(throws: MQTTWireError.self) { try MQTTPublishHeader(topic: "t", packetID: 0).validate() }
    }

    @Test("topic filters: wildcards only as whole levels, # only last (MQTT 5 §4.7.1)")
    func filters() {
        for filter in ["a/b", "a/+", "+", "#", "a/#", "+/+/#", "$share/g/a/#", "a//b"] {
            #expect(MQTTSubscriptionPacket.isValidFilter(filter), "\(filter)")
        }
        for filter in ["", "a/#/b", "a#", "a/b+", "++", "#/", "a\u{0}"] {
            #expect(!MQTTSubscriptionPacket.isValidFilter(filter), "\(filter)")
        }
    }

    @Test("a received topic matches filters as MQTT 5 §4.7 says: + one level, # the rest and its parent, no wildcard for $ topics")
    func topicMatching() {
        let matches: [(String, String)] = [
            ("a/b", "a/b"), ("a/+", "a/b"), ("+/b", "a/b"), ("a/#", "a/b/c"), ("a/#", "a"), ("#", "a/b"), ("+/+", "/x"),
            ("a//b", "a//b"), ("$SYS/#", "$SYS/x"), ("pushgate/ack/+/+", "pushgate/ack/s1/m1"),
        ]
        for (filter, topic) in matches { #expect(MQTTTopicFilter.matches(filter, topic: topic), "\(filter) ~ \(topic)") }
        let misses: [(String, String)] = [
            ("a/b", "a/c"), ("a/+", "a"), ("a/+", "a/b/c"), ("a/b", "a/b/c"), ("+", "a/b"), ("#", "$SYS/x"), ("+/x", "$SYS/x"),
            ("a/b/c", "a/b"), ("A/b", "a/b"),
        ]
        for (filter, topic) in misses { #expect(!MQTTTopicFilter.matches(filter, topic: topic), "\(filter) !~ \(topic)") }
    }

    @Test("CONNACK, PUBACK, SUBACK, UNSUBACK, PINGRESP and DISCONNECT parse in both protocol versions")
    func acknowledgements() throws {
        func read(_ bytes: [UInt8], _ version: MQTTBridgeConfiguration.ProtocolVersion = .v5) throws -> MQTTInboundPacket? {
            var buffer = ByteBuffer(bytes: bytes)
            let packet = try MQTTInboundPacket.read(from: &buffer, version: version, maximumPacketSize: 1 << 20)
            #expect(buffer.readableBytes == 0)
            return packet
        }
        // CONNACK v5: session present, success, receive maximum 20, maximum packet size 1000, a user property.
        let connAck = try read([0x20, 18, 0x01, 0x00, 15, 0x21, 0, 20, 0x27, 0, 0, 0x03, 0xE8, 0x26, 0, 1, 0x6B, 0, 1, 0x76])
        guard case .connAck(let ack)? = connAck else {
            Issue.record("not a CONNACK")
            return
        }
        #expect(ack.sessionPresent && ack.accepted && ack.properties.receiveMaximum == 20 && ack.properties.maximumPacketSize == 1000)
        #expect(ack.properties.userProperties == [.init("k", "v")])
        // CONNACK 3.1.1 refused: not authorized.
        let refused = try #require(try connAckValue(sessionPresent: false, code: 5))
        #expect(!refused.accepted && !refused.sessionPresent && refused.reasonCode == 5)
        #expect(try read([0x20, 2, 0, 5], .v311) == .connAck(refused))
        // PUBACK: the short form is success; 0x10 "no matching subscribers"; 0x87 with a reason string.
        #expect(try read([0x40, 2, 0x12, 0x34]) == .pubAck(packetID: 0x1234, reasonCode: 0, reasonString: nil))
        #expect(try read([0x40, 3, 0, 1, 0x10]) == .pubAck(packetID: 1, reasonCode: 0x10, reasonString: nil))
        #expect(try read([0x40, 9, 0, 1, 0x87, 5, 0x1F, 0, 2, 0x6E, 0x6F]) == .pubAck(packetID: 1, reasonCode: 0x87, reasonString: "no"))
        #expect(try read([0x40, 2, 0, 9], .v311) == .pubAck(packetID: 9, reasonCode: 0, reasonString: nil))
        #expect(try read([0x90, 4, 0, 7, 0, 0x01]) == .subAck(packetID: 7, reasonCodes: [1], reasonString: nil))
        #expect(try read([0x90, 3, 0, 7, 0x80], .v311) == .subAck(packetID: 7, reasonCodes: [0x80], reasonString: nil))
        #expect(try read([0xB0, 4, 0, 8, 0, 0x11]) == .unsubAck(packetID: 8, reasonCodes: [0x11]))
        #expect(try read([0xB0, 2, 0, 8], .v311) == .unsubAck(packetID: 8, reasonCodes: []))
        #expect(try read([0xD0, 0]) == .pingResp)
        #expect(try read([0xE0, 1, 0x8E]) == .disconnect(reasonCode: 0x8E, reasonString: nil, serverReference: nil))
        #expect(try read([0xE0, 0]) == .disconnect(reasonCode: 0, reasonString: nil, serverReference: nil))
    }

    private func connAckValue(sessionPresent: Bool, code: UInt8) throws -> MQTTConnAck? {
        var buffer = ByteBuffer(bytes: [0x20, 2, sessionPresent ? 1 : 0, code])
        guard case .connAck(let ack)? = try MQTTInboundPacket.read(from: &buffer, version: .v311, maximumPacketSize: 100) else { return nil }
        return ack
    }

    @Test("an incomplete packet waits for more bytes; packets arriving together are read one by one")
    func framing() throws {
        let bytes: [UInt8] = [0x40, 2, 0, 1, 0x40, 3, 0, 2, 0x10, 0xD0, 0]
        for cut in 0..<bytes.count {
            var buffer = ByteBuffer(bytes: bytes[..<cut])
            var packets: [MQTTInboundPacket] = []
            while let packet = try MQTTInboundPacket.read(from: &buffer, version: .v5, maximumPacketSize: 100) { packets.append(packet) }
            buffer.writeBytes(bytes[cut...])
            while let packet = try MQTTInboundPacket.read(from: &buffer, version: .v5, maximumPacketSize: 100) { packets.append(packet) }
            #expect(packets == [
                .pubAck(packetID: 1, reasonCode: 0, reasonString: nil), .pubAck(packetID: 2, reasonCode: 0x10, reasonString: nil), .pingResp,
            ], "cut at \(cut)")
        }
    }

    @Test("malformed or unexpected packets are errors, never a crash or a wrong packet", arguments: [
        ([0x41, 2, 0, 1], "PUBACK with flags"),
        ([0x50, 2, 0, 1], "PUBREC (QoS 2 never requested)"),
        ([0x10, 0], "CONNECT from a broker"),
        ([0xF0, 0], "AUTH"),
        ([0xD0, 1, 0], "PINGRESP with a body"),
        ([0x40, 1, 0], "PUBACK without its identifier"),
        ([0x40, 6, 0, 1, 0, 2, 0x1F, 0], "truncated property"),
        ([0x40, 9, 0, 1, 0x87, 5, 0x1F, 0, 2, 0xC3, 0x28], "reason string not UTF-8"),
        ([0x40, 7, 0, 1, 0, 3, 0x02, 0, 0], "a message property on a PUBACK"),
        ([0x20, 9, 0, 0, 6, 0x21, 0, 1, 0x21, 0, 1], "a property twice"),
        ([0x20, 6, 0, 0, 3, 0x21, 0, 0], "receive maximum 0"),
        ([0x20, 3, 0x02, 0, 0], "CONNACK flags"),
        ([0x36, 5, 0, 1, 0x74, 0, 1], "PUBLISH with QoS 3"),
        ([0x32, 6, 0, 1, 0x74, 0, 0, 0], "PUBLISH with packet identifier 0"),
        ([0x30, 5, 0, 1, 0x23, 0, 0x7F], "PUBLISH with a wildcard topic"),
        ([0x30, 7, 0, 0, 3, 0x23, 0, 1, 0x7F], "PUBLISH with a topic alias"),
        ([0x30, 3, 0, 1, 0x00], "PUBLISH with U+0000 in its topic"),
        ([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], "a length of five bytes"),
        ([0x30, 0xFF, 0xFF, 0x03], "a packet over the maximum size"),
    ] as [([UInt8], String)])
    func malformed(bytes: [UInt8], what: String) {
        var buffer = ByteBuffer(bytes: bytes)
        #expect(throws: MQTTWireError.self, "\(what)") { try MQTTInboundPacket.read(from: &buffer, version: .v5, maximumPacketSize: 1 << 16) }
    }
}
