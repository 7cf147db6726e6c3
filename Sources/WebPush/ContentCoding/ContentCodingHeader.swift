/// The header that starts every `aes128gcm` body (RFC 8188 §2.1):
/// `salt (16) ‖ rs (uint32, big-endian) ‖ idlen (uint8) ‖ keyid (idlen)`.
///
/// The initializers validate, so a value of this type is always a well-formed header.
public struct ContentCodingHeader: Hashable, Sendable {
    /// Length of the salt, in octets.
    public static let saltLength = 16
    /// Length of a header with an empty key id: salt, rs and idlen.
    public static let fixedLength = 21
    /// The smallest valid record size: a delimiter octet, the 16-octet tag and at least one more.
    public static let minimumRecordSize: UInt32 = 18

    /// The 16-octet salt from which the content-encryption key and nonce are derived.
    public let salt: [UInt8]
    /// The record size `rs`: every record but the last is exactly this long when encrypted.
    public let recordSize: UInt32
    /// The key id (RFC 8291: the sender's ephemeral public key; lists: a group key id).
    public let keyID: [UInt8]

    /// The number of octets this header occupies at the start of a body.
    public var encodedLength: Int { Self.fixedLength + keyID.count }

    /// Creates a header from its fields.
    ///
    /// - Throws: ``ContentCodingError`` if the salt is not 16 octets, `rs` is below 18, or the
    ///   key id is longer than 255 octets.
    public init(salt: [UInt8], recordSize: UInt32, keyID: [UInt8] = []) throws(ContentCodingError) {
        guard salt.count == Self.saltLength else { throw .invalidSaltLength(salt.count) }
        guard recordSize >= Self.minimumRecordSize else { throw .recordSizeTooSmall(recordSize) }
        guard keyID.count <= 255 else { throw .keyIDTooLong(keyID.count) }
        self.salt = salt
        self.recordSize = recordSize
        self.keyID = keyID
    }

    /// Parses the header at the start of an `aes128gcm` body.
    ///
    /// Only the header is read; `body` may be longer. This is the whole check a push service
    /// applies to a body it forwards (requirements E-12): length ≥ 21, 21 + idlen ≤ length, rs ≥ 18.
    ///
    /// - Throws: ``ContentCodingError/truncatedHeader(length:)``,
    ///   ``ContentCodingError/keyIDExceedsBody(idlen:available:)`` or
    ///   ``ContentCodingError/recordSizeTooSmall(_:)``.
    // Inlinable, so it is specialized for the caller's collection: unspecialized, each byte read
    // through the generic subscript allocated (23 allocations per push body; now the two arrays).
    @inlinable
    public init<Bytes: Collection>(parsing body: Bytes) throws(ContentCodingError) where Bytes.Element == UInt8 {
        guard body.count >= Self.fixedLength else { throw .truncatedHeader(length: body.count) }
        var index = body.startIndex
        var salt = [UInt8]()
        salt.reserveCapacity(Self.saltLength)
        for _ in 0..<Self.saltLength {
            salt.append(body[index])
            index = body.index(after: index)
        }
        var recordSize: UInt32 = 0
        for _ in 0..<4 {
            recordSize = recordSize << 8 | UInt32(body[index])
            index = body.index(after: index)
        }
        let idlen = Int(body[index])
        index = body.index(after: index)
        let available = body.count - Self.fixedLength
        guard idlen <= available else { throw .keyIDExceedsBody(idlen: idlen, available: available) }
        guard recordSize >= Self.minimumRecordSize else { throw .recordSizeTooSmall(recordSize) }
        let keyIDEnd = body.index(index, offsetBy: idlen)
        self.salt = salt
        self.recordSize = recordSize
        self.keyID = Array(body[index..<keyIDEnd])
    }

    /// The header's wire form.
    public func encoded() -> [UInt8] {
        var bytes = salt
        bytes.reserveCapacity(encodedLength)
        bytes.append(UInt8(truncatingIfNeeded: recordSize >> 24))
        bytes.append(UInt8(truncatingIfNeeded: recordSize >> 16))
        bytes.append(UInt8(truncatingIfNeeded: recordSize >> 8))
        bytes.append(UInt8(truncatingIfNeeded: recordSize))
        bytes.append(UInt8(keyID.count))
        bytes.append(contentsOf: keyID)
        return bytes
    }
}
