import Crypto

/// The `aes128gcm` content coding of RFC 8188: encrypts and decrypts whole bodies with an
/// explicit key, in one or more records, with padding.
///
/// RFC 8291 (Web Push) builds on this with a key agreed by ECDH; see ``WebPushCrypto``.
public enum ContentCoding {
    /// The AES-GCM tag length.
    public static let tagLength = 16
    /// The smallest encrypted record: a delimiter octet and the tag.
    public static let minimumRecordLength = tagLength + 1

    /// Encrypts `plaintext` into an `aes128gcm` body.
    ///
    /// Records are filled with plaintext first, then with `paddingLength` zero octets of padding;
    /// every record but the last is exactly `recordSize` octets once encrypted.
    ///
    /// - Parameters:
    ///   - plaintext: the content.
    ///   - inputKeyingMaterial: the IKM (RFC 8188 §2.2); for Web Push, derived by ``WebPushCrypto``.
    ///   - salt: 16 random octets; never reuse one with the same key.
    ///   - recordSize: `rs`, at least 18.
    ///   - keyID: the header's key id.
    ///   - paddingLength: zero octets to add after the content, to hide its length.
    ///   - maximumRecords: refuse content that needs more records than this (RFC 8291 requires 1).
    public static func encrypt(
        _ plaintext: [UInt8],
        inputKeyingMaterial: [UInt8],
        salt: [UInt8],
        recordSize: UInt32 = 4096,
        keyID: [UInt8] = [],
        paddingLength: Int = 0,
        maximumRecords: Int = .max
    ) throws(ContentCodingError) -> [UInt8] {
        guard paddingLength >= 0 else { throw .invalidPadding(paddingLength) }
        let header = try ContentCodingHeader(salt: salt, recordSize: recordSize, keyID: keyID)
        let keys = ContentEncryptionKeys(inputKeyingMaterial: inputKeyingMaterial, salt: salt)
        let key = SymmetricKey(data: keys.contentEncryptionKey)
        // Content octets (plaintext or padding) one record carries besides its delimiter.
        let capacity = Int(recordSize) - minimumRecordLength
        let contentLength = plaintext.count + paddingLength
        let recordCount = max(1, (contentLength + capacity - 1) / capacity)
        guard recordCount <= maximumRecords else {
            throw .contentTooLarge(
                needed: contentLength + minimumRecordLength,
                limit: maximumRecords * Int(recordSize)
            )
        }

        var body = header.encoded()
        body.reserveCapacity(header.encodedLength + contentLength + recordCount * minimumRecordLength)
        var plaintextOffset = 0
        var paddingLeft = paddingLength
        for sequence in 0..<recordCount {
            let dataCount = min(capacity, plaintext.count - plaintextOffset)
            let padCount = min(capacity - dataCount, paddingLeft)
            var record = Array(plaintext[plaintextOffset..<plaintextOffset + dataCount])
            plaintextOffset += dataCount
            paddingLeft -= padCount
            record.append(sequence == recordCount - 1 ? 0x02 : 0x01)
            record.append(contentsOf: repeatElement(0, count: padCount))
            body.append(contentsOf: try seal(record, key: key, nonce: keys.nonce(forRecord: sequence)))
        }
        return body
    }

    /// Decrypts an `aes128gcm` body with a known input keying material.
    ///
    /// - Throws: ``ContentCodingError`` for a malformed header, a record that fails
    ///   authentication, a bad delimiter, or truncation.
    public static func decrypt(_ body: [UInt8], inputKeyingMaterial: [UInt8]) throws(ContentCodingError) -> [UInt8] {
        let header = try ContentCodingHeader(parsing: body)
        let keys = ContentEncryptionKeys(inputKeyingMaterial: inputKeyingMaterial, salt: header.salt)
        let key = SymmetricKey(data: keys.contentEncryptionKey)
        let recordSize = Int(header.recordSize)

        var plaintext = [UInt8]()
        var offset = header.encodedLength
        var sequence = 0
        var sawFinalRecord = false
        while offset < body.count {
            if sawFinalRecord { throw .dataAfterFinalRecord }
            let end = min(offset + recordSize, body.count)
            guard end - offset >= minimumRecordLength else { throw .truncatedRecord(index: sequence) }
            let record = try open(Array(body[offset..<end]), key: key, nonce: keys.nonce(forRecord: sequence), index: sequence)
            // The delimiter is the last non-zero octet; zeros after it are padding.
            guard let delimiterIndex = record.lastIndex(where: { $0 != 0 }) else {
                throw .missingDelimiter(index: sequence)
            }
            let isLastRecordInBody = end == body.count
            switch record[delimiterIndex] {
            case 0x02:
                sawFinalRecord = true
            case 0x01:
                // A non-final record must be full; a short one means the body was cut.
                if isLastRecordInBody { throw .missingFinalRecord }
            default:
                throw .invalidDelimiter(index: sequence, value: record[delimiterIndex])
            }
            plaintext.append(contentsOf: record[..<delimiterIndex])
            offset = end
            sequence += 1
        }
        guard sawFinalRecord else { throw .missingFinalRecord }
        return plaintext
    }

    private static func seal(_ record: [UInt8], key: SymmetricKey, nonce: [UInt8]) throws(ContentCodingError) -> [UInt8] {
        do {
            let box = try AES.GCM.seal(record, using: key, nonce: AES.GCM.Nonce(data: nonce))
            return Array(box.ciphertext) + Array(box.tag)
        } catch {
            // Only reachable with a malformed nonce or key, which the derivation never produces.
            preconditionFailure("AES-GCM seal failed with derived key material: \(error)")
        }
    }

    private static func open(_ record: [UInt8], key: SymmetricKey, nonce: [UInt8], index: Int) throws(ContentCodingError) -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: nonce),
                ciphertext: record.dropLast(tagLength),
                tag: record.suffix(tagLength)
            )
            return Array(try AES.GCM.open(box, using: key))
        } catch {
            throw .authenticationFailed(index: index)
        }
    }
}
