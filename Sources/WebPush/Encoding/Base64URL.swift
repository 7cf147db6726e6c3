/// Base64url (RFC 4648 §5) as Web Push uses it: keys, salts, auth secrets and JWT parts.
///
/// Output is always unpadded (RFC 8291/8292 and JWS require that); input may be padded or not,
/// because web-push libraries disagree on padding for `p256dh` and `auth`.
public enum Base64URL {
    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8
    )

    /// A table from ASCII to 6-bit value; 0xFF marks a byte outside the alphabet.
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, symbol) in alphabet.enumerated() { table[Int(symbol)] = UInt8(value) }
        return table
    }()

    /// Encodes bytes as unpadded base64url.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        var output = [UInt8]()
        output.reserveCapacity((input.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= input.count {
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            output.append(alphabet[Int(chunk >> 18 & 0x3F)])
            output.append(alphabet[Int(chunk >> 12 & 0x3F)])
            output.append(alphabet[Int(chunk >> 6 & 0x3F)])
            output.append(alphabet[Int(chunk & 0x3F)])
            index += 3
        }
        switch input.count - index {
        case 1:
            let chunk = UInt32(input[index]) << 16
            output.append(alphabet[Int(chunk >> 18 & 0x3F)])
            output.append(alphabet[Int(chunk >> 12 & 0x3F)])
        case 2:
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
            output.append(alphabet[Int(chunk >> 18 & 0x3F)])
            output.append(alphabet[Int(chunk >> 12 & 0x3F)])
            output.append(alphabet[Int(chunk >> 6 & 0x3F)])
        default:
            break
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes base64url, with or without `=` padding.
    ///
    /// - Throws: ``Base64URLError`` for a character outside the alphabet (including the `+` and
    ///   `/` of standard base64), a length that no encoding produces, padding in the middle,
    ///   or non-zero trailing bits.
    public static func decode(_ string: some StringProtocol) throws(Base64URLError) -> [UInt8] {
        var symbols = Array(string.utf8)
        var padding = 0
        while symbols.last == UInt8(ascii: "=") {
            symbols.removeLast()
            padding += 1
        }
        if padding > 2 || (padding > 0 && (symbols.count + padding) % 4 != 0) {
            throw .invalidPadding
        }
        if symbols.count % 4 == 1 { throw .invalidLength(symbols.count) }

        var output = [UInt8]()
        output.reserveCapacity(symbols.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for (offset, symbol) in symbols.enumerated() {
            let value = decodeTable[Int(symbol)]
            if value == 0xFF { throw .invalidCharacter(offset: offset) }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // Leftover bits must be zero, otherwise two strings would decode to the same bytes.
        if bits > 0 && accumulator & ((1 << UInt32(bits)) - 1) != 0 { throw .nonZeroTrailingBits }
        return output
    }
}

/// Why a base64url string did not decode.
public enum Base64URLError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A character outside `A–Z a–z 0–9 - _` at this offset.
    case invalidCharacter(offset: Int)
    /// A length (without padding) that no encoding produces.
    case invalidLength(Int)
    /// More than two `=`, or padding that does not complete a 4-character group.
    case invalidPadding
    /// The unused low bits of the last character are not zero.
    case nonZeroTrailingBits

    public var description: String {
        switch self {
        case .invalidCharacter(let offset): "not base64url: invalid character at offset \(offset)"
        case .invalidLength(let length): "not base64url: \(length) characters is not a valid length"
        case .invalidPadding: "not base64url: invalid '=' padding"
        case .nonZeroTrailingBits: "not base64url: non-zero trailing bits"
        }
    }
}
