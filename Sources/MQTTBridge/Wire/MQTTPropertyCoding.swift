package import NIOCore

/// MQTT 5 property identifiers this client writes or reads (MQTT 5 §2.2.2.2).
package enum MQTTPropertyIdentifier: UInt8, Sendable {
    case payloadFormatIndicator = 0x01
    case messageExpiryInterval = 0x02
    case contentType = 0x03
    case responseTopic = 0x08
    case correlationData = 0x09
    case subscriptionIdentifier = 0x0B
    case sessionExpiryInterval = 0x11
    case assignedClientIdentifier = 0x12
    case serverKeepAlive = 0x13
    case authenticationMethod = 0x15
    case authenticationData = 0x16
    case requestProblemInformation = 0x17
    case willDelayInterval = 0x18
    case requestResponseInformation = 0x19
    case responseInformation = 0x1A
    case serverReference = 0x1C
    case reasonString = 0x1F
    case receiveMaximum = 0x21
    case topicAliasMaximum = 0x22
    case topicAlias = 0x23
    case maximumQoS = 0x24
    case retainAvailable = 0x25
    case userProperty = 0x26
    case maximumPacketSize = 0x27
    case wildcardSubscriptionAvailable = 0x28
    case subscriptionIdentifierAvailable = 0x29
    case sharedSubscriptionAvailable = 0x2A
}

/// Every property a broker may send to a client, decoded (MQTT 5 §2.2.2.2). Which ones a
/// packet may carry is checked by the packet's parser.
package struct MQTTReceivedProperties: Hashable, Sendable {
    package var payloadFormatIndicator: UInt8?
    package var messageExpiryInterval: UInt32?
    package var contentType: String?
    package var responseTopic: String?
    package var correlationData: [UInt8]?
    package var subscriptionIdentifiers: [Int] = []
    package var sessionExpiryInterval: UInt32?
    package var assignedClientIdentifier: String?
    package var serverKeepAlive: UInt16?
    package var authenticationMethod: String?
    package var authenticationData: [UInt8]?
    package var responseInformation: String?
    package var serverReference: String?
    package var reasonString: String?
    package var receiveMaximum: UInt16?
    package var topicAliasMaximum: UInt16?
    package var topicAlias: UInt16?
    package var maximumQoS: UInt8?
    package var retainAvailable: Bool?
    package var userProperties: [MQTTProperties.UserProperty] = []
    package var maximumPacketSize: UInt32?
    package var wildcardSubscriptionAvailable: Bool?
    package var subscriptionIdentifierAvailable: Bool?
    package var sharedSubscriptionAvailable: Bool?
    /// The identifiers present, in order, for the packet parsers' checks.
    package var identifiers: [UInt8] = []

    package init() {}

    /// The properties an application sees on a received message.
    package var messageProperties: MQTTProperties {
        MQTTProperties(
            messageExpiryInterval: messageExpiryInterval, contentType: contentType, correlationData: correlationData,
            responseTopic: responseTopic, userProperties: userProperties)
    }

    /// Reads a Property Length and the properties it spans. A property that may appear once and
    /// appears twice is a protocol error (MQTT 5 §2.2.2.2).
    package static func read(from buffer: inout ByteBuffer) throws(MQTTWireError) -> MQTTReceivedProperties {
        let length = try buffer.readMQTTVariableByteInteger("property length")
        guard var properties = buffer.readSlice(length: length) else { throw .truncated(field: "properties") }
        var result = MQTTReceivedProperties()
        while properties.readableBytes > 0 {
            let raw = try properties.readMQTTVariableByteInteger("property identifier")
            guard raw <= 0x7F, let identifier = MQTTPropertyIdentifier(rawValue: UInt8(raw)) else {
                throw .unexpectedProperty(UInt8(truncatingIfNeeded: raw))
            }
            if identifier != .userProperty, identifier != .subscriptionIdentifier, result.identifiers.contains(identifier.rawValue) {
                throw .unexpectedProperty(identifier.rawValue)
            }
            result.identifiers.append(identifier.rawValue)
            let field = "property 0x\(String(identifier.rawValue, radix: 16))"
            switch identifier {
            case .payloadFormatIndicator: result.payloadFormatIndicator = try properties.readMQTTInteger(field)
            case .messageExpiryInterval: result.messageExpiryInterval = try properties.readMQTTInteger(field)
            case .contentType: result.contentType = try properties.readMQTTString(field)
            case .responseTopic: result.responseTopic = try properties.readMQTTString(field)
            case .correlationData: result.correlationData = try properties.readMQTTBinary(field)
            case .subscriptionIdentifier:
                let value = try properties.readMQTTVariableByteInteger(field)
                guard value > 0 else { throw .invalidValue("subscription identifier 0") }
                result.subscriptionIdentifiers.append(value)
            case .sessionExpiryInterval: result.sessionExpiryInterval = try properties.readMQTTInteger(field)
            case .assignedClientIdentifier: result.assignedClientIdentifier = try properties.readMQTTString(field)
            case .serverKeepAlive: result.serverKeepAlive = try properties.readMQTTInteger(field)
            case .authenticationMethod: result.authenticationMethod = try properties.readMQTTString(field)
            case .authenticationData: result.authenticationData = try properties.readMQTTBinary(field)
            case .responseInformation: result.responseInformation = try properties.readMQTTString(field)
            case .serverReference: result.serverReference = try properties.readMQTTString(field)
            case .reasonString: result.reasonString = try properties.readMQTTString(field)
            case .receiveMaximum:
                let value: UInt16 = try properties.readMQTTInteger(field)
                guard value > 0 else { throw .invalidValue("receive maximum 0") }
                result.receiveMaximum = value
            case .topicAliasMaximum: result.topicAliasMaximum = try properties.readMQTTInteger(field)
            case .topicAlias: result.topicAlias = try properties.readMQTTInteger(field)
            case .maximumQoS: result.maximumQoS = try readFlag(&properties, field, max: 1)
            case .retainAvailable: result.retainAvailable = try readFlag(&properties, field, max: 1) == 1
            case .userProperty:
                let name = try properties.readMQTTString(field)
                let value = try properties.readMQTTString(field)
                result.userProperties.append(.init(name, value))
            case .maximumPacketSize:
                let value: UInt32 = try properties.readMQTTInteger(field)
                guard value > 0 else { throw .invalidValue("maximum packet size 0") }
                result.maximumPacketSize = value
            case .wildcardSubscriptionAvailable: result.wildcardSubscriptionAvailable = try readFlag(&properties, field, max: 1) == 1
            case .subscriptionIdentifierAvailable: result.subscriptionIdentifierAvailable = try readFlag(&properties, field, max: 1) == 1
            case .sharedSubscriptionAvailable: result.sharedSubscriptionAvailable = try readFlag(&properties, field, max: 1) == 1
            case .requestProblemInformation, .requestResponseInformation, .willDelayInterval:
                throw .unexpectedProperty(identifier.rawValue)  // client-to-server only
            }
        }
        return result
    }

    private static func readFlag(_ buffer: inout ByteBuffer, _ field: String, max: UInt8) throws(MQTTWireError) -> UInt8 {
        let value: UInt8 = try buffer.readMQTTInteger(field)
        guard value <= max else { throw .invalidValue("\(field) out of range") }
        return value
    }
}

