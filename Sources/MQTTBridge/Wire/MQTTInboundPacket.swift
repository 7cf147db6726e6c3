package import NIOCore

/// A control packet a broker sends a client (MQTT 5 §3; 3.1.1 §3), parsed and checked.
/// QoS 2 and enhanced authentication are never asked for, so PUBREC, PUBREL, PUBCOMP and AUTH
/// are protocol errors here.
package enum MQTTInboundPacket: Hashable, Sendable {
    /// CONNACK (§3.2).
    case connAck(MQTTConnAck)
    /// PUBLISH (§3.3): a message on one of this client's subscriptions.
    case publish(MQTTInboundPublish)
    /// PUBACK (§3.4): the broker's answer to a QoS 1 publish.
    case pubAck(packetID: UInt16, reasonCode: UInt8, reasonString: String?)
    /// SUBACK (§3.9): a reason code (or granted QoS) per filter.
    case subAck(packetID: UInt16, reasonCodes: [UInt8], reasonString: String?)
    /// UNSUBACK (§3.11); MQTT 3.1.1 carries no reason codes.
    case unsubAck(packetID: UInt16, reasonCodes: [UInt8])
    /// PINGRESP (§3.13).
    case pingResp
    /// DISCONNECT (§3.14, MQTT 5 only): the broker is closing the connection, and why.
    case disconnect(reasonCode: UInt8, reasonString: String?, serverReference: String?)

    /// Reads one whole packet from the front of `buffer`: `nil` (the buffer untouched) until all
    /// of it has arrived. A packet over `maximumPacketSize` bytes is an error as soon as its
    /// length is known, before its body is buffered.
    package static func read(
        from buffer: inout ByteBuffer, version: MQTTBridgeConfiguration.ProtocolVersion, maximumPacketSize: Int
    ) throws(MQTTWireError) -> MQTTInboundPacket? {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let (remaining, lengthBytes) = try buffer.getMQTTVariableByteInteger(at: buffer.readerIndex + 1)
        else { return nil }
        let size = 1 + lengthBytes + remaining
        guard size <= maximumPacketSize else { throw .packetTooLarge(size) }
        guard buffer.readableBytes >= size else { return nil }
        buffer.moveReaderIndex(forwardBy: 1 + lengthBytes)
        var body = buffer.readSlice(length: remaining)!
        return try parse(typeAndFlags: first, body: &body, version: version)
    }

    /// Parses a packet's body (after the fixed header).
    package static func parse(
        typeAndFlags: UInt8, body: inout ByteBuffer, version: MQTTBridgeConfiguration.ProtocolVersion
    ) throws(MQTTWireError) -> MQTTInboundPacket {
        let flags = typeAndFlags & 0x0F
        guard let type = MQTTPacketType(rawValue: typeAndFlags >> 4) else { throw .unexpectedPacket(typeAndFlags: typeAndFlags) }
        if type != .publish, flags != 0 { throw .unexpectedPacket(typeAndFlags: typeAndFlags) }
        let v5 = version == .v5
        switch type {
        case .connAck:
            return .connAck(try MQTTConnAck(body: &body, version: version))
        case .publish:
            return .publish(try MQTTInboundPublish(flags: flags, body: &body, version: version))
        case .pubAck:
            let packetID: UInt16 = try body.readMQTTInteger("packet identifier")
            var reasonCode: UInt8 = 0
            var reasonString: String?
            if v5, body.readableBytes > 0 {
                reasonCode = try body.readMQTTInteger("reason code")
                if body.readableBytes > 0 {
                    let properties = try MQTTReceivedProperties.read(from: &body)
                    try properties.allow([.reasonString, .userProperty], in: "PUBACK")
                    reasonString = properties.reasonString
                }
            }
            try body.expectEnd("PUBACK")
            return .pubAck(packetID: packetID, reasonCode: reasonCode, reasonString: reasonString)
        case .subAck:
            let packetID: UInt16 = try body.readMQTTInteger("packet identifier")
            var reasonString: String?
            if v5 {
                let properties = try MQTTReceivedProperties.read(from: &body)
                try properties.allow([.reasonString, .userProperty], in: "SUBACK")
                reasonString = properties.reasonString
            }
            guard body.readableBytes > 0 else { throw .truncated(field: "SUBACK reason codes") }
            return .subAck(packetID: packetID, reasonCodes: body.readBytes(length: body.readableBytes)!, reasonString: reasonString)
        case .unsubAck:
            let packetID: UInt16 = try body.readMQTTInteger("packet identifier")
            guard v5 else {
                try body.expectEnd("UNSUBACK")
                return .unsubAck(packetID: packetID, reasonCodes: [])
            }
            let properties = try MQTTReceivedProperties.read(from: &body)
            try properties.allow([.reasonString, .userProperty], in: "UNSUBACK")
            guard body.readableBytes > 0 else { throw .truncated(field: "UNSUBACK reason codes") }
            return .unsubAck(packetID: packetID, reasonCodes: body.readBytes(length: body.readableBytes)!)
        case .pingResp:
            try body.expectEnd("PINGRESP")
            return .pingResp
        case .disconnect where v5:
            var reasonCode: UInt8 = 0
            var properties = MQTTReceivedProperties()
            if body.readableBytes > 0 {
                reasonCode = try body.readMQTTInteger("reason code")
                if body.readableBytes > 0 {
                    properties = try MQTTReceivedProperties.read(from: &body)
                    try properties.allow([.reasonString, .userProperty, .serverReference, .sessionExpiryInterval], in: "DISCONNECT")
                }
            }
            try body.expectEnd("DISCONNECT")
            return .disconnect(reasonCode: reasonCode, reasonString: properties.reasonString, serverReference: properties.serverReference)
        case .connect, .subscribe, .unsubscribe, .pingReq, .disconnect, .pubRec, .pubRel, .pubComp, .auth:
            throw .unexpectedPacket(typeAndFlags: typeAndFlags)
        }
    }
}

