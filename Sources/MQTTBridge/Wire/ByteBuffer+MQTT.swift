package import NIOCore

/// The MQTT data representations (MQTT 5 §1.5, the same in 3.1.1) on `ByteBuffer`.
extension ByteBuffer {
    /// The largest value a Variable Byte Integer holds (four bytes).
    package static let mqttVariableByteIntegerMax = 268_435_455

    /// Bytes a Variable Byte Integer of `value` takes.
    package static func mqttVariableByteIntegerLength(_ value: Int) -> Int {
        value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4
    }

    /// Writes `value` (0…``mqttVariableByteIntegerMax``) as a Variable Byte Integer.
    @discardableResult
    package mutating func writeMQTTVariableByteInteger(_ value: Int) -> Int {
        precondition(value >= 0 && value <= ByteBuffer.mqttVariableByteIntegerMax, "variable byte integer out of range")
        var value = value
        var written = 0
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value > 0 { byte |= 0x80 }
            writeInteger(byte)
            written += 1
        } while value > 0
        return written
    }

    /// Reads a Variable Byte Integer at `index` without moving the reader: its value and length,
    /// or `nil` when the buffer ends before its last byte.
    package func getMQTTVariableByteInteger(at index: Int) throws(MQTTWireError) -> (value: Int, length: Int)? {
        var value = 0
        for position in 0..<4 {
            guard let byte = getInteger(at: index + position, as: UInt8.self) else { return nil }
            value |= Int(byte & 0x7F) << (7 * position)
            if byte & 0x80 == 0 { return (value, position + 1) }
        }
        throw .malformedVariableByteInteger
    }

    /// Reads a Variable Byte Integer that must lie wholly within the buffer.
    package mutating func readMQTTVariableByteInteger(_ field: String) throws(MQTTWireError) -> Int {
        guard let (value, length) = try getMQTTVariableByteInteger(at: readerIndex) else { throw .truncated(field: field) }
        moveReaderIndex(forwardBy: length)
        return value
    }

    /// Writes a UTF-8 Encoded String: a two-byte length, then the bytes.
    package mutating func writeMQTTString(_ string: String) {
        let count = string.utf8.count
        writeInteger(UInt16(truncatingIfNeeded: count))
        writeString(string)
    }

    /// Writes Binary Data: a two-byte length, then the bytes.
    package mutating func writeMQTTBinary(_ bytes: [UInt8]) {
        writeInteger(UInt16(truncatingIfNeeded: bytes.count))
        writeBytes(bytes)
    }

    /// Reads an integer that must lie wholly within the buffer.
    package mutating func readMQTTInteger<Integer: FixedWidthInteger>(_ field: String, as: Integer.Type = Integer.self) throws(MQTTWireError) -> Integer {
        guard let value = readInteger(as: Integer.self) else { throw .truncated(field: field) }
        return value
    }

    /// Reads a UTF-8 Encoded String; ill-formed UTF-8 and U+0000 are errors (MQTT 5 §1.5.4).
    package mutating func readMQTTString(_ field: String) throws(MQTTWireError) -> String {
        let length = Int(try readMQTTInteger(field, as: UInt16.self))
        guard let bytes = readSlice(length: length) else { throw .truncated(field: field) }
        let string = bytes.withUnsafeReadableBytes { raw in String(validating: raw, as: UTF8.self) }
        guard let string, !string.utf8.contains(0) else { throw .invalidString(field: field) }
        return string
    }

    /// Reads Binary Data.
    package mutating func readMQTTBinary(_ field: String) throws(MQTTWireError) -> [UInt8] {
        let length = Int(try readMQTTInteger(field, as: UInt16.self))
        guard let bytes = readBytes(length: length) else { throw .truncated(field: field) }
        return bytes
    }
}

extension String {
    /// Whether this string can be sent as an MQTT UTF-8 Encoded String: at most 65,535 bytes and
    /// no U+0000 (Swift strings are always well-formed UTF-8).
    package var isValidMQTTString: Bool {
        utf8.count <= 65_535 && !containsUTF8Byte { $0 == 0 }
    }

    /// Whether this can be a PUBLISH's topic name: a valid MQTT string, not empty, without the
    /// wildcards `+` and `#`.
    package var isValidMQTTTopicName: Bool {
        !isEmpty && utf8.count <= 65_535 && !containsUTF8Byte { $0 == 0 || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }
    }

    /// Whether any UTF-8 byte satisfies `predicate`; every publish checks its topic and
    /// properties, and `utf8.contains` iterates a native string through its generic indices
    /// (a profile's 2.5 % of a publish), so a contiguous string is scanned as a buffer.
    @inline(__always)
    private func containsUTF8Byte(where predicate: (UInt8) -> Bool) -> Bool {
        if let found = utf8.withContiguousStorageIfAvailable({ $0.contains(where: predicate) }) { return found }
        return utf8.contains(where: predicate)
    }
}