extension MQTTProperties {
    /// Bytes the properties take on the wire, without their Property Length.
    package var encodedLength: Int {
        var length = 0
        if messageExpiryInterval != nil { length += 5 }
        if let contentType { length += 3 + contentType.utf8.count }
        if let responseTopic { length += 3 + responseTopic.utf8.count }
        if let correlationData { length += 3 + correlationData.count }
        for property in userProperties { length += 5 + property.name.utf8.count + property.value.utf8.count }
        return length
    }

    /// Whether every string and binary field fits its two-byte length and has no U+0000.
    package var isEncodable: Bool {
        (contentType?.isValidMQTTString ?? true) && (responseTopic?.isValidMQTTString ?? true)
            && (correlationData.map { $0.count <= 65_535 } ?? true)
            && userProperties.allSatisfy { $0.name.isValidMQTTString && $0.value.isValidMQTTString }
    }

    /// Writes the properties (``encodedLength`` bytes), without their Property Length.
    package func write(into buffer: inout ByteBuffer) {
        buffer.writeMQTTProperty(.messageExpiryInterval, messageExpiryInterval)
        buffer.writeMQTTProperty(.contentType, contentType)
        buffer.writeMQTTProperty(.responseTopic, responseTopic)
        buffer.writeMQTTProperty(.correlationData, correlationData)
        for property in userProperties {
            buffer.writeInteger(MQTTPropertyIdentifier.userProperty.rawValue)
            buffer.writeMQTTString(property.name)
            buffer.writeMQTTString(property.value)
        }
    }
}

extension ByteBuffer {
    /// Writes an integer property (identifier, then the value), if it is set.
    mutating func writeMQTTProperty<Value: FixedWidthInteger>(_ identifier: MQTTPropertyIdentifier, _ value: Value?) {
        guard let value else { return }
        writeInteger(identifier.rawValue)
        writeInteger(value)
    }

    /// Writes a binary property (identifier, then the bytes), if it is set.
    mutating func writeMQTTProperty(_ identifier: MQTTPropertyIdentifier, _ value: [UInt8]?) {
        guard let value else { return }
        writeInteger(identifier.rawValue)
        writeMQTTBinary(value)
    }

    /// Writes a UTF-8 string property (identifier, then the string), if it is set.
    mutating func writeMQTTProperty(_ identifier: MQTTPropertyIdentifier, _ value: String?) {
        guard let value else { return }
        writeInteger(identifier.rawValue)
        writeMQTTString(value)
    }
}
