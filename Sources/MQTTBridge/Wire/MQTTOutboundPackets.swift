package import NIOCore

/// MQTT control packet types (MQTT 5 §2.1.2; the same numbers in 3.1.1).
package enum MQTTPacketType: UInt8, Sendable {
    case connect = 1, connAck, publish, pubAck, pubRec, pubRel, pubComp, subscribe, subAck, unsubscribe, unsubAck
    case pingReq, pingResp, disconnect, auth
}

extension MQTTBridgeConfiguration.ProtocolVersion {
    /// The Protocol Level byte of CONNECT.
    package var level: UInt8 {
        switch self {
        case .v5: 5
        case .v311: 4
        }
    }
}

/// CONNECT (MQTT 5 §3.1; 3.1.1 §3.1): the first packet of a connection. No will message:
/// Pushgate's connection has nothing to announce when it drops.
package struct MQTTConnectPacket: Sendable {
    package var version: MQTTBridgeConfiguration.ProtocolVersion
    package var clientID: String
    package var keepAliveSeconds: UInt16
    package var cleanStart: Bool
    package var username: String?
    package var password: String?
    /// MQTT 5: how long the broker keeps the session after the connection closes.
    package var sessionExpiryInterval: UInt32?
    /// MQTT 5: the most QoS 1 publishes the broker may send this client unacknowledged.
    package var receiveMaximum: UInt16?
    /// MQTT 5: the largest packet this client accepts.
    package var maximumPacketSize: UInt32?

    package init(version: MQTTBridgeConfiguration.ProtocolVersion, clientID: String, keepAliveSeconds: UInt16, cleanStart: Bool) {
        self.version = version
        self.clientID = clientID
        self.keepAliveSeconds = keepAliveSeconds
        self.cleanStart = cleanStart
    }

    /// Writes the packet; throws if a field cannot be encoded.
    package func write(into buffer: inout ByteBuffer) throws(MQTTWireError) {
        for (name, value) in [("client identifier", clientID), ("user name", username), ("password", password)] {
            if let value, !value.isValidMQTTString { throw .invalidValue("\(name) cannot be sent in MQTT") }
        }
        var properties = 0
        if version == .v5 {
            if sessionExpiryInterval != nil { properties += 5 }
            if receiveMaximum != nil { properties += 3 }
            if maximumPacketSize != nil { properties += 5 }
        }
        var length = 2 + 4 + 1 + 1 + 2 + 2 + clientID.utf8.count
        if version == .v5 { length += ByteBuffer.mqttVariableByteIntegerLength(properties) + properties }
        if let username { length += 2 + username.utf8.count }
        if let password { length += 2 + password.utf8.count }

        buffer.writeInteger(MQTTPacketType.connect.rawValue << 4)
        buffer.writeMQTTVariableByteInteger(length)
        buffer.writeMQTTString("MQTT")
        buffer.writeInteger(version.level)
        var flags: UInt8 = cleanStart ? 0x02 : 0
        if username != nil { flags |= 0x80 }
        if password != nil { flags |= 0x40 }
        buffer.writeInteger(flags)
        buffer.writeInteger(keepAliveSeconds)
        if version == .v5 {
            buffer.writeMQTTVariableByteInteger(properties)
            buffer.writeMQTTProperty(.sessionExpiryInterval, sessionExpiryInterval)
            buffer.writeMQTTProperty(.receiveMaximum, receiveMaximum)
            buffer.writeMQTTProperty(.maximumPacketSize, maximumPacketSize)
        }
        buffer.writeMQTTString(clientID)
        if let username { buffer.writeMQTTString(username) }
        if let password { buffer.writeMQTTString(password) }
    }
}

