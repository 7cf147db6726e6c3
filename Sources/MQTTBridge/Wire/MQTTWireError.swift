/// Why bytes from the broker are not a well-formed MQTT control packet, or why a packet cannot
/// be encoded. Either way the connection cannot go on: the stream has lost its framing.
package enum MQTTWireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A Variable Byte Integer longer than four bytes (MQTT 5 §1.5.5).
    case malformedVariableByteInteger
    /// A packet larger than this client accepts (its Maximum Packet Size).
    case packetTooLarge(Int)
    /// A field runs past the end of its packet.
    case truncated(field: String)
    /// A string that is not well-formed UTF-8 or contains U+0000 (MQTT 5 §1.5.4).
    case invalidString(field: String)
    /// A property identifier that does not exist, or is not allowed in this packet.
    case unexpectedProperty(UInt8)
    /// Fixed-header flags the packet type does not allow, or a type a client never receives.
    case unexpectedPacket(typeAndFlags: UInt8)
    /// Bytes left over after the last field of a packet that has no payload.
    case trailingBytes(packet: String)
    /// A value outside its range (a string over 65,535 bytes, packet identifier 0, QoS 3…).
    case invalidValue(String)

    package var description: String {
        switch self {
        case .malformedVariableByteInteger: "malformed variable byte integer"
        case .packetTooLarge(let size): "packet of \(size) bytes exceeds the maximum packet size"
        case .truncated(let field): "packet ends inside \(field)"
        case .invalidString(let field): "\(field) is not a valid MQTT UTF-8 string"
        case .unexpectedProperty(let identifier): "unexpected property 0x\(String(identifier, radix: 16))"
        case .unexpectedPacket(let byte): "unexpected packet type/flags 0x\(String(byte, radix: 16))"
        case .trailingBytes(let packet): "bytes after the end of \(packet)"
        case .invalidValue(let what): what
        }
    }
}
