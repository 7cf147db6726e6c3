/// Why an `aes128gcm` body (RFC 8188) could not be parsed, encrypted or decrypted.
public enum ContentCodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The body is shorter than the 21-octet fixed header.
    case truncatedHeader(length: Int)
    /// `idlen` names more key-id octets than the body holds.
    case keyIDExceedsBody(idlen: Int, available: Int)
    /// `rs` is below the minimum of 18.
    case recordSizeTooSmall(UInt32)
    /// A salt that is not 16 octets.
    case invalidSaltLength(Int)
    /// A key id longer than the 255 octets `idlen` can express.
    case keyIDTooLong(Int)
    /// Input keying material of the wrong length (for example a group key that is not 16 octets).
    case invalidKeyLength(Int)
    /// A record shorter than the 17 octets of a delimiter plus tag.
    case truncatedRecord(index: Int)
    /// A record failed authentication: wrong key, or altered or reordered content.
    case authenticationFailed(index: Int)
    /// A record whose plaintext has no non-zero delimiter octet.
    case missingDelimiter(index: Int)
    /// A record with a delimiter other than 0x01 (more records follow) or 0x02 (last record).
    case invalidDelimiter(index: Int, value: UInt8)
    /// The body ends without a record marked last (0x02): it was truncated.
    case missingFinalRecord
    /// Data follows the record marked last.
    case dataAfterFinalRecord
    /// The message and padding do not fit the record limits asked for.
    case contentTooLarge(needed: Int, limit: Int)
    /// Padding must not be negative.
    case invalidPadding(Int)

    public var description: String {
        switch self {
        case .truncatedHeader(let length):
            "aes128gcm body of \(length) octets is shorter than the 21-octet header"
        case .keyIDExceedsBody(let idlen, let available):
            "aes128gcm idlen \(idlen) exceeds the \(available) octets after the fixed header"
        case .recordSizeTooSmall(let rs): "aes128gcm record size \(rs) is below the minimum of 18"
        case .invalidSaltLength(let length): "salt must be 16 octets, not \(length)"
        case .keyIDTooLong(let length): "key id of \(length) octets is longer than 255"
        case .invalidKeyLength(let length): "key of \(length) octets has the wrong length"
        case .truncatedRecord(let index): "record \(index) is shorter than 17 octets"
        case .authenticationFailed(let index): "record \(index) failed authentication"
        case .missingDelimiter(let index): "record \(index) has no delimiter"
        case .invalidDelimiter(let index, let value): "record \(index) has invalid delimiter 0x\(String(value, radix: 16))"
        case .missingFinalRecord: "content ends without a final record (truncated)"
        case .dataAfterFinalRecord: "data follows the final record"
        case .contentTooLarge(let needed, let limit): "content needs \(needed) octets but the limit is \(limit)"
        case .invalidPadding(let padding): "padding \(padding) is negative"
        }
    }
}