/// The fixed and variable header of a PUBLISH (MQTT 5 §3.3): everything but the payload, so a
/// fan-out writes one shared payload buffer after each copy's header without copying it.
package struct MQTTPublishHeader: Sendable {
    package var topic: String
    /// The Packet Identifier; `nil` for QoS 0.
    package var packetID: UInt16?
    package var retain: Bool
    package var duplicate: Bool
    /// Sent on MQTT 5 only.
    package var properties: MQTTProperties

    package init(topic: String, packetID: UInt16?, retain: Bool = false, duplicate: Bool = false, properties: MQTTProperties = MQTTProperties()) {
        self.topic = topic
        self.packetID = packetID
        self.retain = retain
        self.duplicate = duplicate
        self.properties = properties
    }

    /// The whole packet's size on the wire with a payload of `payloadLength` bytes.
    package func packetSize(payloadLength: Int, version: MQTTBridgeConfiguration.ProtocolVersion) -> Int {
        let remaining = remainingLength(payloadLength: payloadLength, version: version)
        return 1 + ByteBuffer.mqttVariableByteIntegerLength(remaining) + remaining
    }

    package func remainingLength(payloadLength: Int, version: MQTTBridgeConfiguration.ProtocolVersion) -> Int {
        var length = 2 + topic.utf8.count + (packetID == nil ? 0 : 2) + payloadLength
        if version == .v5 {
            let properties = properties.encodedLength
            length += ByteBuffer.mqttVariableByteIntegerLength(properties) + properties
        }
        return length
    }

    /// Writes the header of a PUBLISH whose payload (`payloadLength` bytes) the caller writes
    /// next. The caller has checked the topic and properties (``MQTTPublishHeader/validate()``)
    /// and the size against the broker's maximum.
    package func write(into buffer: inout ByteBuffer, payloadLength: Int, version: MQTTBridgeConfiguration.ProtocolVersion) {
        var first = MQTTPacketType.publish.rawValue << 4
        if retain { first |= 0x01 }
        if packetID != nil { first |= 0x02 }
        if duplicate { first |= 0x08 }
        buffer.writeInteger(first)
        buffer.writeMQTTVariableByteInteger(remainingLength(payloadLength: payloadLength, version: version))
        buffer.writeMQTTString(topic)
        if let packetID { buffer.writeInteger(packetID) }
        if version == .v5 {
            buffer.writeMQTTVariableByteInteger(properties.encodedLength)
            properties.write(into: &buffer)
        }
    }

    /// Throws unless the topic is a valid topic name (not empty, no wildcards, encodable) and
    /// the properties are encodable.
    package func validate() throws(MQTTWireError) {
        guard topic.isValidMQTTTopicName else {
            throw .invalidValue("invalid topic name")
        }
        guard properties.isEncodable else { throw .invalidValue("a property cannot be sent in MQTT") }
        if packetID == 0 { throw .invalidValue("packet identifier 0") }
    }
}

/// A packet with at most a packet identifier and a reason code.
package enum MQTTControlPacket: Sendable {
    /// PUBACK for a QoS 1 message received (MQTT 5 §3.4); success is sent in its short form.
    case pubAck(packetID: UInt16, reasonCode: UInt8)
    /// PINGREQ (§3.12).
    case pingReq
    /// DISCONNECT (§3.14); MQTT 3.1.1 has no reason code.
    case disconnect(reasonCode: UInt8)

    package func write(into buffer: inout ByteBuffer, version: MQTTBridgeConfiguration.ProtocolVersion) {
        switch self {
        case .pubAck(let packetID, let reasonCode):
            buffer.writeInteger(MQTTPacketType.pubAck.rawValue << 4)
            let long = version == .v5 && reasonCode != 0
            buffer.writeInteger(UInt8(long ? 3 : 2))
            buffer.writeInteger(packetID)
            if long { buffer.writeInteger(reasonCode) }
        case .pingReq:
            buffer.writeInteger(MQTTPacketType.pingReq.rawValue << 4)
            buffer.writeInteger(UInt8(0))
        case .disconnect(let reasonCode):
            buffer.writeInteger(MQTTPacketType.disconnect.rawValue << 4)
            if version == .v5 && reasonCode != 0 {
                buffer.writeInteger(UInt8(1))
                buffer.writeInteger(reasonCode)
            } else {
                buffer.writeInteger(UInt8(0))
            }
        }
    }
}

/// SUBSCRIBE (MQTT 5 §3.8) or UNSUBSCRIBE (§3.10) of one topic filter.
package struct MQTTSubscriptionPacket: Sendable {
    package var packetID: UInt16
    package var filter: String
    /// `nil` for UNSUBSCRIBE.
    package var qos: MQTTQoS?

    package init(subscribe filter: String, qos: MQTTQoS, packetID: UInt16) {
        self.filter = filter
        self.qos = qos
        self.packetID = packetID
    }

    package init(unsubscribe filter: String, packetID: UInt16) {
        self.filter = filter
        self.qos = nil
        self.packetID = packetID
    }

    package func write(into buffer: inout ByteBuffer, version: MQTTBridgeConfiguration.ProtocolVersion) throws(MQTTWireError) {
        guard MQTTSubscriptionPacket.isValidFilter(filter) else { throw .invalidValue("invalid topic filter") }
        guard packetID != 0 else { throw .invalidValue("packet identifier 0") }
        let type: MQTTPacketType = qos == nil ? .unsubscribe : .subscribe
        let length = 2 + (version == .v5 ? 1 : 0) + 2 + filter.utf8.count + (qos == nil ? 0 : 1)
        buffer.writeInteger(type.rawValue << 4 | 0x02)
        buffer.writeMQTTVariableByteInteger(length)
        buffer.writeInteger(packetID)
        if version == .v5 { buffer.writeInteger(UInt8(0)) }  // no properties
        buffer.writeMQTTString(filter)
        if let qos { buffer.writeInteger(UInt8(qos.rawValue)) }
    }

    /// Whether `filter` is a valid topic filter (MQTT 5 §4.7.1): not empty, encodable, `#` only
    /// as the whole last level, `+` only as a whole level. A broker disconnects a client that
    /// sends an invalid one.
    package static func isValidFilter(_ filter: String) -> Bool {
        guard !filter.isEmpty, filter.isValidMQTTString else { return false }
        let levels = filter.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains(UInt8(ascii: "#")), level.count != 1 || index != levels.count - 1 { return false }
            if level.contains(UInt8(ascii: "+")), level.count != 1 { return false }
        }
        return true
    }
}