/// CONNACK (MQTT 5 §3.2): whether the broker took the connection, and its limits.
package struct MQTTConnAck: Hashable, Sendable {
    /// The broker still had this client's session.
    package var sessionPresent: Bool
    /// MQTT 5 reason code, or the 3.1.1 return code (0 accepted; 1–5 refused).
    package var reasonCode: UInt8
    /// The broker's properties (empty on 3.1.1).
    package var properties: MQTTReceivedProperties

    init(body: inout ByteBuffer, version: MQTTBridgeConfiguration.ProtocolVersion) throws(MQTTWireError) {
        let flags: UInt8 = try body.readMQTTInteger("acknowledge flags")
        guard flags & 0xFE == 0 else { throw .invalidValue("CONNACK flags 0x\(String(flags, radix: 16))") }
        sessionPresent = flags == 1
        reasonCode = try body.readMQTTInteger("reason code")
        properties = MQTTReceivedProperties()
        if version == .v5 {
            properties = try MQTTReceivedProperties.read(from: &body)
            try properties.allow([
                .sessionExpiryInterval, .receiveMaximum, .maximumQoS, .retainAvailable, .maximumPacketSize,
                .assignedClientIdentifier, .topicAliasMaximum, .reasonString, .userProperty, .wildcardSubscriptionAvailable,
                .subscriptionIdentifierAvailable, .sharedSubscriptionAvailable, .serverKeepAlive, .responseInformation,
                .serverReference, .authenticationMethod, .authenticationData,
            ], in: "CONNACK")
        }
        try body.expectEnd("CONNACK")
    }

    /// Whether the broker accepted the connection.
    package var accepted: Bool { reasonCode == 0 }
}

/// A PUBLISH the broker delivers on a subscription (MQTT 5 §3.3).
package struct MQTTInboundPublish: Hashable, Sendable {
    package var topic: String
    package var qos: MQTTQoS
    package var retain: Bool
    package var duplicate: Bool
    /// Present for QoS 1: the client answers it with a PUBACK.
    package var packetID: UInt16?
    package var properties: MQTTReceivedProperties
    package var payload: [UInt8]

    init(flags: UInt8, body: inout ByteBuffer, version: MQTTBridgeConfiguration.ProtocolVersion) throws(MQTTWireError) {
        // QoS 2 is never asked for (the client subscribes with at most 1), and 3 is malformed.
        guard let qos = MQTTQoS(rawValue: Int(flags >> 1 & 0x03)) else { throw .unexpectedPacket(typeAndFlags: 0x30 | flags) }
        self.qos = qos
        retain = flags & 0x01 != 0
        duplicate = flags & 0x08 != 0
        if qos == .atMostOnce, duplicate { throw .invalidValue("DUP set on a QoS 0 PUBLISH") }
        topic = try body.readMQTTString("topic name")
        if topic.utf8.contains(UInt8(ascii: "+")) || topic.utf8.contains(UInt8(ascii: "#")) { throw .invalidValue("wildcard in a topic name") }
        packetID = nil
        if qos == .atLeastOnce {
            let packetID: UInt16 = try body.readMQTTInteger("packet identifier")
            guard packetID != 0 else { throw .invalidValue("packet identifier 0") }
            self.packetID = packetID
        }
        properties = MQTTReceivedProperties()
        if version == .v5 {
            properties = try MQTTReceivedProperties.read(from: &body)
            try properties.allow([
                .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData,
                .subscriptionIdentifier, .topicAlias, .userProperty,
            ], in: "PUBLISH")
            // This client's CONNECT allows no topic aliases (Topic Alias Maximum absent = 0).
            if properties.topicAlias != nil { throw .invalidValue("topic alias not allowed") }
        }
        if topic.isEmpty { throw .invalidValue("empty topic name") }
        payload = body.readBytes(length: body.readableBytes) ?? []
    }
}

extension MQTTReceivedProperties {
    /// Throws if a property not in `allowed` is present.
    func allow(_ allowed: Set<MQTTPropertyIdentifier>, in packet: String) throws(MQTTWireError) {
        for identifier in identifiers where !allowed.contains(MQTTPropertyIdentifier(rawValue: identifier)!) {
            throw .unexpectedProperty(identifier)
        }
    }
}

extension ByteBuffer {
    fileprivate func expectEnd(_ packet: String) throws(MQTTWireError) {
        if readableBytes > 0 { throw .trailingBytes(packet: packet) }
    }
}
